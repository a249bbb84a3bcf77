"""``clue run`` and ``clue endpoints check`` against servers that misbehave, as a user meets them: one line,
the cause named, exit 2, nothing stored that the model did not answer, and a rerun after the fix completes."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterator

import polars as pl
import pytest

from conftest import run_clue
from fake_server import FakeServer
from test_hosted_rules import one_line as one_line_error
from test_run_cli import label_responder, mednli_dir

FLAGS = ("--tasks", "mednli", "--no-bertscore", "--no-umls", "--bootstrap", "0")


def run(url: str, data: Path, out: Path, *extra: str, env: dict[str, str] | None = None):
    return run_clue("run", "--endpoint", url, "--data-dir", str(data), "--out", str(out), *FLAGS, *extra, env=env)


def rows(out: Path) -> tuple[int, int]:
    """(answers, errors) in the run's store."""
    if not (out / "store.sqlite").is_file():
        return 0, 0
    with sqlite3.connect(out / "store.sqlite") as db:
        return db.execute("SELECT count(text), count(error) FROM responses").fetchone()


def test_a_gateway_budget_running_out_after_ten_answers_stops_and_the_rerun_sends_the_rest(tmp_path: Path) -> None:
    data, out = mednli_dir(tmp_path, 60), tmp_path / "run"  # 57 requests
    with FakeServer(responder=label_responder, refuse_after=10) as server:
        stopped = run(server.base_url, data, out, "--concurrency", "4")
        assert stopped.returncode == 2
        line = one_line_error(stopped)
        assert "Budget has been exceeded! Current cost: 10.0021, Max budget: 10.0" in line and "none stored" in line
        assert rows(out) == (10, 0), "the ten answers kept, not one refusal stored as a sample's answer"
        server.refuse_after = None  # the budget raised
        again = run(server.base_url, data, out, "--concurrency", "4")
    assert again.returncode == 0, again.stderr[-2000:]
    assert rows(out) == (57, 0)
    task = json.loads((out / "results.json").read_text())["tasks"]["mednli"]
    assert (task["n"], task["n_rejected"], task["n_errors"]) == (57, 0, 0)


def test_one_content_filtered_first_prompt_with_concurrency_1_is_that_samples_refusal(tmp_path: Path) -> None:
    data, out = mednli_dir(tmp_path, 12), tmp_path / "run"
    first: dict[str, str] = {}

    def plan(pid: str, attempt: int) -> str | None:
        first.setdefault("pid", pid)
        return "content-filter" if pid == first["pid"] else None

    with FakeServer(responder=label_responder, fault_for=plan) as server:
        proc = run(server.base_url, data, out, "--concurrency", "1")
        sent = sum(server.requests.values())
        again = run(server.base_url, data, out, "--concurrency", "1")
        assert sum(server.requests.values()) == sent, "a refusal for good is not sent again"
    assert proc.returncode == 0 and again.returncode == 0, proc.stderr[-2000:]
    assert json.loads((out / "results.json").read_text())["tasks"]["mednli"]["n_rejected"] == 1


@pytest.mark.parametrize("route", ["/v1/models", "/v1/chat/completions"])
def test_a_redirect_to_another_server_is_one_line_and_nothing_reaches_it(tmp_path: Path, route: str) -> None:
    data, out = mednli_dir(tmp_path, 8), tmp_path / "run"
    with FakeServer() as other, FakeServer(responder=label_responder, api_key="sk-secret-key") as server:
        server.redirect, server.redirect_paths = f"{other.base_url}{route.removeprefix('/v1')}", (route,)
        proc = run(server.base_url, data, out, "--api-key-env", "KEY", env={"KEY": "sk-secret-key"})
        assert other.auth_headers == [] and other.calls == [] and other.gets == 0, "nothing went to the other place"
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert f"{server.base_url}{route.removeprefix('/v1')} answered HTTP 307, a redirect to {server.redirect}" in line
    assert f'base_url = "{other.base_url}"' in line and "sk-secret-key" not in line
    assert rows(out) == (0, 0)


def test_a_model_list_trickling_a_byte_a_second_meets_a_total_deadline(tmp_path: Path) -> None:
    data, out = mednli_dir(tmp_path, 8), tmp_path / "run"
    with FakeServer(trickle_paths=("/v1/models",), trickle_s=0.5) as server:
        started = time.monotonic()
        proc = run(server.base_url, data, out, "--timeout", "2")
        elapsed = time.monotonic() - started
    assert proc.returncode == 2 and "/v1/models did not answer within 2 s" in one_line_error(proc)
    assert elapsed < 60, "the deadline is the whole call's, not each read's"


@pytest.fixture
def tls_speaking_port() -> Iterator[int]:
    """A port that answers anything with a TLS alert record, as an HTTPS server does to plain HTTP."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    conn.sendall(b"\x15\x03\x01\x00\x02\x02\x46")  # alert: protocol version
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def test_errors_name_their_cause(tmp_path: Path, tls_speaking_port: int) -> None:
    data = mednli_dir(tmp_path, 8)
    with FakeServer(responder=label_responder) as server:
        https = run(server.base_url.replace("http://", "https://"), data, tmp_path / "a")
        newline = run(server.base_url, data, tmp_path / "b", "--api-key-env", "KEY", env={"KEY": "sk-abc\n"})
        config = tmp_path / "endpoints.toml"
        config.write_text(f'[endpoints.bad]\nbase_url = "{server.base_url}"\nextra_headers = {{ "X Team" = "a" }}\n'
                          f'[endpoints.injected]\nbase_url = "{server.base_url}"\n'
                          'extra_headers = { "X-Team" = "${TEAM}" }\n')
        name = run("bad", data, tmp_path / "c", "--config", str(config))
        value = run("injected", data, tmp_path / "d", "--config", str(config), env={"TEAM": "a\r\nX-Admin: 1"})
        assert server.calls == [] and server.auth_headers == [], "none of them sent anything"
    plain = run(f"http://127.0.0.1:{tls_speaking_port}/v1", data, tmp_path / "e")
    expected = {
        https: "TLS handshake failed (WRONG_VERSION_NUMBER): the server on that port speaks plain HTTP, not HTTPS",
        newline: "environment variable KEY (api_key_env) cannot be sent: its value holds a line break (\\n) at its end",
        name: "extra_headers.X Team: 'X Team' is not a valid HTTP header name",
        value: "extra_headers.X-Team: its value holds a carriage return (\\r) at position 2",
        plain: "the server answered with something that is not HTTP",
    }
    for proc, cause in expected.items():
        assert proc.returncode == 2
        line = one_line_error(proc)
        assert cause in line and "is the server running?" not in line, line
        assert "sk-abc" not in line and "X-Admin" not in line


def test_a_lone_surrogate_in_an_answer_is_stored_scored_and_reported_not_called_store_damage(tmp_path: Path) -> None:
    data, out = mednli_dir(tmp_path, 8), tmp_path / "run"
    odd: dict[str, str] = {}

    def plan(pid: str, attempt: int) -> str | None:
        odd.setdefault("pid", pid)
        return "surrogate" if pid == odd["pid"] else ("usage-type" if len(pid) % 2 else "finish-type")

    with FakeServer(responder=label_responder, fault_for=plan) as server:
        proc = run(server.base_url, data, out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "damaged" not in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
    predictions = pl.read_parquet(out / "predictions" / "mednli.parquet")
    assert predictions["prediction"].str.contains("\ufffd lone surrogate").sum() == 1
    report = run_clue("report", str(out))
    assert report.returncode == 0 and "Traceback" not in report.stderr


def test_endpoints_check_reads_a_real_chat_answer_before_it_says_healthy(tmp_path: Path) -> None:
    with FakeServer(fault_for=lambda pid, attempt: "html200") as login_page:
        page = run_clue("endpoints", "check", login_page.base_url)
    assert page.returncode == 3 and "Traceback" not in page.stderr
    assert "chat_error" in page.stdout and "an HTML page: Sign in – Example SSO" in page.stdout
    with FakeServer() as other, FakeServer() as moved:
        moved.redirect = f"{other.base_url}/chat/completions"
        redirected = run_clue("endpoints", "check", moved.base_url)
        assert other.calls == [] and other.gets == 0
    assert redirected.returncode == 2 and "answered HTTP 307, a redirect to" in one_line_error(redirected)
    with FakeServer() as healthy:
        fine = run_clue("endpoints", "check", healthy.base_url)
    assert fine.returncode == 0 and "chat_error" not in fine.stdout, fine.stderr


def test_a_refusal_nested_100000_deep_on_every_request_stops_in_one_line(tmp_path: Path) -> None:
    """No parser's recursion limit reaches the user: the first wave's refusals alike stop the run in one line."""
    data, out = mednli_dir(tmp_path, 12), tmp_path / "run"
    with FakeServer(responder=label_responder, fault_for=lambda pid, attempt: "deep400") as server:
        proc = run(server.base_url, data, out, "--concurrency", "2")
        sent = sum(server.requests.values())
    line = one_line_error(proc)
    assert proc.returncode == 2 and "a JSON body nested too deep to read" in line
    assert sent == 3 and rows(out) == (0, 0)
