"""Hostile conditions around a run folder, as a user meets them: `clue run` in a subprocess over real
loopback HTTP, with real file-system faults (a tmpfs that fills up or turns read-only)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from conftest import REPO, run_clue
from fake_server import FakeServer
from small_disk import read_only, resize, tmpfs
from test_run_cli import label_responder, mednli_dir, stored_prompt_ids

FLAGS = ("--tasks", "mednli", "--no-bertscore", "--no-umls")


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one `clue: error:` line (a progress bar may stand above it), and no traceback anywhere."""
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("clue")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def start_run(server: FakeServer, data: Path, out: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "clue_client", "run", "--endpoint", server.base_url, "--data-dir", str(data),
               "--out", str(out), "--concurrency", "2", *FLAGS]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_answers(server: FakeServer, n: int, within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and sum(server.answered.values()) < n:
        time.sleep(0.05)
    assert sum(server.answered.values()) >= n, "the first run never got going"


def test_second_run_on_the_same_folder_is_refused_naming_the_holder(tmp_path: Path) -> None:
    data, out = mednli_dir(tmp_path, 120), tmp_path / "run"
    with FakeServer(responder=label_responder, delay_s=0.5) as server:  # slow: the first run outlasts the second
        first = start_run(server, data, out)
        try:
            wait_for_answers(server, 4)
            second = run_clue("run", "--endpoint", server.base_url, "--data-dir", str(data), "--out", str(out), *FLAGS)
            assert first.poll() is None, "the first run must still hold the folder"
        finally:
            server.delay_s = 0.0
            assert first.wait(120) == 0
        assert second.returncode == 2
        line = error_line(second)
        assert f"pid {first.pid}" in line and "started 20" in line and "another clue process" in line
        assert max(server.requests.values()) == 1 and len(server.requests) == 117, "nothing was sent twice"
    assert not (out / ".lock").exists(), "a finished run releases its lock"


def test_a_stale_lock_of_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    data, out = mednli_dir(tmp_path, 120), tmp_path / "run"
    with FakeServer(responder=label_responder, delay_s=0.05) as server:
        first = start_run(server, data, out)
        wait_for_answers(server, 10)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        assert json.loads((out / ".lock").read_text())["pid"] == first.pid, "the dead run's lock is left behind"
        again = run_clue("run", "--endpoint", server.base_url, "--data-dir", str(data), "--out", str(out), *FLAGS)
        assert again.returncode == 0, again.stderr
        assert len(server.answered) == 117
    assert not (out / ".lock").exists()


def test_out_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    data, out = mednli_dir(tmp_path, 5), tmp_path / "notes.txt"
    out.write_text("my notes\n")
    with FakeServer(responder=label_responder) as server:
        for target in (out, out / "run"):
            proc = run_clue("run", "--endpoint", server.base_url, "--data-dir", str(data), "--out", str(target), *FLAGS)
            assert proc.returncode == 2
            assert str(out) in error_line(proc) and "not a folder" in error_line(proc)
        assert sum(server.requests.values()) == 0
    assert out.read_text() == "my notes\n"


def test_read_only_folder_is_one_line_and_keeps_the_run(tmp_path: Path) -> None:
    data = mednli_dir(tmp_path, 8)
    with FakeServer(responder=label_responder) as server, tmpfs(tmp_path / "disk", "4m") as disk:
        out = disk / "run"
        args = ("run", "--endpoint", server.base_url, "--data-dir", str(data), *FLAGS)
        assert run_clue(*args, "--out", str(out)).returncode == 0
        before = {p.name: digest(p) for p in out.rglob("*") if p.is_file()}
        read_only(disk)
        try:
            for target in (out, disk / "fresh"):
                proc = run_clue(*args, "--out", str(target))
                assert proc.returncode == 2 and "read-only" in error_line(proc), proc.stderr
        finally:
            read_only(disk, on=False)
        assert {p.name: digest(p) for p in out.rglob("*") if p.is_file()} == before
        assert sum(server.requests.values()) == 5, "nothing is sent when nothing could be stored"


def test_disk_full_mid_run_is_one_line_and_loses_nothing(tmp_path: Path) -> None:
    data = mednli_dir(tmp_path, 240)
    long_answer = lambda body: label_responder(body) + " because" + " reasons" * 60
    with FakeServer(responder=long_answer) as server, tmpfs(tmp_path / "disk", "200k") as disk:
        out = disk / "run"
        args = ("run", "--endpoint", server.base_url, "--data-dir", str(data), "--out", str(out), "--concurrency", "2", *FLAGS)
        full = run_clue(*args)
        assert full.returncode == 2
        assert "the disk is full" in error_line(full) and str(out) in error_line(full)
        assert leftovers(out) == [] and not (out / ".lock").exists()
        stored = stored_prompt_ids(out / "store.sqlite")
        assert 0 < len(stored) < 237, "the disk must fill mid-run"
        resize(disk, "8m")  # the user frees space and reruns the same command
        again = run_clue(*args)
        assert again.returncode == 0, again.stderr
        assert all(server.requests[pid] == 1 for pid in stored), "an answer stored before the disk filled was sent again"
        assert len(server.answered) == 237
        assert json.loads((out / "results.json").read_text())["tasks"]["mednli"]["n"] == 237


def test_disk_too_small_for_the_prompts_is_one_line(tmp_path: Path) -> None:
    data = mednli_dir(tmp_path, 240)
    with FakeServer(responder=label_responder) as server, tmpfs(tmp_path / "disk", "8k") as disk:
        proc = run_clue("run", "--endpoint", server.base_url, "--data-dir", str(data), "--out", str(disk / "run"), *FLAGS)
        assert proc.returncode == 2 and "the disk is full" in error_line(proc), proc.stderr
        assert leftovers(disk) == [] and sum(server.requests.values()) == 0


def test_damaged_store_is_one_line_and_left_as_it_is(tmp_path: Path) -> None:
    data, out = mednli_dir(tmp_path, 200), tmp_path / "run"
    with FakeServer(responder=lambda body: label_responder(body) + " x" * 200) as server:
        args = ("run", "--endpoint", server.base_url, "--data-dir", str(data), "--out", str(out), *FLAGS)
        assert run_clue(*args).returncode == 0
        store = out / "store.sqlite"
        with sqlite3.connect(store) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw = bytearray(store.read_bytes())
        middle = len(raw) // 2
        raw[middle:middle + 8192] = os.urandom(8192)  # garbage in the middle, a valid header
        store.write_bytes(bytes(raw))
        damaged = digest(store)
        sent = sum(server.requests.values())
        for proc in (run_clue(*args), run_clue("score", str(out), "--no-bertscore", "--no-umls")):
            assert proc.returncode == 2
            line = error_line(proc)
            assert "the store is damaged" in line and ".recover" in line, line
        assert digest(store) == damaged and sum(server.requests.values()) == sent


def test_empty_store_beside_a_manifest_with_answers_is_a_lost_store(tmp_path: Path) -> None:
    data, out = mednli_dir(tmp_path, 20), tmp_path / "run"
    with FakeServer(responder=label_responder) as server:
        args = ("run", "--endpoint", server.base_url, "--data-dir", str(data), "--out", str(out), *FLAGS)
        assert run_clue(*args).returncode == 0
        for name in ("store.sqlite-wal", "store.sqlite-shm"):
            (out / name).unlink(missing_ok=True)
        (out / "store.sqlite").write_bytes(b"")
        for proc in (run_clue(*args), run_clue("score", str(out), "--no-bertscore", "--no-umls")):
            assert proc.returncode == 2
            assert "holds 0 response(s) but manifest.json recorded 17" in error_line(proc), proc.stderr
        assert sum(server.requests.values()) == 17, "the lost store must not be silently refilled"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--temperature", "-1"], "argument --temperature: -1 is out of range: must be at least 0"),
        (["--temperature", "nan"], "argument --temperature: 'nan' is not a finite number"),
        (["--bootstrap", "-5"], "argument --bootstrap: -5 is out of range: must be at least 0"),
        (["--max-cost", "-0.5"], "argument --max-cost: -0.5 is out of range"),
        (["--bertscore-layer", "0"], "argument --bertscore-layer: 0 is out of range"),
        (["--endpoint", "http://127.0.0.1:99999/v1"], "has an invalid port (expected a number from 1 to 65535)"),
        (["--endpoint", "http://127.0.0.1:0"], "has an invalid port"),
        (["--endpoint", "http://[::1:8000"], "is not a valid URL"),
        (["--endpoint", "http://999.0.0.1:8000"], "has an invalid IPv4 address"),
    ],
)
def test_bad_numbers_are_one_line_and_nothing_is_sent(tmp_path: Path, extra: list[str], expected: str) -> None:
    data = mednli_dir(tmp_path, 5)
    with FakeServer(responder=label_responder) as server:
        args = {"--endpoint": server.base_url, "--data-dir": str(data), "--out": str(tmp_path / "run")}
        args.update(zip(extra[::2], extra[1::2]))
        proc = run_clue("run", *[item for pair in args.items() for item in pair], *FLAGS)
        assert proc.returncode == 2
        assert expected in error_line(proc)
        assert server.auth_headers == [], "nothing may reach the server"
    assert leftovers(tmp_path) == []


def test_a_key_echoed_by_the_server_is_redacted_everywhere(tmp_path: Path) -> None:
    secret = "sk-echo-" + "4b7d2e9a1c" * 3
    data, out = mednli_dir(tmp_path, 6), tmp_path / "run"
    echoes = {}

    def plan(pid: str, attempt: int) -> str | None:
        if len(echoes) < 2 and pid not in echoes:
            echoes[pid] = ("echo400", "echo500")[len(echoes)]
        return echoes.get(pid)

    with FakeServer(api_key=secret, echo_auth=True, responder=label_responder, fault_for=plan) as server:
        config = tmp_path / "endpoints.toml"
        config.write_text(f'[endpoints.proxy]\nbase_url = "{server.base_url}"\napi_key_env = "CLUE_TEST_SECRET"\n'
                          "allow_credentialed_data = true\nmax_retries = 1\n")
        args = ("run", "--endpoint", "proxy", "--config", str(config), "--data-dir", str(data), *FLAGS)
        proc = run_clue(*args, "--out", str(out), env={"CLUE_TEST_SECRET": secret})
        assert proc.returncode == 3, proc.stderr
        squeezed = "".join(proc.stderr.split())  # the console wraps long lines
        assert squeezed.count("Authorization:Bearer[redacted]") == 2, "both errors are listed, scrubbed"
        wrong = run_clue(*args, "--out", str(tmp_path / "wrong"), env={"CLUE_TEST_SECRET": secret[:-1] + "X"})
        assert wrong.returncode == 2 and "rejected the API key" in error_line(wrong)
        assert any(secret in line for line in server.auth_headers), "the server did echo a real key"
    for output in (proc.stdout, proc.stderr, wrong.stdout, wrong.stderr):
        assert secret[:10] not in output
    predictions = pl.read_parquet(out / "predictions" / "mednli.parquet")
    errors = [t for column in ("error", "rejected") for t in predictions[column].drop_nulls().to_list()]
    with sqlite3.connect(out / "store.sqlite") as db:
        stored = [e for (e,) in db.execute("SELECT error FROM responses WHERE error IS NOT NULL")]
    assert len(errors) == len(stored) == 2
    for text in errors + stored:
        assert "[redacted]" in text and secret[:10] not in text
    for path in (p for p in tmp_path.rglob("*") if p.is_file() and p != config):
        assert secret[:10].encode() not in path.read_bytes(), path


def test_retry_errors_resends_refused_and_given_up_samples(tmp_path: Path) -> None:
    data, out = mednli_dir(tmp_path, 8), tmp_path / "run"
    broken: dict[str, str] = {}

    def plan(pid: str, attempt: int) -> str | None:
        if len(broken) < 2 and pid not in broken:
            broken[pid] = ("400ctx", "500")[len(broken)]  # one refused for good, one given up after retries
        return broken.get(pid) if server.fault_for is plan else None

    with FakeServer(responder=label_responder, fault_for=plan) as server:
        config = tmp_path / "endpoints.toml"
        config.write_text(f'[endpoints.e]\nbase_url = "{server.base_url}"\nmax_retries = 0\n')
        args = ("run", "--endpoint", "e", "--config", str(config), "--data-dir", str(data), "--out", str(out), *FLAGS)
        first = run_clue(*args)
        assert first.returncode == 3 and "--retry-errors" in first.stderr, first.stderr
        refused = next(pid for pid, fault in broken.items() if fault == "400ctx")
        server.fault_for = lambda pid, attempt: None  # the server is fixed
        plain = run_clue(*args)
        assert plain.returncode == 0 and server.requests[refused] == 1, "a plain rerun keeps a refusal as it is"
        assert "--retry-errors" in plain.stderr, "the hint stands beside the refusal"
        refusal = json.loads((out / "results.json").read_text())["tasks"]["mednli"]
        assert (refusal["n_rejected"], refusal["n_empty"]) == (1, 0), "a refusal is counted once, as rejected"
        assert sum(server.requests.values()) == 5 + 1, "a plain rerun re-sends only the given-up sample"
        fixed = run_clue(*args, "--retry-errors")
        assert fixed.returncode == 0, fixed.stderr
        assert server.requests[refused] == 2 and sum(server.requests.values()) == 7, "only the refused one went again"
    task = json.loads((out / "results.json").read_text())["tasks"]["mednli"]
    assert task["n"] == 5 and task["n_errors"] == 0 and task["n_rejected"] == 0


def test_truncated_and_empty_answers_are_counted(tmp_path: Path) -> None:
    data, out = mednli_dir(tmp_path, 12), tmp_path / "run"
    odd: dict[str, str] = {}

    def plan(pid: str, attempt: int) -> str | None:
        if len(odd) < 5 and pid not in odd:
            odd[pid] = ("length", "length", "null", "null", "null")[len(odd)]
        return odd.get(pid)

    with FakeServer(responder=label_responder, fault_for=plan) as server:
        proc = run_clue("run", "--endpoint", server.base_url, "--data-dir", str(data), "--out", str(out),
                        "--concurrency", "1", *FLAGS)
        assert proc.returncode == 0, proc.stderr
    task = json.loads((out / "results.json").read_text())["tasks"]["mednli"]
    assert (task["n"], task["n_truncated"], task["n_empty"]) == (9, 2, 3)
    header = next(line for line in proc.stdout.splitlines() if "truncated" in line)
    row = next(line for line in proc.stdout.splitlines() if line.strip("│┃ ").startswith("mednli"))
    cells = [c.strip() for c in row.split("│")[1:-1]]
    names = [c.strip() for c in header.replace("┃", "│").split("│")[1:-1]]
    assert (cells[names.index("truncated")], cells[names.index("empty")]) == ("2", "3")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["score", "RUN", "--bootstrap", "-5"], "argument --bootstrap: -5 is out of range: must be at least 0"),
        (["batch", "export", "--endpoint", "x", "--run", "RUN", "--temperature", "-1"], "argument --temperature"),
        (["compare", "RUN", "RUN", "--alpha", "1.5"], "argument --alpha: 1.5 is out of range: must be below 1"),
        (["compare", "RUN", "RUN", "--resamples", "0"], "argument --resamples: 0 is out of range"),
        (["serve", "local", "--port", "70000"], "argument --port: 70000 is out of range: must be at most 65535"),
        (["serve", "vllm", "--model", "m", "--timeout", "-3"], "argument --timeout: -3 is out of range: must be above 0"),
    ],
)
def test_numeric_flags_of_other_commands_are_checked(tmp_path: Path, argv: list[str], expected: str) -> None:
    proc = run_clue(*[str(tmp_path) if a == "RUN" else a for a in argv])
    assert proc.returncode == 2 and expected in error_line(proc)
    assert list(tmp_path.iterdir()) == [], "a refused command writes nothing"


def _numeric_flags() -> list[tuple[str, str, object]]:
    """(command, flag, argparse type) of every flag of every command that takes a number."""
    import argparse

    from clue_client.cli import build_parser

    found = []

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{prefix} {name}".strip())
            elif action.option_strings and action.type not in (None, Path, str):
                found.append((prefix, action.option_strings[0], action.type))

    walk(build_parser(), "")
    return found


def test_every_numeric_flag_rejects_nan_inf_and_absurd_numbers() -> None:
    import argparse

    flags = _numeric_flags()
    names = {f"{command} {flag}" for command, flag, _ in flags}
    assert {"run --timeout", "run --limit", "run --concurrency", "run --max-cost", "run --longhealth-budget",
            "run --reasoning-budget", "compare --alpha", "compare --resamples", "batch export --limit",
            "batch export --reasoning-budget", "score --bootstrap"} <= names, names
    for command, flag, parse in flags:
        assert parse not in (int, float), f"{command} {flag} parses with bare {parse}: use commands.common.number"
        for text in ("nan", "inf", "-inf", "1e999", "9" * 5000):
            with pytest.raises(argparse.ArgumentTypeError) as info:
                parse(text)  # type: ignore[operator]
            assert len(str(info.value)) < 100, "the message does not repeat 5,000 digits"


def test_reasoning_budget_and_concurrency_have_the_file_bounds_on_the_command_line(tmp_path: Path) -> None:
    from clue_client.config import MAX_CONCURRENCY, MAX_REASONING_BUDGET

    for flag, top in (("--reasoning-budget", MAX_REASONING_BUDGET), ("--concurrency", MAX_CONCURRENCY)):
        proc = run_clue("run", "--endpoint", "http://127.0.0.1:9/v1", flag, str(top + 1), "--out", str(tmp_path / "r"))
        assert proc.returncode == 2 and f"must be at most {top}" in error_line(proc)
        toml = tmp_path / "e.toml"
        key = {"--reasoning-budget": "reasoning_budget", "--concurrency": "max_concurrency"}[flag]
        toml.write_text(f'[endpoints.e]\nbase_url = "http://127.0.0.1:9/v1"\n{key} = {top + 1}\n')
        proc = run_clue("run", "--config", str(toml), "--endpoint", "e", "--out", str(tmp_path / "r"))
        assert proc.returncode == 2 and f"key '{key}'" in error_line(proc) and str(top) in error_line(proc)
    assert not (tmp_path / "r").exists()
