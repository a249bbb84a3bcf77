"""endpoints.toml validation: every mistake is one line naming file, endpoint and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from clue_client.config import load_endpoints, resolve_endpoint
from clue_client.errors import ConfigError

from conftest import REPO


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
