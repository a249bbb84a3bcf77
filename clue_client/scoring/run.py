"""Score a finished run: per-task frames in, scored frames and the ``results.json`` dict out."""

from __future__ import annotations

import numpy as np
import polars as pl

from ..errors import DataError
from .aggregate import count_first_twice, level_scores, metric_means, task_score
from .answers import final_answers
from .options import ScoringOptions
from .persample import sample_metrics
from .postprocess import post_process_frame
from .protocol import LEVELS, TASK_IDS, TASKS
from .rejected import PARTIAL_MARK, REJECTED, n_rejected, settle_rejected
from .repeats import level_repeat_summary, repeat_summary
from .stats import bootstrap_scores, ci95, level_replicates

__all__ = ["score_run", "score_task"]

_REQUIRED = ("sample_id", "group_id", "reference", "prediction")


def _check(task: str, frame: pl.DataFrame) -> None:
    if task not in TASKS:
        raise DataError(f"unknown task {task!r}: expected one of {', '.join(TASK_IDS)}")
    needed = (*_REQUIRED, "lh_task") if task == "longhealth" else _REQUIRED
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise DataError(f"predictions of task {task} lack column(s) {', '.join(absent)}")


def _full_column(values: np.ndarray | list, ok: np.ndarray, dtype: pl.DataType) -> pl.Series:
    """Spread values over the scored rows; error rows (and NaN = not applicable) become null."""
    out: list = [None] * ok.size
    for i, v in zip(np.flatnonzero(ok), values):
        out[i] = None if (isinstance(v, float) and np.isnan(v)) else v
    return pl.Series(out, dtype=dtype)


def score_task(task: str, frame: pl.DataFrame, options: ScoringOptions) -> tuple[pl.DataFrame, dict[str, str]]:
    """Add one Float64 column per per-sample metric (null on error rows and for missing metrics); also
    return the missing metrics with their reasons.

    ``frame`` is the task's samples in the protocol's order (its first row is the first scored sample, which
    the protocol may count twice: ``counted``); the answers are cleaned as the protocol says before any
    metric (``postprocess.py``), the server's text staying in ``raw_content``."""
    scored, missing, _ = _score_task(task, frame, options)
    return scored, missing


def _score_task(task: str, frame: pl.DataFrame,
                options: ScoringOptions) -> tuple[pl.DataFrame, dict[str, str], dict[str, int]]:
    """``score_task`` plus the task's counts for results.json (answers changed by post-processing, BERTScore
    pairs cut to 512 tokens)."""
    _check(task, frame)
    stale = [c for c in (*TASKS[task].metrics, "lh_answer") if c in frame.columns]
    frame = final_answers(frame.drop(stale), options.template_opens_think)  # answers, not thoughts
    frame = count_first_twice(task, frame, options)
    rules = options.rules(task)
    frame, changed = post_process_frame(frame, rules.post_process, options.model, rules.post_process_lh_tasks)
    ok = frame["error"].is_null().to_numpy() if "error" in frame.columns else np.ones(frame.height, dtype=bool)
    result = sample_metrics(task, frame.filter(pl.Series(ok)), options)
    columns = [_full_column(v, ok, pl.Float64).alias(k) for k, v in result.columns.items()]
    columns += [_full_column(v, ok, pl.Utf8).alias(k) for k, v in result.extra.items()]
    columns += [pl.lit(None, dtype=pl.Float64).alias(k) for k in result.missing]  # stable schema
    counts = {**({"n_post_processed": changed} if rules.post_process else {}), **result.counts}
    return frame.with_columns(columns), result.missing, counts


def _oddities(frame: pl.DataFrame) -> dict[str, int]:
    """Answers scored as they are but worth a look: cut off at max_tokens (``finish_reason: length``) and
    empty (``content: null`` or only whitespace). Refused samples, scored as empty, are counted apart."""
    answered = frame.filter(pl.col("error").is_null()) if "error" in frame.columns else frame
    if REJECTED in answered.columns:
        answered = answered.filter(pl.col(REJECTED).is_null())
    truncated = int((answered["finish_reason"] == "length").sum()) if "finish_reason" in answered.columns else 0
    empty = answered.select((pl.col("prediction").is_null() | (pl.col("prediction").str.strip_chars() == "")).sum()).item()
    return {"n_truncated": truncated, "n_empty": int(empty)}


def score_run(
    frames: dict[str, pl.DataFrame], options: ScoringOptions
) -> tuple[dict[str, pl.DataFrame], dict]:
    """Score every task of a run; the results dict follows the run-folder contract (the CLI adds
    ``endpoint`` and ``model``). Extensions: ``missing`` ({metric: reason}) and ``n_rejected`` (samples the
    server refused for good, see ``rejected.py``) per task, ``levels_partial``; ``n_post_processed`` (answers
    the protocol's output clean-up changed) where the protocol cleans, ``n_bertscore_cut`` (pairs scored on
    their first 512 tokens) where BERTScore ran.

    Each frame holds one task's answered samples in the protocol's order; when the protocol counts the
    first scored sample twice, set ``counted`` (``count_first_twice``) on the whole task frame before
    dropping unanswered rows, as the runner does, or the first answered row is the one doubled."""
    scored: dict[str, pl.DataFrame] = {}
    tasks: dict[str, dict] = {}
    reps: dict[str, np.ndarray | None] = {}
    for task in sorted(frames, key=lambda t: TASK_IDS.index(t) if t in TASK_IDS else len(TASK_IDS)):
        frame, missing, counts = _score_task(task, settle_rejected(frames[task], options.exclude_rejected), options)
        scored[task] = frame
        n = int(frame["error"].is_null().sum()) if "error" in frame.columns else frame.height
        refused = n_rejected(frame)
        partial = [m for m in TASKS[task].score if m in missing]
        if refused and options.exclude_rejected:
            partial.append(PARTIAL_MARK)
            missing = {**missing, PARTIAL_MARK: f"{refused} sample(s) the server refused left out (--exclude-rejected)"}
        reps[task] = bootstrap_scores(task, frame, options.bootstrap, options.seed) if n else None
        answered = frame.filter(pl.col("error").is_null()) if "error" in frame.columns else frame
        tasks[task] = {
            "n": n,
            "n_errors": frame.height - n,
            "n_reasoning_truncated": int(answered["reasoning_truncated"].sum()),
            "n_rejected": refused,
            **_oddities(frame),
            **counts,
            "metrics": metric_means(task, frame, options),
            "score": task_score(task, frame, options),
            "ci95": ci95(reps[task]),
            "partial": partial,
            "missing": missing,
        }
        if (repeated := repeat_summary(task, frame, options)) is not None:  # --repeats K: the mean over repeats
            tasks[task].update(repeated)
    scores = {t: r["score"] for t, r in tasks.items()}
    levels = level_scores(scores)
    level_reps = level_replicates({t: reps.get(t) for t in TASK_IDS})

    results = {
        "tasks": tasks,
        **levels,
        "levels_ci95": {lv: (ci95(level_reps[lv]) if levels[lv] is not None else None) for lv in levels},
        "levels_partial": {
            lv: [t for t in LEVELS[lv] if t in tasks and tasks[t]["partial"]] for lv in levels
        },
    }
    if (repeats := max((r.get("repeats", 1) for r in tasks.values()), default=1)) > 1:
        results["repeats"] = repeats
        results["levels_sd"] = level_repeat_summary(tasks)
    return scored, results
