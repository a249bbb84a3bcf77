"""What a rate-limiting, silent or oversized server costs the client: four figures, each against a loopback
test server in a process of its own (tests/fake_server.py), the client in a fresh process too.

1. requests/s the client sends to a server that answers every request 429 with ``Retry-After: 0``;
2. the share of 429s against a server that allows one request a second (40 requests, concurrency 8);
3. seconds until a run against a server that accepts connections and never answers stops (capped);
4. the client's peak memory (RSS growth) receiving a 50 MB answer to a 20-token request.

``--code DIR`` runs the client from another checkout (``git archive <rev> | tar -x -C DIR``), so the figures
before and after a change come from one run of this script:

    python bench/hostile_servers.py [--code /tmp/before] [--silent-cap 150]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def server_stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/stats", timeout=10) as response:
        return json.load(response)


# ---- the client side, run in a child process (``--child NAME URL``) ---------------------------------------------
async def _client(url: str, n: int, concurrency: int, timeout_s: float, **endpoint: object) -> dict[str, object]:
    from clue_client.config import Endpoint
    from clue_client.engine.engine import Engine
    from clue_client.engine.request import Request

    requests = [Request.build("bench", [{"role": "user", "content": f"q {i}"}], {"max_tokens": 20}) for i in range(n)]
    started = time.monotonic()
    outcome = "finished"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        async with asyncio.timeout(timeout_s):
            async with Engine(Endpoint(name="bench", base_urls=(url,), max_concurrency=concurrency, **endpoint),
                              "fake-model") as engine:
                async for _ in engine.run(requests):
                    pass
    except TimeoutError:
        outcome = "still running at the cap"
    except Exception as exc:  # noqa: BLE001 - the one line a run stops with
        outcome = f"stopped: {type(exc).__name__}: {str(exc)[:120]}"
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    return {"seconds": time.monotonic() - started, "outcome": outcome, "rss_growth_mb": growth_mb}


def child(name: str, url: str, cap_s: float) -> None:
    if name == "retry-after-0":
        result = asyncio.run(_client(url, 50, 8, cap_s, rate_limit_wait_s=cap_s, max_retries=6))
    elif name == "one-per-second":
        result = asyncio.run(_client(url, 40, 8, cap_s))
    elif name == "silent":
        result = asyncio.run(_client(url, 20, 8, cap_s))
    else:
        result = asyncio.run(_client(url, 1, 1, cap_s, max_retries=0))
    print(json.dumps(result), flush=True)


def run_child(code: Path, name: str, url: str, cap_s: float) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, __file__, "--child", name, url, str(cap_s)], env=env,
                          capture_output=True, text=True, timeout=cap_s + 120)
    if done.returncode != 0:
        raise SystemExit(f"{name}: the client failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- the four figures ------------------------------------------------------------------------------------------
def measure(code: Path, silent_cap_s: float) -> dict[str, str]:
    sys.path.insert(0, str(ROOT))  # the parent only: a child imports the client from ``code``
    from bench.replicas import start_server

    figures = {}
    with ExitStack() as stack:
        url = start_server(stack, 0.0, "--always", "429", "--retry-after", "0")
        result = run_child(code, "retry-after-0", url, 5.0)
        figures["requests/s, every answer 429 with Retry-After: 0 (8 concurrent, 5 s budget)"] = \
            f"{server_stats(url)['requests'] / float(result['seconds']):,.0f}"
    with ExitStack() as stack:
        url = start_server(stack, 0.0, "--window-limit", "1", "--window-s", "1")
        result = run_child(code, "one-per-second", url, 120.0)
        stats = server_stats(url)
        figures["share of 429s, server allowing 1 request/s (40 requests, 8 concurrent)"] = \
            f"{stats['rate_limited'] / stats['requests']:.1%} of {stats['requests']} requests in {result['seconds']:.0f} s"
    with ExitStack() as stack:
        url = start_server(stack, 0.0, "--silent")
        result = run_child(code, "silent", url, silent_cap_s)
        figures["seconds until a run against a silent server stops"] = \
            f"> {silent_cap_s:.0f} (never declared down)" if "cap" in str(result["outcome"]) else \
            f"{float(result['seconds']):.0f} ({result['outcome']})"
    for kind, how in (("huge", "streamed"), ("huge-length", "with Content-Length")):
        with ExitStack() as stack:
            url = start_server(stack, 0.0, "--always", kind)
            result = run_child(code, kind, url, 60.0)
            figures[f"client RSS growth receiving a 50 MB answer ({how}) to a 20-token request"] = \
                f"{float(result['rss_growth_mb']):.0f} MB"
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, help="run the client from this checkout too (the figures before)")
    parser.add_argument("--silent-cap", type=float, default=150.0, help="seconds the silent-server run may take")
    parser.add_argument("--child", nargs=3, metavar=("NAME", "URL", "CAP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, url, cap = args.child
        child(name, url, float(cap))
        return
    runs = {"this checkout": ROOT} | ({f"{args.code}": args.code} if args.code else {})
    results = {label: measure(code, args.silent_cap) for label, code in runs.items()}
    for figure in next(iter(results.values())):
        print(figure)
        for label, figures in results.items():
            print(f"  {label:30} {figures[figure]}")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
