"""A per-minute limit set on a real gateway only: wall time of `clue run` against the limit's minimum.

A LiteLLM proxy (``.venv-litellm``, see tests/run.sh) on 127.0.0.1 routes one model name to two loopback
test servers, each with ``rpm`` enforced by the gateway (``enforce_model_rate_limits``). `clue run` gets the
gateway's URL and nothing about its limit, as a user behind a gateway often does. Figures: wall time, its
ratio to the minimum (requests / limit), errors (target 0), requests the gateway refused with 429.

    python bench/gateway_rate_limit.py [--requests 300] [--rpm-per-backend 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fake_server import FakeServer  # noqa: E402
from gateway import LITELLM, MASTER_KEY, Gateway, deployment  # noqa: E402
from test_run_cli import mednli_dir  # noqa: E402

FEW_SHOT = 3  # MedNLI records that become the prompt's examples, not requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rpm-per-backend", type=int, default=60, help="the gateway's limit for each of 2 backends")
    args = parser.parse_args()
    if not LITELLM.is_file():
        raise SystemExit(f"{LITELLM} is missing: tests/run.sh installs litellm[proxy] there")
    limit = 2 * args.rpm_per_backend
    with tempfile.TemporaryDirectory() as tmp, FakeServer() as a, FakeServer() as b:
        folder = Path(tmp)
        data = mednli_dir(folder, args.requests + FEW_SHOT)
        deployments = [deployment("gw", a.base_url, args.rpm_per_backend), deployment("gw", b.base_url, args.rpm_per_backend)]
        with Gateway(deployments, folder / "litellm") as gw:
            config = folder / "endpoints.toml"
            config.write_text(f'[endpoints.gw]\nbase_url = "{gw.base_url}"\nmodel = "gw"\napi_key_env = "CLUE_GW_KEY"\n')
            command = [sys.executable, "-m", "clue_client", "run", "--endpoint", "gw", "--config", str(config),
                       "--tasks", "mednli", "--data-dir", str(data), "--out", str(folder / "run"),
                       "--no-bertscore", "--no-umls"]
            started = time.perf_counter()
            proc = subprocess.run(command, cwd=ROOT, env={**os.environ, "CLUE_GW_KEY": MASTER_KEY, "NO_COLOR": "1"},
                                  capture_output=True, text=True, timeout=3600)
            wall = time.perf_counter() - started
            refused = gw.chat_requests(429)
        results = json.loads((folder / "run" / "results.json").read_text())["tasks"]["mednli"]
    minimum = 60.0 * args.requests / limit
    print(f"{args.requests} requests through a LiteLLM {limit}/min gateway ({args.rpm_per_backend}/min on each of 2 "
          f"backends), no client-side limit:")
    print(f"  wall time {wall:.1f} s = {wall / minimum:.2f} x the {minimum:.0f} s minimum; exit {proc.returncode}")
    print(f"  errors {results['n_errors']}, not sent {results.get('n_missing', 0)}; answers per backend "
          f"{sum(a.answered.values())}/{sum(b.answered.values())}; the gateway refused {refused} request(s) with 429")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the gateway, its backends and the client "
          "share the machine)")
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)


if __name__ == "__main__":
    main()
