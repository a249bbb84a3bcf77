"""From per-sample metric columns to task scores (in %) and the Level 1 / Level 2 means.

A task score is the mean of its protocol metrics (CLUE_PROTOCOL.md, "Aggregation"), each metric the mean
over scored samples. When a protocol metric is missing (extra not installed, model unavailable, metric not
requested) the score is the mean of the metrics that are there and the task lists the missing ones in
``partial``: the number is then *not* the protocol's task score and must be read with that list.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .options import ScoringOptions
from .protocol import LEVELS, TASKS

__all__ = ["level_scores", "metric_means", "scored_rows", "task_score"]


def scored_rows(scored: pl.DataFrame) -> pl.DataFrame:
    """Rows that count: those without an error (all rows if the frame has no ``error`` column)."""
    return scored.filter(pl.col("error").is_null()) if "error" in scored.columns else scored


def _mean(values: np.ndarray, double_first: bool) -> float | None:
    """Plain mean of the non-NaN values, or CLUE's with the first one counted twice."""
    values = values[~np.isnan(values)]
    if values.size == 0:
        return None
    if double_first:
        return float((values[0] + values.sum()) / (values.size + 1))
    return float(values.mean())


def metric_means(task_id: str, scored: pl.DataFrame, options: ScoringOptions | None = None) -> dict[str, float]:
    """Mean of every metric column present with at least one value, as a fraction (not %)."""
    compat = bool(options and options.clue_compat and TASKS[task_id].double_first)
    rows = scored_rows(scored)
    out: dict[str, float] = {}
    for name in TASKS[task_id].metrics:
        if name in rows.columns:
            mean = _mean(rows[name].cast(pl.Float64).fill_null(np.nan).to_numpy(), compat)
            if mean is not None:
                out[name] = mean
    return out


def task_score(task_id: str, scored: pl.DataFrame, options: ScoringOptions | None = None) -> float | None:
    """Task score in % from a scored per-sample frame (any subset of rows; error rows are ignored).

    Metrics absent from the frame are left out of the mean (the caller marks such a score partial);
    None when no protocol metric has a value.
    """
    if task_id not in TASKS:
        raise KeyError(f"unknown task {task_id!r}")
    means = metric_means(task_id, scored, options)
    present = [means[m] for m in TASKS[task_id].score if m in means]
    return 100.0 * float(np.mean(present)) if present else None


def level_scores(task_scores: dict[str, float | None]) -> dict[str, float | None]:
    """Level 1 and Level 2 in %: the mean of their three task scores, None unless all three exist."""
    out: dict[str, float | None] = {}
    for level, tasks in LEVELS.items():
        values = [task_scores.get(t) for t in tasks]
        out[level] = float(np.mean(values)) if all(v is not None for v in values) else None
    return out
