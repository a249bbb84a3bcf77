"""CLUE's published table (25 models) loaded into the same ``Results`` shape as a run's results.json, so a
published model and a run are ranked, plotted and tabled by the same code.

The data and its attribution ship in ``clue_client/reports/published/`` (CSV as published, in percent;
TOML with source, date, protocol and which column is which metric).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from io import StringIO
from typing import Any, Mapping

import polars as pl

from ..errors import UserError
from .run_folder import Results, TaskResult

__all__ = ["Published", "PublishedTable", "published_table", "select_published"]



@dataclass(frozen=True, slots=True)
class Published:
    """One published model: its name and its scores as a run's ``Results`` (no samples, no CIs)."""

    name: str
    results: Results


@dataclass(frozen=True, slots=True)
class PublishedTable:
    models: tuple[Published, ...]
    attribution: str
    source: str
    date: str
    protocol: str
    protocol_name: str  # the --protocol that follows the code behind these numbers ("2024")

    @property
    def credit(self) -> str:
        """The line shown wherever the numbers are: who published them, where, when, with what code."""
        return f"Published results: {self.attribution}; {self.source}; {self.date}; {self.protocol}."


def _percent(value: Any) -> float | None:
    return None if value is None else float(value)


def _results(row: Mapping[str, Any], meta: Mapping[str, Any]) -> Results:
    tasks = {}
    for task, spec in meta["tasks"].items():
        score = _percent(row[spec["score"]])
        if score is None:
            continue  # not published for this model (base models have no Level 2)
        metrics = {name: (None if row[col] is None else row[col] / 100) for name, col in spec["metrics"].items()}
        tasks[task] = TaskResult(n=0, n_errors=0, metrics=metrics, score=score, ci95=None, partial=())
    levels = meta["levels"]
    return Results(endpoint="CLUE published", model=row["model"], tasks=tasks,
                   level1=_percent(row[levels["level1"]]), level2=_percent(row[levels["level2"]]),
                   levels_ci95={"level1": None, "level2": None})


@cache
def published_table() -> PublishedTable:
    """The shipped table, read once."""
    files = resources.files("clue_client.reports").joinpath("published")
    meta = tomllib.loads(files.joinpath("clue_published.toml").read_text(encoding="utf-8"))
    csv = files.joinpath("clue_published_results.csv").read_text(encoding="utf-8")
    frame = pl.read_csv(StringIO(csv), infer_schema_length=None, schema_overrides={"model": pl.Utf8})
    models = tuple(Published(row["model"], _results(row, meta)) for row in frame.iter_rows(named=True))
    return PublishedTable(models, meta["attribution"], meta["source"], meta["date"], meta["protocol"],
                          meta["protocol_name"])


def select_published(spec: str | None) -> list[Published]:
    """``--published``: ``all`` (default), ``none``, or a comma list of published model names."""
    table = published_table()
    if spec is None or spec.strip().lower() == "all":
        return list(table.models)
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if [n.lower() for n in names] == ["none"]:
        return []
    by_name = {m.name.lower(): m for m in table.models}
    unknown = [n for n in names if n.lower() not in by_name]
    if unknown:
        raise UserError(f"--published: unknown model(s) {', '.join(unknown)}; published: "
                        + ", ".join(m.name for m in table.models))
    return [by_name[n.lower()] for n in dict.fromkeys(names)]
