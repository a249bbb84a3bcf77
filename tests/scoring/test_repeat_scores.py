"""Scores over repeats, hand-computed: the mean of the repeats' task scores, their sd, the levels' sd, and a
CI that resamples whole samples (a sample's repeats together)."""

from __future__ import annotations

import math

import polars as pl
import pytest

from clue_client.scoring import ScoringOptions, score_run
from clue_client.scoring.repeats import level_repeat_summary, mean_sd

LABELS = {"E": "entailment", "C": "contradiction"}


def mednli(answers_by_repeat: list[list[str]]) -> pl.DataFrame:
    """Samples s0, s1 (references entailment, contradiction); one row per sample and repeat."""
    refs = ["entailment", "contradiction"]
    rows = [{"task": "mednli", "sample_id": f"s{i}", "group_id": f"s{i}", "reference": refs[i],
             "prediction": LABELS[a], "error": None, "repeat": r}
            for r, answers in enumerate(answers_by_repeat) for i, a in enumerate(answers)]
    return pl.DataFrame(rows)


def test_score_is_the_mean_over_repeats_with_their_sd() -> None:
    # repeat 0: both right (100), repeat 1: s0 right only (50), repeat 2: neither (0)
    _, results = score_run({"mednli": mednli([["E", "C"], ["E", "E"], ["C", "E"]])}, ScoringOptions(bootstrap=200))
    task = results["tasks"]["mednli"]
    assert task["repeat_scores"] == [100.0, 50.0, 0.0] and task["repeats"] == 3
    assert task["score"] == pytest.approx(50.0)
    assert task["sd"] == pytest.approx(50.0)  # sqrt(((50)^2 + 0 + (50)^2) / 2)
    assert task["metrics"]["accuracy"] == pytest.approx(0.5) and task["n"] == 6
    assert results["repeats"] == 3 and results["levels_sd"] == {"level1": None, "level2": None}


def test_the_ci_resamples_samples_with_all_their_repeats() -> None:
    # s0 always right, s1 always wrong: every repeat scores 50 (sd 0), yet which samples were drawn matters; a
    # resample of whole samples gives 0, 50 or 100, never a score only rows drawn one by one could give (e.g. 33.3)
    _, results = score_run({"mednli": mednli([["E", "E"]] * 3)}, ScoringOptions(bootstrap=500, seed=3))
    task = results["tasks"]["mednli"]
    assert task["sd"] == 0.0 and task["ci95"] == [0.0, 100.0]


def test_a_run_of_one_repeat_keeps_the_results_shape() -> None:
    _, results = score_run({"mednli": mednli([["E", "C"]]).drop("repeat")}, ScoringOptions(bootstrap=0))
    assert "repeats" not in results and "sd" not in results["tasks"]["mednli"]


def test_level_sd_is_across_the_repeats_of_the_level() -> None:
    tasks = {"mednli": {"repeat_scores": [60.0, 30.0]}, "meqsum": {"repeat_scores": [30.0, 30.0]},
             "problem_summary": {"repeat_scores": [30.0, 0.0]}}
    # level per repeat: 40, 20 -> sd = sqrt(2 * 10^2 / 1)
    assert level_repeat_summary(tasks)["level1"] == pytest.approx(math.sqrt(200))
    assert level_repeat_summary(tasks)["level2"] is None
    assert mean_sd([None, 2.0, 4.0]) == (3.0, pytest.approx(math.sqrt(2)))
