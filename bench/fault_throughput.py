"""Throughput under faults: the same requests against a clean and a faulty test server, in one run.

The faulty server fails the first attempt of a seeded 30% of prompts with one of: 429 (Retry-After 1),
500, 503, a dropped connection, a truncated (unparseable) body, a 2 s stall. Both servers answer in
20 ms and run in their own processes. Target (tracker #15 item 4): faulty time <= 8 x fault-free time.

    python bench/fault_throughput.py [--requests 1000] [--concurrency 16] [--delay 0.02] [--fault-rate 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.replicas import requests, start_server  # noqa: E402
from clue_client.config import Endpoint  # noqa: E402
from clue_client.engine.engine import Engine  # noqa: E402

TARGET = 8.0
RUN_TIMEOUT_S = 900.0
FAULTS = "429,500,503,drop,truncated,slow"


async def timed_run(url: str, n: int, concurrency: int, tag: str) -> tuple[float, int, int]:
    """Seconds for ``n`` requests, how many were answered, and how many retries the engine sent."""
    endpoint = Endpoint(name="bench", base_urls=(url,), max_concurrency=concurrency, timeout_s=30.0)
    async with Engine(endpoint, "fake-model") as engine:
        started = time.perf_counter()
        answered = 0

        async def consume() -> None:
            nonlocal answered
            async for result in engine.run(requests(n, tag), total=n):
                answered += result.ok

        await asyncio.wait_for(consume(), RUN_TIMEOUT_S)
        return time.perf_counter() - started, answered, engine.stats.retries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delay", type=float, default=0.02, help="server latency per request in seconds")
    parser.add_argument("--fault-rate", type=float, default=0.3, help="share of first attempts that fail")
    args = parser.parse_args()
    with ExitStack() as stack:
        clean = start_server(stack, args.delay)
        faulty = start_server(stack, args.delay, "--fault-rate", str(args.fault_rate), "--faults", FAULTS,
                              "--retry-after", "1", "--slow", "2")
        asyncio.run(timed_run(clean, 200, args.concurrency, "warm"))  # imports, sockets
        clean_s, clean_ok, _ = asyncio.run(timed_run(clean, args.requests, args.concurrency, "clean"))
        faulty_s, faulty_ok, retries = asyncio.run(timed_run(faulty, args.requests, args.concurrency, "faulty"))
    ratio = faulty_s / clean_s
    print(f"{args.requests} requests, concurrency {args.concurrency}, {args.delay * 1000:.0f} ms server, "
          f"{args.fault_rate:.0%} of first attempts faulty ({FAULTS}; 429 Retry-After 1 s; 2 s stalls):")
    print(f"  fault-free: {clean_s:7.2f} s  ({clean_ok}/{args.requests} answered)")
    print(f"  faulty    : {faulty_s:7.2f} s  ({faulty_ok}/{args.requests} answered, {retries} retries)")
    print(f"  ratio     : {ratio:.1f}x (target <= {TARGET:g}x) -> {'PASS' if ratio <= TARGET else 'FAIL'}")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
