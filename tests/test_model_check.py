"""Configuration errors found before the first chat request: the model check and the server's own words."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from clue_client.config import Endpoint
from clue_client.errors import UserError
from clue_client.runner import _unlisted_model
from conftest import SAMPLES, run_clue
from fake_server import FakeServer
from test_run_cli import one_line_error

RUN = ("run", "--tasks", "mednli", "--data-dir", str(SAMPLES), "--no-bertscore", "--no-umls")


def keyed_config(tmp_path: Path, url: str, extra: str = "") -> Path:
    config = tmp_path / "endpoints.toml"
    config.write_text(f'[endpoints.gw]\nbase_url = "{url}"\napi_key_env = "CLUE_TEST_KEY"\n{extra}')
    return config


@pytest.mark.parametrize("how", ["flag", "config"])
def test_a_model_the_server_does_not_list_stops_before_sending(tmp_path: Path, how: str) -> None:
    with FakeServer(model="served-a") as server:
        config = keyed_config(tmp_path, server.base_url, 'model = "served-typo"\n' if how == "config" else "")
        model = ["--model", "served-typo"] if how == "flag" else []
        proc = run_clue(*RUN, "--endpoint", "gw", "--config", str(config), *model, "--out", str(tmp_path / "run"),
                        env={"CLUE_TEST_KEY": "k"})
        assert proc.returncode == 2
        line = one_line_error(proc)
        assert "model 'served-typo' is not served by" in line and "it lists served-a" in line
        assert sum(server.requests.values()) == 0, "no chat request may be sent"
    assert not (tmp_path / "run" / "store.sqlite").exists()


def test_no_model_check_sends_the_model_as_given(tmp_path: Path) -> None:
    with FakeServer(model="served-a") as server:
        out = tmp_path / "run"
        proc = run_clue(*RUN, "--endpoint", server.base_url, "--model", "alias-b", "--no-model-check", "--out", str(out))
        assert proc.returncode == 0, proc.stderr
        assert sum(server.requests.values()) > 0
    assert json.loads((out / "manifest.json").read_text())["model"] == "alias-b"


def test_a_listed_model_and_an_empty_list_pass(tmp_path: Path) -> None:
    with FakeServer(model="served-a") as server:
        proc = run_clue(*RUN, "--endpoint", server.base_url, "--model", "served-a", "--out", str(tmp_path / "a"))
        assert proc.returncode == 0, proc.stderr
    with FakeServer(hidden_routes=("/v1/models",)) as bare:  # no model list at all: nothing to check against
        proc = run_clue(*RUN, "--endpoint", bare.base_url, "--model", "anything", "--out", str(tmp_path / "b"))
        assert proc.returncode == 0, proc.stderr


def test_a_gateway_refusing_the_key_with_400_stops_in_one_line(tmp_path: Path) -> None:
    """LiteLLM without a database answers a bad key with 400, not 401: still no chat request is sent."""
    with FakeServer(api_key="sk-right-key", auth_status=400) as server:
        config = keyed_config(tmp_path, server.base_url)
        proc = run_clue(*RUN, "--endpoint", "gw", "--config", str(config), "--out", str(tmp_path / "run"),
                        env={"CLUE_TEST_KEY": "sk-wrong-key"})
        assert proc.returncode == 2
        line = one_line_error(proc)
        assert "HTTP 400 invalid_request_error: Incorrect API key provided" in line
        assert "sk-wrong-key" not in proc.stderr + proc.stdout
        assert sum(server.requests.values()) == 0


def test_azure_deployment_names_only_warn(caplog: pytest.LogCaptureFixture) -> None:
    """Azure's /models names base models, never the deployment a request names: a warning, not a stop."""
    azure = Endpoint(name="az", base_urls=("https://lab.openai.azure.com/openai/v1",))
    with caplog.at_level(logging.WARNING, logger="clue_client"):
        _unlisted_model(azure, "my-gpt4o-deployment", ["gpt-4o", "gpt-4o-mini"])
    assert "my-gpt4o-deployment" in caplog.text and "gpt-4o-mini" in caplog.text
    other = Endpoint(name="gw", base_urls=("https://gateway.example.org/v1",))
    with pytest.raises(UserError, match="is not served by https://gateway.example.org/v1: it lists gpt-4o, gpt-4o-mini"):
        _unlisted_model(other, "my-gpt4o-deployment", ["gpt-4o", "gpt-4o-mini"])


def test_a_tgi_server_answers_any_model_name_so_it_is_only_warned(tmp_path: Path) -> None:
    with FakeServer(model="org/served-model") as server:
        config = tmp_path / "endpoints.toml"
        config.write_text(f'[endpoints.tgi]\nbase_url = "{server.base_url}"\nkind = "tgi"\nmodel = "tgi"\n')
        proc = run_clue(*RUN, "--endpoint", "tgi", "--config", str(config), "--out", str(tmp_path / "run"))
        assert proc.returncode == 0, proc.stderr
        assert sum(server.requests.values()) > 0
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("clue: warning:")]
    assert len(warnings) == 1 and "model 'tgi' is not among the ids" in warnings[0] and "org/served-model" in warnings[0]


def test_endpoints_check_prints_the_servers_own_error(tmp_path: Path) -> None:
    with FakeServer(fault_for=lambda pid, attempt: "503") as failing:
        proc = run_clue("endpoints", "check", failing.base_url)
    assert proc.returncode == 3, proc.stderr
    assert "chat_status     503" in proc.stdout and "chat_error      HTTP 503 server_error: server error" in proc.stdout
    with FakeServer(api_key="sk-right-key", auth_status=400) as gateway:
        config = keyed_config(tmp_path, gateway.base_url)
        refused = run_clue("endpoints", "check", "gw", "--config", str(config), env={"CLUE_TEST_KEY": "sk-wrong-key"})
        assert refused.returncode == 2
        assert "HTTP 400 invalid_request_error: Incorrect API key provided" in one_line_error(refused)
        unknown = run_clue("endpoints", "check", "gw", "--config", str(config), "--model", "nope",
                           env={"CLUE_TEST_KEY": "sk-right-key"})
        assert unknown.returncode == 2 and "model 'nope' is not served by" in one_line_error(unknown)
        assert sum(gateway.requests.values()) == 0
