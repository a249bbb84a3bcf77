"""The engine over real HTTP against the fault-injecting loopback server."""

from __future__ import annotations

import asyncio
import time

import pytest

from clue_client.config import Endpoint
from clue_client.engine.engine import Backoff, Engine, RunAborted
from clue_client.engine.ratelimit import AdaptiveLimit, TokenBudget
from clue_client.engine.request import Request, Result

from fake_server import FakeServer, random_first_attempt_faults

FAST = Backoff(initial_s=0.01, max_s=0.05, jitter_s=0.01)


def requests(n: int, max_tokens: int = 8) -> list[Request]:
    return [Request.build("m@test", [{"role": "user", "content": f"question {i}"}], {"max_tokens": max_tokens}) for i in range(n)]


async def run_all(url: str, reqs: list[Request], **endpoint_kw: object) -> tuple[dict[str, Result], Engine]:
    endpoint = Endpoint(name="test", base_urls=(url,), **{"max_concurrency": 16, **endpoint_kw})  # type: ignore[arg-type]
    async with Engine(endpoint, "fake-model", backoff=FAST) as engine:
        results = {r.key: r async for r in engine.run(reqs)}
    return results, engine


async def test_thirty_percent_faults_change_nothing() -> None:
    reqs = requests(200)
    with FakeServer() as clean:
        baseline, _ = await run_all(clean.base_url, reqs)
    kinds = ("429", "500", "503", "drop", "truncated")
    with FakeServer(fault_for=random_first_attempt_faults(0.3, kinds, seed=7)) as faulty:
        results, engine = await run_all(faulty.base_url, reqs)
        faulted = sum(faulty.requests.values()) - len(reqs)
    assert 40 <= faulted <= 80, "about 30% of first attempts must have failed"
    assert all(r.ok for r in results.values())
    assert {k: r.text for k, r in results.items()} == {k: r.text for k, r in baseline.items()}
    assert engine.stats.retries == faulted
    assert max(r.attempts for r in results.values()) == 2


async def test_retry_after_is_honoured() -> None:
    reqs = requests(1)
    with FakeServer(retry_after="1", fault_for=lambda pid, attempt: "429" if attempt == 1 else None) as server:
        started = time.monotonic()
        results, _ = await run_all(server.base_url, reqs)
        elapsed = time.monotonic() - started
    assert next(iter(results.values())).attempts == 2
    assert elapsed >= 0.95, "the client must wait the server's Retry-After (1 s), not its own 10 ms backoff"


@pytest.mark.parametrize("fault", ["400ctx", "422ctx", "llama400ctx"])
async def test_context_overflow_is_recorded_and_the_run_goes_on(fault: str) -> None:
    reqs = requests(10)
    bad = reqs[3]
    with FakeServer(fault_for=lambda pid, attempt: None) as server:
        target = {}

        def plan(pid: str, attempt: int) -> str | None:
            target.setdefault("pid", pid)  # the first prompt the server sees fails
            return fault if pid == target["pid"] else None

        server.fault_for = plan
        results, engine = await run_all(server.base_url, [bad, *reqs[:3], *reqs[4:]], max_concurrency=1)
        assert server.requests[target["pid"]] == 1, "a request the server rejected as too long is never retried"
    failed = [r for r in results.values() if not r.ok]
    assert len(failed) == 1 and failed[0].key == bad.key and not failed[0].retryable
    assert "context" in failed[0].error.lower() or "tokens" in failed[0].error.lower()
    assert engine.stats.errors == 1 and sum(r.ok for r in results.values()) == 9


async def test_real_overflow_from_server_context_limit() -> None:
    long = Request.build("m", [{"role": "user", "content": "word " * 200}], {"max_tokens": 8})
    with FakeServer(context_length=100) as server:
        results, _ = await run_all(server.base_url, [long, *requests(2)])
    assert "maximum context length is 100" in results[long.key].error
    assert sum(r.ok for r in results.values()) == 2


async def test_exhausted_retries_are_stored_as_retryable_errors() -> None:
    with FakeServer(fault_for=lambda pid, attempt: "503") as server:
        results, _ = await run_all(server.base_url, requests(2), max_retries=2)
        assert sorted(server.requests.values()) == [3, 3]
    assert all(r.retryable and r.attempts == 3 and "gave up after 3 attempts" in r.error for r in results.values())


async def test_bad_key_aborts_with_a_clear_error() -> None:
    with FakeServer(api_key="right") as server:
        endpoint = Endpoint(name="t", base_urls=(server.base_url,), api_key_env="CLUE_ENGINE_TEST_KEY")
        import os

        os.environ["CLUE_ENGINE_TEST_KEY"] = "wrong"
        try:
            with pytest.raises(RunAborted, match="API key"):
                async with Engine(endpoint, "fake-model", backoff=FAST) as engine:
                    _ = [r async for r in engine.run(requests(20))]
        finally:
            del os.environ["CLUE_ENGINE_TEST_KEY"]
        assert sum(server.requests.values()) < 20, "after a 401 the engine stops sending"


async def test_concurrency_limit_and_backoff_on_429() -> None:
    storm = {"on": True}
    with FakeServer(delay_s=0.02, fault_for=lambda pid, attempt: "429" if storm["on"] else None) as server:
        endpoint = Endpoint(name="t", base_urls=(server.base_url,), max_concurrency=8)
        async with Engine(endpoint, "fake-model", backoff=FAST) as engine:
            limit = engine.pool.replicas[0].limit
            seen: list[int] = []

            async def watch() -> None:
                while True:
                    seen.append(limit.limit)
                    if limit.limit < 8:
                        storm["on"] = False
                    await asyncio.sleep(0.005)

            watcher = asyncio.create_task(watch())
            results = [r async for r in engine.run(requests(300))]
            watcher.cancel()
        assert all(r.ok for r in results)
        assert server.max_in_flight <= 8
        assert min(seen) < 8, "429s must lower the concurrency"
        assert limit.limit > min(seen), "calm successes must raise it again"


def test_adaptive_limit_halves_and_recovers() -> None:
    limit = AdaptiveLimit(16, calm_after=3, cooldown_s=0)
    limit.on_rate_limited()
    assert limit.limit == 8
    limit.on_rate_limited()
    assert limit.limit == 4
    for _ in range(3):
        limit.on_success()
    assert limit.limit == 5


async def test_token_budget_waits_for_refill_and_settles_debt() -> None:
    budget = TokenBudget(per_minute=600)  # 10 tokens per second
    started = time.monotonic()
    await budget.spend(590)
    budget.settle(estimated=590, actual=600)  # the answer used 10 more than estimated: bucket empty
    await budget.spend(5)
    assert time.monotonic() - started >= 0.45, "5 tokens at 10/s after an empty bucket take ~0.5 s"


async def test_requests_per_minute_cap() -> None:
    with FakeServer() as server:
        started = time.monotonic()
        results, _ = await run_all(server.base_url, requests(6), requests_per_minute=120)  # 2 per second
        elapsed = time.monotonic() - started
    assert len(results) == 6 and all(r.ok for r in results.values())
    assert elapsed >= 1.9, "6 requests at 120/min need at least two more one-second windows after the first two"


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_max_cost_stops_before_passing_the_budget(concurrency: int) -> None:
    with FakeServer() as server:
        endpoint = Endpoint(name="t", base_urls=(server.base_url,), max_concurrency=concurrency,
                            price_per_million_input=1e6, price_per_million_output=1e6)  # one unit per token
        async with Engine(endpoint, "fake-model", backoff=FAST, max_cost=100.0) as engine:
            results = [r async for r in engine.run(requests(20))]
        sent = sum(server.requests.values())
    assert all(r.ok for r in results) and 0 < len(results) == sent < 20
    spent = sum((r.prompt_tokens or 0) + (r.completion_tokens or 0) for r in results)
    assert engine.stats.cost == pytest.approx(spent) and spent <= 100.0
    assert "--max-cost 100" in (engine.stats.stopped_reason or "")


def test_request_key_material_is_stable_and_extensible() -> None:
    """The key of a plain chat request is what earlier versions wrote (old run folders resume); a raw prompt,
    another protocol or extra material (a repeat index, the wire API) each give a new key."""
    from clue_client.engine.request import request_key

    messages = [{"role": "user", "content": "q"}]
    plain = request_key("m@x", messages, {"max_tokens": 8})
    assert plain == "5f1607d0b71d90a4a5d2044709d52694"  # the key clue-client 0.1.0 (before wire formats) gave
    assert request_key("m@x", messages, {"max_tokens": 8}, extra={}) == plain
    variants = {
        request_key("m@x", messages, {"max_tokens": 8}, prompt="raw"),
        request_key("m@x", messages, {"max_tokens": 8}, protocol="clue-ff75877/1"),
        request_key("m@x", messages, {"max_tokens": 8}, extra={"repeat": 1}),
        request_key("m@x", messages, {"max_tokens": 8}, extra={"api": "responses"}),
    }
    assert plain not in variants and len(variants) == 4
    with pytest.raises(ValueError):
        request_key("m@x", messages, {"max_tokens": 8}, extra={"params": {}})
