"""Several endpoints as one job (an eval set): the same tasks against each, all in one event loop.

Each member is an ordinary run (``runner.send_missing`` then ``runner.score_run_dir``) into its own run
folder, with its own engine, concurrency, rate limits and lock, so a rerun resumes every member and each
folder is a normal run folder. Engines share the loop and never wait for each other: the slow one does not
hold back the fast one, and three endpoints take about as long as the slowest alone. What could block the
loop runs beside it: an embedded server starts and stops in a thread, and scoring (CPU work) runs in one
worker thread, one run at a time, while the other members keep sending.

A member that fails (unreachable, bad key, refused credentialed data, a configuration error, a busy run
folder) stops alone: its ``ClueError`` is kept as its outcome, and the others finish.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, ContextManager, Sequence

from .config import Endpoint
from .errors import ClueError
from .run_lock import run_lock
from .runner import RunOptions, RunSummary, score_run_dir, send_missing

__all__ = ["Member", "MemberOutcome", "Serve", "OnStart", "run_members"]

#: Starts the server an ``embedded`` endpoint needs and yields the endpoint pointing at it (``commands/run``).
Serve = Callable[[Endpoint], ContextManager[Endpoint]]
#: (member name, EngineStats, ReplicaPool), when the member's engine starts sending.
OnStart = Callable[[str, Any, Any], None]


@dataclass(frozen=True)
class Member:
    """One endpoint of the set: the name it was given by and the options of its run."""

    name: str
    options: RunOptions


@dataclass
class MemberOutcome:
    """How one member ended: scored (``summary``), or stopped by ``error`` (one line)."""

    name: str
    out: Path
    summary: RunSummary | None = None
    error: ClueError | None = None


async def run_members(members: Sequence[Member], *, serve: Serve | None = None, on_start: OnStart | None = None,
                      on_done: Callable[[MemberOutcome], None] | None = None) -> list[MemberOutcome]:
    """Run every member at once; one outcome per member, in the members' order (``on_done`` hears each
    as it ends, so a failure is told when it happens, not when the slowest member finishes)."""
    scorer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clue-score")

    async def one(member: Member) -> MemberOutcome:
        outcome = await _run_member(member, serve, on_start, scorer)
        if on_done is not None:
            on_done(outcome)
        return outcome

    try:
        return list(await asyncio.gather(*(one(m) for m in members)))
    finally:
        scorer.shutdown(wait=True)


async def _run_member(member: Member, serve: Serve | None, on_start: OnStart | None,
                      scorer: ThreadPoolExecutor) -> MemberOutcome:
    options = member.options
    outcome = MemberOutcome(member.name, options.out)
    started = None if on_start is None else (lambda stats, pool: on_start(member.name, stats, pool))
    try:
        with run_lock(options.out):
            stack = contextlib.ExitStack()
            try:
                endpoint = options.endpoint
                if serve is not None and endpoint.embedded:
                    endpoint = await _enter_in_thread(stack, serve(endpoint))
                options = replace(options, endpoint=endpoint)
                stopped = await send_missing(options, started)
            finally:
                await asyncio.to_thread(stack.close)  # the embedded server stops before scoring starts
            summary = await asyncio.get_running_loop().run_in_executor(scorer, score_run_dir, options.out,
                                                                        options.scoring)
    except ClueError as exc:
        outcome.error = exc
        with contextlib.suppress(OSError):
            options.out.rmdir()  # a folder the failure left empty, so that `clue report OUT/*` finds only runs
        return outcome
    summary.stopped_reason = stopped
    outcome.summary = summary
    return outcome


async def _enter_in_thread(stack: contextlib.ExitStack, manager: ContextManager[Endpoint]) -> Endpoint:
    """Enter ``manager`` (a server start: seconds of blocking) in a worker thread. Cancelled meanwhile (Ctrl-C),
    wait for the start to finish, so that closing ``stack`` stops what it started instead of leaking it."""
    entering = asyncio.get_running_loop().run_in_executor(None, stack.enter_context, manager)
    try:
        return await asyncio.shield(entering)
    except asyncio.CancelledError:
        await asyncio.wait([entering])
        raise
