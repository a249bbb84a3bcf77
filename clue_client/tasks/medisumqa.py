"""MeDiSumQA (level 2): answer a lay question about a discharge summary; 1-shot."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..datasets.formats import load_medisumqa
from .base import BuildContext, Task, declare, few_shot_frame


async def _build(task: Task, data_dir: Path, ctx: BuildContext) -> pl.DataFrame:
    records = load_medisumqa(data_dir / task.data_path).to_dicts()
    return few_shot_frame(task, records, ctx, k=1, reference=lambda r: r["Answer"])


TASK = declare("medisumqa", builder=_build, title="MeDiSumQA")
