"""Synthesise run folders (manifest.json, results.json, predictions/*.parquet) for report/compare tests.

The files follow the run-folder contract so tests do not depend on the engine. ``local_task_score`` is a
small stand-in for ``clue_client.scoring.task_score`` with the same signature, used by the factory to
write consistent results.json files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import polars as pl

from clue_client.runs import LEVEL_TASKS, metric_columns

#: Metric columns per task (names chosen here; scoring may use others, the report reads any numeric column).
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "mednli": ("accuracy",),
    "meqsum": ("rouge1", "rouge2", "rougeL", "bertscore_f1"),
    "problem_summary": ("rouge1", "rouge2", "rougeL", "bertscore_f1", "umls_f1"),
    "longhealth": ("accuracy",),
    "medisumqa": ("rouge1", "rouge2", "rougeL", "bertscore_f1", "umls_f1"),
    "medisumcode": ("icd_exact_f1", "icd_3char_f1", "icd_valid_share"),
}
BINARY_TASKS = ("mednli", "longhealth")


def local_task_score(task: str, frame: pl.DataFrame) -> float | None:
    """Task score in % from per-sample metric columns (CLUE aggregation; LongHealth = mean of its 3 tasks)."""
    frame = frame.filter(pl.col("prediction").is_not_null())
    metrics = [c for c in metric_columns(frame) if c != "lh_task"]
    if frame.height == 0 or not metrics:
        return None
    if task == "longhealth":
        parts = [frame.filter(pl.col("lh_task") == k)["accuracy"].mean() for k in (1, 2, 3)]
        return None if any(p is None for p in parts) else 100 * float(np.mean(parts))
    means = [frame[c].mean() for c in metrics]
    means = [m for m in means if m is not None]
    return 100 * float(np.mean(means)) if means else None


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
        frame[metric] = [None if e else float(v) for v, e in zip(values, errors)]
    return pl.DataFrame(frame, schema_overrides={"prediction": pl.Utf8, "error": pl.Utf8, "finish_reason": pl.Utf8,
                                                  "prompt_tokens": pl.Int64, "completion_tokens": pl.Int64,
                                                  "latency_s": pl.Float64})


def improve(frame: pl.DataFrame, share: float, *, seed: int) -> pl.DataFrame:
    """Plant a known gain: a random ``share`` of samples get perfect metrics (answer text marked)."""
    rng = np.random.default_rng(seed)
    better = pl.Series(rng.random(frame.height) < share) & frame["prediction"].is_not_null()
    task = frame["task"][0]
    return frame.with_columns(
        *[pl.when(better).then(1.0).otherwise(pl.col(m)).alias(m) for m in TASK_METRICS[task]],
        pl.when(better).then(pl.col("prediction") + " (improved)").otherwise(pl.col("prediction")).alias("prediction"),
    )


def _bootstrap_ci(task: str, frame: pl.DataFrame, rng: np.random.Generator) -> list[float] | None:
    scores = [local_task_score(task, frame[rng.integers(0, frame.height, frame.height)]) for _ in range(100)]
    scores = [s for s in scores if s is not None]
    return [float(np.percentile(scores, 2.5)), float(np.percentile(scores, 97.5))] if scores else None


def task_result(task: str, frame: pl.DataFrame, partial: tuple[str, ...] = ()) -> dict[str, Any]:
    ok = frame.filter(pl.col("prediction").is_not_null())
    metrics = {m: ok[m].mean() for m in metric_columns(ok) if m != "lh_task" and m not in partial}
    score = local_task_score(task, ok.drop(list(partial)))
    ci = _bootstrap_ci(task, ok.drop(list(partial)), np.random.default_rng(1)) if ok.height else None
    return {"n": ok.height, "n_errors": frame.height - ok.height, "metrics": metrics, "score": score,
            "ci95": ci, "partial": list(partial)}


def write_run(folder: Path, frames: Mapping[str, pl.DataFrame], *, model: str = "model-a",
              sampling: Mapping[str, Any] | None = None, prices: Mapping[str, float] | None = None,
              data_files: Mapping[str, str] | None = None, partial: Mapping[str, tuple[str, ...]] | None = None,
              protocol_version: str = "clue-2de4314/1") -> Path:
    """Write a complete run folder; ``partial`` names metrics to report missing (and drop) per task."""
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
    }
    results = {"endpoint": f"ep-{model}", "model": model, "tasks": tasks, **levels,
               "levels_ci95": {lvl: ([levels[lvl] - 1, levels[lvl] + 1] if levels[lvl] is not None else None)
                               for lvl in LEVEL_TASKS}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (folder / "results.json").write_text(json.dumps(results, indent=2))
    return folder
