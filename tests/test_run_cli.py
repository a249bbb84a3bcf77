"""`clue run` as a user runs it: a subprocess talking real HTTP to the loopback test server."""

from __future__ import annotations

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

from conftest import REPO, SAMPLES, run_clue
from fake_server import FakeServer, prompt_id, random_first_attempt_faults

LABELS = ("entailment", "contradiction", "neutral")


def mednli_dir(tmp_path: Path, n: int) -> Path:
    """A MedNLI file of n fictional records in the original JSON-lines format."""
    folder = tmp_path / "data" / "MedNLI"
    folder.mkdir(parents=True)
    lines = [
        json.dumps({"sentence1": f"Fictional patient {i} has finding {i}.", "sentence2": f"Statement {i}.",
                    "gold_label": LABELS[i % 3], "pairID": f"p{i}"})
        for i in range(n)
    ]
    (folder / "mli_test_v1.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path / "data"


def label_responder(body: dict) -> str:
    """Answers with a label derived from the prompt, so accuracy is neither 0 nor 1."""
    return LABELS[int(prompt_id(body["messages"]), 16) % 3].upper()


def stored_prompt_ids(store: Path) -> set[str]:
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT request FROM responses WHERE error IS NULL").fetchall()
    return {prompt_id(json.loads(r)["messages"]) for (r,) in rows}


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_mednli_end_to_end(tmp_path: Path) -> None:
    with FakeServer(responder=label_responder) as server:
        out = tmp_path / "run"
        proc = run_clue("run", "--endpoint", server.base_url, "--tasks", "mednli", "--data-dir", str(SAMPLES),
                        "--out", str(out), "--no-bertscore", "--no-umls")
        assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["endpoint"] == server.base_url and results["model"] == "fake-model"
    task = results["tasks"]["mednli"]
    n_records = len((SAMPLES / "MedNLI" / "mli_test_v1.jsonl").read_text().splitlines())
    assert task["n"] == n_records - 3 and task["n_errors"] == 0
    predictions = pl.read_parquet(out / "predictions" / "mednli.parquet")
    expected = predictions.select(
        (pl.col("prediction").str.to_uppercase().str.count_matches(pl.col("reference").str.to_uppercase(), literal=True) == 1)
        .cast(pl.Float64).mean()
    ).item()
    assert task["metrics"]["accuracy"] == pytest.approx(expected)
    assert task["score"] == pytest.approx(100 * expected)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"] == "fake-model" and manifest["tasks"] == ["mednli"]
    assert manifest["data_files"]["MedNLI/mli_test_v1.jsonl"] and manifest["finished_at"]
    assert manifest["sampling"]["temperature"] == 0.0
    assert (out / "store.sqlite").is_file()
    assert sum(server.requests.values()) == n_records - 3


def test_faulty_server_gives_the_same_predictions(tmp_path: Path) -> None:
    data = mednli_dir(tmp_path, 60)
    args = ("run", "--tasks", "mednli", "--data-dir", str(data), "--no-bertscore", "--no-umls")
    with FakeServer(responder=label_responder) as clean:
        assert run_clue(*args, "--endpoint", clean.base_url, "--out", str(tmp_path / "clean")).returncode == 0
    faults = random_first_attempt_faults(0.3, ("429", "500", "503", "drop", "truncated"), seed=3)
    with FakeServer(responder=label_responder, fault_for=faults) as faulty:
        proc = run_clue(*args, "--endpoint", faulty.base_url, "--out", str(tmp_path / "faulty"))
        assert proc.returncode == 0, proc.stderr
        assert sum(faulty.requests.values()) > 57 + 5, "faults must actually have happened"
    read = lambda name: pl.read_parquet(tmp_path / name / "predictions" / "mednli.parquet").select("sample_id", "prediction")
    assert read("clean").equals(read("faulty"))


def test_kill_minus_nine_then_resume_sends_nothing_twice(tmp_path: Path) -> None:
    data = mednli_dir(tmp_path, 240)
    out = tmp_path / "run"
    with FakeServer(responder=label_responder, delay_s=0.05) as server:
        command = [sys.executable, "-m", "clue_client", "run", "--endpoint", server.base_url, "--tasks", "mednli",
                   "--data-dir", str(data), "--out", str(out), "--concurrency", "4", "--no-bertscore", "--no-umls"]
        proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(server.answered.values()) < 60:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        answered_before = stored_prompt_ids(out / "store.sqlite")
        assert 40 <= len(answered_before) < 237, "the kill must land mid-run"
        again = run_clue(*command[3:])
        assert again.returncode == 0, again.stderr
        for pid in answered_before:
            assert server.requests[pid] == 1, "an answer already stored was requested again"
        assert set(server.answered) == stored_prompt_ids(out / "store.sqlite")
        assert len(server.answered) == 237
        in_flight_at_kill = sum(server.answered.values()) - 237
        assert 0 <= in_flight_at_kill <= 4, "only requests in flight at the kill may be answered twice"
    assert json.loads((out / "results.json").read_text())["tasks"]["mednli"]["n"] == 237


def test_api_key_reaches_the_server_and_nothing_else(tmp_path: Path) -> None:
    secret = "sk-test-" + "9f3a7c1e5b" * 3
    with FakeServer(api_key=secret, responder=label_responder) as server:
        config = tmp_path / "endpoints.toml"
        config.write_text(f'[endpoints.keyed]\nbase_url = "{server.base_url}"\napi_key_env = "CLUE_TEST_SECRET"\n'
                          "allow_credentialed_data = true\n")
        out = tmp_path / "run"
        proc = run_clue("run", "--endpoint", "keyed", "--config", str(config), "--tasks", "mednli",
                        "--data-dir", str(SAMPLES), "--out", str(out), "--no-bertscore", "--no-umls",
                        env={"CLUE_TEST_SECRET": secret})
        assert proc.returncode == 0, proc.stderr
        assert f"Bearer {secret}" in server.auth_headers
        wrong = run_clue("run", "--endpoint", "keyed", "--config", str(config), "--tasks", "mednli",
                         "--data-dir", str(SAMPLES), "--out", str(tmp_path / "wrong"), env={"CLUE_TEST_SECRET": secret[:-1] + "X"})
        assert wrong.returncode == 2 and "API key" in one_line_error(wrong)
    for output in (proc.stdout, proc.stderr, wrong.stdout, wrong.stderr):
        assert secret not in output and secret[:-1] not in output
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p != config]
    assert any(p.name == "store.sqlite" for p in files)
    for path in files:
        assert secret.encode() not in path.read_bytes() and secret[:-1].encode() not in path.read_bytes(), path


def test_excluded_refusals_are_counted_listed_and_exit_3(tmp_path: Path) -> None:
    """``--exclude-rejected``: the old behaviour, a refused sample is an unscored error (default: test_rejected)."""
    first: dict[str, str] = {}

    def plan(pid: str, attempt: int) -> str | None:
        first.setdefault("pid", pid)
        return "400ctx" if pid == first["pid"] else None

    with FakeServer(responder=label_responder, fault_for=plan) as server:
        out = tmp_path / "run"
        proc = run_clue("run", "--endpoint", server.base_url, "--tasks", "mednli", "--data-dir", str(SAMPLES),
                        "--out", str(out), "--concurrency", "1", "--no-bertscore", "--no-umls", "--exclude-rejected")
    assert proc.returncode == 3, proc.stderr
    task = json.loads((out / "results.json").read_text())["tasks"]["mednli"]
    assert task["n_errors"] == 1 and task["n_rejected"] == 1 and task["n"] == len((SAMPLES / "MedNLI" / "mli_test_v1.jsonl").read_text().splitlines()) - 4
    assert "1 sample(s) ended in errors" in proc.stderr and "maximum context length" in proc.stderr


def test_credentialed_data_guard(tmp_path: Path) -> None:
    with FakeServer(responder=label_responder) as server:
        config = tmp_path / "endpoints.toml"
        config.write_text(f'[endpoints.cloud]\nbase_url = "{server.base_url}"\nhosted = true\n'
                          f'[endpoints.consented]\nbase_url = "{server.base_url}"\nhosted = true\nallow_credentialed_data = true\n')
        blocked = run_clue("run", "--endpoint", "cloud", "--config", str(config), "--tasks", "mednli",
                           "--data-dir", str(SAMPLES), "--out", str(tmp_path / "a"))
        assert blocked.returncode == 2
        line = one_line_error(blocked)
        assert "refusing to send credentialed PhysioNet data (mednli)" in line and "allow_credentialed_data = true" in line
        assert sum(server.requests.values()) == 0 and server.auth_headers == [], "nothing may reach the server"
        allowed = run_clue("run", "--endpoint", "consented", "--config", str(config), "--tasks", "mednli",
                           "--data-dir", str(SAMPLES), "--out", str(tmp_path / "b"), "--no-bertscore", "--no-umls")
        assert allowed.returncode == 0, allowed.stderr
        assert sum(server.requests.values()) > 0


@pytest.mark.parametrize(
    ("config_body", "expected"),
    [
        ("[endpoints.x]\nbase_url = 'URL'\nmax_concurency = 2\n", "endpoint 'x': unknown key 'max_concurency'"),
        ("[endpoints.x]\nbase_url = 'URL'\ntimeout_s = 'slow'\n", "endpoint 'x': key 'timeout_s'"),
        ("[endpoints.x\n", "invalid TOML"),
        ("[endpoints.x]\nbase_url = 'URL'\napi_key_env = 'CLUE_SURELY_UNSET_VAR'\n", "CLUE_SURELY_UNSET_VAR is not set"),
    ],
)
def test_config_errors_exit_2_in_one_line(tmp_path: Path, server: FakeServer, config_body: str, expected: str) -> None:
    config = tmp_path / "endpoints.toml"
    config.write_text(config_body.replace("URL", server.base_url))
    proc = run_clue("run", "--endpoint", "x", "--config", str(config), "--tasks", "mednli", "--data-dir", str(SAMPLES),
                    "--out", str(tmp_path / "run"))
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert expected in line and str(config) in line


def test_user_errors_exit_2_in_one_line(tmp_path: Path, server: FakeServer) -> None:
    bad = tmp_path / "bad" / "MedNLI"
    bad.mkdir(parents=True)
    (bad / "mli_test_v1.jsonl").write_text('{"sentence1": "a", "sentence2": "b", "gold_label": "neutral"}\n{"sentence1": oops\n')
    cases = {
        "missing data file": (["--data-dir", str(tmp_path / "nowhere")], "data file for task 'mednli' not found"),
        "malformed JSONL": (["--data-dir", str(tmp_path / "bad")], "mli_test_v1.jsonl"),
        "unknown task": (["--tasks", "mednli,radiology"], "unknown task 'radiology'"),
        "unreachable server": (["--endpoint", "http://127.0.0.1:9"], "cannot reach http://127.0.0.1:9/v1"),
        "bad limit": (["--limit", "0"], "argument --limit: 0 is out of range: must be at least 1"),
        "bad flag value": (["--concurrency", "many"], "argument --concurrency: 'many' is not a whole number"),
    }
    for name, (extra, expected) in cases.items():
        args = {"--endpoint": server.base_url, "--tasks": "mednli", "--data-dir": str(SAMPLES)}
        for flag, value in zip(extra[::2], extra[1::2]):
            args[flag] = value
        flat = [item for pair in args.items() for item in pair]
        proc = run_clue("run", *flat, "--out", str(tmp_path / "run"))
        assert proc.returncode == 2, (name, proc.stderr)
        assert expected in one_line_error(proc), name
    assert "line 2" in one_line_error(run_clue("run", "--endpoint", server.base_url, "--tasks", "mednli",
                                               "--data-dir", str(tmp_path / "bad"), "--out", str(tmp_path / "r2")))


def test_rescore_needs_no_server(tmp_path: Path) -> None:
    with FakeServer(responder=label_responder) as server:
        out = tmp_path / "run"
        assert run_clue("run", "--endpoint", server.base_url, "--tasks", "mednli", "--data-dir", str(SAMPLES),
                        "--out", str(out), "--no-bertscore", "--no-umls").returncode == 0
    before = json.loads((out / "results.json").read_text())
    (out / "results.json").unlink()
    proc = run_clue("score", str(out), "--no-bertscore", "--no-umls")  # the server is gone now
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "results.json").read_text())["tasks"] == before["tasks"]


def test_endpoints_list_and_check(server: FakeServer) -> None:
    listed = run_clue("endpoints", "list", "--config", str(REPO / "endpoints.toml"))
    assert listed.returncode == 0 and "openai" in listed.stdout and "OPENAI_API_KEY" in listed.stdout
    checked = run_clue("endpoints", "check", server.base_url)
    assert checked.returncode == 0, checked.stderr
    assert "fake-model" in checked.stdout and "4096" in checked.stdout and "latency_s" in checked.stdout
    down = run_clue("endpoints", "check", "http://127.0.0.1:9")
    assert down.returncode == 2 and "cannot reach" in one_line_error(down)


def test_fail_under_gates_with_exit_4(tmp_path: Path) -> None:
    with FakeServer(responder=label_responder) as server:
        common = ("run", "--endpoint", server.base_url, "--tasks", "mednli", "--data-dir", str(SAMPLES),
                  "--out", str(tmp_path / "run"), "--no-bertscore", "--no-umls")
        passed = run_clue(*common, "--fail-under", "mednli=0")
        assert passed.returncode == 0, passed.stderr
        score = json.loads((tmp_path / "run" / "results.json").read_text())["tasks"]["mednli"]["score"]
        failed = run_clue(*common, "--fail-under", f"mednli={score + 0.01}")
        assert failed.returncode == 4
        assert f"mednli scored {score:.2f} < {score + 0.01:g}" in failed.stderr and "Traceback" not in failed.stderr
        assert sum(server.requests.values()) == 5, "the gated rerun resumed from the store: nothing sent twice"
        bad = run_clue(*common, "--fail-under", "meqsum=10")
        assert bad.returncode == 2 and "not TASK=SCORE for a task of this run" in one_line_error(bad)


def test_identical_prompts_share_an_answer_only_when_greedy(tmp_path: Path) -> None:
    counts = {}
    for label, extra in (("greedy", []), ("sampled", ["--temperature", "0.7"])):
        with FakeServer() as server:
            out = tmp_path / label
            proc = run_clue("run", "--endpoint", server.base_url, "--tasks", "longhealth", "--data-dir", str(SAMPLES),
                            "--out", str(out), *extra)
            assert proc.returncode == 0, proc.stderr
            counts[label] = sum(server.requests.values())
        samples = pl.read_parquet(out / "samples" / "longhealth.parquet")
        unique_prompts = samples.select(pl.col("messages").cast(pl.List(pl.Struct({"role": pl.Utf8, "content": pl.Utf8})))
                                        .list.eval(pl.element().struct.field("content")).list.join("\x00")).n_unique()
        counts[f"{label}_samples"], counts[f"{label}_unique"] = samples.height, unique_prompts
        assert json.loads((out / "results.json").read_text())["tasks"]["longhealth"]["n"] == samples.height
    assert counts["greedy_unique"] < counts["greedy_samples"], "the sample data must contain coinciding prompts"
    assert counts["greedy"] == counts["greedy_unique"]
    assert counts["sampled"] == counts["sampled_samples"]


def test_concurrency_is_capped_by_the_open_file_limit(tmp_path: Path) -> None:
    import resource

    def low_limit() -> None:  # soft and hard: the run cannot raise it
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))

    data = mednli_dir(tmp_path, 300)
    with FakeServer(responder=label_responder, delay_s=0.05) as server:
        command = [sys.executable, "-m", "clue_client", "run", "--endpoint", server.base_url, "--tasks", "mednli",
                   "--data-dir", str(data), "--out", str(tmp_path / "run"), "--concurrency", "500",
                   "--no-bertscore", "--no-umls", "--quiet"]
        proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, preexec_fn=low_limit,
                              env={**os.environ, "NO_COLOR": "1"})
        assert proc.returncode == 0, proc.stderr
        warning = [line for line in proc.stderr.splitlines() if "capped" in line]
        assert warning == ["clue: warning: --concurrency 500 capped at 63: this machine allows 128 open files "
                           "(ulimit -n) and each request in flight holds one; raise the limit for more"]
        assert 1 < server.max_in_flight <= 63 and len(server.answered) == 297
