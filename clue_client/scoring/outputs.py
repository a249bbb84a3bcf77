"""Write scoring outputs: per-task parquet of predictions with their metrics, and results.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl

__all__ = ["write_results", "write_scored"]


def _replace(path: Path, data: bytes) -> None:
    """Write atomically so an interrupted rescore never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_scored(frames: dict[str, pl.DataFrame], directory: str | Path) -> list[Path]:
    """``<directory>/<task>.parquet`` for each scored frame (readable by ``polars.read_parquet``)."""
    paths = []
    for task, frame in frames.items():
        path = Path(directory) / f"{task}.parquet"
        tmp = path.with_name(path.name + ".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(tmp)
        os.replace(tmp, path)
        paths.append(path)
    return paths


def write_results(results: dict, path: str | Path) -> Path:
    """results.json with full float precision (json writes the shortest round-tripping repr)."""
    target = Path(path)
    _replace(target, (json.dumps(results, indent=2, allow_nan=False) + "\n").encode())
    return target
