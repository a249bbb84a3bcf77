"""Load a run folder (written by ``clue run``) into typed, validated objects.

Reports and comparisons read runs only through this module, so a malformed or half-written folder
is reported once, as one line naming the file, instead of failing deep inside a table or a plot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import polars as pl

from ..errors import DataError, UserError
from ..protocols import DEFAULT_PROTOCOL
from ..untrusted_json import loads

__all__ = [
    "TASK_IDS",
    "LEVEL_TASKS",
    "BASE_COLUMNS",
    "Manifest",
    "TaskResult",
    "Results",
    "Run",
    "Usage",
    "load_run",
    "run_labels",
    "metric_columns",
    "score_columns",
    "run_usage",
    "ReplicaUsage",
    "replica_usage",
]

#: CLUE's task ids in display order.
TASK_IDS: tuple[str, ...] = ("mednli", "meqsum", "problem_summary", "longhealth", "medisumqa", "medisumcode")
LEVEL_TASKS: dict[str, tuple[str, ...]] = {
    "level1": ("mednli", "meqsum", "problem_summary"),
    "level2": ("longhealth", "medisumqa", "medisumcode"),
}

#: Columns of a predictions frame that are not per-sample metrics (hand-over frame + engine output).
BASE_COLUMNS: frozenset[str] = frozenset(
    {
        "task", "sample_id", "group_id", "messages", "max_tokens", "reference", "lh_task", "truncated",
        "cut_tokens", "key", "prediction", "error", "finish_reason", "prompt_tokens", "completion_tokens",
        "latency_s", "attempts", "rejected", "replica", "raw_content", "reasoning", "reasoning_tokens",
        "reasoning_truncated", "counted", "repeat",
    }
)


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a run was: endpoint, model, data, sampling and prices (``raw`` keeps every key)."""

    endpoint: str
    model: str
    protocol_version: str | None
    protocol: str  # "2025" or "2024" (CLUE's protocol the run followed; folders without one are 2025's)
    sampling: Mapping[str, Any] | str  # "server default" when no sampling parameter was sent
    tasks: tuple[str, ...]
    data_files: Mapping[str, str]
    prices: Mapping[str, float] | None
    started_at: str | None
    finished_at: str | None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TaskResult:
    """One task's aggregate from results.json; ``partial`` names metrics that could not be computed."""

    n: int
    n_errors: int
    metrics: Mapping[str, float | None]
    score: float | None
    ci95: tuple[float, float] | None
    partial: tuple[str, ...]
    missing: Mapping[str, str] = field(default_factory=dict)  # metric -> why it is missing
    n_missing: int = 0  # samples not answered yet (an unfinished run)
    n_reasoning_truncated: int = 0  # answers whose thinking was cut off before the answer (scored empty)
    n_rejected: int = 0  # samples the server refused for good (scored empty, or excluded: see partial)
    n_post_processed: int = 0  # answers the protocol's output clean-up changed (CLUE 2024)
    n_bertscore_cut: int = 0  # BERTScore pairs longer than the model's 512 positions, scored on 512 tokens
    n_truncated: int = 0  # answers cut off at max_tokens (scored as they are)
    n_empty: int = 0  # empty answers (scored as they are)
    sd: float | None = None  # --repeats K: sd of the task score across repeats (score is their mean)
    repeats: int = 1


@dataclass(frozen=True, slots=True)
class Results:
    endpoint: str
    model: str
    tasks: Mapping[str, TaskResult]
    level1: float | None
    level2: float | None
    levels_ci95: Mapping[str, tuple[float, float] | None]
    levels_partial: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # level -> its partial tasks
    decoding: Mapping[str, Any] = field(default_factory=dict)  # sampling, reasoning budget and effort
    protocol: str = "2025"  # results.json's "protocol"; runs from before protocols existed are CLUE 2025
    repeats: int = 1  # answers per prompt (--repeats); scores are means over them
    levels_sd: Mapping[str, float | None] = field(default_factory=dict)  # level -> sd across repeats


@dataclass(frozen=True, slots=True)
class Run:
    """A loaded run folder. ``predictions`` maps task id to its per-sample frame; ``unfinished`` says why a run
    that stopped early (no results.json yet, or a manifest without ``finished_at``) is not a finished one."""

    path: Path
    manifest: Manifest
    results: Results
    predictions: Mapping[str, pl.DataFrame]
    unfinished: str | None = None

    @property
    def name(self) -> str:
        """Short label for tables: the model, or the folder name when the model is unknown."""
        return self.manifest.model or self.results.model or self.path.name


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens, latency percentiles and cost of one run (cost is None without prices)."""

    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int  # reasoning tokens included (servers count them as completion tokens)
    latency_p50: float | None
    latency_p90: float | None
    latency_p99: float | None
    cost: float | None
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ReplicaUsage:
    """One base URL of a run: requests sent and errors (from the manifest, retries included) and the latency
    percentiles of the answers it gave (from predictions' ``replica`` column; None for older runs)."""

    url: str
    requests: int
    errors: int
    latency_p50: float | None
    latency_p90: float | None


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"{path.parent}: not a run folder (missing {path.name})")
    try:
        data = loads(path.read_bytes())
    except (OSError, ValueError) as exc:  # ValueError: one-line reason (deep nesting, 1e999, lone surrogate...)
        raise DataError(f"{path}: cannot read JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object")
    return data


def _count(value: Any, where: str) -> int:
    """A sample count: a whole number >= 0 (absent: 0)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DataError(f"{where}: expected a whole number, got {str(value)[:40]!r}")
    return value


def _texts(value: Any, where: str) -> tuple[str, ...]:
    """A list of strings (absent: empty)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DataError(f"{where}: expected a list of strings, got {str(value)[:40]!r}")
    return tuple(value)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    """An object (absent: empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DataError(f"{where}: expected an object, got {str(value)[:40]!r}")
    return value


def _text(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise DataError(f"{where}: expected a string, got {str(value)[:40]!r}")


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataError(f"{where}: expected a number or null, got {value!r}")
    return float(value)


def _interval(value: Any, where: str) -> tuple[float, float] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise DataError(f"{where}: expected [lo, hi] or null, got {value!r}")
    lo, hi = (_number(v, where) for v in value)
    return None if lo is None or hi is None else (lo, hi)


def _parse_manifest(data: Mapping[str, Any], path: Path) -> Manifest:
    prices = data.get("prices")
    if prices is not None:
        if not isinstance(prices, dict):
            raise DataError(f"{path}: 'prices' must be an object or null")
        prices = {k: _number(prices.get(k), f"{path}: prices.{k}") or 0.0
                  for k in ("input_per_million", "output_per_million")}
    sampling = data.get("sampling")
    if not isinstance(sampling, str):
        sampling = {k: _number(v, f"{path}: sampling.{k}") for k, v in _mapping(sampling, f"{path}: sampling").items()}
    return Manifest(
        endpoint=_text(data.get("endpoint"), f"{path}: endpoint") or "",
        model=_text(data.get("model"), f"{path}: model") or "",
        protocol_version=_text(data.get("protocol_version"), f"{path}: protocol_version"),
        protocol=_text(data.get("protocol"), f"{path}: protocol") or DEFAULT_PROTOCOL,
        sampling=sampling,
        tasks=_texts(data.get("tasks"), f"{path}: tasks"),
        data_files={k: str(v) for k, v in _mapping(data.get("data_files"), f"{path}: data_files").items()},
        prices=prices,
        started_at=_text(data.get("started_at"), f"{path}: started_at"),
        finished_at=_text(data.get("finished_at"), f"{path}: finished_at"),
        raw=dict(data),
    )


def _parse_task(task: str, entry: Any, path: Path) -> TaskResult:
    where = f"{path}: tasks.{task}"
    if not isinstance(entry, dict):
        raise DataError(f"{where}: expected an object")
    metrics = _mapping(entry.get("metrics"), f"{where}.metrics")
    counts = {name: _count(entry.get(name), f"{where}.{name}")
              for name in ("n", "n_errors", "n_missing", "n_reasoning_truncated", "n_rejected", "n_post_processed",
                           "n_bertscore_cut", "n_truncated", "n_empty")}
    return TaskResult(
        metrics={name: _number(v, f"{where}.metrics.{name}") for name, v in metrics.items()},
        score=_number(entry.get("score"), f"{where}.score"),
        ci95=_interval(entry.get("ci95"), f"{where}.ci95"),
        partial=_texts(entry.get("partial"), f"{where}.partial"),
        missing={str(k): str(v) for k, v in _mapping(entry.get("missing"), f"{where}.missing").items()},
        **counts,
        sd=_number(entry.get("sd"), f"{where}.sd"),
        repeats=_count(entry.get("repeats"), f"{where}.repeats") or 1,
    )


def _parse_results(data: Mapping[str, Any], path: Path) -> Results:
    tasks = data.get("tasks") or {}
    if not isinstance(tasks, dict):
        raise DataError(f"{path}: 'tasks' must be an object")
    levels_ci = _mapping(data.get("levels_ci95"), f"{path}: levels_ci95")
    levels_partial = _mapping(data.get("levels_partial"), f"{path}: levels_partial")
    return Results(
        endpoint=_text(data.get("endpoint"), f"{path}: endpoint") or "",
        model=_text(data.get("model"), f"{path}: model") or "",
        tasks={task: _parse_task(task, entry, path) for task, entry in tasks.items()},
        level1=_number(data.get("level1"), f"{path}: level1"),
        level2=_number(data.get("level2"), f"{path}: level2"),
        levels_ci95={lvl: _interval(levels_ci.get(lvl), f"{path}: levels_ci95.{lvl}") for lvl in LEVEL_TASKS},
        levels_partial={lvl: _texts(names, f"{path}: levels_partial.{lvl}") for lvl, names in levels_partial.items()},
        decoding=dict(data.get("decoding") or {}) if isinstance(data.get("decoding"), dict) else {},
        protocol=_text(data.get("protocol"), f"{path}: protocol") or DEFAULT_PROTOCOL,
        repeats=_count(data.get("repeats"), f"{path}: repeats") or 1,
        levels_sd={lvl: _number(v, f"{path}: levels_sd.{lvl}")
                   for lvl, v in _mapping(data.get("levels_sd"), f"{path}: levels_sd").items()},
    )


def _read_predictions(folder: Path) -> dict[str, pl.DataFrame]:
    frames: dict[str, pl.DataFrame] = {}
    for file in sorted((folder / "predictions").glob("*.parquet")):
        try:
            frame = pl.read_parquet(file)
        except Exception as exc:  # polars raises several unrelated types for a damaged file
            raise DataError(f"{file}: cannot read parquet ({exc})") from None
        missing = {"task", "sample_id", "prediction"} - set(frame.columns)
        if missing:
            raise DataError(f"{file}: missing columns {', '.join(sorted(missing))}")
        if "group_id" not in frame.columns:
            frame = frame.with_columns(pl.col("sample_id").alias("group_id"))
        frames[file.stem] = frame
    order = {t: i for i, t in enumerate(TASK_IDS)}
    return dict(sorted(frames.items(), key=lambda kv: order.get(kv[0], len(order))))


def load_run(path: str | Path) -> Run:
    """Read manifest.json, results.json and predictions/*.parquet; raise a one-line error if malformed.

    A run that stopped early is loaded too, marked ``unfinished`` (without results.json: with no scores)."""
    folder = Path(path)
    if not folder.is_dir():
        raise UserError(f"{folder}: run folder not found")
    manifest = _parse_manifest(_read_json(folder / "manifest.json"), folder / "manifest.json")
    scored = (folder / "results.json").is_file()
    results = (_parse_results(_read_json(folder / "results.json"), folder / "results.json") if scored
               else Results(manifest.endpoint, manifest.model, {}, None, None, {}))
    return Run(path=folder, manifest=manifest, results=results, predictions=_read_predictions(folder) if scored else {},
               unfinished=_unfinished(folder, manifest, scored))


def _unfinished(folder: Path, manifest: Manifest, scored: bool) -> str | None:
    """Why the run is not finished (None when it is): what happened, what is shown, how to go on."""
    if scored and manifest.finished_at:
        return None
    stopped = manifest.raw.get("stopped_at")
    how = (f"stopped early at {stopped}" if isinstance(stopped, str) else
           "started but not finished (still running, or stopped without a trace)")
    stored = manifest.raw.get("stored_responses")
    answers = f", {stored} answer(s) stored" if isinstance(stored, int) and not isinstance(stored, bool) else ""
    shown = "scores are from its last finished run" if scored else "no scores yet"
    return (f"unfinished: {how}{answers}; {shown}; rerun the same `clue run --out {folder}` to continue, "
            f"or `clue score {folder}` to score what is stored")


def run_labels(runs: "list[Run] | tuple[Run, ...]") -> list[str]:
    """One distinct label per run: the model name, plus the folder name where two runs share a model."""
    names = [run.name for run in runs]
    return [f"{name} ({run.path.name})" if names.count(name) > 1 else name for name, run in zip(names, runs)]


def _task_metrics(task: str | None) -> Any:
    from ..scoring.protocol import TASKS  # which columns scoring adds per task, and which make the task score

    return TASKS.get(task) if task else None


def metric_columns(frame: pl.DataFrame, task: str | None = None) -> list[str]:
    """The per-sample metric columns scoring added to ``frame``.

    For a CLUE task, the columns scoring declares for it; otherwise every numeric non-base column.
    """
    declared = _task_metrics(task)
    if declared is not None:
        return [c for c in declared.metrics if c in frame.columns]
    return [c for c, dtype in frame.schema.items() if c not in BASE_COLUMNS and (dtype.is_numeric() or dtype == pl.Boolean)]


def score_columns(frame: pl.DataFrame, task: str | None = None) -> list[str]:
    """The metric columns that make a CLUE task's score (MedNLI: accuracy, not strict accuracy)."""
    declared = _task_metrics(task)
    if declared is not None:
        return [c for c in declared.score if c in frame.columns]
    return metric_columns(frame)


def _percentile(values: pl.Series, q: float) -> float | None:
    value = values.quantile(q, interpolation="linear") if values.len() else None
    return None if value is None else float(value)


def run_usage(run: Run) -> Usage:
    """Sum tokens over all predictions, take latency percentiles, and price it with the manifest's prices."""
    frames = [f.select(
        pl.col(c).cast(pl.Float64) if c in f.columns else pl.lit(None, pl.Float64).alias(c)
        for c in ("prompt_tokens", "completion_tokens", "latency_s", "reasoning_tokens")
    ).with_columns((f["prediction"].is_null()).alias("failed")) for f in run.predictions.values()]
    if not frames:
        return Usage(0, 0, 0, 0, None, None, None, None)
    rows = pl.concat(frames)
    prompt = int(rows["prompt_tokens"].sum() or 0)
    completion = int(rows["completion_tokens"].sum() or 0)
    latency = rows["latency_s"].drop_nulls()
    prices = run.manifest.prices
    cost = None
    if prices is not None:
        cost = prompt / 1e6 * prices["input_per_million"] + completion / 1e6 * prices["output_per_million"]
    return Usage(
        requests=rows.height,
        errors=int(rows["failed"].sum()),
        prompt_tokens=prompt,
        completion_tokens=completion,
        latency_p50=_percentile(latency, 0.5),
        latency_p90=_percentile(latency, 0.9),
        latency_p99=_percentile(latency, 0.99),
        cost=cost,
        reasoning_tokens=int(rows["reasoning_tokens"].sum() or 0),
    )


def replica_usage(run: Run) -> list[ReplicaUsage]:
    """Per base URL figures of a run that used several replicas; empty for a single one."""
    counts = run.manifest.raw.get("replicas") or {}
    if not isinstance(counts, dict) or len(counts) < 2:
        return []
    frames = [f.select("replica", pl.col("latency_s").cast(pl.Float64)) for f in run.predictions.values()
              if "replica" in f.columns and "latency_s" in f.columns]
    rows = pl.concat(frames) if frames else pl.DataFrame(schema={"replica": pl.Utf8, "latency_s": pl.Float64})
    out = []
    for url, entry in counts.items():
        entry = entry if isinstance(entry, dict) else {}
        latency = rows.filter(pl.col("replica") == url)["latency_s"].drop_nulls()
        where = f"{run.path / 'manifest.json'}: replicas.{url}"
        out.append(ReplicaUsage(str(url), _count(entry.get("requests"), where), _count(entry.get("errors"), where),
                                _percentile(latency, 0.5), _percentile(latency, 0.9)))
    return out
