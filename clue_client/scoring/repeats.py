"""Scores of a run that sent every prompt K times (``clue run --repeats K``): mean over repeats, and sd.

Such a run holds one row per (sample, repeat). Each repeat is scored as a run of its own; the task score is
the mean of the K repeat scores and ``sd`` their standard deviation (ddof 1): how far one single draw may
land from the mean. The 95% CI is the usual one (``stats.py``): it resamples whole ``group_id``s, so a
sample's K answers travel together as one cluster and never count as K independent samples.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

from .aggregate import level_scores, metric_means, task_score
from .options import ScoringOptions
from .protocol import LEVELS

__all__ = ["REPEAT", "repeat_ids", "mean_sd", "repeat_summary", "level_repeat_summary"]

#: The column that numbers a row's repeat (0..K-1); absent in a run of one repeat.
REPEAT = "repeat"


def repeat_ids(frame: pl.DataFrame) -> list[int]:
    """The repeats present in a frame (``[0]`` when it has no repeat column)."""
    if REPEAT not in frame.columns:
        return [0]
    return sorted(int(r) for r in frame[REPEAT].unique().drop_nulls().to_list())


def mean_sd(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation of the values that exist (sd None for fewer than two)."""
    present = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if present.size == 0:
        return None, None
    mean = float(present.mean())
    return mean, (float(present.std(ddof=1)) if present.size > 1 else None)


def repeat_summary(task_id: str, frame: pl.DataFrame, options: ScoringOptions | None = None) -> dict[str, Any] | None:
    """``score`` (mean over repeats), ``sd``, ``repeats``, ``repeat_scores`` and ``metrics`` (each metric's
    mean over repeats) for a scored frame with several repeats; None for a run of one repeat."""
    ids = repeat_ids(frame)
    if len(ids) < 2:
        return None
    parts = [frame.filter(pl.col(REPEAT) == r) for r in ids]
    scores = [task_score(task_id, part, options) for part in parts]
    per_metric: dict[str, list[float]] = {}
    for part in parts:
        for name, value in metric_means(task_id, part, options).items():
            per_metric.setdefault(name, []).append(value)
    score, sd = mean_sd(scores)
    return {"score": score, "sd": sd, "repeats": len(ids), "repeat_scores": scores,
            "metrics": {name: float(np.mean(values)) for name, values in per_metric.items()}}


def level_repeat_summary(tasks: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    """Each level's sd across repeats: the level of repeat r is the mean of its three tasks' repeat-r scores."""
    out: dict[str, float | None] = {}
    for level, members in LEVELS.items():
        runs = [tasks.get(t, {}).get("repeat_scores") for t in members]
        if any(r is None for r in runs) or len({len(r) for r in runs}) != 1:  # type: ignore[arg-type]
            out[level] = None
            continue
        per_repeat = [level_scores(dict(zip(members, column)))[level] for column in zip(*runs)]  # type: ignore[arg-type]
        out[level] = mean_sd(per_repeat)[1]
    return out
