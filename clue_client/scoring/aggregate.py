"""From per-sample metric columns to task scores (in %) and the Level 1 / Level 2 means.

A task score is the mean of its protocol metrics (CLUE_PROTOCOL.md, "Aggregation"), each metric the mean
over scored samples. When a protocol metric is missing (extra not installed, model unavailable, metric not
requested) the score is the mean of the metrics that are there and the task lists the missing ones in
``partial``: the number is then *not* the protocol's task score and must be read with that list.

CLUE's ``update_results`` stores the first value of every metric twice (CLUE 2024: MedNLI, MeQSum, Problem
Summary, MeDiSumQA, MeDiSumCode; 2025: MedNLI, MeDiSumCode, reproduced with ``clue_compat``). That is one
particular sample, the first scored in the protocol's order, so it is a per-row weight: the ``counted``
column (2 on that sample's rows, repeats included; 1 elsewhere), set on the whole task frame before
unanswered rows are dropped. Every mean reads it: task scores, per-metric means, bootstrap replicates (the
sample keeps its weight wherever a resample puts it, so the interval is the interval of the score
reported) and paired comparisons. When that sample is not scored (an error, a refusal left out with
``--exclude-rejected``) nothing is doubled: CLUE never doubled another sample. ``--limit`` keeps the first
scored samples, so a limited run doubles the same sample a full one does.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .options import ScoringOptions
from .protocol import LEVELS, TASKS

__all__ = ["COUNTED", "count_first_twice", "doubles_first", "level_scores", "metric_means", "row_weights",
           "scored_rows", "task_score"]

#: Per-row weight column: how many times the row counts in every mean of its task.
COUNTED = "counted"


def scored_rows(scored: pl.DataFrame) -> pl.DataFrame:
    """Rows that count: those without an error (all rows if the frame has no ``error`` column)."""
    return scored.filter(pl.col("error").is_null()) if "error" in scored.columns else scored


def doubles_first(task_id: str, options: ScoringOptions | None) -> bool:
    """Whether ``task_id``'s first scored sample counts twice: the protocol says so, or ``clue_compat`` asks
    for CLUE 2025's doubling."""
    if options is None:
        return False
    return options.rules(task_id).double_first or (options.clue_compat and TASKS[task_id].double_first)


def count_first_twice(task_id: str, frame: pl.DataFrame, options: ScoringOptions | None) -> pl.DataFrame:
    """``frame`` (a whole task, in the protocol's order) with its ``counted`` weights: 2 on the rows of the
    first row's sample, 1 elsewhere. Without doubling the column is dropped (plain means); a frame that has
    it already keeps it (it was set before unanswered rows were dropped)."""
    if not doubles_first(task_id, options):
        return frame.drop(COUNTED, strict=False)
    if COUNTED in frame.columns or frame.height == 0:
        return frame
    if "sample_id" in frame.columns:  # all of its rows: one per repeat
        first = pl.col("sample_id") == frame["sample_id"][0]
    else:
        first = pl.int_range(pl.len()) == 0
    return frame.with_columns(pl.when(first).then(2).otherwise(1).cast(pl.Int8).alias(COUNTED))


def row_weights(frame: pl.DataFrame) -> np.ndarray:
    """The ``counted`` weight of each row (1 where the frame has none)."""
    if COUNTED not in frame.columns:
        return np.ones(frame.height)
    return frame[COUNTED].cast(pl.Float64).fill_null(1.0).to_numpy()


def _mean(values: np.ndarray, weights: np.ndarray) -> float | None:
    """Weighted mean of the non-NaN values (CLUE's doubled first sample is a weight of 2)."""
    ok = ~np.isnan(values)
    if not ok.any():
        return None
    return float(np.sum(values[ok] * weights[ok]) / np.sum(weights[ok]))


def metric_means(task_id: str, scored: pl.DataFrame, options: ScoringOptions | None = None) -> dict[str, float]:
    """Mean of every metric column present with at least one value, as a fraction (not %); rows weigh their
    ``counted`` (set from ``options`` when the frame has none)."""
    rows = scored_rows(count_first_twice(task_id, scored, options) if COUNTED not in scored.columns else scored)
    weights = row_weights(rows)
    out: dict[str, float] = {}
    for name in TASKS[task_id].metrics:
        if name in rows.columns:
            mean = _mean(rows[name].cast(pl.Float64).fill_null(np.nan).to_numpy(), weights)
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
