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
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.replicas import start_server, throughput  # noqa: E402

TARGET = 8.0
FAULTS = "429,500,503,drop,truncated,slow"


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
        asyncio.run(throughput([clean], 200, args.concurrency, "warm"))  # imports, sockets
        clean_rate = asyncio.run(throughput([clean], args.requests, args.concurrency, "clean"))[0]
        faulty_rate = asyncio.run(throughput([faulty], args.requests, args.concurrency, "faulty", timeout_s=900.0))[0]
    clean_s, faulty_s = args.requests / clean_rate, args.requests / faulty_rate
    ratio = faulty_s / clean_s
    print(f"{args.requests} requests, concurrency {args.concurrency}, {args.delay * 1000:.0f} ms server, "
          f"{args.fault_rate:.0%} of first attempts faulty ({FAULTS}; 429 Retry-After 1 s; 2 s stalls):")
    print(f"  fault-free: {clean_s:7.2f} s  (every request answered)")
    print(f"  faulty    : {faulty_s:7.2f} s  (every request answered)")
    print(f"  ratio     : {ratio:.1f}x (target <= {TARGET:g}x) -> {'PASS' if ratio <= TARGET else 'FAIL'}")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
