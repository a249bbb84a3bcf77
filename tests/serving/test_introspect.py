"""Server introspection over real loopback HTTP: kind detection, context length and the server's own
tokenizer in vLLM, TGI and llama.cpp shapes (the test server plays each kind by hiding routes)."""

from __future__ import annotations

import socket

import httpx
import pytest

from clue_client.serving import introspect as servers
from clue_client.errors import ServerUnreachable, UserError
from clue_client.tasks.tokens import CHARS_PER_TOKEN, EstimateTokenizer, Tokenizer
from fake_server import FakeServer, tokenize

# routes each kind does not have
HIDE = {
    "llamacpp": (),
    "tgi": ("/props",),
    "vllm": ("/props", "/info"),
}
TEXT = "Fictional patient, 74, admitted with night sweats; biopsy planned.\n\nHemoglobin 10.9 g/dL."


@pytest.fixture(params=list(HIDE))
def kind_server(request: pytest.FixtureRequest):
    with FakeServer(context_length=2048, hidden_routes=HIDE[request.param]) as server:
        yield request.param, server


async def test_detect_kind_and_context_length(kind_server) -> None:
    kind, server = kind_server
    async with httpx.AsyncClient() as client:
        assert await servers.detect_kind(client, server.base_url) == kind
        expected = 2047 if kind == "tgi" else 2048  # TGI reports max_input_tokens
        assert await servers.context_length(client, server.base_url, kind, server.model) == expected


async def test_generic_server_has_no_context_length() -> None:
    with FakeServer(hidden_routes=("/props", "/info")) as server:
        server.context_length = 0  # /v1/models then reports 0: not a usable length

        async with httpx.AsyncClient() as client:
            assert await servers.context_length(client, server.base_url, "generic") is None
            assert await servers.context_length(client, server.base_url, "openai") is None
            assert await servers.context_length(client, server.base_url, "vllm") is None
            with pytest.raises(UserError, match="unknown server kind 'x'"):
                await servers.context_length(client, server.base_url, "x")


async def test_server_tokenizer_counts_and_truncates(kind_server) -> None:
    kind, server = kind_server
    async with httpx.AsyncClient() as client:
        tok = servers.make_tokenizer(client, server.base_url, kind, server.model)
        assert isinstance(tok, Tokenizer)
        pieces = tokenize(TEXT)
        assert await tok.count([TEXT, "", "a b"]) == [len(pieces), 0, 2]
        for n in (1, 5, len(pieces) - 1):
            assert await tok.truncate(TEXT, n) == "".join(pieces[:n])
        assert await tok.truncate(TEXT, len(pieces) + 3) == TEXT
        assert await tok.truncate(TEXT, 0) == ""


async def test_tokenizer_is_cached_and_concurrent() -> None:
    with FakeServer() as server:
        async with httpx.AsyncClient() as client:
            tok = servers.make_tokenizer(client, server.base_url, "llamacpp", server.model)
            texts = [f"fictional text number {i}" for i in range(40)]
            first = await tok.count(texts)
            calls = server.tokenize_calls
            assert calls == 40
            assert await tok.count(list(reversed(texts))) == list(reversed(first))
            assert server.tokenize_calls == calls  # answered from the cache


async def test_models_list_and_errors() -> None:
    with FakeServer(api_key="secret-test-key") as server:
        async with httpx.AsyncClient(headers={"Authorization": "Bearer secret-test-key"}) as client:
            models = await servers.list_models(client, server.base_url)
            assert [m["id"] for m in models] == ["fake-model"]
        async with httpx.AsyncClient() as client:
            with pytest.raises(UserError, match="refused the API key \\(HTTP 401 invalid_request_error: Incorrect API key"):
                await servers.list_models(client, server.base_url)
            with pytest.raises(UserError, match="answered HTTP 404: 404: Not Found; is this an OpenAI-compatible"):
                await servers.list_models(client, server.base_url + "/nothing")


async def test_unreachable_server_is_one_line() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and now has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with httpx.AsyncClient() as client:
        with pytest.raises(ServerUnreachable, match=f"cannot reach http://127.0.0.1:{port}/props"):
            await servers.detect_kind(client, f"http://127.0.0.1:{port}/v1")
        tok = servers.make_tokenizer(client, f"http://127.0.0.1:{port}/v1", "vllm", "m")
        with pytest.raises(ServerUnreachable, match="/tokenize"):
            await tok.count(["x"])


async def test_estimate_for_kinds_without_a_tokenizer() -> None:
    async with httpx.AsyncClient() as client:
        tok = servers.make_tokenizer(client, "https://api.example.invalid/v1", "openai", "gpt")
    assert isinstance(tok, EstimateTokenizer)
    assert CHARS_PER_TOKEN == 3.5
    assert await tok.count(["abcdefg", "abcdefgh", ""]) == [2, 3, 0]
    assert await tok.truncate("abcdefghij", 2) == "abcdefg"
    assert servers.describe_tokens(tok, "openai").startswith("estimated, not counted: 1 token per 3.5 characters")
    with pytest.raises(UserError, match="unknown server kind"):
        servers.make_tokenizer(client, "http://x/v1", "nope", "m")


def test_server_root() -> None:
    assert servers.server_root("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000"
    assert servers.server_root("http://127.0.0.1:8000/v1/") == "http://127.0.0.1:8000"
    assert servers.server_root("http://h:1") == "http://h:1"
