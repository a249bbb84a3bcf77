"""Shapes the real (credentialed) files may have and CLUE accepts: each must load and be scored as CLUE does."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import polars as pl
import pytest

from clue_client.datasets import formats as datasets
from clue_client.scoring import ScoringOptions, score_task
from clue_client.tasks import BuildContext, get_task

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
BOM = "\ufeff"


def test_json_lines_break_at_newlines_only(tmp_path: Path) -> None:
    inside = "line\u2028separator, next\u0085line, form\x0cfeed, group\x1dsep"
    records = [{"sentence1": f"{inside} {i}", "sentence2": "b", "gold_label": "neutral"} for i in range(2)]
    path = tmp_path / "mli.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\r\n", encoding="utf-8")
    frame = datasets.load_mednli(path)
    assert frame["sentence1"].to_list() == [f"{inside} 0", f"{inside} 1"]
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"discharge_summary": inside, "Question": "q", "Answer": "a"}, ensure_ascii=False))
    assert datasets.load_medisumqa(qa)["discharge_summary"].to_list() == [inside]


@pytest.mark.parametrize("shape", ["list", "lines"])
def test_a_byte_order_mark_is_accepted_in_json(tmp_path: Path, shape: str) -> None:
    record = {"discharge_summary": "s", "Question": "q", "Answer": "a"}
    body = json.dumps([record]) if shape == "list" else json.dumps(record) + "\n"
    path = tmp_path / "qa.json"
    path.write_text(BOM + body, encoding="utf-8")
    assert datasets.load_medisumqa(path).row(0) == ("s", "q", "a")
    lh = tmp_path / "benchmark_v5.json"
    lh.write_text(BOM + (SAMPLES / "LongHealth" / "benchmark_v5.json").read_text(), encoding="utf-8")
    assert datasets.load_longhealth(lh).height == 3


def test_problem_summary_with_a_bom_and_only_the_columns_clue_uses(tmp_path: Path) -> None:
    path = tmp_path / "ps.csv"
    path.write_text(BOM + 'Assessment,Subjectives,Summary,Extra\nassess,"subj, x",a;b,z\n', encoding="utf-8")
    frame = datasets.load_problem_summary(path)
    row = frame.row(0, named=True)
    assert (row["Subjectives"], row["Assessment"], row["Summary"]) == ("subj, x", "assess", "a;b")
    assert (row["File ID"], row["Objectives"]) == ("", "")


async def test_medisumcode_record_without_codes_is_scored_recall_0(tmp_path: Path) -> None:
    records = [{"hadm_id": i, "text": f"Fictional stay {i}.", "icd_codes": [{"code": "I10", "description": "x"}]}
               for i in range(3)]
    records[2]["icd_codes"] = []
    (tmp_path / "MeDiSumCode").mkdir()
    (tmp_path / "MeDiSumCode" / "MeDiSumCode.json").write_text("\n".join(json.dumps(r) for r in records))
    frame = await get_task("medisumcode").build(tmp_path, BuildContext())
    empty = frame.filter(frame["sample_id"] == "2")
    assert empty["reference"].to_list() == [""]
    scored, _ = score_task("medisumcode", empty.with_columns(prediction=pl.lit("I10")), ScoringOptions())
    assert scored["icd_em_r"].to_list() == [0.0] and scored["icd_em_f1"].to_list() == [0.0]


async def test_longhealth_without_an_expected_letter_is_always_wrong(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    data = json.loads((SAMPLES / "LongHealth" / "benchmark_v5.json").read_text())
    first = data["patient_01"]["questions"][0]
    first["correct"] = "matches no option"
    first["answer_b"] = ""
    data["patient_02"]["questions"][1]["correct"] = "nor this one"
    data["patient_03"]["questions"][0]["answer_location"] = {}
    (tmp_path / "LongHealth").mkdir()
    (tmp_path / "LongHealth" / "benchmark_v5.json").write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING):
        frame = await get_task("longhealth").build(tmp_path, BuildContext(limit=1))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "2 question(s) whose 'correct' text matches none" in warnings[0]
    assert set(frame.filter(frame["lh_task"] != 3)["reference"]) == {""}
    assert set(frame.filter(frame["lh_task"] == 3)["reference"]) == {"F"}
    assert "B: \n" in frame["messages"][0][-1]["content"]  # the empty option is asked as it is
    answered = frame.with_columns(prediction=frame["reference"].map_elements(
        lambda r: f"The correct answer is {r or 'A'}: x", return_dtype=frame["reference"].dtype))
    scored, _ = score_task("longhealth", answered, ScoringOptions())
    assert scored["longhealth_task1"].drop_nulls().to_list() == [0.0] * 5
    assert scored["longhealth_task3"].drop_nulls().to_list() == [1.0] * 5
