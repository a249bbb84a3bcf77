"""MedNLI (level 1): natural language inference on clinical sentence pairs; 3-shot, accuracy."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..datasets.formats import load_mednli
from .base import BuildContext, Task, declare, few_shot_frame


async def _build(task: Task, data_dir: Path, ctx: BuildContext) -> pl.DataFrame:
    records = load_mednli(data_dir / task.data_path).to_dicts()
    return few_shot_frame(task, records, ctx, k=3, reference=lambda r: r["gold_label"])


TASK = declare("mednli", builder=_build, title="MedNLI")
