"""Read each CLUE dataset from its original file, in CLUE's folder layout, into a polars frame.

Every loader checks the schema where the data enters and reports the file, the record and the field
that is wrong (a ``DataError``: one line for the user). Nothing is guessed or repaired: the frame holds
the records in file order, exactly as the file has them (whitespace included, as CLUE keeps it).
Where CLUE is lenient the loaders are too, since nobody here can test the credentialed files: a UTF-8
byte-order mark, line separators inside JSON-lines strings, a MeDiSumCode record without codes, a LongHealth
question without an expected letter, empty options or answer documents, extra or absent unused CSV columns.

Layout under a data directory (``data/`` by default)::

    MedNLI/mli_test_v1.jsonl                               JSON lines
    MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx    sheet QS
    ProblemSummary/BioNLP2023-1A-Test.csv                  CSV with header
    LongHealth/benchmark_v5.json                           {patient_id: {texts, questions}}
    MeDiSumQA/MeDiSumQA.json                               JSON list or JSON lines
    MeDiSumCode/MeDiSumCode.json                           JSON list or JSON lines (+ build.json if built here)
"""

from __future__ import annotations

import csv
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import fastexcel
import polars as pl

from ..errors import DataError
from ..untrusted_json import loads

__all__ = [
    "Dataset",
    "DATASETS",
    "MEDNLI_LABELS",
    "LONGHEALTH_OPTIONS",
    "get_dataset",
    "is_public",
    "load",
    "load_mednli",
    "load_meqsum",
    "load_problem_summary",
    "load_longhealth",
    "load_medisumqa",
    "load_medisumcode",
    "sha256_file",
]

MEDNLI_LABELS = ("entailment", "neutral", "contradiction")
LONGHEALTH_OPTIONS = ("answer_a", "answer_b", "answer_c", "answer_d", "answer_e")
log = logging.getLogger(__name__)  # unconfigured, Python prints warnings to stderr as the bare message


# ---- helpers -------------------------------------------------------------------------------------
def _require_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"{path}: file not found (see `clue data status` and `clue data fetch`)")


def _where(path: Path, record: str, field: str | None = None) -> str:
    return f"{path}: {record}" + (f": field '{field}'" if field else "")


def _string_field(path: Path, record: str, row: Any, field: str, *, allow_empty: bool = True) -> str:
    """The value of ``field`` in ``row`` if it is a string; otherwise a DataError naming all three."""
    if not isinstance(row, dict):
        raise DataError(f"{path}: {record}: expected a JSON object, got {type(row).__name__}")
    if field not in row:
        raise DataError(f"{_where(path, record, field)} is missing")
    value = row[field]
    if not isinstance(value, str):
        raise DataError(f"{_where(path, record, field)} must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise DataError(f"{_where(path, record, field)} is empty")
    return value


def _read_text(path: Path) -> str:
    _require_file(path)
    try:
        return path.read_text(encoding="utf-8-sig")  # a byte-order mark is not part of the data
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _json_lines(path: Path, text: str) -> Iterator[tuple[str, Any]]:
    """(record label, parsed object) per non-blank line.

    Lines end at ``\n`` only, as Python's file iteration has it: ``str.splitlines`` would also break at
    U+2028, U+0085 and other characters that MIMIC text may hold inside a string (CLUE's generator writes
    ``ensure_ascii=False``).
    """
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield f"line {lineno}", loads(line)
        except ValueError as exc:
            raise DataError(f"{path}: line {lineno}: invalid JSON ({exc})") from None


def _json_document(path: Path, text: str) -> Any:
    """A whole-file JSON document; deep nesting, huge integers, 1e999 and lone surrogates are one line."""
    try:
        return loads(text)
    except ValueError as exc:
        raise DataError(f"{path}: invalid JSON ({exc})") from None


def _json_list_or_lines(path: Path) -> list[tuple[str, Any]]:
    """CLUE's generators write JSON lines while its evaluators read a JSON list: accept both."""
    text = _read_text(path)
    if text.lstrip().startswith("["):
        data = _json_document(path, text)
        return [(f"record {i}", row) for i, row in enumerate(data, start=1)]
    return list(_json_lines(path, text))


def _non_empty(path: Path, frame: pl.DataFrame) -> pl.DataFrame:
    if frame.height == 0:
        raise DataError(f"{path}: no records")
    return frame


def _string_frame(path: Path, records: list[tuple[str, Any]], fields: tuple[str, ...]) -> pl.DataFrame:
    columns: dict[str, list[str]] = {f: [] for f in fields}
    for label, row in records:
        for f in fields:
            columns[f].append(_string_field(path, label, row, f))
    return _non_empty(path, pl.DataFrame(columns, schema={f: pl.Utf8 for f in fields}))


# ---- loaders -------------------------------------------------------------------------------------
def load_mednli(path: Path) -> pl.DataFrame:
    """MedNLI test set: JSON lines with ``sentence1``, ``sentence2``, ``gold_label`` (lower case)."""
    records = list(_json_lines(path, _read_text(path)))
    frame = _string_frame(path, records, ("sentence1", "sentence2", "gold_label"))
    for (label, _), gold in zip(records, frame["gold_label"]):
        if gold not in MEDNLI_LABELS:
            raise DataError(
                f"{_where(path, label, 'gold_label')} is {gold!r}; expected one of {', '.join(MEDNLI_LABELS)}"
            )
    return frame


def load_meqsum(path: Path) -> pl.DataFrame:
    """MeQSum: sheet ``QS`` with columns ``File``, ``CHQ``, ``Summary``; every cell filled."""
    _require_file(path)
    fields = ("File", "CHQ", "Summary")
    # fastexcel directly (polars' read_excel wrapper imports pyarrow, which is not needed here)
    try:
        workbook = fastexcel.read_excel(path)
    except Exception as exc:  # fastexcel raises its own error types for a broken file
        raise DataError(f"{path}: not a readable .xlsx workbook ({str(exc).splitlines()[0]})") from None
    if "QS" not in workbook.sheet_names:
        raise DataError(f"{path}: sheet 'QS' is missing (found {', '.join(workbook.sheet_names)})")
    try:
        frame = workbook.load_sheet_by_name("QS", dtypes="string").to_polars()
    except Exception as exc:
        raise DataError(f"{path}: cannot read sheet 'QS' ({str(exc).splitlines()[0]})") from None
    missing = [f for f in fields if f not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: sheet 'QS': column '{missing[0]}' is missing (found {', '.join(frame.columns)})"
        )
    frame = frame.select([pl.col(f).cast(pl.Utf8) for f in fields])
    for f in fields:
        nulls = frame[f].is_null().arg_true()
        if nulls.len():
            raise DataError(f"{path}: sheet 'QS' row {int(nulls[0]) + 2}: field '{f}' is empty")
    return _non_empty(path, frame)


_PS_NEEDED = ("Subjectives", "Assessment", "Summary")  # what CLUE's prompt and reference use
_PS_FIELDS = ("File ID", "Subjectives", "Objectives", "Assessment", "Summary")


def load_problem_summary(path: Path) -> pl.DataFrame:
    """BioNLP 2023 task 1A test CSV: ``Subjectives``, ``Assessment`` and ``Summary`` are required;
    ``File ID`` and ``Objectives`` are kept when present (else empty strings: CLUE does not use them).

    Read with the csv module as CLUE does (every value a string, empty cells are empty strings).
    """
    _require_file(path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}: empty file (expected a header row)")
            if "Subjectives" not in header and "Subjective Sections" in header:
                raise DataError(
                    f"{path}: header has 'Subjective Sections'/'Objective Sections', so this is Problem Summary "
                    "release 1.x; CLUE uses release 2.0.0 (columns 'Subjectives'/'Objectives'): "
                    "clue data fetch problem-summary --physionet-user USER --force"
                )
            missing = [f for f in _PS_NEEDED if f not in header]
            if missing:
                raise DataError(
                    f"{path}: header: column '{missing[0]}' is missing (found {', '.join(header)})"
                )
            records = []
            for row in reader:
                label = f"row {reader.line_num}"
                if len(row) != len(header):
                    raise DataError(f"{path}: {label}: {len(row)} fields, header has {len(header)}")
                records.append((label, {**dict.fromkeys(_PS_FIELDS, ""), **dict(zip(header, row))}))
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
        except csv.Error as exc:
            raise DataError(f"{path}: row {reader.line_num}: invalid CSV ({exc})") from None
    return _string_frame(path, records, _PS_FIELDS)


#: CLUE's generator's field for the letter without its summary section (CLUE 2024's template reads it); the
#: PhysioNet release may not carry it. Optional: a column only when some record has it (null where one lacks it).
MEDISUMQA_WITHOUT_SUMMARY = "without_discharge_summary"


def load_medisumqa(path: Path) -> pl.DataFrame:
    """MeDiSumQA: records with ``discharge_summary``, ``Question``, ``Answer`` (and, where the file has it,
    ``without_discharge_summary``)."""
    records = _json_list_or_lines(path)
    frame = _string_frame(path, records, ("discharge_summary", "Question", "Answer"))
    optional = [row.get(MEDISUMQA_WITHOUT_SUMMARY) for _, row in records]
    if not any(isinstance(v, str) for v in optional):
        return frame
    return frame.with_columns(pl.Series(MEDISUMQA_WITHOUT_SUMMARY,
                                        [v if isinstance(v, str) else None for v in optional], dtype=pl.Utf8))


_ICD_CODES = pl.List(pl.Struct({"code": pl.Utf8, "description": pl.Utf8}))


def load_medisumcode(path: Path) -> pl.DataFrame:
    """MeDiSumCode: records with ``hadm_id`` (number or string), ``text``,
    ``icd_codes: [{code, description}]``."""
    hadm_ids, texts, codes = [], [], []
    for label, row in _json_list_or_lines(path):
        texts.append(_string_field(path, label, row, "text"))
        hadm = row.get("hadm_id")
        if isinstance(hadm, bool) or not isinstance(hadm, (int, str)):
            state = (
                "is missing"
                if "hadm_id" not in row
                else f"must be a number or string, got {type(hadm).__name__}"
            )
            raise DataError(f"{_where(path, label, 'hadm_id')} {state}")
        hadm_ids.append(str(hadm))
        items = row.get("icd_codes")
        if not isinstance(items, list):  # an empty list is scored (recall 0), as CLUE does
            state = "is missing" if "icd_codes" not in row else "must be a list"
            raise DataError(f"{_where(path, label, 'icd_codes')} {state}")
        entries = []
        for i, item in enumerate(items):
            where = f"{label}: icd_codes[{i}]"
            code = _string_field(path, where, item, "code", allow_empty=False)
            description = item.get("description", "")
            if not isinstance(description, str):
                raise DataError(f"{_where(path, where, 'description')} must be a string")
            entries.append({"code": code, "description": description})
        codes.append(entries)
    frame = pl.DataFrame(
        {"hadm_id": hadm_ids, "text": texts, "icd_codes": codes},
        schema={"hadm_id": pl.Utf8, "text": pl.Utf8, "icd_codes": _ICD_CODES},
    )
    _check_build_json(path)
    return _non_empty(path, frame)


def _check_build_json(path: Path) -> None:
    """A file ``clue data build`` wrote has its ``build.json``: warn when the file is not the one it names,
    or was built from another notes release than CLUE's (its 500 records then differ from CLUE's)."""
    from .medisumcode_build import BUILD_JSON, MIMIC_IV_NOTE_2_2_NOTES, read_build_json

    build = read_build_json(path.parent)
    if build is None:
        return
    if build["output_sha256"] != sha256_file(path):
        log.warning(f"{path}: not the file {path.parent / BUILD_JSON} describes (changed since it was built)")
        return
    rows = ((build.get("inputs") or {}).get("notes") or {}).get("rows")
    if isinstance(rows, int) and rows != MIMIC_IV_NOTE_2_2_NOTES:
        log.warning(f"{path}: built from {rows:,} notes, not MIMIC-IV-Note 2.2's {MIMIC_IV_NOTE_2_2_NOTES:,}: "
                    "its records differ from CLUE's")


_LH_TEXTS = pl.List(pl.Struct({"text_id": pl.Utf8, "text": pl.Utf8}))
_LH_QUESTION_FIELDS = ("question", *LONGHEALTH_OPTIONS, "correct")
_LH_QUESTIONS = pl.List(
    pl.Struct({**{f: pl.Utf8 for f in _LH_QUESTION_FIELDS}, "answer_location": pl.List(pl.Utf8)})
)


def _longhealth_question(path: Path, where: str, question: Any, text_ids: set[str]) -> dict[str, Any]:
    """One question; as in CLUE an option may be empty, ``correct`` may match no option (no expected letter:
    always wrong) and ``answer_location`` may be empty (no answer documents)."""
    row = {f: _string_field(path, where, question, f, allow_empty=False) for f in ("question", "correct")}
    row.update({f: _string_field(path, where, question, f) for f in LONGHEALTH_OPTIONS})
    location = question.get("answer_location")
    if not isinstance(location, dict):
        state = "is missing" if "answer_location" not in question else "must be an object of text ids"
        raise DataError(f"{_where(path, where, 'answer_location')} {state}")
    unknown = [t for t in location if t not in text_ids]
    if unknown:
        raise DataError(f"{_where(path, where, 'answer_location')} names unknown text '{unknown[0]}'")
    row["answer_location"] = list(location)
    return row


def _has_expected(question: dict[str, Any]) -> bool:
    return any(question["correct"] in question[o] for o in LONGHEALTH_OPTIONS)


def load_longhealth(path: Path) -> pl.DataFrame:
    """LongHealth ``benchmark_v5.json``: one row per patient (file order) with ``patient_id``,
    ``texts`` [{text_id, text}] and ``questions`` [{question, answer_a..e, correct, answer_location}].

    ``answer_location`` keeps only the text ids, in file order: the character spans are not used by CLUE.
    """
    data = _json_document(path, _read_text(path))
    if not isinstance(data, dict) or not data:
        raise DataError(f"{path}: expected a non-empty JSON object of patients")
    rows = []
    for pid, patient in data.items():
        where = f"patient '{pid}'"
        if not isinstance(patient, dict):
            raise DataError(f"{path}: {where}: expected a JSON object, got {type(patient).__name__}")
        texts = patient.get("texts")
        if not isinstance(texts, dict) or not texts:
            raise DataError(f"{_where(path, where, 'texts')} must be a non-empty object of text id -> text")
        for tid, body in texts.items():
            if not isinstance(body, str) or not body.strip():
                raise DataError(f"{_where(path, where, 'texts')}: text '{tid}' must be a non-empty string")
        questions = patient.get("questions")
        if not isinstance(questions, list) or not questions:
            raise DataError(f"{_where(path, where, 'questions')} must be a non-empty list")
        rows.append(
            {
                "patient_id": pid,
                "texts": [{"text_id": t, "text": b} for t, b in texts.items()],
                "questions": [
                    _longhealth_question(path, f"{where} question {i + 1}", q, set(texts))
                    for i, q in enumerate(questions)
                ],
            }
        )
    if len(rows) < 2:
        raise DataError(
            f"{path}: needs at least 2 patients (tasks 2 and 3 draw distractors from other patients)"
        )
    unanswerable = sum(not _has_expected(q) for r in rows for q in r["questions"])
    if unanswerable:
        log.warning(f"warning: {path}: {unanswerable} question(s) whose 'correct' text matches none of "
                    "answer_a..answer_e: scored as always wrong, as CLUE does")
    return pl.DataFrame(rows, schema={"patient_id": pl.Utf8, "texts": _LH_TEXTS, "questions": _LH_QUESTIONS})


# ---- registry ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    """One dataset: where it lives under the data directory, how to read it, who may see it."""

    id: str
    path: str
    loader: Callable[[Path], pl.DataFrame]
    credentialed: bool
    licence: str

    @property
    def access(self) -> str:
        """``credentialed``: PhysioNet's data use agreement applies (never sent to hosted APIs by default)."""
        return "credentialed" if self.credentialed else "public"


DATASETS: dict[str, Dataset] = {
    d.id: d
    for d in (
        Dataset(
            "mednli", "MedNLI/mli_test_v1.jsonl", load_mednli, True, "PhysioNet Credentialed Health Data"
        ),
        Dataset(
            "meqsum", "MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx", load_meqsum, False, "CC BY 4.0"
        ),
        Dataset(
            "problem_summary",
            "ProblemSummary/BioNLP2023-1A-Test.csv",
            load_problem_summary,
            True,
            "PhysioNet Credentialed Health Data",
        ),
        Dataset(
            "longhealth",
            "LongHealth/benchmark_v5.json",
            load_longhealth,
            False,
            "see github kbressem/LongHealth",
        ),
        Dataset(
            "medisumqa",
            "MeDiSumQA/MeDiSumQA.json",
            load_medisumqa,
            True,
            "PhysioNet Credentialed Health Data",
        ),
        Dataset(
            "medisumcode",
            "MeDiSumCode/MeDiSumCode.json",
            load_medisumcode,
            True,
            "derived from MIMIC-IV (PhysioNet Credentialed Health Data)",
        ),
    )
}


def is_public(dataset_id: str) -> bool:
    """Whether a task's samples may leave the run folder (exports, trackers, shared reports): only a known
    dataset without a data use agreement; an unknown id counts as credentialed, so text of unknown origin
    is never published."""
    dataset = DATASETS.get(dataset_id)
    return dataset is not None and not dataset.credentialed


def get_dataset(dataset_id: str) -> Dataset:
    try:
        return DATASETS[dataset_id]
    except KeyError:
        raise DataError(f"unknown dataset '{dataset_id}'; choose from {', '.join(DATASETS)}") from None


def load(dataset_id: str, data_dir: Path) -> pl.DataFrame:
    """Load a dataset by id from its place under ``data_dir``."""
    dataset = get_dataset(dataset_id)
    return dataset.loader(Path(data_dir) / dataset.path)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
