"""Several endpoints at once vs one after another: the wall time of an eval set, in one run.

Three test servers in their own processes (``tests/fake_server.py --delay``), each a different latency, get
the same MedNLI-shaped run (``--samples`` prompts, ``--concurrency`` in flight per endpoint). Measured: the
three as one set (``clue_client.evalset.run_members``: one event loop, what ``clue run --endpoint A
--endpoint B --endpoint C`` runs), then each alone, one after another (``runner.run_evaluation``). Engines of
one set never wait for each other, so the set should take about as long as the slowest endpoint alone:
target set / slowest alone <= 1.2, and so set / one-after-another about max / sum of the three latencies.
Peak RSS is this (the client's) process; the servers are other processes.

    python bench/eval_set.py [--samples 200] [--concurrency 8] [--delays 0.1,0.2,0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from replicas import start_server  # noqa: E402

from clue_client.config import Endpoint  # noqa: E402
from clue_client.evalset import Member, run_members  # noqa: E402
from clue_client.runner import RunOptions, run_evaluation  # noqa: E402
from clue_client.scoring import ScoringOptions  # noqa: E402
from clue_client.tasks import parse_tasks  # noqa: E402

TARGET = 1.2
LABELS = ("entailment", "contradiction", "neutral")


def mednli_data(folder: Path, samples: int) -> Path:
    """A MedNLI file of fictional records (3 more than ``samples``: CLUE takes three as few-shot examples)."""
    path = folder / "MedNLI" / "mli_test_v1.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps({"sentence1": f"Fictional patient {i} has finding {i}.",
                                        "sentence2": f"Statement {i}.", "gold_label": LABELS[i % 3],
                                        "pairID": f"p{i}"}) + "\n" for i in range(samples + 3)))
    return folder


def options(url: str, name: str, data: Path, out: Path, concurrency: int) -> RunOptions:
    endpoint = Endpoint(name=name, base_urls=(url,), hosted=False, max_concurrency=concurrency, timeout_s=60.0)
    return RunOptions(endpoint=endpoint, tasks=parse_tasks("mednli"), data_dir=data, out=out,
                      scoring=ScoringOptions(bertscore=False, umls=False, bootstrap=200))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="prompts per endpoint")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight per endpoint")
    parser.add_argument("--delays", default="0.1,0.2,0.3", help="seconds each server takes per request")
    args = parser.parse_args()
    delays = [float(d) for d in args.delays.split(",")]
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="clue-bench-set-") as tmp:
        work = Path(tmp)
        data = mednli_data(work / "data", args.samples)
        urls = [start_server(stack, delay) for delay in delays]
        names = [f"e{i}" for i in range(len(urls))]
        asyncio.run(run_evaluation(options(urls[0], "warm", data, work / "warm", args.concurrency)))  # imports, sockets

        members = [Member(n, options(u, n, data, work / "set" / n, args.concurrency)) for n, u in zip(names, urls)]
        started = time.perf_counter()
        outcomes = asyncio.run(run_members(members))
        at_once = time.perf_counter() - started
        rss_set = peak_rss_mb()
        failed = [o.name for o in outcomes if o.summary is None or o.summary.errors or o.summary.n_missing]
        if failed:
            raise SystemExit(f"endpoints did not finish cleanly: {failed}")

        alone = []
        for name, url in zip(names, urls):
            started = time.perf_counter()
            summary = asyncio.run(run_evaluation(options(url, name, data, work / "alone" / name, args.concurrency)))
            alone.append(time.perf_counter() - started)
            if summary.errors or summary.n_missing:
                raise SystemExit(f"{name} alone did not finish cleanly")

    one_after_another, slowest = sum(alone), max(alone)
    print(f"{len(urls)} endpoints (server latency {', '.join(f'{d:g} s' for d in delays)}), {args.samples} prompts each, "
          f"{args.concurrency} in flight per endpoint:")
    print(f"  alone, one after another: {' + '.join(f'{t:.2f}' for t in alone)} = {one_after_another:.2f} s")
    print(f"  at once (one event loop):  {at_once:.2f} s")
    print(f"  ratio at once / one after another = {at_once / one_after_another:.2f} "
          f"(ideal {max(delays) / sum(delays):.2f}: the slowest latency over the sum)")
    ratio = at_once / slowest
    print(f"  ratio at once / slowest alone     = {ratio:.2f} (target <= {TARGET})")
    print(f"  peak RSS of the client process: {rss_set:.0f} MB after the set, {peak_rss_mb():.0f} MB at the end")
    print("result:", "PASS" if ratio <= TARGET else "above target")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
