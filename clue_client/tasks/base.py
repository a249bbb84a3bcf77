"""What every CLUE task shares: the Task and BuildContext types, CLUE's prompt strings, the seeded
shuffle, few-shot message building, and the hand-over frame that goes to the engine and to scoring.

The hand-over frame (contract): ``task``, ``sample_id``, ``group_id``, ``messages``
(List(Struct{role, content})), ``max_tokens``, ``reference``, plus task extras.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Mapping, Sequence

import polars as pl

from ..errors import DataError
from .tokens import Tokenizer

__all__ = [
    "Task",
    "BuildContext",
    "MESSAGES",
    "HANDOVER_SCHEMA",
    "prompts",
    "shuffled",
    "fold_system",
    "few_shot_frame",
    "handover_frame",
    "declare",
]

MESSAGES = pl.List(pl.Struct({"role": pl.Utf8, "content": pl.Utf8}))
HANDOVER_SCHEMA: dict[str, pl.DataType] = {
    "task": pl.Utf8,
    "sample_id": pl.Utf8,
    "group_id": pl.Utf8,
    "messages": MESSAGES,
    "max_tokens": pl.Int64,
    "reference": pl.Utf8,
}

Message = dict[str, str]


@dataclass(frozen=True)
class BuildContext:
    """Everything outside the data file that shapes the prompts.

    ``limit`` caps the scored samples (the first ``limit`` after CLUE's shuffle); for LongHealth it counts
    *questions* in file order, each giving its 5 task-1 and 10 task-2/3 prompts.
    ``context_length``, ``tokenizer`` and ``longhealth_budget`` matter only to LongHealth (document budgets,
    see ``longhealth.budget``): without a tokenizer it uses the calibrated character estimate; the budget is
    CLUE's 8k setting unless ``longhealth_budget`` names prompt tokens or ``"max"`` (the served context).
    ``output_reserve``: output tokens sent beyond CLUE's answer budgets (a reasoning budget), kept free too.
    """

    tokenizer: Tokenizer | None = None
    context_length: int | None = None
    longhealth_budget: int | str | None = None
    fold_system: bool = False
    seed: int = 1
    limit: int | None = None
    output_reserve: int = 0


Builder = Callable[["Task", Path, BuildContext], Awaitable[pl.DataFrame]]


@dataclass(frozen=True)
class Task:
    """One CLUE task: its data file, access class, metric names and how it builds its samples.

    ``metrics`` names the per-sample metrics that make the task score (as ``clue_client.scoring`` names them).
    """

    id: str
    level: int
    credentialed: bool
    data_path: str
    metrics: tuple[str, ...]
    builder: Builder = field(repr=False)
    title: str = ""

    async def build(self, data_dir: Path, ctx: BuildContext) -> pl.DataFrame:
        """The hand-over frame for this task's samples read from ``data_dir``."""
        frame = await self.builder(self, Path(data_dir), ctx)
        return frame


def declare(task_id: str, *, builder: Builder, title: str) -> Task:
    """A Task whose data file and access class come from the dataset registry, and whose level and score
    metrics come from the scoring protocol table: one source of truth for each."""
    from ..datasets.formats import DATASETS
    from ..scoring.protocol import LEVELS, TASKS

    dataset = DATASETS[task_id]
    level = next(int(name.removeprefix("level")) for name, members in LEVELS.items() if task_id in members)
    return Task(task_id, level, dataset.credentialed, dataset.path, TASKS[task_id].score, builder, title)


@cache
def _all_prompts() -> dict[str, Any]:
    raw = resources.files("clue_client.tasks").joinpath("prompts.json").read_text(encoding="utf-8")
    return json.loads(raw)


def prompts(task_id: str) -> Mapping[str, Any]:
    """CLUE's prompt strings for one task (byte for byte; MIT notice under ``_source`` in the file)."""
    return _all_prompts()[task_id]


def shuffled(n: int, seed: int) -> list[int]:
    """Record order after CLUE's ``random.seed(seed); random.shuffle(records)``.

    Python's shuffle depends only on the list length and the seed, so shuffling indices is the same.
    """
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


def fold_system(messages: list[Message], joiner: str = "\n\n") -> list[Message]:
    """Drop the system turn into the first user turn, for chat templates without a system role.

    CLUE's own fold joins with a blank line (few-shot tasks) or nothing (LongHealth): ``joiner``.
    """
    if not messages or messages[0]["role"] != "system":
        return messages
    system, first, rest = messages[0], messages[1], messages[2:]
    return [{"role": "user", "content": system["content"] + joiner + first["content"]}, *rest]


def handover_frame(
    rows: Iterable[Mapping[str, Any]], extras: Mapping[str, pl.DataType] | None = None
) -> pl.DataFrame:
    schema = {**HANDOVER_SCHEMA, **(extras or {})}
    frame = pl.DataFrame(list(rows), schema=schema)
    if frame["sample_id"].n_unique() != frame.height:
        raise AssertionError("sample ids must be unique within a task")  # a bug in a builder, not user data
    return frame


def few_shot_frame(
    task: Task,
    records: Sequence[Mapping[str, str]],
    ctx: BuildContext,
    *,
    k: int,
    reference: Callable[[Mapping[str, str]], str],
    prompt_key: str | None = None,
) -> pl.DataFrame:
    """CLUE's few-shot recipe: shuffle, first ``k`` records as examples, every other record scored.

    ``records`` are in file order with every template field filled; ``sample_id`` is the record's
    0-based position in the file, so it is stable across runs and limits.
    """
    spec = prompts(prompt_key or task.id)
    if len(records) <= k:
        raise DataError(
            f"{task.data_path}: {len(records)} records; {task.id} needs more than {k} "
            f"({k} few-shot examples plus at least one scored)"
        )
    order = shuffled(len(records), ctx.seed)
    head: list[Message] = [{"role": "system", "content": spec["sys_prompt"]}]
    for i in order[:k]:
        head.append({"role": "user", "content": spec["user_prompt_template"].format(**records[i])})
        head.append(
            {"role": "assistant", "content": spec["assistant_response_template"].format(**records[i])}
        )
    scored = order[k:] if ctx.limit is None else order[k : k + max(ctx.limit, 0)]
    rows = []
    for i in scored:
        messages = [*head, {"role": "user", "content": spec["user_prompt_template"].format(**records[i])}]
        if ctx.fold_system:
            messages = fold_system(messages)
        rows.append(
            {
                "task": task.id,
                "sample_id": str(i),
                "group_id": str(i),
                "messages": messages,
                "max_tokens": int(spec["max_tokens"]),
                "reference": reference(records[i]),
            }
        )
    return handover_frame(rows)
