"""The README's main command on the real embedded model: `clue run` with no arguments (local endpoint).

Asserts structure and status (every sample answered with usage, every installed metric computed, a
complete run folder, no server left running, progress readable in a log, the token budget the quick
start promises), never the 270M base model's answer text.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import psutil
import pytest

from clue_client.config import load_endpoints
from clue_client.scoring.protocol import TASK_IDS, TASKS
from processes import gone

ROOT = Path(__file__).resolve().parent.parent
LIMIT = load_endpoints(ROOT / "endpoints.toml")["local"].limit or 0
#: What the quick start promises: prompt + completion tokens, as the server counts them.
TOKEN_BUDGET = 30_000
MANIFEST_KEYS = {"clue_client_version", "protocol_version", "endpoint", "base_urls", "kind", "model", "sampling", "tasks",
                 "data_dir", "data_files", "prices", "started_at", "finished_at", "store", "replicas"}
#: Metrics that need an optional extra and a model on disk; anything else must always be computed.
OPTIONAL = {"bertscore": "bert_score", "umls": "scispacy"}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def is_server(proc: psutil.Process) -> bool:
    try:
        return "clue_client.serving.local_worker" in " ".join(proc.cmdline())
    except psutil.Error:
        return False


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str], int]:
    """`clue run` as the README has it (only the run folder moved); returns the folder, the finished process
    and the server's pid."""
    out = tmp_path_factory.mktemp("smoke") / "run"
    command = [sys.executable, "-m", "clue_client.cli", "run", "--out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}  # nothing may be downloaded at test time
    log = out.parent / "stderr.txt"
    with log.open("w") as stderr:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
        server_pid = 0
        deadline = time.monotonic() + 1200
        while proc.poll() is None and time.monotonic() < deadline:
            if not server_pid:
                server_pid = next((c.pid for c in psutil.Process(proc.pid).children() if is_server(c)), 0)
            time.sleep(0.2)
        if proc.poll() is None:
            proc.kill()
        stdout = proc.communicate(timeout=30)[0]
    done = subprocess.CompletedProcess(command, proc.returncode, stdout, log.read_text())
    return out, done, server_pid


def test_run_succeeds_and_says_it_is_a_plumbing_check(run) -> None:
    _, done, _ = run
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "plumbing" in done.stderr


def test_main_job_keeps_its_limit_and_token_budget(run) -> None:
    out, _, _ = run
    assert LIMIT >= 1, "the local endpoint's limit keeps the quick start short"
    assert json.loads((out / "manifest.json").read_text())["limit"] == LIMIT
    with sqlite3.connect(out / "store.sqlite") as db:
        prompt, completion = db.execute("SELECT SUM(prompt_tokens), SUM(completion_tokens) FROM responses").fetchone()
    assert prompt > 0 and completion > 0
    assert prompt + completion <= TOKEN_BUDGET, f"{prompt} prompt + {completion} completion tokens"


def test_progress_is_readable_in_a_log(run) -> None:
    """stderr went to a file: plain lines at the start and the end, no bar drawing."""
    _, done, _ = run
    lines = [line for line in done.stderr.splitlines() if line.startswith("requests ")]
    assert len(lines) >= 2, done.stderr[-2000:]
    total = lines[0].split()[1].split("/")[1]
    assert lines[0].startswith("requests 0/") and lines[-1].startswith(f"requests {total}/{total} done, 0 in flight")
    assert "\x1b[" not in done.stderr
    assert "next: clue report" in done.stderr


def test_server_ran_and_is_gone(run) -> None:
    _, _, server_pid = run
    assert server_pid, "no embedded server process was seen during the run"
    assert gone(server_pid), f"embedded server {server_pid} outlived clue run"


def test_run_folder_is_complete(run) -> None:
    out, _, _ = run
    manifest = json.loads((out / "manifest.json").read_text())
    assert MANIFEST_KEYS <= manifest.keys()
    assert (manifest["endpoint"], manifest["kind"], manifest["model"]) == ("local", "llamacpp", "gemma-3-270m-q4_k_m")
    assert manifest["tasks"] == list(TASK_IDS)
    assert manifest["finished_at"] >= manifest["started_at"]
    assert (out / manifest["store"]).is_file()
    for task in TASK_IDS:
        assert (out / "samples" / f"{task}.parquet").is_file()
        assert (out / "predictions" / f"{task}.parquet").is_file()


@pytest.mark.parametrize("task", TASK_IDS)
def test_every_sample_got_an_answer_with_usage(run, task: str) -> None:
    out, _, _ = run
    frame = pl.read_parquet(out / "predictions" / f"{task}.parquet")
    assert 1 <= frame["group_id"].n_unique() <= LIMIT  # LongHealth: a question is several samples
    assert frame["error"].null_count() == frame.height, frame.filter(pl.col("error").is_not_null())["error"].to_list()
    assert frame["prediction"].null_count() == 0
    assert (frame["prompt_tokens"] > 0).all() and (frame["completion_tokens"] >= 0).all()
    assert frame["finish_reason"].null_count() == 0
    assert (frame["completion_tokens"] <= frame["max_tokens"]).all()


def _optional_family(metric: str) -> str | None:
    return next((family for family in OPTIONAL if metric.startswith(family)), None)


@pytest.mark.parametrize("task", TASK_IDS)
def test_every_installed_metric_was_computed(run, task: str) -> None:
    out, _, _ = run
    results = json.loads((out / "results.json").read_text())
    entry = results["tasks"][task]
    assert entry["n"] >= 1 and entry["n_errors"] == 0
    assert 0.0 <= entry["score"] <= 100.0
    lo, hi = entry["ci95"]
    assert lo <= entry["score"] <= hi
    for metric in TASKS[task].score:
        family = _optional_family(metric)
        if metric in entry["partial"]:
            assert family is not None, f"{task}: {metric} needs nothing optional but was not computed"
            reason = entry.get("missing", {}).get(metric, "")
            if importlib.util.find_spec(OPTIONAL[family]) is None:
                assert "not installed" in reason, reason
            else:  # the package is here: only its model missing from disk (no downloads in tests) excuses it
                assert "model" in reason, reason
        else:
            assert 0.0 <= entry["metrics"][metric] <= 1.0


def test_results_name_endpoint_model_and_levels(run) -> None:
    out, _, _ = run
    results = json.loads((out / "results.json").read_text())
    assert (results["endpoint"], results["model"]) == ("local", "gemma-3-270m-q4_k_m")
    assert list(results["tasks"]) == list(TASK_IDS)
    for level in ("level1", "level2"):
        assert results[level] is None or 0.0 <= results[level] <= 100.0
        assert level in results["levels_ci95"]
