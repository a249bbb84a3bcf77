"""429s over real loopback HTTP: waited out on a time budget, never a count; the endpoint pauses as one.

The test server's window mode plays a gateway's per-window limit (LiteLLM's per-minute limit, OpenAI's
quotas) and tells the wait in each style clients meet: ``retry-after`` (whole seconds), ``retry-after-ms``,
OpenAI's ``x-ratelimit-reset-requests`` duration, LiteLLM's ``llm_provider-retry-after``.
"""

from __future__ import annotations

import math
import time

import pytest

from clue_client.config import Endpoint
from clue_client.engine.engine import Backoff, Engine
from clue_client.engine.outcome import parse_duration, parse_retry_after
from clue_client.engine.ratelimit import AdaptiveLimit
from clue_client.engine.request import Request

from fake_server import FakeServer

FAST = Backoff(initial_s=0.01, max_s=0.05, jitter_s=0.01)


def requests(n: int, tag: str = "q") -> list[Request]:
    return [Request.build("m@limits", [{"role": "user", "content": f"{tag} {i}"}], {"max_tokens": 8}) for i in range(n)]


@pytest.mark.parametrize("header", ["retry-after", "retry-after-ms", "x-ratelimit-reset-requests", "llm_provider-retry-after"])
async def test_a_per_window_limit_with_nothing_set_on_our_side_ends_with_no_errors(header: str) -> None:
    n, per_window, window_s = 60, 15, 1.0
    minimum_s = (math.ceil(n / per_window) - 1) * window_s  # the last window cannot open sooner
    with FakeServer(delay_s=0.01, window_limit=per_window, window_s=window_s, limit_header=header) as server:
        # max_retries 1: were 429s counted as attempts, most requests would give up
        endpoint = Endpoint(name="gw", base_urls=(server.base_url,), max_concurrency=16, max_retries=1)
        started = time.monotonic()
        async with Engine(endpoint, "fake-model", backoff=FAST) as engine:
            results = [r async for r in engine.run(requests(n))]
        elapsed = time.monotonic() - started
        assert server.rate_limited > 0, "the window limit must have been hit"
    assert len(results) == n and [r.error for r in results if not r.ok] == []
    print(f"\n{header}: {n} requests at {per_window}/{window_s:g} s: {elapsed:.2f} s (minimum {minimum_s:.2f} s)")
    # after the first 429 the rest is paced over each window (not sent in a burst at its start): at most
    # one window more than the minimum
    assert minimum_s <= elapsed <= minimum_s + window_s + 2.0, "near the limit's minimum time"
    assert server.rate_limited <= 6, "paced: the limit is met a few times, not once per waiting request"


async def test_the_endpoint_pauses_as_one_while_rate_limited() -> None:
    """While the window is used up, requests wait for the reset instead of each trying on its own."""
    with FakeServer(window_limit=10, window_s=1.0, limit_header="retry-after-ms") as server:
        endpoint = Endpoint(name="gw", base_urls=(server.base_url,), max_concurrency=16)
        async with Engine(endpoint, "fake-model", backoff=FAST) as engine:
            results = [r async for r in engine.run(requests(40))]
        assert all(r.ok for r in results)
        # 4 windows; without the pause, each 429'd request retries on its own ~10 ms backoff, dozens a window
        assert server.rate_limited <= 3 * 16, server.rate_limited


async def test_rate_limiting_ends_only_when_its_time_budget_is_spent() -> None:
    with FakeServer(retry_after="0", fault_for=lambda pid, attempt: "429") as server:
        endpoint = Endpoint(name="gw", base_urls=(server.base_url,), max_concurrency=2, max_retries=0, rate_limit_wait_s=0.6)
        started = time.monotonic()
        async with Engine(endpoint, "fake-model", backoff=FAST) as engine:
            results = [r async for r in engine.run(requests(2))]
        elapsed = time.monotonic() - started
    assert all(not r.ok and r.retryable for r in results)
    assert all(r.attempts > 3 for r in results), "max_retries 0 does not stop 429 retries; the time budget does"
    assert all("of rate limiting" in r.error and "Rate limit reached" in r.error for r in results)
    assert 0.6 <= elapsed < 5.0


def test_retry_after_headers_of_every_style() -> None:
    assert parse_retry_after({"retry-after": "5"}) == 5.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "5"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    # LiteLLM: its own first 429s carry only the backend's header, prefixed; its cooldown answers a plain one
    assert parse_retry_after({"llm_provider-retry-after": "60"}) == 60.0
    assert parse_retry_after({"retry-after": "5", "llm_provider-retry-after": "60"}) == 5.0
    # OpenAI: wait for the quota that ran out, not the other
    openai = {"x-ratelimit-reset-requests": "1s", "x-ratelimit-remaining-requests": "0",
              "x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-remaining-tokens": "5000"}
    assert parse_retry_after(openai) == 1.0
    assert parse_retry_after({"x-ratelimit-reset-requests": "20ms", "x-ratelimit-reset-tokens": "1m30.5s"}) == 90.5
    assert parse_retry_after(openai, resets=False) is None, "quota refill times are only a wait on a 429"
    assert parse_retry_after({"retry-after": "soon"}) is None and parse_retry_after({}) is None
    assert [parse_duration(t) for t in ("6m0s", "20ms", "1h2m3s", "2", "1x", "")] == [360.0, 0.02, 3723.0, 2.0, None, None]


def test_one_burst_of_429s_halves_once_and_does_not_stop_the_climb_back() -> None:
    limit = AdaptiveLimit(16, cooldown_s=0.0)
    burst_sent = time.monotonic()
    assert limit.on_rate_limited(burst_sent) and limit.limit == 8
    for _ in range(7):  # the rest of the burst: sent before the decrease, so they answer the old load
        assert not limit.on_rate_limited(burst_sent)
    assert limit.limit == 8
    for _ in range(8):  # one window of successes: one step up
        limit.on_success()
    assert limit.limit == 9
    limit.on_rate_limited(burst_sent)  # a straggler of the old burst resets nothing
    for _ in range(9):
        limit.on_success()
    assert limit.limit == 10


def test_a_decrease_waits_for_its_back_off_window() -> None:
    limit = AdaptiveLimit(16, cooldown_s=0.2)
    assert limit.on_rate_limited(wait_s=0.4) and limit.limit == 8
    assert not limit.on_rate_limited(time.monotonic()), "within the server's 0.4 s Retry-After window"
    time.sleep(0.45)
    assert limit.on_rate_limited(time.monotonic()) and limit.limit == 4
