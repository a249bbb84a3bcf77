"""Seeded percentile-bootstrap 95% confidence intervals for task scores and levels.

The resampling unit is the frame's ``group_id`` (one sample, or for LongHealth one question with all its
prompts), so correlated prompts never count as independent evidence. Each task draws from its own
generator, seeded by (seed, task position), so a task's interval does not depend on which other tasks ran.
Replicates reuse per-group weighted sums, which gives the same numbers as ``task_score`` on the resampled
rows: a sample counted twice (``counted``, see ``aggregate.py``) keeps its weight in every replicate.
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl

from .aggregate import row_weights, scored_rows
from .protocol import LEVELS, TASK_IDS, TASKS

__all__ = ["bootstrap_scores", "ci95", "group_draws", "level_replicates"]

_CHUNK = 100


def group_draws(seed: int, task_id: str, groups: int, replicates: int) -> np.ndarray:
    """The (replicates x groups) group indices drawn with replacement for ``task_id``."""
    rng = np.random.default_rng([seed, TASK_IDS.index(task_id)])
    return rng.integers(0, groups, size=(replicates, groups))


def bootstrap_scores(task_id: str, scored: pl.DataFrame, replicates: int, seed: int) -> np.ndarray | None:
    """Task score (in %) of each bootstrap replicate; None when the task has no scored rows or metrics."""
    rows = scored_rows(scored)
    names = [m for m in TASKS[task_id].score if m in rows.columns and rows[m].drop_nulls().len() > 0]
    if rows.height == 0 or not names or replicates == 0:
        return None
    _, group = np.unique(rows["group_id"].cast(pl.Utf8).to_numpy(), return_inverse=True)
    n_groups = int(group.max()) + 1
    weights = row_weights(rows)
    sums, counts = [], []
    for name in names:
        values = rows[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
        ok = ~np.isnan(values)
        sums.append(np.bincount(group[ok], weights=values[ok] * weights[ok], minlength=n_groups))
        counts.append(np.bincount(group[ok], weights=weights[ok], minlength=n_groups))
    sum_m, count_m = np.stack(sums, axis=1), np.stack(counts, axis=1)  # groups x metrics
    draws = group_draws(seed, task_id, n_groups, replicates)
    out = np.empty(replicates)
    for start in range(0, replicates, _CHUNK):
        block = draws[start : start + _CHUNK]
        flat = (block + n_groups * np.arange(block.shape[0])[:, None]).ravel()
        weight = np.bincount(flat, minlength=block.shape[0] * n_groups).reshape(block.shape[0], n_groups)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a replicate may miss a metric: NaN, as task_score
            means = (weight @ sum_m) / (weight @ count_m)
            out[start : start + block.shape[0]] = 100.0 * np.nanmean(means, axis=1)
    return out


def ci95(replicates: np.ndarray | None) -> list[float] | None:
    """Percentile interval [2.5%, 97.5%] of the replicates."""
    if replicates is None or replicates.size == 0:
        return None
    lo, hi = np.percentile(replicates, [2.5, 97.5])
    return [float(lo), float(hi)]


def level_replicates(task_reps: dict[str, np.ndarray | None]) -> dict[str, np.ndarray | None]:
    """Level replicates: the mean of the three tasks' replicates (tasks resampled independently)."""
    out: dict[str, np.ndarray | None] = {}
    for level, tasks in LEVELS.items():
        reps = [task_reps.get(t) for t in tasks]
        out[level] = np.mean(np.stack(reps), axis=0) if all(r is not None for r in reps) else None
    return out
