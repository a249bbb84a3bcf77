"""The chat template from the Hugging Face Hub at a pinned revision, served by the loopback test server as the
Hub serves files (HF_ENDPOINT points there; no network)."""

from __future__ import annotations

import json

import pytest

from chat_templates import LLAMA3_STYLE, LLAMA3_TOKENS
from clue_client.errors import UserError
from clue_client.serving.hub import hub_chat_template, parse_hf_revision
from clue_client.serving.introspect import has_completions_route
from fake_server import FakeServer

REPO = "meta-llama/Meta-Llama-3-8B-Instruct"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch):
    with FakeServer() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.base_url.removesuffix("/v1"))
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield server


async def test_template_and_special_tokens_at_the_revision(hub: FakeServer) -> None:
    hub.hub_files[f"{REPO}/r1/tokenizer_config.json"] = json.dumps(
        {"chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": LLAMA3_STYLE}],
         "bos_token": {"content": LLAMA3_TOKENS["bos_token"]}, "eos_token": LLAMA3_TOKENS["eos_token"]})
    template = await hub_chat_template(REPO, "r1")
    assert (template.source, dict(template.special_tokens)) == (LLAMA3_STYLE, LLAMA3_TOKENS)
    assert template.origin == f"huggingface {REPO}@r1"


async def test_a_template_in_its_own_file(hub: FakeServer) -> None:
    hub.hub_files[f"{REPO}/r2/tokenizer_config.json"] = json.dumps(LLAMA3_TOKENS)
    hub.hub_files[f"{REPO}/r2/chat_template.jinja"] = LLAMA3_STYLE
    assert (await hub_chat_template(REPO, "r2")).source == LLAMA3_STYLE


async def test_missing_revision_and_missing_template_are_one_line_errors(hub: FakeServer) -> None:
    with pytest.raises(UserError, match="not found: is 'meta-llama/Meta-Llama-3-8B-Instruct' a Hugging Face"):
        await hub_chat_template(REPO, "nope")
    hub.hub_files[f"{REPO}/base/tokenizer_config.json"] = json.dumps({"bos_token": "<s>"})
    with pytest.raises(UserError, match="has no chat template .* --base-model"):
        await hub_chat_template(REPO, "base")


def test_revision_names_the_repository_or_takes_the_model_id() -> None:
    assert parse_hf_revision("abc", REPO) == (REPO, "abc")
    assert parse_hf_revision("org/other@v1", "served-name") == ("org/other", "v1")
    with pytest.raises(UserError, match="OWNER/NAME@REVISION"):
        parse_hf_revision("abc", "served-name")


async def test_completions_route_probe_sends_no_prompt() -> None:
    import httpx

    with FakeServer() as server, FakeServer(hidden_routes=("/v1/completions",)) as chat_only:
        async with httpx.AsyncClient() as client:
            assert await has_completions_route(client, server.base_url)
            assert not await has_completions_route(client, chat_only.base_url)
        assert not server.calls and not server.requests
