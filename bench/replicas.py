"""Replica scaling: throughput with 1, 2 and 4 replicas of a fixed-latency test server, in one run.

Each replica is a separate process (``tests/fake_server.py --delay``) so the servers and the client do not
share one GIL. Per-replica concurrency is fixed, so N replicas can at best give N times the throughput of
one. Target: throughput(N) >= 0.9 x N x throughput(1).

    python bench/replicas.py [--delay 0.05] [--concurrency 8] [--per-replica 400] [--repeats 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clue_client.config import Endpoint  # noqa: E402
from clue_client.engine.engine import Engine  # noqa: E402
from clue_client.engine.request import Request  # noqa: E402

TARGET = 0.9
RUN_TIMEOUT_S = 120.0


def start_server(stack: ExitStack, delay_s: float, *extra: str) -> str:
    """One fake server process (``extra``: more of its flags); stopped (terminate, then kill) when ``stack`` closes."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_server.py"), "--port", "0", "--delay", str(delay_s),
                             *extra], stdout=subprocess.PIPE, text=True)
    stack.callback(_stop, proc)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1"):
        raise SystemExit("fake server did not start")
    return url


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def requests(n: int, tag: str) -> Iterator[Request]:
    for i in range(n):
        yield Request.build("fake@bench", [{"role": "user", "content": f"{tag} {i}"}], {"max_tokens": 8})


def cpu_s() -> float:
    """CPU time of this (the client's) process: tells whether the client or the machine limits a run."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def throughput(urls: list[str], n: int, concurrency: int, tag: str,
                     timeout_s: float = RUN_TIMEOUT_S) -> tuple[float, dict[str, int], float]:
    """Requests/s for ``n`` requests over these replicas, answers per replica, client CPU ms per request."""
    endpoint = Endpoint(name="bench", base_urls=tuple(urls), max_concurrency=concurrency, timeout_s=30.0)
    async with Engine(endpoint, "fake-model") as engine:
        started, cpu_started = time.perf_counter(), cpu_s()
        done = 0

        async def consume() -> None:
            nonlocal done
            async for result in engine.run(requests(n, tag), total=n):
                done += result.ok

        await asyncio.wait_for(consume(), timeout_s)
        elapsed, cpu = time.perf_counter() - started, cpu_s() - cpu_started
        if done != n:
            raise SystemExit(f"only {done}/{n} requests answered")
        per_replica = {url: int(s["answered"]) for url, s in engine.pool.summary().items()}
    return n / elapsed, per_replica, 1000 * cpu / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.05, help="server latency per request in seconds")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight per replica")
    parser.add_argument("--per-replica", type=int, default=400, help="requests per replica in each measurement")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs per replica count")
    args = parser.parse_args()
    counts = (1, 2, 4)
    with ExitStack() as stack:
        urls = [start_server(stack, args.delay) for _ in range(max(counts))]
        asyncio.run(throughput(urls, 200, args.concurrency, "warm"))  # sockets, tokenizer caches
        best: dict[int, float] = {}
        shares: dict[int, dict[str, int]] = {}
        cpu_ms: dict[int, float] = {}
        for repeat in range(args.repeats):  # interleaved so machine noise hits every count alike
            for count in counts:
                n = args.per_replica * count
                rate, share, cpu = asyncio.run(throughput(urls[:count], n, args.concurrency, f"r{repeat}n{count}"))
                if rate > best.get(count, 0.0):
                    best[count], shares[count], cpu_ms[count] = rate, share, cpu
    ideal_one = args.concurrency / args.delay
    print(f"replicas of a {args.delay * 1000:.0f} ms test server, {args.concurrency} in flight per replica, "
          f"{args.per_replica} requests per replica (best of {args.repeats}):")
    print(f"  1 replica : {best[1]:7.0f} req/s  ({best[1] / ideal_one:.2f} of the {ideal_one:.0f} req/s latency bound; "
          f"client CPU {cpu_ms[1]:.2f} ms/request)")
    failed = []
    for count in counts[1:]:
        ratio = best[count] / (count * best[1])
        spread = "/".join(str(v) for v in shares[count].values())
        print(f"  {count} replicas: {best[count]:7.0f} req/s  ratio to {count} x one = {ratio:.2f} "
              f"(target >= {TARGET}; answers per replica {spread}; client CPU {cpu_ms[count]:.2f} ms/request)")
        if ratio < TARGET:
            failed.append(count)
    print("result:", "PASS" if not failed else f"below target for {failed} replicas")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(the servers share the machine with the client: a busy machine lowers the ratios)")


if __name__ == "__main__":
    main()
