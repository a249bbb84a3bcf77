"""Embedded server throughput: our engine vs a plain aiohttp loop, same llama.cpp server, same run.

Completion tokens per second at concurrency 1 and at the server's slot count. Target: the engine keeps
the server as busy as the plain loop (ratio >= 0.95). Rounds interleave the two clients so both share
the machine's noise; every request has a distinct prompt (no prompt-cache advantage) and ``ignore_eos``
(every answer is exactly ``--max-tokens`` long). Also prints the server's start-up time. The server and
this client share the CPU, so other load on the machine shows up as noise: read the median of rounds.

    python bench/local_throughput.py [--requests 8] [--max-tokens 32] [--rounds 4] [--slots N]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Iterator

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clue_client.config import Endpoint  # noqa: E402
from clue_client.engine.engine import Engine  # noqa: E402
from clue_client.engine.request import Request  # noqa: E402
from clue_client.serving.local import LocalServer, LocalServerSettings, local_server  # noqa: E402

_serial = itertools.count()
TOPICS = ("hypertension", "asthma", "sepsis", "anemia", "migraine", "gout", "pneumonia", "diabetes")


def messages(n: int) -> Iterator[list[dict[str, str]]]:
    """Distinct short clinical prompts, never repeated within a process."""
    for _ in range(n):
        i = next(_serial)
        topic = TOPICS[i % len(TOPICS)]
        yield [{"role": "user", "content": f"Case {i}: summarize the first-line treatment of {topic} for a patient."}]


def params(max_tokens: int) -> dict:
    return {"max_tokens": max_tokens, "temperature": 0.0, "ignore_eos": True}


async def aiohttp_loop(server: LocalServer, n: int, concurrency: int, max_tokens: int) -> float:
    """Completion tokens/s of a bare client: a worker per slot, one pooled session, nothing else."""
    queue = iter([{"model": server.model, "messages": m, **params(max_tokens)} for m in messages(n)])
    tokens = 0
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout) as session:

        async def worker() -> None:
            nonlocal tokens
            for body in queue:
                async with session.post(f"{server.base_url}/chat/completions", json=body) as response:
                    tokens += json.loads(await response.read())["usage"]["completion_tokens"]

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return tokens / (time.perf_counter() - started)


async def engine_run(server: LocalServer, n: int, concurrency: int, max_tokens: int) -> float:
    """Completion tokens/s of our engine (retries, routing, throttling machinery all in the path)."""
    endpoint = Endpoint(name="bench-local", base_urls=(server.base_url,), kind="llamacpp", embedded=True,
                        max_concurrency=concurrency, timeout_s=600.0)
    requests = [Request.build(endpoint.identity(server.model), m, params(max_tokens)) for m in messages(n)]
    tokens = 0
    async with Engine(endpoint, server.model) as engine:
        started = time.perf_counter()
        async for result in engine.run(requests, total=n):
            if not result.ok:
                raise SystemExit(f"engine request failed: {result.error}")
            tokens += result.completion_tokens or 0
        return tokens / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8, help="requests per client, concurrency and round")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--slots", type=int, help="server slots (default: chosen for this machine)")
    args = parser.parse_args()

    started = time.perf_counter()
    with local_server(LocalServerSettings(slots=args.slots)) as server:
        print(f"embedded server up in {time.perf_counter() - started:.1f} s: {server.model}, {server.slots} slots")
        asyncio.run(aiohttp_loop(server, server.slots, server.slots, args.max_tokens))  # warm-up
        one = time.perf_counter()
        asyncio.run(aiohttp_loop(server, 1, 1, args.max_tokens))
        print(f"one request of {args.max_tokens} tokens alone: {time.perf_counter() - one:.2f} s")
        for concurrency in sorted({1, server.slots}):
            rates: dict[str, list[float]] = {"aiohttp": [], "engine": []}
            for round_no in range(args.rounds):  # alternate who goes first, so drifting load hits both alike
                order = ("aiohttp", "engine") if round_no % 2 == 0 else ("engine", "aiohttp")
                for name in order:
                    client = aiohttp_loop if name == "aiohttp" else engine_run
                    rates[name].append(asyncio.run(client(server, args.requests, concurrency, args.max_tokens)))
            best = {name: max(values) for name, values in rates.items()}
            paired = statistics.median(e / a for e, a in zip(rates["engine"], rates["aiohttp"]))
            print(f"concurrency {concurrency}: aiohttp {best['aiohttp']:.1f} tok/s, engine {best['engine']:.1f} tok/s "
                  f"(best of {args.rounds}); engine / aiohttp = {best['engine'] / best['aiohttp']:.2f} best, "
                  f"{paired:.2f} median of rounds  (target >= 0.95)")

if __name__ == "__main__":
    main()
