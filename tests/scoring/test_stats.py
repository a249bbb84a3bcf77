"""Bootstrap intervals: seeded, consistent with task_score, and resampling LongHealth by question."""

from __future__ import annotations

import numpy as np
import polars as pl

from clue_client.scoring import bootstrap_scores, task_score
from clue_client.scoring.stats import ci95, group_draws, level_replicates


def _mednli(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ids = [f"s{i}" for i in range(n)]
    return pl.DataFrame({"sample_id": ids, "group_id": ids, "accuracy": rng.integers(0, 2, n).astype(float),
                         "error": [None] * n}, schema_overrides={"error": pl.Utf8})


def test_replicates_equal_task_score_on_the_resampled_rows() -> None:
    frame = _mednli(40, seed=1)
    reps = bootstrap_scores("mednli", frame, replicates=20, seed=5)
    groups = np.unique(frame["group_id"].to_numpy())
    for b, draw in enumerate(group_draws(5, "mednli", len(groups), 20)):
        picked = pl.DataFrame({"group_id": groups[draw]}).join(frame, on="group_id", how="left")
        assert abs(reps[b] - task_score("mednli", picked)) < 1e-9


def test_seeded_and_sensible() -> None:
    frame = _mednli(200, seed=2)
    a = ci95(bootstrap_scores("mednli", frame, 500, seed=0))
    b = ci95(bootstrap_scores("mednli", frame, 500, seed=0))
    c = ci95(bootstrap_scores("mednli", frame, 500, seed=1))
    assert a == b and a != c
    score = task_score("mednli", frame)
    assert a[0] < score < a[1] and a[1] - a[0] < 20


def test_longhealth_resamples_questions_not_prompts() -> None:
    # q1: all 3 prompts right; q2: all 3 wrong -> any resample of questions scores 0, 50 or 100 per sub-task
    rows = [{"sample_id": f"{q}-{k}", "group_id": q, "lh_task": 1, "error": None,
             "longhealth_task1": 1.0 if q == "q1" else 0.0, "longhealth_task2": None, "longhealth_task3": None}
            for q in ("q1", "q2") for k in range(3)]
    frame = pl.DataFrame(rows, schema_overrides={"error": pl.Utf8, "longhealth_task2": pl.Float64,
                                                   "longhealth_task3": pl.Float64})
    reps = bootstrap_scores("longhealth", frame, 300, seed=0)
    assert set(np.round(reps, 9)) <= {0.0, 50.0, 100.0}
    assert {0.0, 50.0, 100.0} <= set(np.round(reps, 9))


def test_errors_are_not_resampled_and_empty_tasks_have_no_interval() -> None:
    frame = _mednli(10, seed=3).with_columns(error=pl.lit("boom"))
    assert bootstrap_scores("mednli", frame, 100, seed=0) is None
    assert ci95(None) is None


def test_levels_need_all_three_tasks() -> None:
    reps = {"mednli": np.array([1.0, 2.0]), "meqsum": np.array([3.0, 4.0]), "problem_summary": np.array([5.0, 6.0])}
    levels = level_replicates(reps)
    assert levels["level1"].tolist() == [3.0, 4.0]
    assert levels["level2"] is None
