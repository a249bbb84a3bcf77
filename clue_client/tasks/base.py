"""What every CLUE task shares: the Task and BuildContext types, CLUE's prompt strings, the seeded
shuffle, few-shot message building, and the hand-over frame that goes to the engine and to scoring.

The hand-over frame (contract): ``task``, ``sample_id``, ``group_id``, ``messages``
(List(Struct{role, content})), ``max_tokens``, ``reference``, plus task extras. Under a protocol whose
client renders the prompt (CLUE 2024) it also has ``prompt``: the raw text sent, built in one of CLUE 2024's
three forms (instruct with a system turn; instruct with the system prompt folded into the first user turn;
a base model's plain text) with the model's chat template applied and the prefill appended as raw text.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable, Mapping, Sequence

import polars as pl

from ..errors import DataError, UserError
from ..protocols import CLUE_2025, Protocol
from .tokens import Tokenizer

if TYPE_CHECKING:  # jinja2 loads only when a client-rendered protocol runs
    from ..protocols.render import ChatTemplate

__all__ = [
    "Task",
    "BuildContext",
    "MESSAGES",
    "HANDOVER_SCHEMA",
    "prompts",
    "shuffled",
    "fold_system",
    "client_prompt",
    "few_shot_split",
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
    ``protocol``: the CLUE protocol (prompt strings, few-shot order, rendering); where its client renders,
    ``chat_template`` is the model's template and ``base_model`` picks the plain-text form (no template).
    """

    tokenizer: Tokenizer | None = None
    context_length: int | None = None
    longhealth_budget: int | str | None = None
    fold_system: bool = False
    seed: int = 1
    limit: int | None = None
    output_reserve: int = 0
    protocol: Protocol = CLUE_2025
    base_model: bool = False
    chat_template: "ChatTemplate | None" = None


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
def _all_prompts(file_name: str) -> dict[str, Any]:
    raw = resources.files("clue_client.tasks").joinpath(file_name).read_text(encoding="utf-8")
    return json.loads(raw)


def prompts(task_id: str, protocol: Protocol = CLUE_2025) -> Mapping[str, Any]:
    """CLUE's prompt strings for one task under ``protocol`` (byte for byte; MIT notice under ``_source`` in
    the file)."""
    return _all_prompts(protocol.prompt_file)[task_id]


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


def client_prompt(ctx: BuildContext, messages: Sequence[Message], prefill: str = "") -> str:
    """The raw prompt CLUE 2024 sent: the chat template applied with a generation prompt, then the prefill
    appended as text (so a trailing space survives templates that trim message content)."""
    if ctx.chat_template is None:
        raise UserError("this protocol renders prompts on the client and needs the model's chat template "
                        "(--chat-template FILE or --hf-revision REV), or --base-model for the plain-text form")
    return ctx.chat_template.render(messages, add_generation_prompt=True) + prefill


def handover_frame(
    rows: Iterable[Mapping[str, Any]], extras: Mapping[str, pl.DataType] | None = None
) -> pl.DataFrame:
    schema = {**HANDOVER_SCHEMA, **(extras or {})}
    frame = pl.DataFrame(list(rows), schema=schema)
    if frame["sample_id"].n_unique() != frame.height:
        raise AssertionError("sample ids must be unique within a task")  # a bug in a builder, not user data
    return frame


def few_shot_split(task_id: str, n: int, ctx: BuildContext, k: int) -> tuple[list[int], list[int]]:
    """(example positions, scored positions) of ``n`` records: the protocol's file order or CLUE's shuffle."""
    order = list(range(n)) if ctx.protocol.prompt_rules(task_id).file_order else shuffled(n, ctx.seed)
    return order[:k], order[k:]


def few_shot_frame(
    task: Task,
    records: Sequence[Mapping[str, str]],
    ctx: BuildContext,
    *,
    k: int,
    reference: Callable[[Mapping[str, str]], str],
    prompt_key: str | None = None,
    extras: Mapping[str, tuple[pl.DataType, Callable[[int], Any]]] | None = None,
) -> pl.DataFrame:
    """CLUE's few-shot recipe: shuffle (unless the protocol keeps file order), first ``k`` records as
    examples, every other record scored.

    ``records`` are in file order with every template field filled; ``sample_id`` is the record's
    0-based position in the file, so it is stable across runs and limits. ``extras`` are further
    per-sample columns (``{column: (dtype, value of record i)}``).
    """
    spec = prompts(prompt_key or task.id, ctx.protocol)
    if len(records) <= k:
        raise DataError(
            f"{task.data_path}: {len(records)} records; {task.id} needs more than {k} "
            f"({k} few-shot examples plus at least one scored)"
        )
    examples, scored = few_shot_split(task.id, len(records), ctx, k)
    system = spec["sys_prompt"]
    pairs = [(spec["user_prompt_template"].format(**records[i]), spec["assistant_response_template"].format(**records[i]))
             for i in examples]
    head: list[Message] = [{"role": "system", "content": system}]
    for user, answer in pairs:
        head += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    scored = scored if ctx.limit is None else scored[: max(ctx.limit, 0)]
    rendered = ctx.protocol.client_renders
    rows = []
    for i in scored:
        user = spec["user_prompt_template"].format(**records[i])
        messages = [*head, {"role": "user", "content": user}]
        if ctx.fold_system:
            messages = fold_system(messages)
        row = {"task": task.id, "sample_id": str(i), "group_id": str(i), "messages": messages,
               "max_tokens": int(spec["max_tokens"]), "reference": reference(records[i])}
        if rendered:
            prefill = spec.get("assistant_prefill", "")
            if ctx.base_model:  # CLUE 2024's plain-text form: no template, no chat
                row["prompt"] = _base_prompt(system, pairs, user) + prefill
                row["messages"] = [{"role": "user", "content": row["prompt"]}]
            else:
                row["prompt"] = client_prompt(ctx, messages, prefill)
        rows.append({**row, **{name: value(i) for name, (_, value) in (extras or {}).items()}})
    columns = {name: dtype for name, (dtype, _) in (extras or {}).items()}
    return handover_frame(rows, {**({"prompt": pl.Utf8} if rendered else {}), **columns})


def _base_prompt(system: str, pairs: Sequence[tuple[str, str]], user: str) -> str:
    """A base model's few-shot text, as CLUE 2024 joins it (``utils.py:23-24,38-39,55-57``)."""
    text = "\n\n".join(f"{u}\n\n{a}" for u, a in pairs)
    return f"{system}\n\n{text}\n\n{user}\n\n"
