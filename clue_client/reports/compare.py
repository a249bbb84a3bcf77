"""Paired comparison of two runs: is B better or worse than A per task, and is the difference real?

Only samples both runs answered enter (paired by task and sample_id). Per task: the difference of task
scores (B - A, in points), a 95% CI from a paired bootstrap that resamples ``group_id`` (a LongHealth
question, otherwise the sample), and a p-value: McNemar's exact test where every per-sample score is right
or wrong and samples are independent (MedNLI), otherwise a paired permutation test that swaps A and B
within whole groups (ROUGE/BERTScore/UMLS/ICD tasks, and LongHealth, whose prompts cluster by question).
Level 1 and Level 2 (the mean of their three task scores) get the same treatment: their bootstrap and
permutation replicates are the means of the three tasks' replicates (each task resampled on its own paired
samples, as scoring's level CIs are). P-values are Holm-corrected across tasks and levels together.
Differences in data, prompts or sampling are flagged, not hidden. A run that sent every prompt K times
(``--repeats``) enters with one row per sample: its metrics averaged over the K answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import polars as pl

from ..errors import UserError
from ..scoring.aggregate import row_weights
from .run_folder import LEVEL_TASKS, TASK_IDS, Run, metric_columns, score_columns

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
    "sample_differences",
    "sample_means",
]

#: ``task_score(task_id, scored_frame) -> score in % or None`` (clue_client.scoring's signature).
ScoreFn = Callable[[str, pl.DataFrame], "float | None"]

#: Columns never needed to score, dropped before resampling (they are large).
_HEAVY = ("messages",)
#: Accuracy tasks of independent samples, tested with McNemar's exact test.
_MCNEMAR_TASKS = ("mednli",)


def default_scorer() -> ScoreFn:
    """The project's task scorer; imported late so that reports work without the scoring extras loaded."""
    try:
        from ..scoring import task_score  # type: ignore[attr-defined]
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
    #: bootstrap and permutation deltas, kept to build the levels' replicates (not part of the JSON)
    boot: np.ndarray | None = field(default=None, repr=False, compare=False)
    perm: np.ndarray | None = field(default=None, repr=False, compare=False)

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
    levels: Mapping[str, TaskComparison | None] = field(default_factory=dict)
    protocols: Mapping[str, str] = field(default_factory=dict)  # {"a": "2025", "b": "2024"}

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` contract: {"a", "b", "tasks": {TASK: {...}}, "levels": {LEVEL: {...} or null}} plus
        "warnings" and "protocols" ({"a": ..., "b": ...})."""
        return {"a": self.a, "b": self.b, "tasks": {t: c.to_json() for t, c in self.tasks.items()},
                "levels": {lv: (c.to_json() if c else None) for lv, c in self.levels.items()},
                "warnings": list(self.warnings), "protocols": dict(self.protocols)}

    def regressions(self, alpha: float = 0.05, among: Sequence[str] | None = None) -> list[str]:
        """Tasks and levels (or only those named in ``among``) where B is significantly worse than A after
        Holm correction."""
        entries = {**self.tasks, **{lv: c for lv, c in self.levels.items() if c is not None}}
        return [t for t, c in entries.items() if (among is None or t in among)
                and c.delta is not None and c.delta < 0 and c.p_holm is not None and c.p_holm < alpha]


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


class _FramePair:
    """Aligned A/B frames of one task; every resample is scored by calling the scorer (the definition)."""

    def __init__(self, task: str, a: pl.DataFrame, b: pl.DataFrame, scorer: ScoreFn, group_of_row: np.ndarray) -> None:
        self.task, self.scorer, self.group_of_row = task, scorer, group_of_row
        self.a, self.b = a, b
        self.n_groups = int(group_of_row.max()) + 1

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

    def permutation_deltas(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Deltas after swapping the A/B labels of each group with probability 1/2."""
        both = pl.concat([self.a, self.b], how="vertical_relaxed")  # rows of B follow rows of A
        rows = np.arange(self.a.height)
        out = []
        for _ in range(n):
            swap = (rng.random(self.n_groups) < 0.5)[self.group_of_row]
            d = self.delta(both[np.where(swap, rows + self.a.height, rows)],
                           both[np.where(swap, rows, rows + self.a.height)])
            if d is not None:
                out.append(d)
        return np.asarray(out)

    def binary_outcomes(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-sample right/wrong for both runs if every single-sample score is 0 or 100, else None."""
        outcomes = []
        for frame in (self.a, self.b):
            scores = [self.scorer(self.task, frame[i : i + 1]) for i in range(frame.height)]
            if any(s is None or (s != 0 and s != 100) for s in scores):
                return None
            outcomes.append(np.asarray(scores) == 100)
        return outcomes[0], outcomes[1]


class _SumsPair:
    """The same resampling, vectorised: per-group sums and counts of each score metric.

    Valid when a task score is the mean over its score metrics of each metric's mean over scored rows
    (how scoring aggregates, CLUE_PROTOCOL.md); ``for_frames`` checks that on the observed data and gives
    None otherwise, so the caller falls back to scoring every resample.
    """

    _CHUNK = 200

    def __init__(self, sums: tuple[np.ndarray, np.ndarray], counts: tuple[np.ndarray, np.ndarray],
                 outcomes: tuple[np.ndarray, np.ndarray] | None) -> None:
        self.sums, self.counts, self.outcomes = sums, counts, outcomes
        self.n_groups = sums[0].shape[0]

    @classmethod
    def for_frames(cls, task: str, a: pl.DataFrame, b: pl.DataFrame, group_of_row: np.ndarray,
                   observed: tuple[float, float]) -> "_SumsPair | None":
        names = [c for c in score_columns(a, task) if c in b.columns]
        if not names:
            return None
        n_groups = int(group_of_row.max()) + 1
        sums, counts, values = [], [], []
        for frame in (a, b):
            scored = frame["error"].is_null().to_numpy() if "error" in frame.columns else np.ones(frame.height, bool)
            matrix = np.column_stack([frame[c].cast(pl.Float64).fill_null(np.nan).to_numpy() for c in names])
            ok = ~np.isnan(matrix) & scored[:, None]
            weight = row_weights(frame)  # a sample the protocol counts twice weighs 2 in every resample
            sums.append(np.stack([np.bincount(group_of_row[ok[:, j]], weights=matrix[ok[:, j], j] * weight[ok[:, j]],
                                              minlength=n_groups) for j in range(len(names))], axis=1))
            counts.append(np.stack([np.bincount(group_of_row[ok[:, j]], weights=weight[ok[:, j]], minlength=n_groups)
                                    for j in range(len(names))], axis=1))
            values.append(np.where(ok, matrix, np.nan))
        pair = cls((sums[0], sums[1]), (counts[0], counts[1]), None)
        ones = np.ones((1, n_groups))
        for side, want in enumerate(observed):
            got = _scores(ones @ pair.sums[side], ones @ pair.counts[side])[0]
            if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9):
                return None
        single = len(names) == 1 and all(np.isin(v[~np.isnan(v)], (0.0, 1.0)).all() and not np.isnan(v).any()
                                         for v in values)
        pair.outcomes = (values[0][:, 0] == 1, values[1][:, 0] == 1) if single else None
        return pair

    def _deltas(self, weights_a: np.ndarray, weights_b: np.ndarray, swap: bool) -> np.ndarray:
        (sa, sb), (ca, cb) = self.sums, self.counts
        if swap:  # weights_a: 1 where the group keeps its labels, weights_b: 1 where they are swapped
            keep, flip = weights_a, weights_b
            score_a = _scores(keep @ sa + flip @ sb, keep @ ca + flip @ cb)
            score_b = _scores(keep @ sb + flip @ sa, keep @ cb + flip @ ca)
        else:
            score_a, score_b = _scores(weights_a @ sa, weights_a @ ca), _scores(weights_b @ sb, weights_b @ cb)
        deltas = score_b - score_a
        return deltas[~np.isnan(deltas)]

    def bootstrap(self, rng: np.random.Generator, n: int) -> np.ndarray:
        out = []
        for start in range(0, n, self._CHUNK):
            size = min(self._CHUNK, n - start)
            draws = rng.integers(0, self.n_groups, size=(size, self.n_groups))
            flat = (draws + self.n_groups * np.arange(size)[:, None]).ravel()
            weights = np.bincount(flat, minlength=size * self.n_groups).reshape(size, self.n_groups).astype(np.float64)
            out.append(self._deltas(weights, weights, swap=False))
        return np.concatenate(out) if out else np.empty(0)

    def permutation_deltas(self, rng: np.random.Generator, n: int) -> np.ndarray:
        out = []
        for start in range(0, n, self._CHUNK):
            flip = (rng.random((min(self._CHUNK, n - start), self.n_groups)) < 0.5).astype(np.float64)
            out.append(self._deltas(1.0 - flip, flip, swap=True))
        return np.concatenate(out) if out else np.empty(0)

    def binary_outcomes(self) -> tuple[np.ndarray, np.ndarray] | None:
        return self.outcomes


def _scores(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Task score in % per row of (replicates x metrics) sums and counts; NaN where no metric has a value."""
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    valid = ~np.isnan(means)
    filled = np.where(valid, means, 0.0).sum(axis=1)
    n_valid = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_valid > 0, 100.0 * filled / n_valid, np.nan)


def sample_means(frame: pl.DataFrame, task: str | None = None) -> pl.DataFrame:
    """A run with repeats (one row per sample and repeat) as one row per sample: each metric its mean over the
    sample's scored repeats, answered and scored when any repeat was. A run without repeats is returned as is."""
    if "repeat" not in frame.columns or frame["repeat"].n_unique() < 2:
        return frame
    metrics = set(metric_columns(frame, task))
    scored = pl.col("error").is_null() if "error" in frame.columns else pl.lit(True)
    columns = []
    for name in frame.columns:
        if name in ("sample_id", "repeat"):
            continue
        if name in metrics:
            columns.append(pl.col(name).filter(scored).mean())
        elif name == "prediction":
            columns.append(pl.col(name).drop_nulls().first())
        elif name == "error":
            columns.append(pl.when(scored.any()).then(pl.lit(None, pl.Utf8)).otherwise(pl.col(name).first()).alias(name))
        else:
            columns.append(pl.col(name).first())
    return frame.group_by("sample_id", maintain_order=True).agg(columns).select(
        [c for c in frame.columns if c != "repeat"])


def _compare_task(task: str, a: pl.DataFrame, b: pl.DataFrame, scorer: ScoreFn,
                  resamples: int, seed: int, fast: bool = True) -> TaskComparison:
    a, b = sample_means(a, task), sample_means(b, task)  # repeats: samples are paired by their mean
    metrics_a, metrics_b = set(metric_columns(a, task)), set(metric_columns(b, task))
    only = tuple(sorted(metrics_a ^ metrics_b))
    pa, pb = paired_rows(a, b)
    mismatches = _prompt_mismatches(pa, pb)
    empty = TaskComparison(task, pa.height, None, None, None, None, None, None, "none", mismatches, only)
    if pa.height == 0:
        return empty
    common = [c for c in pa.columns if c in pb.columns and c not in _HEAVY]  # score both on the same metrics
    pa, pb = pa.select(common), pb.select(common)
    _, group_of_row = np.unique(pa["group_id"].cast(pl.Utf8).to_numpy(), return_inverse=True)
    score_a, score_b = scorer(task, pa), scorer(task, pb)
    if score_a is None or score_b is None:
        return TaskComparison(task, pa.height, score_a, score_b, None, None, None, None, "none", mismatches, only)
    delta = float(score_b) - float(score_a)
    pair: _FramePair | _SumsPair | None = None
    if fast:
        pair = _SumsPair.for_frames(task, pa, pb, group_of_row, (float(score_a), float(score_b)))
    pair = pair or _FramePair(task, pa, pb, scorer, group_of_row)
    # each task its own stream, so that the tasks of a level are resampled independently
    rng = np.random.default_rng([seed, TASK_IDS.index(task) if task in TASK_IDS else len(TASK_IDS)])
    boots = pair.bootstrap(rng, resamples)
    ci = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))) if boots.size else None
    independent = pair.n_groups == pa.height
    binary = pair.binary_outcomes() if independent and task in _MCNEMAR_TASKS else None
    perms = pair.permutation_deltas(rng, resamples)  # also for McNemar tasks: a level's test needs them
    if binary is not None:
        right_a, right_b = binary
        p = mcnemar_exact(int((right_a & ~right_b).sum()), int((~right_a & right_b).sum()))
        test = "mcnemar_exact"
    else:
        p = _permutation_p(perms, delta)
        test = "permutation_paired" if independent else "permutation_paired_by_group"
    return TaskComparison(task, pa.height, float(score_a), float(score_b), delta, ci, p, None, test,
                          mismatches, only, boot=boots, perm=perms)


def _permutation_p(perms: np.ndarray, delta: float) -> float:
    """Two-sided permutation p-value, counting the observed arrangement."""
    return float((1 + np.sum(np.abs(perms) >= abs(delta) - 1e-9)) / (1 + perms.size))


def _compare_level(level: str, tasks: Mapping[str, TaskComparison]) -> TaskComparison | None:
    """A level's paired result from its three tasks' results; None unless all three have a delta."""
    members = [tasks.get(t) for t in LEVEL_TASKS[level]]
    if any(c is None or c.delta is None or c.boot is None or c.perm is None for c in members):
        return None
    mean = lambda arrays: np.mean([a[: min(len(x) for x in arrays)] for a in arrays], axis=0)  # noqa: E731
    boots, perms = mean([c.boot for c in members]), mean([c.perm for c in members])
    delta = float(np.mean([c.delta for c in members]))
    ci = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))) if boots.size else None
    p = _permutation_p(perms, delta) if perms.size else None
    return TaskComparison(level, sum(c.n_paired for c in members), float(np.mean([c.score_a for c in members])),
                          float(np.mean([c.score_b for c in members])), delta, ci, p, None,
                          "permutation_paired_level", sum(c.prompt_mismatches for c in members))


def _describe(value: Any) -> str:
    return "unset" if value is None else repr(value)


def manifest_warnings(a: Run, b: Run) -> list[str]:
    """Ways the two runs were not set up alike: protocol, data files, sampling."""
    ma, mb = a.manifest, b.manifest
    notes = []
    if ma.protocol != mb.protocol:
        notes.append(f"protocols differ: A CLUE {ma.protocol}, B CLUE {mb.protocol} (compared as asked by "
                     "--allow-mixed-protocols: prompts, answer lengths and scoring rules differ)")
    elif ma.protocol_version != mb.protocol_version:
        notes.append(f"protocol versions differ: A {_describe(ma.protocol_version)}, B {_describe(mb.protocol_version)}")
    for path in sorted(set(ma.data_files) & set(mb.data_files)):
        if ma.data_files[path] != mb.data_files[path]:
            notes.append(f"data file {path} differs (sha256 {ma.data_files[path][:12]} vs {mb.data_files[path][:12]})")
    only_a, only_b = sorted(set(ma.data_files) - set(mb.data_files)), sorted(set(mb.data_files) - set(ma.data_files))
    if only_a or only_b:
        notes.append(f"data files differ: only in A {only_a or '[]'}, only in B {only_b or '[]'}")
    sa, sb = _sampling(ma.sampling), _sampling(mb.sampling)
    for key in sorted(set(sa) | set(sb)):
        va, vb = sa.get(key), sb.get(key)
        if va != vb:
            notes.append(f"sampling differs: {key} = {_describe(va)} in A, {_describe(vb)} in B")
    for key in ("reasoning_budget", "reasoning_effort", "extra_body"):
        va, vb = ma.raw.get(key) or None, mb.raw.get(key) or None
        if va != vb:
            notes.append(f"{key.replace('_', ' ')} differs: {_describe(va)} in A, {_describe(vb)} in B")
    ka, kb = ma.raw.get("repeats") or 1, mb.raw.get("repeats") or 1
    if ka != kb:
        notes.append(f"repeats differ: {ka} answer(s) per prompt in A, {kb} in B (samples are paired by their mean)")
    return notes


def _sampling(sampling: Mapping[str, Any] | str) -> Mapping[str, Any]:
    """Sampling parameters sent; ``"server default"`` (none sent) as a mode of its own."""
    return {"mode": sampling} if isinstance(sampling, str) else sampling


def sample_differences(a: Run, b: Run, tasks: Sequence[str]) -> list[str]:
    """How the two runs' samples differ on ``tasks``: sample ids only one run has (another ``--limit``, an
    unfinished run), or a data file of one of the tasks with another checksum (same ids, other content)."""
    from ..datasets.formats import DATASETS

    found = []
    for task in tasks:
        ids_a, ids_b = (set(run.predictions[task]["sample_id"].to_list()) for run in (a, b))
        if ids_a != ids_b:
            found.append(f"{task}: {len(ids_a - ids_b)} sample(s) only in A, {len(ids_b - ids_a)} only in B")
        path = DATASETS[task].path if task in DATASETS else None
        sha_a, sha_b = a.manifest.data_files.get(path or ""), b.manifest.data_files.get(path or "")
        if sha_a and sha_b and sha_a != sha_b:
            found.append(f"{task}: data file {path} differs")
    return found


def compare_runs(a: Run, b: Run, scorer: ScoreFn | None = None, *, resamples: int = 1000, seed: int = 0,
                 tasks: Sequence[str] | None = None, fast: bool = True,
                 allow_mixed_protocols: bool = False, allow_different_samples: bool = False) -> Comparison:
    """Compare B against A on every task both runs have predictions for.

    Runs made under different CLUE protocols (2024 vs 2025: other prompts, answer lengths, scoring rules)
    are refused unless ``allow_mixed_protocols``: a difference between them is mostly the protocol's. Runs on
    different samples are refused unless ``allow_different_samples`` (then only the samples both answered are
    paired, and the difference is listed among the warnings). ``fast`` resamples per-group metric sums instead
    of calling ``scorer`` on every resample; it is used only where it reproduces ``scorer`` on the observed
    data, and gives the same statistics.
    """
    if resamples < 1:
        raise UserError("--resamples must be at least 1")
    if a.manifest.protocol != b.manifest.protocol and not allow_mixed_protocols:
        raise UserError(f"{a.path} is a CLUE {a.manifest.protocol} run and {b.path} a CLUE {b.manifest.protocol} run: "
                        "their differences are mostly the protocols'; nothing compared (--allow-mixed-protocols "
                        "compares them anyway)")
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
    differences = sample_differences(a, b, shared)
    if differences and not allow_different_samples:
        more = f"; and {len(differences) - 3} more" if len(differences) > 3 else ""
        raise UserError(f"{a.path} and {b.path} are runs on different samples ({'; '.join(differences[:3])}{more}): "
                        "their scores are not comparable; --allow-different-samples pairs the samples both answered")
    results = {t: _compare_task(t, a.predictions[t], b.predictions[t], scorer, resamples, seed, fast) for t in shared}
    levels = {lv: _compare_level(lv, results) for lv in LEVEL_TASKS}
    adjusted = holm({**{t: r.p_value for t, r in results.items()},
                     **{lv: c.p_value for lv, c in levels.items() if c is not None}})
    results = {t: replace(r, p_holm=adjusted[t]) for t, r in results.items()}
    levels = {lv: (replace(c, p_holm=adjusted[lv]) if c is not None else None) for lv, c in levels.items()}
    notes = manifest_warnings(a, b) + [f"different samples: {d}" for d in differences]
    for t, r in results.items():
        if r.prompt_mismatches:
            notes.append(f"{t}: {r.prompt_mismatches} of {r.n_paired} paired samples had different prompts")
        if r.metrics_only_in:
            notes.append(f"{t}: metrics present in only one run were left out: {', '.join(r.metrics_only_in)}")
        if r.n_paired == 0:
            notes.append(f"{t}: no sample answered by both runs")
    return Comparison(str(a.path), str(b.path), results, tuple(notes), levels,
                      {"a": a.manifest.protocol, "b": b.manifest.protocol})

