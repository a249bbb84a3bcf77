"""The shipped CLUE table: every published task score and level recomputed from its per-metric values with
our own aggregation (scoring.task_score over the metric means, scoring.level_scores)."""

from __future__ import annotations

import csv

import polars as pl
import pytest

from clue_client.errors import UserError
from clue_client.reports.published_table import published_table, select_published
from clue_client.scoring import TASKS, level_scores, task_score
from conftest import SHARED

SHARED_CSV = SHARED / "clue-published" / "clue_published_results.csv"


def test_every_published_score_and_level_follows_from_its_metrics() -> None:
    table = published_table()
    assert len(table.models) == 25
    checked = 0
    for model in table.models:
        ours = {}
        for task, result in model.results.tasks.items():
            # one row whose metric values are the published means: task_score's mean over them is the task score
            frame = pl.DataFrame({name: [result.metrics[name]] for name in TASKS[task].score})
            ours[task] = task_score(task, frame)
            assert ours[task] == pytest.approx(result.score, abs=0.005 + 1e-9), (model.name, task)
            checked += 1
        levels = level_scores(ours)
        for level in ("level1", "level2"):
            published = getattr(model.results, level)
            if published is None:
                assert levels[level] is None or model.name == "llama2-7b-hf", (model.name, level)
                continue
            assert levels[level] == pytest.approx(published, abs=0.005 + 1e-9), (model.name, level)
    assert checked == 25 * 3 + sum(1 for m in table.models if m.results.level2 is not None) * 3


def test_shipped_table_is_the_published_one_with_its_attribution() -> None:
    if not SHARED_CSV.is_file():
        pytest.skip(f"{SHARED_CSV} is the project's source copy; it exists only beside a development checkout")
    rows = {r["model"]: r for r in csv.DictReader(SHARED_CSV.open(encoding="utf-8"))}
    table = published_table()
    assert [m.name for m in table.models] == list(rows)
    for model in table.models:
        assert model.results.level1 == float(rows[model.name]["L1"])
        assert model.results.tasks["meqsum"].metrics["rouge1"] == pytest.approx(float(rows[model.name]["MeQSum_R1"]) / 100)
    assert "arXiv 2404.04067" in table.credit and "2024" in table.date and "ff75877" in table.protocol


def test_published_selection() -> None:
    assert select_published("none") == []
    assert len(select_published(None)) == 25
    names = [m.name for m in select_published("Mistral-7B-v0.1, llama2-7b")]
    assert names == ["Mistral-7B-v0.1", "llama2-7b"]
    with pytest.raises(UserError, match="unknown model.*no-such-model"):
        select_published("no-such-model")
