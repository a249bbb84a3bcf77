"""Through a real gateway: a LiteLLM proxy on 127.0.0.1 routing one model name to two test servers.

One proxy serves three model groups, each on its own pair of test servers: ``gw-model`` (plain),
``gw-limited`` (a per-minute limit enforced by the gateway only) and ``gw-failover`` (one backend is
killed mid-run). Each ``clue run`` is a subprocess, as a user runs it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import polars as pl
import pytest

from conftest import REPO, run_clue
from fake_server import FakeServer
from gateway import LITELLM, MASTER_KEY, Gateway, deployment
from test_run_cli import mednli_dir, one_line_error

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),  # the proxy alone may take minutes to import on a busy machine
    pytest.mark.skipif(
        not LITELLM.is_file() and not os.environ.get("CI"),
        reason=f"{LITELLM} is missing: tests/run.sh installs litellm[proxy] into .venv-litellm (CI always has it)",
    ),
]

KEY_ENV = "CLUE_GATEWAY_KEY"
CONCURRENCY = 4
LIMIT_RPM = 20  # per backend: 40/min for the group, so 60 requests must wait for the gateway's next minute
KILL_AFTER = 12


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, FakeServer]]:
    servers = {"a": FakeServer(), "b": FakeServer(), "limited_a": FakeServer(), "limited_b": FakeServer(),
               "failover_a": FakeServer(delay_s=0.1), "failover_b": FakeServer(delay_s=0.1)}
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="module")
def gateway(backends: dict[str, FakeServer], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    url = {name: server.base_url for name, server in backends.items()}
    deployments = [
        deployment("gw-model", url["a"]), deployment("gw-model", url["b"]),
        deployment("gw-limited", url["limited_a"], rpm=LIMIT_RPM), deployment("gw-limited", url["limited_b"], rpm=LIMIT_RPM),
        deployment("gw-failover", url["failover_a"]), deployment("gw-failover", url["failover_b"]),
    ]
    with Gateway(deployments, tmp_path_factory.mktemp("litellm")) as gw:
        yield gw


def gateway_config(tmp_path: Path, gw: Gateway, model: str) -> Path:
    """endpoints.toml as a user behind the gateway writes it: one URL, the gateway's model name, no limits."""
    config = tmp_path / "endpoints.toml"
    config.write_text(f'[endpoints.gw]\nbase_url = "{gw.base_url}"\nmodel = "{model}"\napi_key_env = "{KEY_ENV}"\n'
                      f"max_concurrency = {CONCURRENCY}\n")
    return config


def clue_run(config: Path, data: Path, out: Path, *extra: str, key: str = MASTER_KEY) -> subprocess.CompletedProcess[str]:
    return run_clue("run", "--endpoint", "gw", "--config", str(config), "--tasks", "mednli", "--data-dir", str(data),
                    "--out", str(out), "--no-bertscore", "--no-umls", *extra, env={KEY_ENV: key}, timeout=600)


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one line a stopped run prints, beside the progress bar it had drawn (``requests ━━━ 4/20 ...``)."""
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("requests ")]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(lines) == 1, proc.stderr
    return lines[0]


def predictions(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "predictions" / "mednli.parquet").select("sample_id", "prediction", "error")


def answered(*servers: FakeServer) -> int:
    return sum(sum(s.answered.values()) for s in servers)


def test_predictions_through_the_gateway_match_a_direct_run(tmp_path: Path, gateway: Gateway,
                                                            backends: dict[str, FakeServer]) -> None:
    data = mednli_dir(tmp_path, 43)  # 40 requests (3 records are the few-shot examples)
    direct = run_clue("run", "--endpoint", backends["a"].base_url, "--tasks", "mednli", "--data-dir", str(data),
                      "--out", str(tmp_path / "direct"), "--no-bertscore", "--no-umls")
    assert direct.returncode == 0, direct.stderr
    a, b = backends["a"], backends["b"]
    before = {"a": answered(a), "b": answered(b)}
    proc = clue_run(gateway_config(tmp_path, gateway, "gw-model"), data, tmp_path / "gw")
    assert proc.returncode == 0, proc.stderr
    via = predictions(tmp_path / "gw")
    assert via.height == 40 and via["error"].null_count() == 40
    assert via.equals(predictions(tmp_path / "direct"))
    split = (answered(a) - before["a"], answered(b) - before["b"])
    assert sum(split) == 40 and min(split) > 0, f"the gateway must balance over both backends: {split}"


def test_a_per_minute_limit_on_the_gateway_alone_ends_with_no_errors(tmp_path: Path, gateway: Gateway,
                                                                     backends: dict[str, FakeServer]) -> None:
    data = mednli_dir(tmp_path, 63)  # 60 requests against 2 x 20 per minute
    refused_before = gateway.chat_requests(429)
    proc = clue_run(gateway_config(tmp_path, gateway, "gw-limited"), data, tmp_path / "run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = predictions(tmp_path / "run")
    assert result.height == 60 and result["error"].null_count() == 60 and result["prediction"].null_count() == 0
    assert gateway.chat_requests(429) > refused_before, "the gateway's limit must actually have refused requests"
    limited = (backends["limited_a"], backends["limited_b"])
    assert answered(*limited) == 60, "a refused request never reached a backend; each prompt is answered once"
    assert all(n == 1 for s in limited for n in s.answered.values())


def test_a_backend_killed_mid_run_ends_with_no_errors(tmp_path: Path, gateway: Gateway,
                                                      backends: dict[str, FakeServer]) -> None:
    data = mednli_dir(tmp_path, 83)  # 80 requests
    config = gateway_config(tmp_path, gateway, "gw-failover")
    doomed, survivor = backends["failover_a"], backends["failover_b"]
    command = [sys.executable, "-m", "clue_client", "run", "--endpoint", "gw", "--config", str(config), "--tasks",
               "mednli", "--data-dir", str(data), "--out", str(tmp_path / "run"), "--no-bertscore", "--no-umls"]
    proc = subprocess.Popen(command, cwd=REPO, env={**os.environ, KEY_ENV: MASTER_KEY, "NO_COLOR": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and answered(doomed) < KILL_AFTER and proc.poll() is None:
            time.sleep(0.05)
        doomed.stop()
        _, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert KILL_AFTER <= answered(doomed) < 40, "the backend must die mid-run"
    assert proc.returncode == 0, stderr[-3000:]
    result = predictions(tmp_path / "run")
    assert result.height == 80 and result["error"].null_count() == 80
    assert answered(survivor) >= 80 - answered(doomed)


@pytest.mark.parametrize("case", ["unknown model", "bad key"])
def test_a_wrong_model_or_key_stops_in_one_line_before_any_chat_request(tmp_path: Path, gateway: Gateway,
                                                                        case: str) -> None:
    data = mednli_dir(tmp_path, 23)
    model, key = ("gw-modle", MASTER_KEY) if case == "unknown model" else ("gw-model", "sk-not-the-key")
    sent_before = gateway.chat_requests()
    proc = clue_run(gateway_config(tmp_path, gateway, model), data, tmp_path / "run", key=key)
    assert proc.returncode == 2, proc.stderr[-3000:]
    line = one_line_error(proc)
    expected = "model 'gw-modle' is not served by" if case == "unknown model" else "no_db_connection: No connected db."
    assert expected in line and (case == "bad key" or "it lists gw-model" in line)
    assert gateway.chat_requests() == sent_before
    assert "sk-not-the-key" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("case", ["unknown model", "bad key"])
def test_unchecked_a_wrong_model_or_key_stops_after_the_first_answers_and_stores_none(
        tmp_path: Path, gateway: Gateway, case: str) -> None:
    """With --no-model-check the gateway's 400 reaches every first request: one line, exit 2, at most
    max_concurrency requests, and none of those errors is kept as a final answer: fixed, the rerun completes."""
    data = mednli_dir(tmp_path, 23)  # 20 requests
    model, key = ("gw-modle", MASTER_KEY) if case == "unknown model" else ("gw-model", "sk-not-the-key")
    sent_before = gateway.chat_requests()
    proc = clue_run(gateway_config(tmp_path, gateway, model), data, tmp_path / "run", "--no-model-check", key=key)
    assert proc.returncode == 2, proc.stderr[-3000:]
    line = error_line(proc)
    assert ("invalid_request_error" if case == "unknown model" else "no_db_connection") in line
    assert gateway.chat_requests() - sent_before <= CONCURRENCY
    with sqlite3.connect(tmp_path / "run" / "store.sqlite") as db:
        final_errors = db.execute("SELECT count(*) FROM responses WHERE error IS NOT NULL AND retryable = 0").fetchone()[0]
    assert final_errors == 0, "a configuration error is no sample's final answer"
    fixed = clue_run(gateway_config(tmp_path, gateway, "gw-model"), data, tmp_path / "run", "--no-model-check")
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    result = predictions(tmp_path / "run")
    assert result.height == 20 and result["error"].null_count() == 20
    assert json.loads((tmp_path / "run" / "results.json").read_text())["tasks"]["mednli"]["n_errors"] == 0
