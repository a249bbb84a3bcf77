"""Client overhead: our engine vs a plain aiohttp loop and a plain httpx loop, same server, same run.

Target: engine >= 0.7x the aiohttp loop at concurrency 64. Also peak RSS of the engine writing 100,000
answers to the store (target < 300 MB: the store streams, nothing holds all responses).

    python bench/client_overhead.py [--requests 5000] [--concurrency 64] [--rss-requests 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clue_client.config import Endpoint  # noqa: E402
from clue_client.engine.engine import Engine  # noqa: E402
from clue_client.engine.request import Request  # noqa: E402
from clue_client.store import Store  # noqa: E402


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_server.py"), "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1"):
        proc.kill()
        raise SystemExit("fake server did not start")
    return proc, url


def bodies(n: int) -> list[dict]:
    return [{"model": "fake-model", "messages": [{"role": "user", "content": f"q {i}"}], "max_tokens": 8} for i in range(n)]


def requests(n: int, offset: int = 0) -> Iterator[Request]:
    for i in range(offset, offset + n):
        yield Request.build("fake@bench", [{"role": "user", "content": f"q {i}"}], {"max_tokens": 8})


async def aiohttp_loop(url: str, n: int, concurrency: int) -> float:
    queue = iter(bodies(n))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for body in queue:
                async with session.post(f"{url}/chat/completions", json=body) as response:
                    json.loads(await response.read())["choices"][0]["message"]["content"]

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - started)


async def httpx_loop(url: str, n: int, concurrency: int) -> float:
    queue = iter(bodies(n))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits) as client:

        async def worker() -> None:
            for body in queue:
                response = await client.post(f"{url}/chat/completions", json=body)
                response.json()["choices"][0]["message"]["content"]

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - started)


async def engine_run(url: str, n: int, concurrency: int, offset: int = 0, store: Store | None = None) -> float:
    """Requests are built before the clock starts (building them is the tasks' job, not the engine's);
    with a store, each answer is written as it arrives, as ``clue run`` does."""
    endpoint = Endpoint(name="bench", base_urls=(url,), max_concurrency=concurrency)
    prebuilt = None if store is not None else list(requests(n, offset))
    async with Engine(endpoint, "fake-model") as engine:
        started = time.perf_counter()
        done = 0
        pending = {}

        def tracked() -> Iterator[Request]:  # streams: 100,000 requests are never all in memory
            for request in requests(n, offset):
                pending[request.key] = request
                yield request

        async for result in engine.run(prebuilt if prebuilt is not None else tracked(), total=n):
            if store is not None:
                store.put(pending.pop(result.key), result, model="fake-model")
            done += result.ok
        assert done == n, f"only {done}/{n} answered"
        return n / (time.perf_counter() - started)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rss-requests", type=int, default=100_000)
    args = parser.parse_args()
    proc, url = start_server()
    try:
        n, c = args.requests, args.concurrency
        asyncio.run(engine_run(url, 500, c, offset=10**7))  # warm the server's tokenizer and sockets
        rates = {"aiohttp": [], "httpx": [], "engine": []}
        for _ in range(2):  # interleave to share the machine's noise
            rates["aiohttp"].append(asyncio.run(aiohttp_loop(url, n, c)))
            rates["httpx"].append(asyncio.run(httpx_loop(url, n, c)))
            rates["engine"].append(asyncio.run(engine_run(url, n, c)))
        best = {name: max(values) for name, values in rates.items()}
        print(f"{n} requests at concurrency {c} against a zero-latency loopback server (best of 2):")
        for name, rate in best.items():
            print(f"  {name:8} {rate:8.0f} req/s")
        print(f"  engine / aiohttp = {best['engine'] / best['aiohttp']:.2f}  (target >= 0.70)")
        print(f"  engine / httpx   = {best['engine'] / best['httpx']:.2f}")
        before = peak_rss_mb()
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "store.sqlite") as store:
            rate = asyncio.run(engine_run(url, args.rss_requests, c, offset=10**8, store=store))
            rows = store.count()
        print(f"{args.rss_requests} requests through engine + store: {rate:.0f} req/s, {rows} rows stored, "
              f"peak RSS {peak_rss_mb():.0f} MB (before: {before:.0f} MB; target < 300 MB)")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
