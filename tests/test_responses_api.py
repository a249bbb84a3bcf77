"""OpenAI's Responses API over real HTTP: ``api = "responses"`` (or a Responses-only model with kind = "openai")
sends ``input``, ``max_output_tokens``, ``reasoning.effort`` and ``store: false``; the answer is the message's
``output_text``, summaries are reasoning, an incomplete response is a truncated one; the hosted-rules checks
(first-wave rejections, quota) name the Responses API's fields; batch files and ``endpoints check`` follow it.

The loopback server answers ``/v1/responses`` as ``fake_shapes.py`` documents (sources cited there)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from openai.types.responses import Response

from clue_client.config import load_endpoints
from clue_client.engine.outcome import Action
from clue_client.engine.wire.responses import parse_response
from clue_client.errors import ConfigError
from conftest import SAMPLES, run_clue
from fake_server import FakeServer
from test_hosted_rules import clue_run, config, one_line, stored
from test_reasoning import answer

LIMITS = {"mednli": 20, "meqsum": 512}


def endpoint(server: FakeServer, tmp_path: Path, extra: str = "") -> Path:
    return config(tmp_path, f'[endpoints.r]\nbase_url = "{server.base_url}"\nmax_concurrency = 2\n{extra}\n')


def results(out: Path) -> dict[str, Any]:
    return json.loads((out / "results.json").read_text())


def test_a_responses_only_model_goes_over_the_responses_api_without_being_stored(tmp_path: Path) -> None:
    with FakeServer(responder=answer, shape="openai-reasoning", model="o3-pro") as server:
        path = endpoint(server, tmp_path, 'kind = "openai"\nreasoning_effort = "low"\n'
                                          'extra_body = { reasoning = { summary = "auto" } }')
        out = tmp_path / "run"
        proc = clue_run("r", out, "--config", str(path), tasks="mednli,meqsum")
        assert proc.returncode == 0, proc.stderr
        calls = list(server.calls)
        # the same prompts as chat completions are other requests (the API is part of the key): all sent again
        path.write_text(path.read_text() + 'api = "chat"\n')
        again = clue_run("r", out, "--config", str(path), tasks="mednli,meqsum")
        assert again.returncode == 0, again.stderr
        assert [c["api"] for c in server.calls[len(calls):]] == ["chat"] * len(calls)
    assert {c["api"] for c in calls} == {"responses"}
    params = [c["params"] for c in calls]
    assert all(p["store"] is False and p["reasoning"] == {"effort": "low", "summary": "auto"} for p in params)
    assert {p["max_output_tokens"] for p in params} == set(LIMITS.values())
    assert not any({"max_tokens", "max_completion_tokens", "temperature", "top_p", "reasoning_effort"} & set(p)
                   for p in params)
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["api"], manifest["max_tokens_field"], manifest["sampling"]) == (
        "chat", "max_completion_tokens", "server default"), "the manifest records the last run's API"


def test_answers_summaries_and_incomplete_responses_are_read_as_on_chat(tmp_path: Path) -> None:
    with FakeServer(responder=answer, shape="openai-reasoning", model="o3-pro") as server:
        path = endpoint(server, tmp_path, 'kind = "openai"\nextra_body = { reasoning = { summary = "auto" } }')
        out = tmp_path / "run"
        proc = clue_run("r", out, "--config", str(path), tasks="mednli,meqsum")
        assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "manifest.json").read_text())["api"] == "responses"
    tasks = results(out)["tasks"]
    mednli, meqsum = tasks["mednli"], tasks["meqsum"]
    # 20 tokens end every MedNLI thought: an incomplete response without a message, as chat's cut-off thinking
    assert mednli["n_reasoning_truncated"] == mednli["n_truncated"] == mednli["n"] > 0 and mednli["score"] == 0.0
    assert meqsum["n_reasoning_truncated"] == meqsum["n_truncated"] == 0 and meqsum["score"] > 0
    frame = pl.read_parquet(out / "predictions" / "meqsum.parquet")
    assert frame["reasoning"].str.starts_with("Weighing entailment").all(), "the summary is the reasoning"
    assert not frame["prediction"].str.contains("Weighing").any() and (frame["reasoning_tokens"] > 0).all()
    assert (frame["completion_tokens"] > frame["reasoning_tokens"]).all() and (frame["prompt_tokens"] > 0).all()


@pytest.mark.parametrize(("shape", "extra", "named"), [
    ("openai-reasoning", "", 'omit_sampling = true'),  # a reasoning model and CLUE's temperature 0
    ("plain", 'reasoning_effort = "low"', "remove reasoning_effort"),  # reasoning.effort for a model without
])
def test_a_first_wave_rejected_alike_names_the_responses_field(tmp_path: Path, shape: str, extra: str,
                                                               named: str) -> None:
    with FakeServer(responder=answer, shape=shape) as server:
        out = tmp_path / "run"
        proc = clue_run("r", out, "--config", str(endpoint(server, tmp_path, f'api = "responses"\n{extra}')),
                        tasks="meqsum")
        n = sum(server.requests.values())
    assert proc.returncode == 2
    line = one_line(proc)
    # the first wave: one request per concurrency slot (2 here), at least engine.alike.MIN_ALIKE (3)
    assert "all 3 first request(s) got the same rejection" in line and named in line, line
    assert "max_tokens_field" not in line and n <= 3 and stored(out) == 0


def test_quota_and_a_chat_request_for_a_responses_only_model_stop_in_one_line(tmp_path: Path) -> None:
    with FakeServer(responder=answer, fault_for=lambda pid, n: "quota") as server:
        proc = clue_run("r", tmp_path / "quota", "--config", str(endpoint(server, tmp_path, 'api = "responses"')),
                        tasks="meqsum")
    assert proc.returncode == 2 and "insufficient_quota" in one_line(proc)
    with FakeServer(responder=answer, model="gpt-5-pro", responses_only=True) as server:
        proc = clue_run(server.base_url, tmp_path / "chat", tasks="meqsum")  # a URL endpoint: chat
    assert proc.returncode == 2
    assert "only supported in v1/responses" in one_line(proc) and 'set api = "responses"' in one_line(proc)


def test_endpoints_check_and_batch_files_use_the_responses_api(tmp_path: Path) -> None:
    with FakeServer(responder=answer, shape="openai-reasoning", model="o3-pro", responses_only=True) as server:
        path = endpoint(server, tmp_path, 'kind = "openai"')
        checked = run_clue("endpoints", "check", "r", "--config", str(path))
        assert checked.returncode == 0, checked.stderr
        assert "responses_status 200" in checked.stdout and server.calls[-1]["params"]["store"] is False
        run = tmp_path / "batch"
        exported = run_clue("batch", "export", "--endpoint", "r", "--config", str(path), "--model", "o3-pro",
                            "--tasks", "meqsum", "--data-dir", str(SAMPLES), "--run", str(run))
        assert exported.returncode == 0, exported.stderr
        lines = [json.loads(line) for line in (run / "batch_requests.jsonl").read_text().splitlines()]
        assert {line["url"] for line in lines} == {"/v1/responses"}
        assert all(line["body"]["store"] is False and "input" in line["body"] for line in lines)
        # the batch engine, played over real HTTP: each body POSTed to the server's /v1/responses
        base = server.base_url.removesuffix("/v1")
        output = [{"id": f"batch_req_{i}", "custom_id": line["custom_id"], "error": None,
                   "response": {"status_code": 200, "request_id": f"req_{i}",
                                "body": httpx.post(base + line["url"], json=line["body"]).json()}}
                  for i, line in enumerate(lines)]
    (tmp_path / "out.jsonl").write_text("".join(json.dumps(record) + "\n" for record in output))
    imported = run_clue("batch", "import", str(tmp_path / "out.jsonl"), "--run", str(run), "--no-bertscore",
                        "--no-umls", "--bootstrap", "20")
    assert imported.returncode == 0, imported.stderr
    meqsum = results(run)["tasks"]["meqsum"]
    assert meqsum["n"] == len(lines) and meqsum["n_errors"] == 0 and meqsum["score"] > 0


@pytest.mark.parametrize(("keys", "expected"), [
    ('api = "responses"\nmax_tokens_field = "max_tokens"', "one output limit, max_output_tokens"),
    ('api = "responses"\nsampling = { seed = 1 }', "takes no seed"),
    ('api = "responses"\nextra_body = { store = true }', "store is always sent as false"),
    ('api = "completions"', "key 'api'"),
])
def test_the_responses_key_is_checked_where_the_file_is_read(tmp_path: Path, keys: str, expected: str) -> None:
    path = config(tmp_path, f'[endpoints.r]\nbase_url = "http://127.0.0.1:9/v1"\n{keys}\n')
    with pytest.raises(ConfigError, match=expected):
        load_endpoints(path)


def _server_response(server: FakeServer, body: dict[str, Any]) -> dict[str, Any]:
    return httpx.post(f"{server.base_url}/responses", json=body).json()


def test_the_server_answers_in_the_sdk_types_and_the_wire_reads_every_ending() -> None:
    turn = [{"role": "user", "content": "Is the premise entailed?"}]
    with FakeServer(shape="openai-reasoning") as server:
        whole = _server_response(server, {"model": "m", "input": turn, "max_output_tokens": 512, "store": False,
                                          "reasoning": {"summary": "auto"}})
        cut = _server_response(server, {"model": "m", "input": turn, "max_output_tokens": 16, "store": False})
    for body in (whole, cut):
        Response.model_validate(body)  # the openai SDK's own types: the fake answers in OpenAI's shape
    done = parse_response(json.dumps(whole).encode())
    assert done.action is Action.DONE and done.payload["finish_reason"] == "stop"
    assert done.payload["text"].startswith("ENTAILMENT") and done.payload["reasoning"].startswith("Weighing")
    stopped = parse_response(json.dumps(cut).encode()).payload
    assert (stopped["text"], stopped["finish_reason"], stopped["reasoning"]) == ("", "length", None)
    assert stopped["reasoning_tokens"] == stopped["completion_tokens"] == 16
    failed = {**whole, "status": "failed", "error": {"code": "server_error", "message": "The model failed"}}
    assert parse_response(json.dumps(failed).encode()).action is Action.RETRY
    refused = {**whole, "output": [{"type": "message", "id": "m", "role": "assistant", "status": "completed",
                                    "content": [{"type": "refusal", "refusal": "I can't help with that."}]}]}
    assert parse_response(json.dumps(refused).encode()).payload["text"] == "", "a refusal is no answer"
    assert parse_response(b'{"output": 3}').action is Action.RETRY
