"""Synthesise run folders (manifest.json, results.json, predictions/*.parquet) for report/compare tests.

The files follow the run-folder contract so tests do not depend on the engine. ``local_task_score`` is a
results.json is computed with the project's ``clue_client.scoring.task_score`` so it agrees with the frames.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import polars as pl

from clue_client.reports.run_folder import LEVEL_TASKS, metric_columns
from clue_client.scoring import TASKS as SCORING_TASKS, task_score

#: Per-sample metric columns per task, as scoring declares them.
TASK_METRICS: dict[str, tuple[str, ...]] = {task: spec.metrics for task, spec in SCORING_TASKS.items()}
BINARY_TASKS = ("mednli", "longhealth")


def synth_task(task: str, n: int, *, seed: int, quality: float = 0.5, error_rate: float = 0.0,
               model: str = "m") -> pl.DataFrame:
    """A predictions frame: hand-over columns, engine columns and per-sample metrics near ``quality``."""
    rng = np.random.default_rng(seed)
    ids = [f"{task}-{i:04d}" for i in range(n)]
    groups = [f"q{i // 5:03d}" for i in range(n)] if task == "longhealth" else ids
    errors = rng.random(n) < error_rate
    frame: dict[str, Any] = {
        "task": [task] * n,
        "sample_id": ids,
        "group_id": groups,
        "messages": [[{"role": "system", "content": "You are a clinician."},
                      {"role": "user", "content": f"Question {i} of {task}: <b>is this & that</b>?"}] for i in range(n)],
        "max_tokens": [20] * n,
        "reference": [f"reference {i}" for i in range(n)],
        "key": [f"k{task}{i}" for i in range(n)],
        "prediction": [None if e else f"{model} answer {i}" for i, e in enumerate(errors)],
        "error": ["HTTP 400: context length exceeded" if e else None for e in errors],
        "finish_reason": [None if e else ("length" if i % 7 == 0 else "stop") for i, e in enumerate(errors)],
        "prompt_tokens": [None if e else int(100 + i % 50) for i, e in enumerate(errors)],
        "completion_tokens": [None if e else int(10 + i % 9) for i, e in enumerate(errors)],
        "latency_s": [None if e else float(0.1 + (i % 10) / 20) for i, e in enumerate(errors)],
        "attempts": [1] * n,
    }
    if task == "longhealth":
        frame["lh_task"] = [1 + (i // 5) % 3 for i in range(n)]
        frame["truncated"] = [i % 4 == 0 for i in range(n)]
        frame["cut_tokens"] = [300 if i % 4 == 0 else 0 for i in range(n)]
    for metric in TASK_METRICS[task]:
        if task in BINARY_TASKS:
            values = (rng.random(n) < quality).astype(float)
        else:
            values = np.clip(rng.normal(quality, 0.15, n), 0, 1)
        own = [metric[-1] == str(k) for k in frame.get("lh_task", [])] if task == "longhealth" else [True] * n
        # as scoring writes them: null on errored rows, NaN where a metric does not apply (LongHealth)
        frame[metric] = [None if e else float(v) if mine else float("nan") for v, e, mine in zip(values, errors, own)]
    return pl.DataFrame(frame, schema_overrides={"prediction": pl.Utf8, "error": pl.Utf8, "finish_reason": pl.Utf8,
                                                  "prompt_tokens": pl.Int64, "completion_tokens": pl.Int64,
                                                  "latency_s": pl.Float64})


def improve(frame: pl.DataFrame, share: float, *, seed: int) -> pl.DataFrame:
    """Plant a known gain: a random ``share`` of samples get perfect metrics (answer text marked)."""
    rng = np.random.default_rng(seed)
    better = pl.Series(rng.random(frame.height) < share) & frame["prediction"].is_not_null()
    task = frame["task"][0]
    return frame.with_columns(
        *[pl.when(better & pl.col(m).is_not_nan()).then(1.0).otherwise(pl.col(m)).alias(m) for m in TASK_METRICS[task]],
        pl.when(better).then(pl.col("prediction") + " (improved)").otherwise(pl.col("prediction")).alias("prediction"),
    )


def _bootstrap_ci(task: str, frame: pl.DataFrame, rng: np.random.Generator) -> list[float] | None:
    scores = [task_score(task, frame[rng.integers(0, frame.height, frame.height)]) for _ in range(100)]
    scores = [s for s in scores if s is not None]
    return [float(np.percentile(scores, 2.5)), float(np.percentile(scores, 97.5))] if scores else None


def task_result(task: str, frame: pl.DataFrame, partial: tuple[str, ...] = ()) -> dict[str, Any]:
    ok = frame.filter(pl.col("prediction").is_not_null())
    metrics = {m: ok[m].fill_nan(None).mean() for m in metric_columns(ok, task) if m not in partial}
    score = task_score(task, ok.drop(list(partial)))
    ci = _bootstrap_ci(task, ok.drop(list(partial)), np.random.default_rng(1)) if ok.height else None
    return {"n": ok.height, "n_errors": frame.height - ok.height, "metrics": metrics, "score": score,
            "ci95": ci, "partial": list(partial)}


def write_run(folder: Path, frames: Mapping[str, pl.DataFrame], *, model: str = "model-a",
              sampling: Mapping[str, Any] | None = None, prices: Mapping[str, float] | None = None,
              data_files: Mapping[str, str] | None = None, partial: Mapping[str, tuple[str, ...]] | None = None,
              protocol_version: str = "clue-2de4314/1", protocol: str | None = None,
              limit: int | None = None) -> Path:
    """Write a complete run folder; ``partial`` names metrics to report missing (and drop) per task;
    ``protocol``: the manifest's ``protocol`` (None: left out, as in folders written before it existed)."""
    partial = partial or {}
    (folder / "predictions").mkdir(parents=True, exist_ok=True)
    tasks = {}
    for task, frame in frames.items():
        frame = frame.drop(list(partial.get(task, ())))
        frame.write_parquet(folder / "predictions" / f"{task}.parquet")
        tasks[task] = task_result(task, frame)
        tasks[task]["partial"] = list(partial.get(task, ()))
    levels = {}
    for level, members in LEVEL_TASKS.items():
        scores = [tasks[t]["score"] for t in members if t in tasks]
        levels[level] = float(np.mean(scores)) if len(scores) == len(members) and None not in scores else None
    manifest = {
        "clue_client_version": "0.1.0", "protocol_version": protocol_version, "endpoint": f"ep-{model}",
        "base_urls": ["http://127.0.0.1:9/v1"], "kind": "openai", "model": model,
        "sampling": dict(sampling or {"temperature": 0.0}), "tasks": list(frames),
        "data_dir": "data", "data_files": dict(data_files or {"MeQSum/meqsum.xlsx": "ab" * 32}),
        "prices": dict(prices) if prices else None, "started_at": "2026-11-28T10:00:00+00:00",
        "finished_at": "2026-11-28T10:05:00+00:00", "store": "store.sqlite",
        "replicas": {"http://127.0.0.1:9/v1": {"requests": 1, "errors": 0, "mean_latency_s": 0.1}},
        "limit": limit, **({"protocol": protocol} if protocol else {}),
    }
    results = {"endpoint": f"ep-{model}", "model": model, "tasks": tasks, **levels,
               "levels_ci95": {lvl: ([levels[lvl] - 1, levels[lvl] + 1] if levels[lvl] is not None else None)
                               for lvl in LEVEL_TASKS}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (folder / "results.json").write_text(json.dumps(results, indent=2))
    return folder
