"""The README's main job, measured: `clue run` with no arguments, as a new user runs it.

Prints, from one run: wall time, the embedded server's CPU seconds and their ratio to the wall time (on
an idle 2-core machine the server keeps both cores busy, ratio near 2; a lower ratio means other load
took the cores, and wall time then says little), the tokens the server counted (prompt + completion,
from the store's ``usage``), requests and how they finished, and the results table the user sees.

    python bench/quickstart.py [--out DIR] [-- extra clue run flags]
"""

from __future__ import annotations

import argparse
import collections
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
WORKER = "clue_client.serving.local_worker"


def _server_cpu(proc: psutil.Process, seen: dict[int, float]) -> None:
    """Record the latest CPU seconds of the embedded server child (it is gone once the run ends)."""
    try:
        for child in proc.children(recursive=True):
            if WORKER in " ".join(child.cmdline()):
                times = child.cpu_times()
                seen[child.pid] = times.user + times.system
    except psutil.Error:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="run folder (default: a fresh temporary one)")
    parser.add_argument("extra", nargs="*", help="flags passed on to clue run")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="clue-quickstart-")) / "run"
    command = [sys.executable, "-m", "clue_client", "run", "--out", str(out), *args.extra]
    log = out.parent / "quickstart-stderr.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    cpu: dict[int, float] = {}
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    with log.open("w") as stderr:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
        watched = psutil.Process(proc.pid)
        while proc.poll() is None:
            _server_cpu(watched, cpu)
            time.sleep(0.5)
        stdout = proc.stdout.read() if proc.stdout else ""
    wall = time.monotonic() - started
    with sqlite3.connect(out / "store.sqlite") as db:
        rows = db.execute("SELECT prompt_tokens, completion_tokens, finish_reason FROM responses").fetchall()
    prompt = sum(r[0] or 0 for r in rows)
    completion = sum(r[1] or 0 for r in rows)
    finishes = collections.Counter(r[2] for r in rows)
    server_cpu = sum(cpu.values())
    print(f"command: {' '.join(command[1:])} (exit {proc.returncode})")
    print(f"wall time: {wall:.0f} s; load average at start {load_before:.1f} on {psutil.cpu_count()} CPUs")
    print(f"embedded server CPU: {server_cpu:.0f} s, {server_cpu / wall:.2f} cores busy on average")
    print(f"requests: {len(rows)}; finish_reason: {dict(finishes)}")
    print(f"tokens (server's usage): {prompt:,} prompt + {completion:,} completion = {prompt + completion:,}")
    print(stdout, end="")
    print(f"stderr of the run: {log}")


if __name__ == "__main__":
    main()
