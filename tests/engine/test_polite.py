"""A polite client, over real loopback HTTP: a server's wait bounded by our backoff and the budget, a paced
release after a 429, a silent server taken out like a refusing one. Rates and seconds are measured in
bench/hostile_servers.py; here only what must hold on any machine (counts of requests, outcomes).
"""

from __future__ import annotations

import asyncio
import math

import pytest

from clue_client.config import Endpoint
from clue_client.engine.engine import Backoff, Engine
from clue_client.engine.outcome import parse_retry_after
from clue_client.engine.request import Request, Result
from clue_client.engine.retry import bounded_wait
from clue_client.errors import ServerUnreachable

from fake_server import FakeServer

FAST = Backoff(initial_s=0.01, max_s=0.05, jitter_s=0.01)


def requests(n: int, tag: str = "q") -> list[Request]:
    return [Request.build("m@polite", [{"role": "user", "content": f"{tag} {i}"}], {"max_tokens": 8}) for i in range(n)]


@pytest.mark.parametrize(("header", "expected"), [
    ("0", 0.0), ("-5", 0.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("1e999", math.inf), ("99999999", 99999999.0),
    ("nan", None), ("soon", None),
])
def test_a_wait_the_server_gives_is_read_as_it_says_and_bounded_by_the_policy(header: str, expected: float | None) -> None:
    wait = parse_retry_after({"retry-after": header}, now=2e9)
    assert wait == expected
    bounded = bounded_wait(wait, backoff_s=0.5, ceiling_s=600.0)
    assert 0.5 <= bounded <= 600.0, "never below our backoff, never above the rate-limit budget"


async def test_retry_after_zero_is_no_licence_to_hammer() -> None:
    """Every answer a 429 with ``Retry-After: 0`` for a 1.5 s budget: each request waits our own backoff
    (0.5 s, 1 s, ...) and the endpoint's paced pause, instead of ~2,500 requests a second."""
    with FakeServer(retry_after="0", fault_for=lambda pid, attempt: "429") as server:
        endpoint = Endpoint(name="t", base_urls=(server.base_url,), max_concurrency=8, rate_limit_wait_s=1.5)
        async with Engine(endpoint, "fake-model") as engine:
            results = [r async for r in engine.run(requests(40))]
        sent = sum(server.requests.values())
    assert sent <= 40, f"{sent} requests in 1.5 s of 429s"
    assert "nothing but HTTP 429" in (engine.stats.stopped_reason or ""), "the endpoint's budget ended the sending"
    assert all(not r.ok and r.retryable for r in results), "given up, unscored: a rerun sends them again"


async def test_an_absurd_wait_gives_up_at_the_budget_not_at_a_fixed_cap() -> None:
    with FakeServer(retry_after="99999999", fault_for=lambda pid, attempt: "429") as server:
        endpoint = Endpoint(name="t", base_urls=(server.base_url,), max_concurrency=2, rate_limit_wait_s=1.0)
        async with asyncio.timeout(20):
            async with Engine(endpoint, "fake-model", backoff=FAST) as engine:
                results = [r async for r in engine.run(requests(2))]
    assert all(r.retryable and "Rate limit reached" in r.error for r in results)


async def test_after_a_429_waiting_requests_are_released_one_at_a_time() -> None:
    """A server allowing 2 requests each 0.5 s window: 16 requests at concurrency 8 meet the limit a few
    times; all released at once, every window's surplus would be 429s (dozens)."""
    with FakeServer(window_limit=2, window_s=0.5, limit_header="retry-after-ms") as server:
        endpoint = Endpoint(name="t", base_urls=(server.base_url,), max_concurrency=8)
        async with Engine(endpoint, "fake-model", backoff=FAST) as engine:
            results = [r async for r in engine.run(requests(16))]
        limited = server.rate_limited
    assert all(r.ok for r in results)
    assert limited <= 12, f"{limited} 429s for 16 answers (the first burst of 8 meets 6; released at once: ~38)"


async def test_a_server_that_accepts_and_never_answers_is_taken_out_and_the_run_stops() -> None:
    with FakeServer(silent_paths=("/v1/chat/completions", "/v1/models")) as server:
        endpoint = Endpoint(name="t", base_urls=(server.base_url,), max_concurrency=4)
        async with asyncio.timeout(30):
            async with Engine(endpoint, "fake-model", backoff=FAST, stall_s=0.5, all_down_timeout_s=1.0) as engine:
                with pytest.raises(ServerUnreachable, match="no replica of the endpoint answers"):
                    _ = [r async for r in engine.run(requests(8))]
        assert not engine.pool.replicas[0].healthy, "taken out, as a refusing server is"


async def test_a_slow_server_that_still_answers_its_probe_is_never_taken_out() -> None:
    with FakeServer(slow_s=1.5, fault_for=lambda pid, attempt: "slow") as server:
        endpoint = Endpoint(name="t", base_urls=(server.base_url,), max_concurrency=4)
        async with Engine(endpoint, "fake-model", backoff=FAST, stall_s=0.3) as engine:
            results: list[Result] = [r async for r in engine.run(requests(4))]
            assert engine.pool.replicas[0].healthy
    assert all(r.ok and r.attempts == 1 for r in results), "a long generation is no silence"
