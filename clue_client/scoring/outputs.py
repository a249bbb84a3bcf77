"""Write scoring outputs: per-task parquet of predictions with their metrics, and results.json."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from ..files import replace_atomically

__all__ = ["write_results", "write_scored"]


def write_scored(frames: dict[str, pl.DataFrame], directory: str | Path) -> list[Path]:
    """``<directory>/<task>.parquet`` for each scored frame (readable by ``polars.read_parquet``)."""
    paths = []
    for task, frame in frames.items():
        path = Path(directory) / f"{task}.parquet"
        replace_atomically(path, frame.write_parquet)  # an interrupted rescore never leaves half a file
        paths.append(path)
    return paths


def write_results(results: dict, path: str | Path) -> Path:
    """results.json with full float precision (json writes the shortest round-tripping repr)."""
    target = Path(path)
    text = json.dumps(results, indent=2, allow_nan=False) + "\n"
    replace_atomically(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return target
