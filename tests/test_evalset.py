"""Several endpoints in one `clue run` (an eval set), as a user runs it: a subprocess over real loopback HTTP
to several test servers at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clue_client.cli import main
from clue_client.commands.run import _slug
from conftest import REPO, run_clue
from fake_server import FakeServer
from test_run_cli import label_responder, mednli_dir, stored_prompt_ids

FLAGS = ("--tasks", "mednli", "--no-bertscore", "--no-umls")


def write_config(path: Path, **tables: str) -> Path:
    path.write_text("".join(f"[endpoints.{name}]\n{body}\n" for name, body in tables.items()))
    return path


def error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    return [line for line in proc.stderr.splitlines() if line.startswith("clue: error")]


def test_each_endpoint_runs_on_its_own_and_fails_alone(tmp_path: Path) -> None:
    """fast (one request at a time) and slow (a second each, twenty at once) run side by side; a bad key and a
    hosted endpoint given a credentialed task each stop alone with one line; the worst exit code wins."""
    data, out = mednli_dir(tmp_path, 20), tmp_path / "runs" / "fast+3"  # the default: runs/<first>+<others>
    with FakeServer(responder=label_responder, delay_s=0.1) as fast, \
            FakeServer(responder=label_responder, delay_s=1.0) as slow, \
            FakeServer(api_key="the-right-key") as keyed, FakeServer() as hosted:
        config = write_config(
            tmp_path / "endpoints.toml",
            fast=f'base_url = "{fast.base_url}"\nmax_concurrency = 1',
            slow=f'base_url = "{slow.base_url}"\nmax_concurrency = 20',
            badkey=f'base_url = "{keyed.base_url}"\napi_key_env = "CLUE_TEST_WRONG_KEY"',
            cloud=f'base_url = "{hosted.base_url}"\nhosted = true',
        )
        proc = run_clue("run", "--config", str(config), "--endpoint", "fast,slow", "--endpoint", "badkey",
                        "--endpoint", "cloud", "--data-dir", str(data), *FLAGS, cwd=tmp_path,
                        env={"CLUE_TEST_WRONG_KEY": "sk-wrong", "PYTHONPATH": str(REPO)})
        assert proc.returncode == 2, proc.stderr
        errors = error_lines(proc)
        assert len(errors) == 2, proc.stderr
        assert any("endpoint badkey:" in e and "rejected the API key" in e for e in errors), errors
        assert any("endpoint cloud:" in e and "refusing to send credentialed" in e for e in errors), errors
        assert "sk-wrong" not in proc.stderr + proc.stdout
        assert not hosted.auth_headers and not hosted.requests, "nothing at all may reach the refused hosted endpoint"
        assert not keyed.requests, "a refused key stops before any chat request"
        # each with its own concurrency, neither waiting for the other: slow answers all 17 at once, in a
        # second or two, while fast is still answering one at a time (about 2 s)
        assert fast.max_in_flight == 1 and slow.max_in_flight >= 10
        assert slow.answer_times[-1] < fast.answer_times[-1], "the slow endpoint waited for the fast one"
        assert slow.answer_times[0] > fast.answer_times[0]
    assert sorted(p.name for p in out.iterdir()) == ["fast", "slow"], "failed endpoints leave no folder behind"
    for name in ("fast", "slow"):
        results = json.loads((out / name / "results.json").read_text())
        assert results["tasks"]["mednli"]["n"] == 17 and results["endpoint"] == name
        assert json.loads((out / name / "manifest.json").read_text())["finished_at"]
    table = proc.stdout
    assert "CLUE scores" in table and "fast" in table and "slow" in table
    assert "Paired comparison with the baseline (A = fast" in table
    row = next(line for line in table.splitlines() if line.strip().startswith("slow") and "mednli" in line)
    assert row.split()[2] == "17" and "+0.00" in row, row  # 20 records less 3 few-shot: all paired, alike
    assert "next: clue report runs/fast+3/fast runs/fast+3/slow" in proc.stderr


def test_kill_minus_nine_of_the_whole_command_then_resume(tmp_path: Path) -> None:
    data, out = mednli_dir(tmp_path, 160), tmp_path / "set"
    with FakeServer(responder=label_responder, delay_s=0.05) as a, FakeServer(responder=label_responder, delay_s=0.05) as b:
        command = [sys.executable, "-m", "clue_client", "run", "--endpoint", a.base_url, "--endpoint", b.base_url,
                   "--data-dir", str(data), "--out", str(out), "--concurrency", "4", *FLAGS]
        proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and min(sum(a.answered.values()), sum(b.answered.values())) < 30:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        folders = sorted(p for p in out.iterdir())
        assert len(folders) == 2
        before = {f.name: stored_prompt_ids(f / "store.sqlite") for f in folders}
        assert all(20 <= len(ids) < 157 for ids in before.values()), "the kill must land mid-run on both"
        again = run_clue(*command[3:])
        assert again.returncode == 0, again.stderr
        servers = {_slug(a.base_url): a, _slug(b.base_url): b}  # OUT/<endpoint>/
        for folder in folders:
            server = servers[folder.name]
            for pid in before[folder.name]:
                assert server.requests[pid] == 1, "an answer already stored was requested again"
            assert len(server.answered) == 157
            assert 0 <= sum(server.answered.values()) - 157 <= 4, "only requests in flight at the kill go again"
    for folder in folders:
        assert json.loads((folder / "results.json").read_text())["tasks"]["mednli"]["n"] == 157


def test_set_usage_errors_are_one_line(tmp_path: Path, server: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    base = ("run", "--data-dir", str(mednli_dir(tmp_path, 3)), "--out", str(tmp_path / "o"), *FLAGS)
    cases = {
        ("--endpoint", f"{server.base_url},{server.base_url}"): "is given twice",
        ("--endpoint", server.base_url, "--endpoint", "local", "--baseline", "other"): "'other' is not one of the endpoints",
        ("--endpoint", server.base_url, "--baseline", server.base_url): "only one was given",
        ("--endpoint", server.base_url, "--shard", "4/3"): "I must be between 1 and N",
        ("--endpoint", server.base_url, "--repeats", "0"): "must be at least 1",
    }
    for args, expected in cases.items():
        try:
            code = main([*base, *args])
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and expected in lines[0], (args, lines)
    assert not server.requests and not (tmp_path / "o").exists()
