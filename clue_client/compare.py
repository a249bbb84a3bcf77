"""Paired comparison of two runs: is B better or worse than A per task, and is the difference real?

Only samples both runs answered enter (paired by task and sample_id). Per task: the difference of task
scores (B - A, in points), a 95% CI from a paired bootstrap that resamples ``group_id`` (a LongHealth
question, otherwise the sample), and a p-value: McNemar's exact test where every per-sample score is right
or wrong and samples are independent (MedNLI), otherwise a paired permutation test that swaps A and B
within whole groups (ROUGE/BERTScore/UMLS/ICD tasks, and LongHealth, whose prompts cluster by question).
P-values are Holm-corrected across tasks. Differences in data, prompts or sampling are flagged, not hidden.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import polars as pl

from .errors import UserError
from .runs import TASK_IDS, Run, metric_columns

__all__ = [
    "ScoreFn",
    "TaskComparison",
    "Comparison",
    "compare_runs",
    "paired_rows",
    "mcnemar_exact",
    "holm",
    "manifest_warnings",
    "default_scorer",
]

#: ``task_score(task_id, scored_frame) -> score in % or None`` (clue_client.scoring's signature).
ScoreFn = Callable[[str, pl.DataFrame], "float | None"]

#: Columns never needed to score, dropped before resampling (they are large).
_HEAVY = ("messages",)


def default_scorer() -> ScoreFn:
    """The project's task scorer; imported late so that reports work without the scoring extras loaded."""
    try:
        from .scoring import task_score  # type: ignore[attr-defined]
    except ImportError:
        raise UserError("this install has no clue_client.scoring.task_score; cannot compare runs") from None
    return task_score


@dataclass(frozen=True, slots=True)
class TaskComparison:
    """One task's paired result. ``delta`` and ``ci95`` are B minus A, in score points."""

    task: str
    n_paired: int
    score_a: float | None
    score_b: float | None
    delta: float | None
    ci95: tuple[float, float] | None
    p_value: float | None
    p_holm: float | None
    test: str
    prompt_mismatches: int
    metrics_only_in: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "n_paired": self.n_paired,
            "delta": self.delta,
            "ci95": list(self.ci95) if self.ci95 else None,
            "p_value": self.p_value,
            "p_holm": self.p_holm,
            "test": self.test,
            "score_a": self.score_a,
            "score_b": self.score_b,
            "prompt_mismatches": self.prompt_mismatches,
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    a: str
    b: str
    tasks: Mapping[str, TaskComparison]
    warnings: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` contract: {"a", "b", "tasks": {TASK: {...}}} plus "warnings"."""
        return {"a": self.a, "b": self.b, "tasks": {t: c.to_json() for t, c in self.tasks.items()},
                "warnings": list(self.warnings)}

    def regressions(self, alpha: float = 0.05) -> list[str]:
        """Tasks where B is significantly worse than A after Holm correction."""
        return [t for t, c in self.tasks.items()
                if c.delta is not None and c.delta < 0 and c.p_holm is not None and c.p_holm < alpha]


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (binomial test with p = 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2.0 * tail / 2**n)


def holm(p_values: Mapping[str, float | None]) -> dict[str, float | None]:
    """Holm's step-down adjustment; tasks without a p-value keep None and do not count."""
    present = sorted((p, t) for t, p in p_values.items() if p is not None)
    m = len(present)
    adjusted: dict[str, float | None] = {t: None for t in p_values}
    running = 0.0
    for i, (p, task) in enumerate(present):
        running = max(running, min(1.0, (m - i) * p))
        adjusted[task] = running
    return adjusted


def paired_rows(a: pl.DataFrame, b: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows of one task that both runs answered, aligned row by row (same sample_id order)."""
    answered = (
        a.filter(pl.col("prediction").is_not_null()).select("sample_id")
        .join(b.filter(pl.col("prediction").is_not_null()).select("sample_id"), on="sample_id", how="inner")
    )
    keep = lambda f: f.join(answered, on="sample_id", how="semi").sort("sample_id")  # noqa: E731
    return keep(a), keep(b)


def _prompt_mismatches(a: pl.DataFrame, b: pl.DataFrame) -> int:
    """Paired samples whose prompts (messages) or token limits differ between the runs."""
    cols = [c for c in ("messages", "max_tokens") if c in a.columns and c in b.columns]
    if not cols or a.height == 0:
        return 0
    same = pl.Series([True] * a.height)
    for col in cols:
        same = same & (a[col] == b[col]).fill_null(a[col].is_null() & b[col].is_null())
    return int((~same).sum())


class _Pair:
    """Aligned A/B frames of one task, reduced to what scoring reads, with resampling by group."""

    def __init__(self, task: str, a: pl.DataFrame, b: pl.DataFrame, scorer: ScoreFn) -> None:
        common = [c for c in a.columns if c in b.columns and c not in _HEAVY]
        self.task, self.scorer = task, scorer
        self.a, self.b = a.select(common), b.select(common)
        groups, self.group_of_row = np.unique(self.a["group_id"].cast(pl.Utf8).to_numpy(), return_inverse=True)
        self.n_groups = len(groups)

    def delta(self, a: pl.DataFrame, b: pl.DataFrame) -> float | None:
        sa, sb = self.scorer(self.task, a), self.scorer(self.task, b)
        return None if sa is None or sb is None else float(sb) - float(sa)

    def bootstrap(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Deltas on samples of whole groups drawn with replacement (rows repeat as their group does)."""
        out = []
        for _ in range(n):
            counts = np.bincount(rng.integers(0, self.n_groups, self.n_groups), minlength=self.n_groups)
            rows = np.repeat(np.arange(self.a.height), counts[self.group_of_row])
            d = self.delta(self.a[rows], self.b[rows])
            if d is not None:
                out.append(d)
        return np.asarray(out)

    def permutation_p(self, rng: np.random.Generator, n: int, observed: float) -> float:
        """Two-sided p: how often swapping A/B labels within random groups gives |delta| >= observed."""
        both = pl.concat([self.a, self.b], how="vertical_relaxed")  # rows of B follow rows of A
        rows = np.arange(self.a.height)
        hits = valid = 0
        for _ in range(n):
            swap = (rng.random(self.n_groups) < 0.5)[self.group_of_row]
            d = self.delta(both[np.where(swap, rows + self.a.height, rows)],
                           both[np.where(swap, rows, rows + self.a.height)])
            if d is not None:
                valid += 1
                hits += abs(d) >= abs(observed) - 1e-12
        return (1 + hits) / (1 + valid)

    def binary_outcomes(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-sample right/wrong for both runs if every single-sample score is 0 or 100, else None."""
        outcomes = []
        for frame in (self.a, self.b):
            scores = [self.scorer(self.task, frame[i : i + 1]) for i in range(frame.height)]
            if any(s is None or (s != 0 and s != 100) for s in scores):
                return None
            outcomes.append(np.asarray(scores) == 100)
        return outcomes[0], outcomes[1]


def _compare_task(task: str, a: pl.DataFrame, b: pl.DataFrame, scorer: ScoreFn,
                  resamples: int, seed: int) -> TaskComparison:
    metrics_a, metrics_b = set(metric_columns(a)), set(metric_columns(b))
    only = tuple(sorted(metrics_a ^ metrics_b))
    pa, pb = paired_rows(a, b)
    mismatches = _prompt_mismatches(pa, pb)
    empty = TaskComparison(task, pa.height, None, None, None, None, None, None, "none", mismatches, only)
    if pa.height == 0:
        return empty
    pair = _Pair(task, pa, pb, scorer)
    score_a, score_b = scorer(task, pair.a), scorer(task, pair.b)
    if score_a is None or score_b is None:
        return TaskComparison(task, pa.height, score_a, score_b, None, None, None, None, "none", mismatches, only)
    delta = float(score_b) - float(score_a)
    rng = np.random.default_rng(seed)
    boots = pair.bootstrap(rng, resamples)
    ci = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))) if boots.size else None
    independent = pair.n_groups == pa.height
    binary = pair.binary_outcomes() if independent and task == "mednli" else None
    if binary is not None:
        right_a, right_b = binary
        p = mcnemar_exact(int((right_a & ~right_b).sum()), int((~right_a & right_b).sum()))
        test = "mcnemar_exact"
    else:
        p = pair.permutation_p(rng, resamples, delta)
        test = "permutation_paired" if independent else "permutation_paired_by_group"
    return TaskComparison(task, pa.height, float(score_a), float(score_b), delta, ci, p, None, test,
                          mismatches, only)


def _describe(value: Any) -> str:
    return "unset" if value is None else repr(value)


def manifest_warnings(a: Run, b: Run) -> list[str]:
    """Ways the two runs were not set up alike: protocol, data files, sampling."""
    ma, mb = a.manifest, b.manifest
    notes = []
    if ma.protocol_version != mb.protocol_version:
        notes.append(f"protocol versions differ: A {_describe(ma.protocol_version)}, B {_describe(mb.protocol_version)}")
    for path in sorted(set(ma.data_files) & set(mb.data_files)):
        if ma.data_files[path] != mb.data_files[path]:
            notes.append(f"data file {path} differs (sha256 {ma.data_files[path][:12]} vs {mb.data_files[path][:12]})")
    only_a, only_b = sorted(set(ma.data_files) - set(mb.data_files)), sorted(set(mb.data_files) - set(ma.data_files))
    if only_a or only_b:
        notes.append(f"data files differ: only in A {only_a or '[]'}, only in B {only_b or '[]'}")
    for key in sorted(set(ma.sampling) | set(mb.sampling)):
        va, vb = ma.sampling.get(key), mb.sampling.get(key)
        if va != vb:
            notes.append(f"sampling differs: {key} = {_describe(va)} in A, {_describe(vb)} in B")
    return notes


def compare_runs(a: Run, b: Run, scorer: ScoreFn | None = None, *, resamples: int = 1000, seed: int = 0,
                 tasks: Sequence[str] | None = None) -> Comparison:
    """Compare B against A on every task both runs have predictions for."""
    if resamples < 1:
        raise UserError("--resamples must be at least 1")
    scorer = scorer or default_scorer()
    shared = [t for t in TASK_IDS if t in a.predictions and t in b.predictions]
    shared += sorted(set(a.predictions) & set(b.predictions) - set(shared))
    if tasks is not None:
        unknown = sorted(set(tasks) - set(shared))
        if unknown:
            raise UserError(f"task(s) not in both runs: {', '.join(unknown)}")
        shared = [t for t in shared if t in tasks]
    if not shared:
        raise UserError(f"{a.path} and {b.path} have no task in common (no predictions/*.parquet shared)")
    results = {t: _compare_task(t, a.predictions[t], b.predictions[t], scorer, resamples, seed) for t in shared}
    adjusted = holm({t: r.p_value for t, r in results.items()})
    results = {t: replace(r, p_holm=adjusted[t]) for t, r in results.items()}
    notes = manifest_warnings(a, b)
    for t, r in results.items():
        if r.prompt_mismatches:
            notes.append(f"{t}: {r.prompt_mismatches} of {r.n_paired} paired samples had different prompts")
        if r.metrics_only_in:
            notes.append(f"{t}: metrics present in only one run were left out: {', '.join(r.metrics_only_in)}")
        if r.n_paired == 0:
            notes.append(f"{t}: no sample answered by both runs")
    return Comparison(str(a.path), str(b.path), results, tuple(notes))

