"""Task scores and levels: the published table is recovered from its per-metric values."""

from __future__ import annotations

import polars as pl
import pytest

from clue_client.scoring import ScoringOptions, level_scores, metric_means, task_score

# Meta-Llama-3-70B-Instruct, published per-metric values in % (CLUE_PROTOCOL.md, "Aggregation")
PUBLISHED = {
    "mednli": {"accuracy": 79.37},
    "meqsum": {"rougeL": 36.57, "rouge1": 40.20, "rouge2": 19.30, "bertscore_f1": 75.74},
    "problem_summary": {"rougeL": 25.43, "rouge1": 33.16, "rouge2": 13.01, "bertscore_f1": 73.00, "umls_f1": 29.12},
    "longhealth": {"longhealth_task1": 81.65, "longhealth_task2": 77.90, "longhealth_task3": 91.70},
    "medisumqa": {"rougeL": 26.20, "rouge1": 32.50, "rouge2": 11.93, "bertscore_f1": 70.24, "umls_f1": 25.78},
    "medisumcode": {"icd_em_f1": 19.65, "icd_ap_f1": 39.20, "icd_valid": 93.94},
}


def _frame(task: str, metrics: dict[str, float]) -> pl.DataFrame:
    """A scored frame whose per-metric means are the given values (LongHealth: one row per sub-task)."""
    if task == "longhealth":
        rows = [{"lh_task": k, **{m: (v / 100 if m.endswith(str(k)) else None) for m, v in metrics.items()}}
                for k in (1, 2, 3)]
        return pl.DataFrame(rows, schema={"lh_task": pl.Int64, **dict.fromkeys(metrics, pl.Float64)})
    return pl.DataFrame({m: [v / 100] for m, v in metrics.items()})


def test_published_table_is_recovered() -> None:
    scores = {task: task_score(task, _frame(task, m)) for task, m in PUBLISHED.items()}
    assert scores["meqsum"] == pytest.approx((36.57 + 40.20 + 19.30 + 75.74) / 4, abs=1e-9)
    levels = level_scores(scores)
    assert levels["level1"] == pytest.approx(52.3555, abs=1e-9)
    assert round(levels["level1"], 2) == 52.36
    assert round(levels["level2"], 2) == 56.00


def test_strict_accuracy_and_parts_do_not_enter_the_score() -> None:
    frame = pl.DataFrame({"accuracy": [1.0, 0.0], "strict_accuracy": [0.0, 0.0]})
    assert task_score("mednli", frame) == 50.0
    frame = pl.DataFrame({"icd_em_f1": [0.5], "icd_ap_f1": [1.0], "icd_valid": [0.0], "icd_em_p": [1.0],
                          "icd_valid_current": [1.0]})
    assert task_score("medisumcode", frame) == 50.0


def test_error_rows_are_ignored() -> None:
    frame = pl.DataFrame({"accuracy": [1.0, None, 0.0, 1.0], "error": [None, "HTTP 400", None, None]})
    assert task_score("mednli", frame) == pytest.approx(200 / 3)


def test_clue_compat_counts_the_first_sample_twice_for_mednli_and_medisumcode_only() -> None:
    frame = pl.DataFrame({"accuracy": [1.0, 0.0, 0.0, 0.0]})
    assert task_score("mednli", frame) == 25.0
    assert task_score("mednli", frame, ScoringOptions(clue_compat=True)) == 40.0  # (1 + 1) / 5
    summaries = pl.DataFrame({m: [1.0, 0.0] for m in ("rouge1", "rouge2", "rougeL", "bertscore_f1")})
    assert task_score("meqsum", summaries, ScoringOptions(clue_compat=True)) == 50.0
    codes = pl.DataFrame({"icd_em_f1": [0.0, 1.0], "icd_ap_f1": [0.0, 1.0], "icd_valid": [0.0, 1.0]})
    assert task_score("medisumcode", codes, ScoringOptions(clue_compat=True)) == pytest.approx(100 / 3)


def test_missing_metric_leaves_the_mean_of_what_is_there() -> None:
    frame = pl.DataFrame({"rouge1": [0.4], "rouge2": [0.2], "rougeL": [0.3], "bertscore_f1": [None]},
                         schema_overrides={"bertscore_f1": pl.Float64})
    assert task_score("meqsum", frame) == pytest.approx(30.0)
    assert "bertscore_f1" not in metric_means("meqsum", frame)


def test_no_metric_no_score_and_levels_need_all_three_tasks() -> None:
    assert task_score("mednli", pl.DataFrame({"accuracy": []}, schema={"accuracy": pl.Float64})) is None
    assert level_scores({"mednli": 80.0, "meqsum": 40.0}) == {"level1": None, "level2": None}
    assert level_scores({"mednli": 80.0, "meqsum": 40.0, "problem_summary": None})["level1"] is None


def test_unknown_task_is_rejected() -> None:
    with pytest.raises(KeyError):
        task_score("nope", pl.DataFrame({"accuracy": [1.0]}))
