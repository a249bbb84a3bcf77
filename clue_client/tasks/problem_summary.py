"""Problem Summary (level 1, BioNLP 2023 task 1A): list a patient's problems from a progress note; 3-shot.

As CLUE does, every ``;`` in the reference ``Summary`` becomes ``, `` before shuffling, so the few-shot
answers and the references both carry the commas.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..datasets.formats import load_problem_summary
from .base import BuildContext, Task, declare, few_shot_frame


async def _build(task: Task, data_dir: Path, ctx: BuildContext) -> pl.DataFrame:
    frame = load_problem_summary(data_dir / task.data_path)
    records = frame.with_columns(pl.col("Summary").str.replace_all(";", ", ", literal=True)).to_dicts()
    return few_shot_frame(task, records, ctx, k=3, reference=lambda r: r["Summary"])


TASK = declare("problem_summary", builder=_build, title="Problem Summary")
