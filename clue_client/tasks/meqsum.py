"""MeQSum (level 1): summarise a consumer health question as one short question; 3-shot."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..datasets.formats import load_meqsum
from .base import BuildContext, Task, declare, few_shot_frame


async def _build(task: Task, data_dir: Path, ctx: BuildContext) -> pl.DataFrame:
    records = load_meqsum(data_dir / task.data_path).to_dicts()
    return few_shot_frame(task, records, ctx, k=3, reference=lambda r: r["Summary"])


TASK = declare("meqsum", builder=_build, title="MeQSum")
