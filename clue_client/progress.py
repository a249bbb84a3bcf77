"""Progress of a run as the reader can see it: a rich bar in a terminal, plain lines in a log, or nothing.

A bar redrawn in place is unreadable in CI logs, ``nohup`` files and ``> log``, and rich prints nothing
at all there until the end; so when stderr is not a terminal one plain line is printed at the start,
about every ``interval_s`` and at the end. Counters come from the engine's ``EngineStats`` (read only).
Several engines in one loop (one per endpoint) get a bar or a labelled line each.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, Literal

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

__all__ = ["Mode", "choose_mode", "status_line", "track", "track_set"]

Mode = Literal["bar", "lines", "quiet"]
OnStart = Callable[[Any, Any], None]  # (EngineStats, ReplicaPool)
OnLabelledStart = Callable[[str, Any, Any], None]  # (label, EngineStats, ReplicaPool): one engine of several
LINE_INTERVAL_S = 15.0
_BAR_REFRESH_S = 0.2


def choose_mode(console: Console, quiet: bool) -> Mode:
    if quiet:
        return "quiet"
    return "bar" if console.is_terminal else "lines"


def _in_flight(pool: Any) -> int:
    return sum(r.in_flight for r in pool.replicas)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def status_line(stats: Any, in_flight: int, now: float | None = None) -> str:
    """``requests 12/40 done, 4 in flight, 0 errors, 1 retries, 35 tok/s, elapsed 20s, ETA 47s``."""
    elapsed = (now if now is not None else time.monotonic()) - stats.started
    remaining = max(stats.total - stats.done, 0)
    if not remaining:
        eta = "0s"
    elif stats.done and elapsed > 0:
        eta = _duration(elapsed / stats.done * remaining)
    else:
        eta = "-"
    return (f"requests {stats.done}/{stats.total} done, {in_flight} in flight, {stats.errors} errors, "
            f"{stats.retries} retries, {stats.tokens_per_s():.0f} tok/s, elapsed {_duration(elapsed)}, ETA {eta}")


def _print_line(console: Console, label: str, state: dict[str, Any], in_flight: int | None = None) -> None:
    line = status_line(state["stats"], _in_flight(state["pool"]) if in_flight is None else in_flight)
    console.print(f"{label}: {line}" if label else line, markup=False, highlight=False, soft_wrap=True)


async def _lines(states: dict[str, dict[str, Any]], console: Console, interval_s: float) -> None:
    """A line per engine every ``interval_s`` while requests run (start and end lines are printed by ``track``);
    an engine that has sent everything gets one more line, not one every interval while the others work."""
    while True:
        await asyncio.sleep(interval_s)
        for label, state in list(states.items()):
            if state.get("finished"):
                continue
            state["finished"] = state["stats"].done >= state["stats"].total
            _print_line(console, label, state)


def _bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("in flight {task.fields[in_flight]}  errors {task.fields[errors]}  retries {task.fields[retries]}"
                   "  {task.fields[tps]:.0f} tok/s"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


async def _bar_updates(states: dict[str, dict[str, Any]], progress: Progress) -> None:
    while True:
        for label, state in list(states.items()):
            stats = state["stats"]
            if "task" not in state:
                state["task"] = progress.add_task(label or "requests", total=stats.total or None, in_flight=0,
                                                  errors=0, retries=0, tps=0.0)
            progress.update(state["task"], completed=stats.done, in_flight=_in_flight(state["pool"]),
                            errors=stats.errors, retries=stats.retries, tps=stats.tokens_per_s())
        await asyncio.sleep(_BAR_REFRESH_S)


def track(run: Callable[[OnStart], Awaitable[Any]], mode: Mode, console: Console,
          interval_s: float = LINE_INTERVAL_S) -> Any:
    """``asyncio.run`` the coroutine ``run(on_start)`` while showing its progress in ``mode``."""
    return track_set(lambda on_start: run(lambda stats, pool: on_start("", stats, pool)), mode, console, interval_s)


def track_set(run: Callable[[OnLabelledStart], Awaitable[Any]], mode: Mode, console: Console,
              interval_s: float = LINE_INTERVAL_S) -> Any:
    """Like ``track`` for several engines in one event loop (one per endpoint of ``clue run --endpoint A
    --endpoint B``): ``on_start(label, stats, pool)`` adds a bar, or a line prefixed ``label:``, per engine."""
    states: dict[str, dict[str, Any]] = {}

    def on_start(label: str, stats: Any, pool: Any) -> None:
        states[label] = {"stats": stats, "pool": pool}
        if mode == "lines":
            _print_line(console, label, states[label])

    progress = _bar(console) if mode == "bar" else None

    async def main() -> Any:
        if progress is not None:
            ticker = asyncio.create_task(_bar_updates(states, progress))
        elif mode == "lines":
            ticker = asyncio.create_task(_lines(states, console, interval_s))
        else:
            ticker = None
        try:
            return await run(on_start)
        finally:
            if ticker is not None:
                ticker.cancel()
                await asyncio.gather(ticker, return_exceptions=True)
            for label, state in states.items():
                if progress is not None and "task" in state:
                    progress.update(state["task"], completed=state["stats"].done, in_flight=0)
                elif mode == "lines":
                    _print_line(console, label, state, in_flight=0)

    if progress is None:
        return asyncio.run(main())
    with progress:
        return asyncio.run(main())
