"""``clue batch export|import`` end to end through the real CLI: round trip, partial imports, resume online.

The batch engine is played by the test: it reads ``batch_requests.jsonl`` and writes an output file in the
OpenAI Batch API shape, answering each request from its prompt, the same way the loopback server answers
the online run, so an imported run and an online run must give the same results.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import polars as pl
import pytest

from conftest import SAMPLES, run_clue
from fake_server import FakeServer, prompt_id

MODEL = "fake-model"
LABELS = ("entailment", "neutral", "contradiction")
QUIET_SCORING = ("--no-bertscore", "--no-umls", "--bootstrap", "200")


def answer(body: dict[str, Any]) -> str:
    """A deterministic MedNLI-style answer from the prompt alone (right for some samples, wrong for others)."""
    last = body["messages"][-1]["content"]
    return LABELS[sum(map(ord, last)) % 3].upper()


def export(url: str, run: Path) -> list[dict[str, Any]]:
    proc = run_clue("batch", "export", "--endpoint", url, "--tasks", "mednli", "--data-dir", str(SAMPLES),
                    "--run", str(run), "--model", MODEL)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in (run / "batch_requests.jsonl").read_text().splitlines()]


def success(request: dict[str, Any]) -> dict[str, Any]:
    body = request["body"]
    completion = {"id": "chatcmpl-x", "object": "chat.completion", "model": body["model"],
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": answer(body)},
                               "finish_reason": "stop"}],
                  "usage": {"prompt_tokens": 100, "completion_tokens": 2, "total_tokens": 102}}
    return {"id": "batch_req_ok", "custom_id": request["custom_id"],
            "response": {"status_code": 200, "request_id": "req_1", "body": completion}, "error": None}


def expired(request: dict[str, Any]) -> dict[str, Any]:
    return {"id": "batch_req_exp", "custom_id": request["custom_id"], "response": None,
            "error": {"code": "batch_expired", "message": "This request could not be executed before the window expired"}}


def too_long(request: dict[str, Any]) -> dict[str, Any]:
    body = {"error": {"message": "This model's maximum context length is 8 tokens", "type": "invalid_request_error"}}
    return {"id": "batch_req_400", "custom_id": request["custom_id"],
            "response": {"status_code": 400, "request_id": "req_2", "body": body}, "error": None}


def write_output(path: Path, lines: list[dict[str, Any] | str]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def import_(output: Path, run: Path) -> Any:
    return run_clue("batch", "import", str(output), "--run", str(run), *QUIET_SCORING)


def predictions(run: Path) -> pl.DataFrame:
    return pl.read_parquet(run / "predictions" / "mednli.parquet")


def results(run: Path) -> dict[str, Any]:
    return json.loads((run / "results.json").read_text())


@pytest.fixture
def server() -> Any:
    with FakeServer(model=MODEL, responder=answer) as fake:
        yield fake


def test_round_trip_in_two_imports_equals_an_online_run(server: FakeServer, tmp_path: Path) -> None:
    online = tmp_path / "online"
    proc = run_clue("run", "--endpoint", server.base_url, "--model", MODEL, "--tasks", "mednli",
                    "--data-dir", str(SAMPLES), "--out", str(online), *QUIET_SCORING)
    assert proc.returncode == 0, proc.stderr
    sent_online = server.requests.total()

    run = tmp_path / "batch"
    requests = export(server.base_url, run)
    assert server.requests.total() == sent_online, "export with --model and no LongHealth never calls the server"
    samples = pl.read_parquet(run / "samples" / "mednli.parquet")
    assert sorted(r["custom_id"] for r in requests) == sorted(samples["key"].unique().to_list())
    assert all(r["method"] == "POST" and r["url"] == "/v1/chat/completions" and r["body"]["model"] == MODEL
               for r in requests)
    assert len(requests) >= 4

    # first output: two answers, one expired request, the rest missing; plus a foreign and a broken line
    foreign = {**success(requests[0]), "custom_id": "0" * 32}
    first = write_output(tmp_path / "out1.jsonl",
                         [success(requests[0]), "{this is not json", foreign, success(requests[1]), expired(requests[2])])
    proc = import_(first, run)
    assert proc.returncode == 3, proc.stderr
    assert "skipped line 2: malformed: not JSON" in proc.stderr
    assert "skipped line 3: custom_id '00000000000000000000000000000000' is not a request of this run" in proc.stderr
    frame = predictions(run)
    by_key = {r["custom_id"]: r for r in requests}
    for row in frame.iter_rows(named=True):
        if row["key"] in (requests[0]["custom_id"], requests[1]["custom_id"]):
            assert row["prediction"] == answer(by_key[row["key"]]["body"]) and row["error"] is None
        elif row["key"] == requests[2]["custom_id"]:
            assert row["prediction"] is None and "batch_expired" in row["error"]
        else:
            assert row["prediction"] is None and row["error"] is None, "an unanswered sample stays missing"
    partial = results(run)["tasks"]["mednli"]
    assert partial["n"] == 2 and partial["n_errors"] == 1

    # a second export writes only what is still needed: the expired request and the missing ones
    again = export(server.base_url, run)
    assert {r["custom_id"] for r in again} == {r["custom_id"] for r in requests[2:]}
    second = write_output(tmp_path / "out2.jsonl", [success(r) for r in again])
    proc = import_(second, run)
    assert proc.returncode == 0, proc.stderr

    assert results(run) == results(online), "an imported run scores exactly like an online run"
    online_frame = predictions(online).sort("sample_id")
    batch_frame = predictions(run).sort("sample_id")
    assert batch_frame["prediction"].to_list() == online_frame["prediction"].to_list()
    imports = json.loads((run / "manifest.json").read_text())["batch_imports"]
    assert [(i["file"], i["answered"], i["skipped"]) for i in imports] == [("out1.jsonl", 2, 2), ("out2.jsonl", len(again), 0)]


def test_a_partial_import_is_completed_by_an_online_resume(server: FakeServer, tmp_path: Path) -> None:
    run = tmp_path / "run"
    requests = export(server.base_url, run)
    output = write_output(tmp_path / "out.jsonl", [success(requests[0]), too_long(requests[1]), expired(requests[2])])
    assert import_(output, run).returncode == 3

    proc = run_clue("run", "--endpoint", server.base_url, "--model", MODEL, "--tasks", "mednli",
                    "--data-dir", str(SAMPLES), "--out", str(run), *QUIET_SCORING)
    assert proc.returncode == 0, "the request the batch refused as too long is final: scored as an empty answer"
    pid: Callable[[dict[str, Any]], str] = lambda r: prompt_id(r["body"]["messages"])
    expected = {pid(r) for r in requests[2:]}  # the expired one (retryable) and the never-answered ones
    assert set(server.requests) == expected and set(server.requests.values()) == {1}
    final = results(run)["tasks"]["mednli"]
    assert final["n"] == len(requests) and final["n_errors"] == 0 and final["n_rejected"] == 1
    assert "maximum context length is 8 tokens" in proc.stderr and "scored as empty answers" in proc.stderr


def test_user_errors_are_one_line_and_change_nothing(server: FakeServer, tmp_path: Path) -> None:
    run = tmp_path / "run"
    requests = export(server.base_url, run)
    stranger = write_output(tmp_path / "other.jsonl", [{**success(requests[0]), "custom_id": "f" * 32}])
    cases = [
        (("batch", "import", str(stranger), "--run", str(run)), "none of its 1 line(s) answers a request"),
        (("batch", "import", str(tmp_path / "absent.jsonl"), "--run", str(run)), "batch output file not found"),
        (("batch", "import", str(stranger), "--run", str(tmp_path / "nowhere")), "a clue run folder?"),
        (("batch", "export", "--endpoint", server.base_url, "--tasks", "nosuch", "--run", str(run)), "unknown task"),
    ]
    for args, needle in cases:
        proc = run_clue(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert needle in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (run / "results.json").exists()
    assert server.requests.total() == 0
