"""The six CLUE tasks and their registry.

``get_task(id)`` / ``parse_tasks("mednli,meqsum" | "all")`` give ``Task`` objects;
``await task.build(data_dir, BuildContext(...))`` gives the hand-over frame (see ``base``).
Ids, in protocol order: mednli, meqsum, problem_summary, longhealth, medisumqa, medisumcode.
"""

from __future__ import annotations

from ..errors import UserError
from . import longhealth, medisumcode, medisumqa, mednli, meqsum, problem_summary
from .base import HANDOVER_SCHEMA, BuildContext, Task
from .tokens import EstimateTokenizer, Tokenizer

__all__ = [
    "TASK_IDS",
    "TASKS",
    "Task",
    "BuildContext",
    "Tokenizer",
    "EstimateTokenizer",
    "HANDOVER_SCHEMA",
    "get_task",
    "parse_tasks",
]

TASKS: dict[str, Task] = {
    m.TASK.id: m.TASK for m in (mednli, meqsum, problem_summary, longhealth, medisumqa, medisumcode)
}
TASK_IDS: tuple[str, ...] = tuple(TASKS)


def get_task(task_id: str) -> Task:
    """The task with this id (``problem-summary`` is accepted for ``problem_summary``)."""
    key = task_id.strip().lower().replace("-", "_")
    try:
        return TASKS[key]
    except KeyError:
        raise UserError(f"unknown task '{task_id}'; choose from {', '.join(TASK_IDS)} or all") from None


def parse_tasks(spec: str) -> list[Task]:
    """``"all"`` or a comma-separated list of task ids, in the order given, without repeats."""
    names = [n for n in (part.strip() for part in spec.split(",")) if n]
    if not names:
        raise UserError(f"no tasks given; choose from {', '.join(TASK_IDS)} or all")
    if any(n.lower() == "all" for n in names):
        if len(names) > 1:
            raise UserError("'all' cannot be combined with other task ids")
        return list(TASKS.values())
    tasks: list[Task] = []
    for name in names:
        task = get_task(name)
        if task not in tasks:
            tasks.append(task)
    return tasks
