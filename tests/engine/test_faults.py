"""The engine when servers fail: over real loopback HTTP, on the Python CI runs (3.11).

A run whose server dies or 500s everything ends by itself; scattered faults cost little throughput (a
waiting request gives its slot away, the only replica is not taken out while it answers); a keep-alive
connection the server closed is re-sent for free; ``--timeout`` and the scaled default bound a stall.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clue_client.config import Endpoint
from clue_client.engine.engine import Backoff, Engine
from clue_client.engine.request import Request

from conftest import REPO, SAMPLES, run_clue
from fake_server import FakeServer, prompt_id, random_first_attempt_faults

FAST = Backoff(initial_s=0.01, max_s=0.05, jitter_s=0.01)
MANY_TASKS = "mednli,meqsum,problem_summary,medisumqa,medisumcode"
RUN_FLAGS = ("--tasks", "mednli", "--data-dir", str(SAMPLES), "--no-bertscore", "--no-umls", "--bootstrap", "20")


def requests(n: int, tag: str = "q") -> list[Request]:
    return [Request.build("m@faults", [{"role": "user", "content": f"{tag} {i}"}], {"max_tokens": 8}) for i in range(n)]


def stored_answers(store: Path) -> int:
    if not store.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT count(*) FROM responses WHERE text IS NOT NULL").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_run_whose_only_server_is_killed_ends_by_itself_with_one_line(tmp_path: Path) -> None:
    server = subprocess.Popen([sys.executable, str(REPO / "tests" / "fake_server.py"), "--port", "0", "--delay", "1"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        out = tmp_path / "run"
        env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
        # several workers waiting on the dead replica when the run ends: what hung on 3.11
        run = subprocess.Popen([sys.executable, "-m", "clue_client", "run", "--endpoint", url, "--out", str(out),
                                "--concurrency", "8", *RUN_FLAGS, "--tasks", MANY_TASKS], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while stored_answers(out / "store.sqlite") < 8 and run.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert run.poll() is None, "the run finished before the server could be killed"
            server.send_signal(signal.SIGKILL)
            died = time.monotonic()
            try:
                _, stderr = run.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                pytest.fail("the run still runs 120 s after its only server died")
            to_exit = time.monotonic() - died
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(10)
    print(f"\nserver death to run exit: {to_exit:.1f} s on Python {sys.version.split()[0]}")
    assert run.returncode == 2, stderr
    assert "Traceback" not in stderr
    error_lines = [line for line in stderr.splitlines() if line.startswith("clue: error:")]
    assert len(error_lines) == 1 and "no replica of the endpoint answers" in error_lines[0], stderr[-2000:]
    assert "rerun the same command to resume" in error_lines[0]
    assert stored_answers(out / "store.sqlite") >= 8, "answers received before the death are kept"
    assert to_exit < 60, "the run ends about 30 s after its only server stopped answering"


def test_a_run_where_every_request_gets_a_500_ends_by_itself(tmp_path: Path) -> None:
    with FakeServer(fault_for=lambda pid, attempt: "500") as server:
        config = tmp_path / "endpoints.toml"
        config.write_text(f'[endpoints.broken]\nbase_url = "{server.base_url}"\nmax_retries = 2\nmax_concurrency = 4\n')
        proc = run_clue("run", "--config", str(config), "--endpoint", "broken", "--out", str(tmp_path / "run"),
                        *RUN_FLAGS, timeout=180)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "sample(s) ended in errors" in proc.stderr
    assert "gave up after 3 attempts: HTTP 500" in proc.stderr


async def test_a_request_waiting_out_its_backoff_gives_its_slot_to_another() -> None:
    reqs = requests(120)
    waiting = {prompt_id([dict(m) for m in r.messages]) for r in reqs[:2]}  # sent first, told to wait 3 s
    with FakeServer(delay_s=0.02, retry_after="3",
                    fault_for=lambda pid, attempt: "429" if pid in waiting and attempt == 1 else None) as server:
        endpoint = Endpoint(name="t", base_urls=(server.base_url,), max_concurrency=4)
        busiest = 0

        async def watch() -> None:
            nonlocal busiest
            told: float | None = None
            while True:
                if sum(server.requests[p] for p in waiting) == 2:  # both told to wait, neither back yet
                    told = told or time.monotonic()
                    if time.monotonic() - told > 0.1:  # their 429s (20 ms) have been answered
                        busiest = max(busiest, server.in_flight)
                await asyncio.sleep(0.002)

        async with Engine(endpoint, "fake-model", backoff=FAST) as engine:
            watcher = asyncio.create_task(watch())
            order = [r.key async for r in engine.run(reqs)]
            watcher.cancel()
    waiting_keys = {r.key for r in reqs[:2]}
    assert set(order[-2:]) == waiting_keys, "the two told to wait 3 s come back last"
    assert busiest == 4, f"while two requests wait, all four slots stay busy (saw {busiest})"


async def test_scattered_faults_never_take_the_only_replica_out() -> None:
    plan = random_first_attempt_faults(0.4, ("500", "503", "drop"), seed=3)
    with FakeServer(delay_s=0.005, fault_for=plan) as server:
        endpoint = Endpoint(name="t", base_urls=(server.base_url,), max_concurrency=16)
        async with Engine(endpoint, "fake-model", backoff=FAST) as engine:
            replica = engine.pool.replicas[0]
            downs = 0

            async def watch() -> None:
                nonlocal downs
                was_healthy = True
                while True:
                    downs += was_healthy and not replica.healthy
                    was_healthy = replica.healthy
                    await asyncio.sleep(0.001)

            watcher = asyncio.create_task(watch())
            results = [r async for r in engine.run(requests(400))]
            watcher.cancel()
        assert sum(server.requests.values()) - 400 > 120, "about 40% of first attempts failed"
    assert all(r.ok for r in results)
    assert downs == 0 and replica.healthy, "answers kept arriving: the replica must stay in"


async def test_a_stale_keep_alive_connection_is_resent_without_counting_an_attempt() -> None:
    with FakeServer(idle_close_s=0.3) as server:
        endpoint = Endpoint(name="t", base_urls=(server.base_url,), max_concurrency=2, max_retries=0)
        async with Engine(endpoint, "fake-model", backoff=FAST) as engine:
            first = [r async for r in engine.run(requests(4, "before"))]
            await asyncio.sleep(0.5)  # the pooled connections sit idle past the server's limit
            second = [r async for r in engine.run(requests(4, "after"))]
        assert server.stale_closes >= 1, "a request must have reused a connection the server had closed"
    assert all(r.ok for r in first + second), [r.error for r in second if not r.ok]
    assert all(r.attempts == 1 for r in second), "max_retries is 0: a counted attempt would have been an error"


def test_timeout_flag_bounds_a_stalled_server(tmp_path: Path) -> None:
    with FakeServer(slow_s=5.0, fault_for=lambda pid, attempt: "slow" if attempt == 1 else None) as server:
        started = time.monotonic()
        proc = run_clue("run", "--endpoint", server.base_url, "--out", str(tmp_path / "run"), "--timeout", "0.5",
                        *RUN_FLAGS)
        elapsed = time.monotonic() - started
        sent = sorted(server.requests.values())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sent == [2] * 5, "each stalled first attempt timed out after 0.5 s and was sent once more"
    assert elapsed < 60


def test_timeout_flag_is_validated() -> None:
    proc = run_clue("run", "--endpoint", "http://127.0.0.1:9/v1", "--timeout", "0", *RUN_FLAGS)
    assert proc.returncode == 2 and "argument --timeout: 0 is out of range: must be above 0" in proc.stderr and "Traceback" not in proc.stderr


def test_the_default_timeout_scales_with_the_request() -> None:
    endpoint = Endpoint(name="t", base_urls=("http://127.0.0.1:1/v1",))
    assert endpoint.request_timeout_s(20) == 65.0
    assert endpoint.request_timeout_s(512) == 188.0
    assert endpoint.request_timeout_s(50, prompt_tokens=8000) == 152.5, "a long prompt takes reading too"
    assert endpoint.with_overrides(timeout_s=30.0).request_timeout_s(512) == 30.0, "timeout_s overrides"
