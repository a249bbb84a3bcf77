"""Hosted-API parameter rules, configuration errors found in the first wave, provider plumbing (real HTTP)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from clue_client.config import load_endpoints
from clue_client.errors import ConfigError
from conftest import SAMPLES, run_clue
from fake_server import FakeServer
from test_reasoning import answer
from test_run_cli import mednli_dir

PUBLIC = "meqsum,longhealth"
SCORING = ("--no-bertscore", "--no-umls", "--bootstrap", "20")


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr + proc.stdout
    # the progress log lines a non-terminal run prints (``requests N/M done, ...``) come before the one error line
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("requests ")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def stored(out: Path) -> int:
    if not (out / "store.sqlite").is_file():
        return 0
    with sqlite3.connect(out / "store.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]


def config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "endpoints.toml"
    path.write_text(body)
    return path


def clue_run(endpoint: str, out: Path, *extra: str, tasks: str = PUBLIC, env: dict | None = None):
    return run_clue("run", "--endpoint", endpoint, "--tasks", tasks, "--data-dir", str(SAMPLES), "--out", str(out),
                    *SCORING, *extra, env=env)


def test_openai_reasoning_model_misconfigured_stops_in_one_line_and_the_fix_completes(tmp_path: Path) -> None:
    with FakeServer(responder=answer, shape="openai-reasoning", model="o3-mini") as server:
        path = config(tmp_path, f'[endpoints.o3]\nbase_url = "{server.base_url}"\nmax_concurrency = 4\n')
        out = tmp_path / "run"
        proc = clue_run("o3", out, "--config", str(path))
        assert proc.returncode == 2
        line = one_line(proc)
        assert "all 4 first request(s) got the same rejection" in line and "(none stored)" in line
        assert "max_tokens" in line and 'max_tokens_field = "max_completion_tokens"' in line
        assert "omit_sampling = true" in line and str(path) in line
        assert 1 <= sum(server.requests.values()) <= 4, "at most max_concurrency requests before the stop"
        assert stored(out) == 0, "the rejections of the first wave are not final answers"

        path.write_text(f'[endpoints.o3]\nbase_url = "{server.base_url}"\nmax_concurrency = 4\n'
                        'max_tokens_field = "max_completion_tokens"\n')
        half = clue_run("o3", out, "--config", str(path))
        assert half.returncode == 2 and 'omit_sampling = true' in one_line(half) and "temperature" in one_line(half)

        path.write_text(f'[endpoints.o3]\nbase_url = "{server.base_url}"\nmax_concurrency = 4\nkind = "openai"\n')
        sent_before = len(server.calls)
        fixed = clue_run("o3", out, "--config", str(path))
        assert fixed.returncode == 0, fixed.stderr
        params = [c["params"] for c in server.calls[sent_before:]]
    assert params and all("max_completion_tokens" in p and "max_tokens" not in p for p in params)
    assert not any({"temperature", "top_p", "seed"} & set(p) for p in params)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sampling"] == "server default" and manifest["max_tokens_field"] == "max_completion_tokens"
    results = json.loads((out / "results.json").read_text())
    assert results["decoding"]["sampling"] == "server default"
    assert "sampling: server default" in fixed.stdout
    assert all(results["tasks"][t]["n"] > 0 and results["tasks"][t]["n_errors"] == 0 for t in PUBLIC.split(","))


@pytest.mark.parametrize(("fault", "expected"), [("litellm-model", "check the model id"),
                                                 ("litellm-key", "check the API key")])
def test_a_gateway_rejection_every_request_gets_stops_and_is_not_stored(tmp_path: Path, fault: str,
                                                                       expected: str) -> None:
    broken = {"on": True}
    with FakeServer(responder=answer, fault_for=lambda pid, n: fault if broken["on"] else None) as server:
        out = tmp_path / "run"
        proc = clue_run(server.base_url, out, "--concurrency", "3", tasks="meqsum")
        assert proc.returncode == 2
        line = one_line(proc)
        assert expected in line and "HTTP 400" in line
        assert sum(server.requests.values()) <= 3 and stored(out) == 0
        broken["on"] = False  # the gateway fixed: a rerun sends those requests again
        again = clue_run(server.base_url, out, "--concurrency", "3", tasks="meqsum")
        assert again.returncode == 0, again.stderr
    assert json.loads((out / "results.json").read_text())["tasks"]["meqsum"]["n_errors"] == 0


@pytest.mark.parametrize("fault", ["400ctx", "422ctx", "llama400ctx"])
def test_context_overflow_on_every_request_stays_a_per_sample_error(tmp_path: Path, fault: str) -> None:
    with FakeServer(responder=answer, fault_for=lambda pid, n: fault) as server:
        out = tmp_path / "run"
        proc = clue_run(server.base_url, out, "--concurrency", "2", tasks="meqsum")
        n = sum(server.requests.values())
    assert proc.returncode == 0, proc.stderr  # refused samples are scored as empty answers, as CLUE does
    task = json.loads((out / "results.json").read_text())["tasks"]["meqsum"]
    assert task["n_rejected"] == n == stored(out) > 2, "every sample was sent and its refusal stored"


def test_a_rejection_some_requests_get_is_recorded_per_sample(tmp_path: Path) -> None:
    seen: list[str] = []

    def plan(pid: str, attempt: int) -> str | None:
        seen.append(pid)
        return None if len(seen) == 1 else "litellm-model"

    with FakeServer(responder=answer, fault_for=plan) as server:
        out = tmp_path / "run"
        proc = clue_run(server.base_url, out, "--concurrency", "1", tasks="meqsum")
        n = sum(server.requests.values())
    assert proc.returncode == 0, proc.stderr
    task = json.loads((out / "results.json").read_text())["tasks"]["meqsum"]
    assert task["n_rejected"] == n - 1 > 0 and stored(out) == n, "recorded per sample, the run went on"


def test_insufficient_quota_stops_in_one_line_and_keeps_the_answers(tmp_path: Path) -> None:
    served: list[str] = []
    credit = {"added": False}

    def plan(pid: str, attempt: int) -> str | None:
        served.append(pid)
        return "quota" if len(served) > 4 and not credit["added"] else None

    data = ("--data-dir", str(mednli_dir(tmp_path, 15)))
    with FakeServer(responder=answer, fault_for=plan) as server:
        out = tmp_path / "run"
        proc = clue_run(server.base_url, out, "--concurrency", "1", *data, tasks="mednli")
        assert proc.returncode == 2
        line = one_line(proc)
        assert "insufficient_quota" in line and "retrying cannot help" in line
        assert sum(server.requests.values()) == 5, "no retry of a 429 that says the quota is gone"
        assert stored(out) == 4
        credit["added"] = True
        again = clue_run(server.base_url, out, "--concurrency", "1", *data, tasks="mednli")
        assert again.returncode == 0, again.stderr
        assert max(server.requests.values()) == 2 and sum(server.answered.values()) == stored(out)


def test_azure_style_endpoint_sends_the_key_only_in_api_key_and_the_version_on_every_call(tmp_path: Path) -> None:
    secret, header_secret = "azk-" + "5e1f9a0c3b" * 3, "orhdr-" + "77ab" * 6
    env = {"CLUE_AZURE_KEY": secret, "CLUE_HDR_SECRET": header_secret}
    with FakeServer(responder=answer, azure=True, api_key=secret, model="gpt-4o") as server:
        path = config(tmp_path, f'[endpoints.azure]\nbase_url = "{server.base_url}"\nmodel = "gpt-4o"\n'
                                'api_key_env = "CLUE_AZURE_KEY"\napi_key_header = "api-key"\n'
                                'query = { api-version = "2024-10-21" }\n'
                                'extra_headers = { X-Trace = "clue", X-Secret = "${CLUE_HDR_SECRET}" }\n')
        out = tmp_path / "run"
        proc = clue_run("azure", out, "--config", str(path), env=env)
        assert proc.returncode == 0, proc.stderr
        calls = server.calls
        assert calls and all(c["query"] == {"api-version": "2024-10-21"} for c in calls)
        assert all(c["headers"].get("api-key") == secret and "Authorization" not in c["headers"] for c in calls)
        assert all(c["headers"].get("X-Secret") == header_secret and c["headers"]["X-Trace"] == "clue" for c in calls)
        assert set(server.auth_headers) == {""}, "no Authorization header on any call, /models included"
        (tmp_path / "bare").mkdir()
        bare = config(tmp_path / "bare", f'[endpoints.azure]\nbase_url = "{server.base_url}"\nmodel = "gpt-4o"\n'
                                         'api_key_env = "CLUE_AZURE_KEY"\napi_key_header = "api-key"\n')
        missing = clue_run("azure", tmp_path / "run2", "--config", str(bare), env=env)
        assert missing.returncode == 2 and "Resource not found" in one_line(missing)
    endpoint = load_endpoints(path)["azure"]
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        assert set(endpoint.secrets()) == {secret, header_secret}
    for text in (proc.stdout, proc.stderr, missing.stdout, missing.stderr):
        assert secret not in text and header_secret not in text
    for file in (p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".toml"):
        data = file.read_bytes()
        assert secret.encode() not in data and header_secret.encode() not in data, file


def test_extra_body_and_reasoning_effort_are_sent_recorded_and_part_of_the_key(tmp_path: Path) -> None:
    with FakeServer(responder=answer) as server:
        body = f'[endpoints.qwen]\nbase_url = "{server.base_url}"\n'
        path = config(tmp_path, body + "extra_body = { chat_template_kwargs = { enable_thinking = false } }\n")
        out = tmp_path / "run"
        first = clue_run("qwen", out, "--config", str(path), "--reasoning-effort", "low", tasks="meqsum")
        assert first.returncode == 0, first.stderr
        n = len(server.calls)
        assert all(c["params"]["chat_template_kwargs"] == {"enable_thinking": False} for c in server.calls)
        assert all(c["params"]["reasoning_effort"] == "low" for c in server.calls)
        assert "reasoning effort low" in first.stdout
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["extra_body"] == {"chat_template_kwargs": {"enable_thinking": False}}
        assert manifest["reasoning_effort"] == "low"
        same = clue_run("qwen", out, "--config", str(path), "--reasoning-effort", "low", tasks="meqsum")
        assert same.returncode == 0 and len(server.calls) == n, "same body: answered from the store"
        path.write_text(body + "extra_body = { chat_template_kwargs = { enable_thinking = true } }\n")
        other = clue_run("qwen", out, "--config", str(path), "--reasoning-effort", "low", tasks="meqsum")
        assert other.returncode == 0 and len(server.calls) == 2 * n, "another body is another request key"


@pytest.mark.parametrize(("line", "expected"), [
    ('extra_body = { api_token = "${SECRET}" }', "extra_body is stored with every request"),
    ('max_tokens_field = "max_new_tokens"', "key 'max_tokens_field'"),
    ('reasoning_effort = "extreme"', "key 'reasoning_effort'"),
    ("reasoning_budget = -5", "key 'reasoning_budget'"),
    ('extra_headers = { X-Key = 5 }', "key 'extra_headers.X-Key'"),
])
def test_bad_provider_keys_are_one_line(tmp_path: Path, line: str, expected: str) -> None:
    path = config(tmp_path, f'[endpoints.p]\nbase_url = "https://api.example.com/v1"\n{line}\n')
    with pytest.raises(ConfigError) as info:
        load_endpoints(path)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_an_unset_header_variable_is_one_line_before_anything_is_sent(tmp_path: Path, server: FakeServer) -> None:
    path = config(tmp_path, f'[endpoints.r]\nbase_url = "{server.base_url}"\n'
                            'extra_headers = { Authorization = "Bearer ${CLUE_SURELY_UNSET_TOKEN}" }\n')
    proc = clue_run("r", tmp_path / "run", "--config", str(path), tasks="meqsum")
    assert proc.returncode == 2
    assert "extra_headers.Authorization: environment variable CLUE_SURELY_UNSET_TOKEN is not set" in one_line(proc)
    assert server.calls == []


def test_endpoints_check_follows_the_rules_and_the_azure_auth(tmp_path: Path) -> None:
    secret = "azk-" + "0c3b5e1f9a" * 3
    with FakeServer(responder=answer, shape="openai-reasoning", model="o3", azure=True, api_key=secret) as server:
        path = config(tmp_path, f'[endpoints.az]\nbase_url = "{server.base_url}"\nmodel = "o3"\nkind = "openai"\n'
                                'api_key_env = "CLUE_AZ"\napi_key_header = "api-key"\nquery = { api-version = "v1" }\n')
        checked = run_clue("endpoints", "check", "az", "--config", str(path), env={"CLUE_AZ": secret})
        assert checked.returncode == 0, checked.stderr
        assert "chat_status     200" in checked.stdout and secret not in checked.stdout + checked.stderr
        chat = server.calls[-1]
    assert chat["params"]["max_completion_tokens"] == 4 and "temperature" not in chat["params"]
    assert chat["headers"]["api-key"] == secret and "Authorization" not in chat["headers"]
    assert chat["query"] == {"api-version": "v1"}
