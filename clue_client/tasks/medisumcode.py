"""MeDiSumCode (level 2): list the ICD-10 codes of a discharge summary; 1-shot.

A record's ``codes`` (the few-shot answer and the reference) is its ``icd_codes[].code`` joined by ``, ``.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..datasets.formats import load_medisumcode
from .base import BuildContext, Task, declare, few_shot_frame


async def _build(task: Task, data_dir: Path, ctx: BuildContext) -> pl.DataFrame:
    frame = load_medisumcode(data_dir / task.data_path)
    codes = frame["icd_codes"].list.eval(pl.element().struct.field("code")).list.join(", ")
    records = frame.select("text").with_columns(codes.alias("codes")).to_dicts()
    return few_shot_frame(task, records, ctx, k=1, reference=lambda r: r["codes"])


TASK = declare("medisumcode", builder=_build, title="MeDiSumCode")
