"""What a run would send and cost, before it sends anything (``clue run --dry-run``, and the bill
``--max-cost`` users see first).

Prompts are built exactly as a run builds them (same request keys, so a resumed run folder's answers are
recognised); the store is only read, and nothing is written. Prompt tokens use the engine's own estimate
(the one its token budget and cost guard use); completions are counted at their ``max_tokens`` ceiling,
so the cost is an upper bound: the figure ``--max-cost`` is checked against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .engine.ratelimit import estimate_tokens
from .engine.request import Request
from .store import Store

__all__ = ["TaskPlan", "plan_run", "plan_tasks", "plan_table"]


@dataclass(frozen=True, slots=True)
class TaskPlan:
    """One task's share of a run: what is there, what would be sent, what it may cost."""

    task: str
    samples: int
    answered: int  # requests already in the store (needing no new request)
    to_send: int
    prompt_tokens: int  # estimated, of the requests to send
    completion_tokens: int  # ceiling: max_tokens of the requests to send
    cost: float | None  # upper bound; None without prices


def _cost(prompt: int, completion: int, prices: dict[str, float] | None) -> float | None:
    if prices is None:
        return None
    return (prompt * prices["input_per_million"] + completion * prices["output_per_million"]) / 1e6


def plan_tasks(requests_by_task: dict[str, tuple[int, list[Request]]], store_path: Path,
               prices: dict[str, float] | None) -> list[TaskPlan]:
    """Per task (samples, its Requests): split into answered / to send against the store, if there is one.

    A prompt shared by two tasks' samples is sent once, so it counts only for the first task naming it.
    """
    done: set[str] = set()
    if store_path.is_file():
        with Store(store_path) as store:
            done = store.done_keys()
    seen: set[str] = set()
    plans = []
    for task, (samples, requests) in requests_by_task.items():
        unique = [r for r in dict((r.key, r) for r in requests).values() if r.key not in seen]
        seen.update(r.key for r in unique)
        pending = [r for r in unique if r.key not in done]
        prompt = sum(estimate_tokens(r.turns(), 0) for r in pending)
        completion = sum(r.max_tokens or 0 for r in pending)
        plans.append(TaskPlan(task, samples, len(unique) - len(pending), len(pending), prompt, completion,
                              _cost(prompt, completion, prices)))
    return plans


async def plan_run(options: Any) -> tuple[str, list[TaskPlan]]:
    """(model, per-task plan) for ``RunOptions``; sends no completion request and writes nothing.

    The server is asked only what prompt building needs (model list when no model is named, context
    length and tokenizer for LongHealth); a hosted endpoint with a configured model is not contacted.
    """
    from .engine.hosted_rules import request_rules
    from .protocols import get_protocol
    from .runner import (build_samples, check_credentialed, check_protocol, http_client, require_data, resolve_model,
                         keyed_requests)

    endpoint = options.endpoint
    check_credentialed(endpoint, options.tasks)
    check_protocol(endpoint, options)
    require_data(options.data_dir, options.tasks)
    model = options.model or endpoint.model
    # openai-kind servers have no tokenizer or context route: with a model named, no call and no key needed;
    # prompts rendered on the client need the server's kind, context, template and token counts
    asks_server = model is None or get_protocol(options.protocol).client_renders or (
        endpoint.kind != "openai" and any(t.id == "longhealth" for t in options.tasks))
    # no key (nor any header or query secret) is resolved for a plan that asks the server nothing
    client = http_client(endpoint, endpoint.request_timeout_s()) if asks_server else httpx.AsyncClient()
    async with client:
        if model is None:
            model, _ = await resolve_model(client, endpoint, None)
        frames, notes = await build_samples(client, endpoint, model, options)
    identity = endpoint.identity(model)
    built = keyed_requests(options, identity, request_rules(endpoint, model), frames, notes)
    by_task = {task: (frames[task].height, requests) for task, (_, requests) in built.items()}
    return model, plan_tasks(by_task, options.out / "store.sqlite", endpoint.prices())


def plan_table(plans: list[TaskPlan], title: str) -> Any:
    """A rich Table of the plan with a total row (prompt tokens estimated; completions and cost ceilings)."""
    from rich import box
    from rich.table import Table

    priced = any(p.cost is not None for p in plans)
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    columns = ["task", "samples", "answered", "to send", "prompt tok", "completion tok"]
    for column in columns + (["cost"] if priced else []):
        table.add_column(column, justify="left" if column == "task" else "right", no_wrap=column == "task")

    def row(name: str, items: list[TaskPlan]) -> list[str]:
        cells = [name, *(f"{sum(getattr(p, f) for p in items):,}"
                         for f in ("samples", "answered", "to_send", "prompt_tokens", "completion_tokens"))]
        if priced:
            cells.append(f"{sum(p.cost or 0.0 for p in items):.4f}")
        return cells

    for plan in plans:
        table.add_row(*row(plan.task, [plan]))
    table.add_row(*row("total", plans), style="bold")
    return table
