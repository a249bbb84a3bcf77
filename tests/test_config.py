"""endpoints.toml validation: every mistake is one line naming file, endpoint and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from clue_client.config import load_endpoints, resolve_endpoint
from clue_client.errors import ConfigError

from conftest import REPO
from fake_server import FakeServer


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "endpoints.toml"
    path.write_text(text)
    return path


def test_shipped_file_has_the_four_examples() -> None:
    endpoints = load_endpoints(REPO / "endpoints.toml")
    assert {"local", "vllm", "tgi", "openai"} <= set(endpoints)
    assert endpoints["local"].embedded and not endpoints["local"].hosted
    assert endpoints["vllm"].base_url == "http://127.0.0.1:8000/v1" and not endpoints["vllm"].hosted
    assert endpoints["tgi"].base_url == "http://127.0.0.1:8080/v1"
    assert endpoints["openai"].hosted and endpoints["openai"].api_key_env == "OPENAI_API_KEY"
    assert not endpoints["openai"].allow_credentialed_data


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[endpoints.a]\nbase_url = "http://127.0.0.1:1/v1"\nmax_concurency = 3\n', "endpoint 'a': unknown key 'max_concurency'"),
        ('[endpoints.a]\nbase_url = "http://127.0.0.1:1/v1"\nmax_concurrency = "many"\n', "endpoint 'a': key 'max_concurrency'"),
        ('[endpoints.a]\nbase_url = "http://127.0.0.1:1/v1"\nkind = "sglang"\n', "endpoint 'a': key 'kind'"),
        ('[endpoints.a]\nmodel = "m"\n', "endpoint 'a': key '(table)': needs base_url"),
        ('[endpoints.a]\nbase_url = "ftp://x"\n', "is not an http(s) URL"),
        ('[endpoints.a]\nbase_url = "http://127.0.0.1:99999/v1"\n', "has an invalid port (expected a number from 1 to 65535)"),
        ('[endpoints.a]\nbase_url = "http://[::1/v1"\n', "is not a valid URL"),
        ('[endpoints.a]\nbase_url = "http://999.0.0.1:8000"\n', "has an invalid IPv4 address"),
        ('[endpoints.a]\nbase_urls = ["http://127.0.0.1:8000", "http://127.0.0.1:0"]\n', "'http://127.0.0.1:0' has an invalid port"),
        ('[endpoints.a]\nbase_url = "http://127.0.0.1:1"\nsampling = { temperature = -1.0 }\n', "key 'sampling.temperature'"),
        ('[endpoints.a]\nbase_url = "http://127.0.0.1:1"\nsampling = { top_p = 0.0 }\n', "key 'sampling.top_p'"),
        ('[endpoints.a]\nbase_url = "http://127.0.0.1:1"\nsampling = { temprature = 0.5 }\n', "unknown key 'sampling.temprature'"),
        ('[endpoints.a\nbase_url = 1\n', "invalid TOML"),
        ('[other]\nx = 1\n', "unknown top-level key 'other'"),
    ],
)
def test_bad_config_is_one_line(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_endpoints(path)
    message = str(info.value)
    assert expected in message and str(path) in message and "\n" not in message


def test_missing_env_var_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLUE_TEST_KEY", raising=False)
    path = write(tmp_path, '[endpoints.h]\nbase_url = "https://api.example.com/v1"\napi_key_env = "CLUE_TEST_KEY"\n')
    endpoint = resolve_endpoint("h", path)
    with pytest.raises(ConfigError, match=r"endpoint 'h': api_key_env: environment variable CLUE_TEST_KEY is not set"):
        endpoint.api_key()
    monkeypatch.setenv("CLUE_TEST_KEY", "sk-test")
    assert endpoint.api_key() == "sk-test"


def test_hosted_defaults_follow_the_host(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[endpoints.lan]\nbase_url = "http://192.168.1.5:8000/v1"\n'
        '[endpoints.cloud]\nbase_url = "https://llm.example.com/v1"\n'
        '[endpoints.forced]\nbase_url = "http://127.0.0.1:8000"\nhosted = true\n'
        '[endpoints.replicas]\nbase_urls = ["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"]\n',
    )
    endpoints = load_endpoints(path)
    assert not endpoints["lan"].hosted
    assert endpoints["cloud"].hosted
    assert endpoints["forced"].hosted and endpoints["forced"].base_url == "http://127.0.0.1:8000/v1"
    assert endpoints["replicas"].base_urls == ("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1")


def test_url_where_a_name_is_expected() -> None:
    local = resolve_endpoint("http://127.0.0.1:9/v1")
    assert local.base_urls == ("http://127.0.0.1:9/v1",) and not local.hosted
    assert resolve_endpoint("https://api.example.org").hosted


def test_unknown_endpoint_lists_known_names(tmp_path: Path) -> None:
    path = write(tmp_path, '[endpoints.one]\nbase_url = "http://127.0.0.1:1"\n')
    with pytest.raises(ConfigError, match=r"no endpoint named 'two' \(known: one"):
        resolve_endpoint("two", path)


def test_identity_ignores_replica_order_but_not_the_model() -> None:
    a = resolve_endpoint("http://127.0.0.1:1/v1")
    assert a.identity("m1") != a.identity("m2")


def _commented_examples() -> dict[str, str]:
    """The shipped file's commented example tables, uncommented, by endpoint name."""
    text = (REPO / "endpoints.toml").read_text().split("# ---- Commented, working examples", 1)[1]
    blocks: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        if line.startswith("# [endpoints."):
            name = line.removeprefix("# [endpoints.").rstrip("]")
            blocks[name] = line[2:] + "\n"
        elif name and line.startswith("# ") and "=" in line.split("#")[1]:
            blocks[name] += line[2:] + "\n"
        elif not line.strip():
            name = None
    return blocks


def test_shipped_commented_examples_are_valid_and_do_what_they_say(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clue_client.engine.hosted_rules import request_rules

    blocks = _commented_examples()
    assert set(blocks) == {"openai-o4-mini", "openai-o3-pro", "azure", "openrouter", "qwen3-nothink", "r1-vllm"}
    endpoints = load_endpoints(write(tmp_path, "".join(blocks.values())))
    o4 = request_rules(endpoints["openai-o4-mini"], "o4-mini")
    assert o4.params(20) == {"max_completion_tokens": 20 + 2048, "reasoning_effort": "low"}
    o3_pro = request_rules(endpoints["openai-o3-pro"], "o3-pro")
    assert o3_pro.api == "responses" and o3_pro.key_extra() == {"api": "responses"}
    assert o3_pro.params(20) == {"max_output_tokens": 20 + 4096, "reasoning": {"effort": "low", "summary": "auto"}}
    for var in ("AZURE_OPENAI_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.setenv(var, "k-" + var.lower())
    azure = endpoints["azure"]
    assert azure.headers() == {"api-key": "k-azure_openai_api_key"} and azure.query_params() == {"api-version": "2024-10-21"}
    assert endpoints["openrouter"].headers()["Authorization"] == "Bearer k-openrouter_api_key"
    assert "X-Title" in endpoints["openrouter"].headers()
    qwen = request_rules(endpoints["qwen3-nothink"], "Qwen/Qwen3-8B").params(512)
    assert qwen["chat_template_kwargs"] == {"enable_thinking": False} and qwen["max_tokens"] == 512
    r1 = request_rules(endpoints["r1-vllm"], "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B")
    assert r1.params(50)["max_tokens"] == 50 + 4096 and r1.stochastic


def test_openai_reasoning_defaults_follow_kind_and_model_id(tmp_path: Path) -> None:
    from clue_client.engine.hosted_rules import is_openai_reasoning_model, request_rules

    for model in ("o1", "o1-preview", "o3-mini", "o4-mini-2025-04-16", "gpt-5", "gpt-5-mini", "gpt-5.1", "openai/o3"):
        assert is_openai_reasoning_model(model), model
    for model in ("gpt-4o", "gpt-4.1-mini", "omni-7b", "gpt-50x"):
        assert not is_openai_reasoning_model(model), model
    endpoints = load_endpoints(write(tmp_path, '[endpoints.oa]\nbase_url = "https://api.openai.com/v1"\nkind = "openai"\n'
                                               '[endpoints.gen]\nbase_url = "https://api.openai.com/v1"\n'
                                               '[endpoints.forced]\nbase_url = "https://x.example/v1"\nkind = "openai"\n'
                                               'max_tokens_field = "max_tokens"\nomit_sampling = false\n'))
    assert request_rules(endpoints["oa"], "o3").params(20) == {"max_completion_tokens": 20}
    assert request_rules(endpoints["oa"], "gpt-4o").params(20) == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 20}
    assert request_rules(endpoints["gen"], "o3").params(20)["max_tokens"] == 20, "generic kind: as configured"
    assert request_rules(endpoints["forced"], "o3").params(20) == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 20}


def test_a_model_openai_serves_only_on_the_responses_api_selects_it_with_kind_openai(tmp_path: Path) -> None:
    from clue_client.engine.hosted_rules import is_responses_only_model, request_rules

    only = ("o1-pro", "o3-pro-2025-06-10", "o3-deep-research", "o4-mini-deep-research", "gpt-5-pro", "gpt-5.2-pro",
            "gpt-5-codex", "gpt-5.1-codex-max", "codex-mini-latest", "openai/gpt-5-pro", "computer-use-preview")
    assert all(map(is_responses_only_model, only))
    assert not any(map(is_responses_only_model, ("o3", "o4-mini", "gpt-5", "gpt-5.1", "gpt-4o", "gpt-5-chat-latest")))
    endpoints = load_endpoints(write(tmp_path, '[endpoints.oa]\nbase_url = "https://api.openai.com/v1"\nkind = "openai"\n'
                                               '[endpoints.gen]\nbase_url = "https://x.example/v1"\n'
                                               '[endpoints.chat]\nbase_url = "https://api.openai.com/v1"\nkind = "openai"\n'
                                               'api = "chat"\n'
                                               '[endpoints.vllm]\nbase_url = "http://127.0.0.1:8000/v1"\napi = "responses"\n'))
    assert request_rules(endpoints["oa"], "o3-pro").params(20) == {"max_output_tokens": 20}, "no sampling: reasoning"
    assert request_rules(endpoints["oa"], "o3").api == "chat", "o3 has chat completions"
    assert request_rules(endpoints["gen"], "o3-pro").api == "chat", "only kind = openai picks the API by model"
    assert request_rules(endpoints["chat"], "o3-pro").params(20) == {"max_completion_tokens": 20}
    vllm = request_rules(endpoints["vllm"], "Qwen/Qwen3-8B")
    assert vllm.params(20) == {"temperature": 0.0, "top_p": 1.0, "max_output_tokens": 20}
    assert request_rules(endpoints["vllm"], "m").manifest()["api"] == "responses"


PASSWORD = "hunter2-" + "5e9d1c" * 3


@pytest.mark.parametrize("line", [
    f'base_url = "http://bob:{PASSWORD}@127.0.0.1:1/v1"',
    f'base_urls = ["http://127.0.0.1:2/v1", "https://:{PASSWORD}@gw.example/v1"]',
    f'base_url = "http://{PASSWORD}@[::1/v1"',  # also an invalid URL: the password still comes first
])
def test_credentials_in_a_base_url_are_refused_without_repeating_them(tmp_path: Path, line: str) -> None:
    path = write(tmp_path, f"[endpoints.a]\n{line}\n")
    with pytest.raises(ConfigError) as info:
        load_endpoints(path)
    message = str(info.value)
    assert "user name or password" in message and "api_key_env" in message and "extra_headers" in message
    assert PASSWORD not in message and "bob" not in message and "\n" not in message


def test_a_query_in_a_base_url_is_refused_without_repeating_it(tmp_path: Path) -> None:
    path = write(tmp_path, f'[endpoints.a]\nbase_url = "https://gw.example/v1?api-key={PASSWORD}"\n')
    with pytest.raises(ConfigError, match="query table") as info:
        load_endpoints(path)
    assert PASSWORD not in str(info.value)


def test_credentials_in_an_endpoint_url_stop_every_command_before_anything_is_written(tmp_path: Path) -> None:
    from conftest import run_clue

    url = f"http://alice:{PASSWORD}@127.0.0.1:9/v1"
    for command in (("run", "--endpoint", url, "--out", str(tmp_path / "run"), "--tasks", "meqsum"),
                    ("run", "--endpoint", url, "--out", str(tmp_path / "run"), "--dry-run"),
                    ("batch", "export", "--endpoint", url, "--run", str(tmp_path / "run"), "--model", "m"),
                    ("endpoints", "check", url)):
        proc = run_clue(*command)
        assert proc.returncode == 2, (command, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "user name or password" in proc.stderr
        assert PASSWORD not in proc.stdout + proc.stderr and "alice" not in proc.stderr
    assert not (tmp_path / "run").exists(), "nothing written that could hold it"


@pytest.mark.parametrize("key", ["model", "messages", "prompt", "max_tokens", "max_completion_tokens", "stream",
                                 "stream_options", "n", "input", "max_output_tokens", "temperature", "echo"])
def test_extra_body_cannot_set_what_the_protocol_sends(tmp_path: Path, key: str) -> None:
    path = write(tmp_path, f'[endpoints.a]\nbase_url = "http://127.0.0.1:1/v1"\nextra_body = {{ {key} = 1 }}\n')
    with pytest.raises(ConfigError) as info:
        load_endpoints(path)
    assert f"key 'extra_body': extra_body may not set '{key}'" in str(info.value) and "\n" not in str(info.value)


def test_extra_body_keeps_what_only_adds_beside_the_answer(tmp_path: Path) -> None:
    path = write(tmp_path, '[endpoints.a]\nbase_url = "http://127.0.0.1:1/v1"\n'
                           'extra_body = { logprobs = true, top_k = 1, chat_template_kwargs = { enable_thinking = false } }\n')
    assert load_endpoints(path)["a"].extra_body["logprobs"] is True


def test_extra_body_model_stops_the_run_before_sending(tmp_path: Path, server: FakeServer) -> None:
    from conftest import run_clue

    path = write(tmp_path, f'[endpoints.a]\nbase_url = "{server.base_url}"\nextra_body = {{ model = "other" }}\n')
    proc = run_clue("run", "--config", str(path), "--endpoint", "a", "--tasks", "meqsum", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "extra_body may not set 'model'" in proc.stderr and proc.stderr.count("\n") == 1
    assert server.calls == [] and not (tmp_path / "r").exists()


@pytest.mark.parametrize("line", [
    "requests_per_minute = inf", "timeout_s = nan", "rate_limit_wait_s = inf", "price_per_million_input = inf",
    "sampling = { temperature = nan }", "requests_per_minute = 1e12", "timeout_s = 1e12",
])
def test_non_finite_and_absurd_numbers_are_refused(tmp_path: Path, line: str) -> None:
    path = write(tmp_path, f'[endpoints.a]\nbase_url = "http://127.0.0.1:1/v1"\n{line}\n')
    with pytest.raises(ConfigError) as info:
        load_endpoints(path)
    assert f"key '{line.split(' ')[0]}" in str(info.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("x = " + "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('[endpoints.a]\nbase_url = "http://127.0.0.1:1"\nmax_concurrency = ' + "9" * 5000 + "\n", "4300 digits"),
])
def test_absurd_toml_is_one_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_endpoints(write(tmp_path, text))
