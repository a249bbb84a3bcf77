"""MeDiSumQA (level 2): answer a lay question about a discharge summary; 1-shot.

CLUE 2024's template reads ``{without_discharge_summary}``, a field of CLUE's generator that the PhysioNet
release may not carry. Where a record lacks it, its ``discharge_summary`` (the letter the release gives, the
field CLUE 2025 reads in the same place) stands in, and the frame says so per sample (``field_substituted``:
the sample's own record or its few-shot example lacked the field), so the run can count it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..datasets.formats import MEDISUMQA_WITHOUT_SUMMARY, load_medisumqa
from .base import BuildContext, Task, declare, few_shot_frame, few_shot_split, prompts

K = 1
SUBSTITUTED = "field_substituted"


async def _build(task: Task, data_dir: Path, ctx: BuildContext) -> pl.DataFrame:
    records = load_medisumqa(data_dir / task.data_path).to_dicts()
    if "{" + MEDISUMQA_WITHOUT_SUMMARY + "}" not in prompts(task.id, ctx.protocol)["user_prompt_template"]:
        return few_shot_frame(task, records, ctx, k=K, reference=lambda r: r["Answer"])
    lacking = [r.get(MEDISUMQA_WITHOUT_SUMMARY) is None for r in records]
    for record, missing in zip(records, lacking):
        if missing:
            record[MEDISUMQA_WITHOUT_SUMMARY] = record["discharge_summary"]
    examples, _ = few_shot_split(task.id, len(records), ctx, K)
    in_examples = any(lacking[i] for i in examples)
    return few_shot_frame(task, records, ctx, k=K, reference=lambda r: r["Answer"],
                          extras={SUBSTITUTED: (pl.Boolean, lambda i: lacking[i] or in_examples)})


TASK = declare("medisumqa", builder=_build, title="MeDiSumQA")
