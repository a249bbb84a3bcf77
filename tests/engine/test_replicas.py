"""Replicas over real loopback HTTP: least-busy routing, failover when one dies, probing back.

"Lost" means a request whose Result is missing or not an answer. "Re-sent" means a request sent again after
its answer reached the client. The servers count the 200 answers they send per prompt, so the second is
checkable: every answer a surviving server sent is the one the client kept, and the only extra answers
anywhere are ones the killed server produced for requests in flight when it died (the client never
received those, so sending them elsewhere is failover, not a re-send).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

from clue_client.config import Endpoint
from clue_client.engine.engine import Backoff, Engine
from clue_client.engine.request import Request, Result

from conftest import SAMPLES, run_clue
from fake_server import FakeServer, default_responder, prompt_id

FAST = Backoff(initial_s=0.01, max_s=0.05, jitter_s=0.01)
PER_REPLICA = 4


def make_requests(n: int, tag: str = "q") -> list[Request]:
    return [Request.build("m@replicas", [{"role": "user", "content": f"{tag} {i}"}], {"max_tokens": 8}) for i in range(n)]


def endpoint_for(*urls: str) -> Endpoint:
    return Endpoint(name="replicas", base_urls=tuple(urls), max_concurrency=PER_REPLICA, max_retries=8, timeout_s=10.0)


def expected_text(request: Request) -> str:
    return default_responder({"messages": [dict(m) for m in request.messages]})


async def test_kill_one_replica_mid_run_and_keep_a_slow_one_less_busy() -> None:
    reqs = make_requests(240)
    with FakeServer(delay_s=0.02) as fast, FakeServer(delay_s=0.02) as doomed, FakeServer(delay_s=0.25) as slow:
        endpoint = endpoint_for(fast.base_url, doomed.base_url, slow.base_url)
        results: dict[str, Result] = {}
        killer: asyncio.Future[None] | None = None
        doomed_before_kill = 0
        async with Engine(endpoint, "fake-model", backoff=FAST) as engine:
            async for result in engine.run(reqs):
                results[result.key] = result
                if killer is None and len(results) >= 60:
                    doomed_before_kill = sum(doomed.answered.values())
                    killer = asyncio.ensure_future(asyncio.to_thread(doomed.stop))
            assert killer is not None
            await killer
            summary = engine.pool.summary()
            doomed_replica = engine.pool.replicas[1]

        # nothing lost: one answer per request, and it is this request's answer
        assert set(results) == {r.key for r in reqs}
        by_key = {r.key: r for r in reqs}
        for key, result in results.items():
            assert result.ok, result.error
            assert result.text == expected_text(by_key[key])

        # nothing re-sent: see the module docstring for the definition
        survivors = {fast.base_url: fast, slow.base_url: slow}
        extra = 0
        for key, result in results.items():
            pid = prompt_id([dict(m) for m in by_key[key].messages])
            for url, server in survivors.items():
                assert server.answered[pid] == (1 if result.replica == url else 0), (url, result.replica)
            if result.replica == doomed.base_url:
                assert doomed.answered[pid] == 1
            else:
                extra += doomed.answered[pid]  # answered by the dying server, never received
        assert extra <= PER_REPLICA, "only requests in flight on the killed server may have been answered twice"
        total_answers = sum(s.answered.total() for s in (fast, doomed, slow))
        assert total_answers == len(reqs) + extra

        # the killed replica did work before it died, then was marked down with its errors counted
        assert doomed_before_kill > 0
        assert summary[doomed.base_url]["errors"] >= 1
        assert not doomed_replica.healthy
        served = Counter(r.replica for r in results.values())
        assert served[doomed.base_url] == summary[doomed.base_url]["answered"]

        # the slow replica (12x the latency) got clearly less work than the fast one
        assert served[slow.base_url] > 0
        assert served[slow.base_url] * 2 < served[fast.base_url], served
        assert summary[slow.base_url]["mean_latency_s"] > summary[fast.base_url]["mean_latency_s"]


async def test_a_down_replica_is_probed_back_and_used_again() -> None:
    with FakeServer(delay_s=0.01) as steady:
        gone = FakeServer()
        gone.start()
        port = gone.port
        gone.stop()  # its port now refuses connections
        endpoint = endpoint_for(steady.base_url, f"http://127.0.0.1:{port}/v1")
        async with Engine(endpoint, "fake-model", backoff=FAST) as engine:
            first = [r async for r in engine.run(make_requests(40, "first"))]
            replica = engine.pool.replicas[1]
            assert not replica.healthy, "three refused connections mark the replica down"
            assert all(r.ok and r.replica == steady.base_url for r in first)
            with FakeServer(port=port) as back:
                deadline = time.monotonic() + 15
                while not replica.healthy and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                assert replica.healthy, "the background probe must find the replica again"
                second = [r async for r in engine.run(make_requests(80, "second"))]
            assert all(r.ok for r in second)
            assert back.answered.total() > 0
            assert sum(1 for r in second if r.replica == back.base_url) == back.answered.total()


async def test_the_store_key_does_not_depend_on_the_replica_that_answered() -> None:
    a = Endpoint(name="x", base_urls=("http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"))
    b = Endpoint(name="x", base_urls=("http://10.0.0.2:8000/v1", "http://10.0.0.1:8000/v1"))
    messages = [{"role": "user", "content": "same question"}]
    key_a = Request.build(a.identity("m"), messages, {"max_tokens": 4}).key
    assert key_a == Request.build(b.identity("m"), messages, {"max_tokens": 4}).key
    single = Endpoint(name="x", base_urls=("http://10.0.0.1:8000/v1",))
    assert key_a != Request.build(single.identity("m"), messages, {"max_tokens": 4}).key


async def test_a_failed_attempt_is_retried_on_another_replica() -> None:
    reqs = make_requests(60, "retry")
    with FakeServer(delay_s=0.02) as good, FakeServer(fault_for=lambda pid, attempt: "500") as broken:
        endpoint = Endpoint(name="replicas", base_urls=(broken.base_url, good.base_url), max_concurrency=PER_REPLICA,
                            max_retries=1, timeout_s=10.0)
        async with Engine(endpoint, "fake-model", backoff=FAST) as engine:
            results = [r async for r in engine.run(reqs)]
        assert broken.requests.total() > 0, "the broken replica answers fast, so it is picked for first attempts"
        assert all(r.ok and r.replica == good.base_url for r in results), [r.error for r in results if not r.ok][:3]
        assert max(broken.requests.values()) == 1, "no request went to the broken replica twice"
        summary = engine.pool.summary()[broken.base_url]
        assert summary["answered"] == 0 and summary["errors"] >= 3
        assert broken.requests.total() < 20, "a replica failing with 5xx is taken out after a few failures, like a dead one"


def test_clue_run_over_two_replicas_records_each_in_the_manifest(tmp_path: Path) -> None:
    with FakeServer(delay_s=0.05) as a, FakeServer(delay_s=0.05) as b:
        config = tmp_path / "endpoints.toml"
        config.write_text(f'[endpoints.pair]\nbase_urls = ["{a.base_url}", "{b.base_url}"]\nmax_concurrency = 2\n')
        run = tmp_path / "run"
        proc = run_clue("run", "--config", str(config), "--endpoint", "pair", "--tasks", "mednli",
                        "--data-dir", str(SAMPLES), "--out", str(run), "--no-bertscore", "--no-umls", "--bootstrap", "50")
        assert proc.returncode == 0, proc.stderr
        served = {a.base_url: a.answered.total(), b.base_url: b.answered.total()}
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["base_urls"] == [a.base_url, b.base_url]
    replicas = manifest["replicas"]
    assert set(replicas) == set(served)
    for url, count in served.items():
        assert replicas[url]["answered"] == replicas[url]["requests"] == count > 0
        assert replicas[url]["errors"] == 0 and replicas[url]["mean_latency_s"] >= 0.05
