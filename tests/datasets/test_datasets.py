"""Dataset loaders: the samples load in file order, the real MeQSum file matches its known facts, and
every schema error names the file, the record and the field."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import polars as pl
import pytest
from openpyxl import Workbook

from clue_client.datasets import formats as datasets
from clue_client.errors import DataError

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
REAL_MEQSUM = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "MeQSum"
    / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
)


# ---- samples -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dataset_id", "rows"),
    [
        ("mednli", 8),
        ("meqsum", 6),
        ("problem_summary", 6),
        ("longhealth", 3),
        ("medisumqa", 5),
        ("medisumcode", 5),
    ],
)
def test_samples_load(dataset_id: str, rows: int) -> None:
    frame = datasets.load(dataset_id, SAMPLES)
    assert frame.height == rows


def test_mednli_keeps_file_order_and_fields() -> None:
    lines = [json.loads(x) for x in (SAMPLES / "MedNLI" / "mli_test_v1.jsonl").read_text().splitlines()]
    frame = datasets.load_mednli(SAMPLES / "MedNLI" / "mli_test_v1.jsonl")
    assert frame["sentence1"].to_list() == [x["sentence1"] for x in lines]
    assert frame["gold_label"].to_list() == [x["gold_label"] for x in lines]


def test_longhealth_frame_shape() -> None:
    frame = datasets.load_longhealth(SAMPLES / "LongHealth" / "benchmark_v5.json")
    raw = json.loads((SAMPLES / "LongHealth" / "benchmark_v5.json").read_text())
    assert frame["patient_id"].to_list() == list(raw)
    first = frame.row(0, named=True)
    assert [t["text_id"] for t in first["texts"]] == list(raw["patient_01"]["texts"])
    q = first["questions"][1]
    assert q["correct"] == raw["patient_01"]["questions"][1]["correct"]
    assert q["answer_location"] == list(raw["patient_01"]["questions"][1]["answer_location"])


def test_medisumcode_codes_and_ids() -> None:
    frame = datasets.load_medisumcode(SAMPLES / "MeDiSumCode" / "MeDiSumCode.json")
    assert frame.schema["hadm_id"] == pl.Utf8
    assert frame["hadm_id"][0] == "90000001"
    assert [c["code"] for c in frame["icd_codes"][0]] == ["I10", "E119"]


def test_json_list_and_json_lines_are_both_accepted(tmp_path: Path) -> None:
    records = [
        {"discharge_summary": f"Fictional {i}", "Question": f"Q{i}?", "Answer": f"A{i}"} for i in range(3)
    ]
    as_list, as_lines = tmp_path / "list.json", tmp_path / "lines.json"
    as_list.write_text(json.dumps(records, indent=1))
    as_lines.write_text("".join(json.dumps(r) + "\n" for r in records) + "\n")
    a, b = datasets.load_medisumqa(as_list), datasets.load_medisumqa(as_lines)
    assert a.equals(b)
    assert a["Question"].to_list() == ["Q0?", "Q1?", "Q2?"]


# ---- the real MeQSum file ------------------------------------------------------------------------
@pytest.mark.skipif(
    not REAL_MEQSUM.is_file(),
    reason=f"the real MeQSum file is not in this checkout's shared data folder ({REAL_MEQSUM}); "
    "it is not redistributed with the package",
)
def test_real_meqsum_facts() -> None:
    assert (
        datasets.sha256_file(REAL_MEQSUM)
        == "abedd939d5014306ca576522416bf69103e85dc8fcf1668a4099e8b84a39eeea"
    )
    frame = datasets.load_meqsum(REAL_MEQSUM)
    assert frame.height == 1000
    assert frame.null_count().sum_horizontal().item() == 0
    # whitespace is kept as in the file (CLUE keeps it)
    assert sum(s != s.strip() for s in frame["Summary"]) == 24
    assert sum(s != s.strip() for s in frame["CHQ"]) == 2
    records = frame.to_dicts()
    random.seed(1)
    random.shuffle(records)
    assert [r["File"] for r in records[:3]] == ["12479.txt", "1-135820815.xml.txt", "10263.xml.txt"]


# ---- error paths ---------------------------------------------------------------------------------
def _expect(loader, path: Path, *fragments: str) -> None:
    with pytest.raises(DataError) as info:
        loader(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


MEDNLI_OK = {"sentence1": "Fictional a.", "sentence2": "Fictional b.", "gold_label": "neutral"}


@pytest.mark.parametrize(
    ("lines", "fragments"),
    [
        ([MEDNLI_OK, "{not json"], ("line 2", "invalid JSON")),
        (
            [MEDNLI_OK, {k: v for k, v in MEDNLI_OK.items() if k != "sentence2"}],
            ("line 2", "'sentence2'", "missing"),
        ),
        ([{**MEDNLI_OK, "sentence1": 3}], ("line 1", "'sentence1'", "must be a string, got int")),
        ([{**MEDNLI_OK, "gold_label": "NEUTRAL"}], ("line 1", "'gold_label'", "'NEUTRAL'")),
        ([[1, 2]], ("line 1", "expected a JSON object")),
        ([], ("no records",)),
    ],
)
def test_mednli_errors(tmp_path: Path, lines: list, fragments: tuple[str, ...]) -> None:
    body = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    _expect(datasets.load_mednli, _write(tmp_path / "mli_test_v1.jsonl", body), *fragments)


def test_missing_file_names_the_path_and_the_fetch_command(tmp_path: Path) -> None:
    _expect(datasets.load_mednli, tmp_path / "nope.jsonl", "file not found", "clue data fetch")


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"sentence1": "\xff"}\n')
    _expect(datasets.load_mednli, path, "not UTF-8")


def _xlsx(path: Path, sheet: str, rows: list[list]) -> Path:
    book = Workbook()
    book.active.title = sheet
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


def test_meqsum_errors(tmp_path: Path) -> None:
    header = ["File", "CHQ", "Summary"]
    _expect(
        datasets.load_meqsum,
        _xlsx(tmp_path / "a.xlsx", "Sheet1", [header, ["f", "q", "s"]]),
        "sheet 'QS' is missing",
    )
    _expect(
        datasets.load_meqsum,
        _xlsx(tmp_path / "b.xlsx", "QS", [["File", "CHQ"], ["f", "q"]]),
        "column 'Summary'",
    )
    _expect(
        datasets.load_meqsum,
        _xlsx(tmp_path / "c.xlsx", "QS", [header, ["f1", "q", "s"], ["f2", None, "s"]]),
        "row 3",
        "field 'CHQ' is empty",
    )
    _expect(datasets.load_meqsum, _xlsx(tmp_path / "d.xlsx", "QS", [header]), "no records")
    _expect(datasets.load_meqsum, _write(tmp_path / "e.xlsx", "not a workbook"), "not a readable .xlsx")


def test_meqsum_reads_numbers_as_text(tmp_path: Path) -> None:
    frame = datasets.load_meqsum(
        _xlsx(tmp_path / "n.xlsx", "QS", [["File", "CHQ", "Summary"], [12, "q", "s"]])
    )
    assert frame["File"].to_list() == ["12"]


PS_HEADER = "File ID,Subjectives,Objectives,Assessment,Summary\n"


def test_problem_summary_errors(tmp_path: Path) -> None:
    _expect(datasets.load_problem_summary, _write(tmp_path / "a.csv", ""), "empty file")
    _expect(
        datasets.load_problem_summary,
        _write(tmp_path / "b.csv", "File ID,Subjectives,Summary\n1,x,y\n"),
        "column 'Assessment'",
    )
    _expect(
        datasets.load_problem_summary,
        _write(tmp_path / "c.csv", PS_HEADER + "1,a,b,c,d\n2,a,b\n"),
        "row 3",
        "3 fields",
    )
    _expect(datasets.load_problem_summary, _write(tmp_path / "d.csv", PS_HEADER), "no records")


def test_problem_summary_keeps_empty_cells_and_quotes(tmp_path: Path) -> None:
    frame = datasets.load_problem_summary(
        _write(tmp_path / "ok.csv", PS_HEADER + '1,"a, with comma",,c,"x;y"\n')
    )
    assert frame.row(0) == ("1", "a, with comma", "", "c", "x;y")


def test_medisumqa_errors(tmp_path: Path) -> None:
    ok = {"discharge_summary": "Fictional.", "Question": "Q?", "Answer": "A."}
    _expect(datasets.load_medisumqa, _write(tmp_path / "a.json", "[{]"), "invalid JSON")
    _expect(
        datasets.load_medisumqa,
        _write(tmp_path / "b.json", json.dumps([ok, {**ok, "Answer": None}])),
        "record 2",
        "'Answer'",
        "got NoneType",
    )
    _expect(
        datasets.load_medisumqa,
        _write(tmp_path / "c.json", json.dumps(ok) + "\n" + json.dumps({"Question": "Q"})),
        "line 2",
        "'discharge_summary'",
        "missing",
    )
    _expect(datasets.load_medisumqa, _write(tmp_path / "d.json", "[]"), "no records")


def test_medisumcode_errors(tmp_path: Path) -> None:
    ok = {"hadm_id": 1, "text": "Fictional.", "icd_codes": [{"code": "I10", "description": "x"}]}
    cases = [
        ({**ok, "hadm_id": 1.5}, ("'hadm_id'", "number or string")),
        ({k: v for k, v in ok.items() if k != "hadm_id"}, ("'hadm_id'", "missing")),
        ({**ok, "icd_codes": {}}, ("'icd_codes'", "must be a list")),
        ({**ok, "icd_codes": [{"description": "x"}]}, ("icd_codes[0]", "'code'", "missing")),
        ({**ok, "icd_codes": [{"code": "I10", "description": 5}]}, ("icd_codes[0]", "'description'")),
        ({**ok, "text": ["a"]}, ("'text'", "got list")),
    ]
    for i, (bad, fragments) in enumerate(cases):
        path = _write(tmp_path / f"c{i}.json", json.dumps([ok, bad]))
        _expect(datasets.load_medisumcode, path, "record 2", *fragments)


def _longhealth(tmp_path: Path, mutate) -> Path:
    data = json.loads((SAMPLES / "LongHealth" / "benchmark_v5.json").read_text())
    mutate(data)
    return _write(tmp_path / "benchmark_v5.json", json.dumps(data))


@pytest.mark.parametrize(
    ("mutate", "fragments"),
    [
        (lambda d: d.update(patient_02=[]), ("patient 'patient_02'", "expected a JSON object")),
        (lambda d: d["patient_01"].pop("texts"), ("patient 'patient_01'", "'texts'")),
        (lambda d: d["patient_01"]["texts"].update(text_1=""), ("text 'text_1'", "non-empty string")),
        (lambda d: d["patient_03"].update(questions=[]), ("patient 'patient_03'", "'questions'")),
        (lambda d: d["patient_01"]["questions"][1].pop("answer_c"), ("question 2", "'answer_c'", "missing")),
        (lambda d: d["patient_01"]["questions"][0].update(correct=""), ("question 1", "'correct'", "empty")),
        (
            lambda d: d["patient_02"]["questions"][2].update(answer_location={"text_9": {}}),
            ("question 3", "'text_9'"),
        ),
        (
            lambda d: d["patient_02"]["questions"][2].update(answer_location=[]),
            ("question 3", "'answer_location'", "object of text ids"),
        ),
        (lambda d: [d.pop("patient_02"), d.pop("patient_03")], ("at least 2 patients",)),
    ],
)
def test_longhealth_errors(tmp_path: Path, mutate, fragments: tuple[str, ...]) -> None:
    _expect(datasets.load_longhealth, _longhealth(tmp_path, mutate), *fragments)


def test_longhealth_not_an_object(tmp_path: Path) -> None:
    _expect(datasets.load_longhealth, _write(tmp_path / "b.json", "[1]"), "non-empty JSON object of patients")


def test_registry_and_unknown_dataset(tmp_path: Path) -> None:
    assert [d.id for d in datasets.DATASETS.values()] == [
        "mednli",
        "meqsum",
        "problem_summary",
        "longhealth",
        "medisumqa",
        "medisumcode",
    ]
    assert {d.id for d in datasets.DATASETS.values() if not d.credentialed} == {"meqsum", "longhealth"}
    with pytest.raises(DataError, match="unknown dataset 'x'"):
        datasets.get_dataset("x")
    shutil.copytree(SAMPLES / "MedNLI", tmp_path / "MedNLI")
    assert datasets.load("mednli", tmp_path).height == 8
