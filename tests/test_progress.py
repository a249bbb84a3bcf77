"""Progress display: the plain status line's arithmetic, and its rhythm over a real engine run."""

from __future__ import annotations

import io
import time

from rich.console import Console

from clue_client.config import Endpoint
from clue_client.engine.engine import Engine, EngineStats
from clue_client.engine.request import Request
from clue_client.progress import choose_mode, status_line, track
from fake_server import FakeServer


def test_status_line_counts_and_eta_from_the_rate_so_far() -> None:
    now = time.monotonic()
    stats = EngineStats(total=40, done=10, errors=1, retries=2, completion_tokens=300, started=now - 20.0)
    # 10 done in 20 s: 30 left take 60 s
    assert status_line(stats, 4, now=now) == (
        "requests 10/40 done, 4 in flight, 1 errors, 2 retries, 15 tok/s, elapsed 20s, ETA 1m00s")
    assert status_line(EngineStats(total=5, started=now), 0, now=now).endswith("ETA -")
    assert status_line(EngineStats(total=5, done=5, started=now - 3), 0, now=now).endswith("elapsed 3s, ETA 0s")


def test_mode_follows_the_terminal_and_quiet() -> None:
    log = Console(file=io.StringIO())
    tty = Console(file=io.StringIO(), force_terminal=True)
    assert (choose_mode(log, False), choose_mode(tty, False), choose_mode(tty, True)) == ("lines", "bar", "quiet")


def test_lines_at_start_every_interval_and_at_the_end() -> None:
    """8 requests one at a time on a server that takes 0.1 s each: lines every 0.15 s in between."""
    with FakeServer(delay_s=0.1) as server:
        endpoint = Endpoint(name="fake", base_urls=(server.base_url,), hosted=False)
        requests = [Request.build("fake-model@x", [{"role": "user", "content": f"question {i}"}], {"max_tokens": 8})
                    for i in range(8)]

        async def run(on_start) -> int:
            async with Engine(endpoint, "fake-model", concurrency=1) as engine:
                engine.stats.total = len(requests)
                on_start(engine.stats, engine.pool)
                return len([r async for r in engine.run(requests, total=len(requests))])

        buffer = io.StringIO()
        assert track(run, "lines", Console(file=buffer, width=200), interval_s=0.15) == 8
    lines = buffer.getvalue().splitlines()
    assert lines[0].startswith("requests 0/8 done, 0 in flight")
    assert lines[-1].startswith("requests 8/8 done, 0 in flight, 0 errors, 0 retries")
    assert len(lines) >= 5, lines  # ~0.8 s of requests at one line per 0.15 s, plus start and end
    done = [int(line.split()[1].split("/")[0]) for line in lines]
    assert done == sorted(done) and 0 < done[len(done) // 2] < 8


def test_quiet_prints_nothing() -> None:
    async def run(on_start) -> str:
        on_start(EngineStats(total=1), None)  # quiet never reads the pool
        return "done"

    buffer = io.StringIO()
    assert track(run, "quiet", Console(file=buffer), interval_s=0.01) == "done"
    assert buffer.getvalue() == ""


def test_several_engines_a_labelled_line_each_and_a_finished_one_falls_quiet() -> None:
    """Engine a is done at once, b takes 0.6 s: lines every 0.1 s name their engine; a's stop once it is done."""
    import asyncio
    from types import SimpleNamespace

    from clue_client.progress import track_set

    async def run(on_start) -> str:
        a, b = EngineStats(total=2), EngineStats(total=2)
        on_start("a", a, SimpleNamespace(replicas=[]))
        on_start("b", b, SimpleNamespace(replicas=[]))
        a.done = 2
        await asyncio.sleep(0.6)
        b.done = 2
        return "both"

    buffer = io.StringIO()
    assert track_set(run, "lines", Console(file=buffer, width=200), interval_s=0.1) == "both"
    lines = buffer.getvalue().splitlines()
    a_lines, b_lines = [x for x in lines if x.startswith("a: ")], [x for x in lines if x.startswith("b: ")]
    assert len(a_lines) + len(b_lines) == len(lines)
    assert len(a_lines) == 3, a_lines  # at the start, once when seen done, at the end
    assert len(b_lines) >= 5 and b_lines[-1].startswith("b: requests 2/2 done")
