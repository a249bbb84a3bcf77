"""A model's chat template from the Hugging Face Hub at a pinned revision (CLUE 2024 rendered prompts with the
model's own tokenizer; templates on the Hub change, so the revision is pinned and the checksum recorded).

Reads ``tokenizer_config.json`` (its ``chat_template`` and special tokens), then ``chat_template.jinja`` for
repositories that keep the template in its own file. ``HF_ENDPOINT`` replaces the Hub's address (a mirror;
the tests serve the files from a loopback server); ``HF_TOKEN`` (or ``HUGGING_FACE_HUB_TOKEN``) is sent for
gated models and nowhere else: the endpoint's own key never goes to the Hub.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any
from urllib.parse import quote

import httpx

from ..engine.outcome import loads
from ..errors import ServerUnreachable, UserError
from ..protocols.render import ChatTemplate, special_tokens_of

__all__ = ["HUB_URL", "hub_chat_template", "parse_hf_revision"]

HUB_URL = "https://huggingface.co"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: Seconds one Hub file may take in all (a tokenizer_config.json is a few KB).
DEADLINE_S = 60.0


def parse_hf_revision(value: str, model: str) -> tuple[str, str]:
    """``REV`` (the served model id is the repository) or ``OWNER/NAME@REV`` -> (repository, revision)."""
    repo, sep, revision = value.rpartition("@")
    repo, revision = (repo, revision) if sep else (model, value)
    if not repo or not revision or "/" not in repo:
        raise UserError(f"--hf-revision '{value}': give a revision (the model id '{model}' must then be a Hugging "
                        "Face repository id, OWNER/NAME) or OWNER/NAME@REVISION")
    return repo, revision


async def _get(client: httpx.AsyncClient, url: str, repo: str, revision: str) -> httpx.Response | None:
    """The file, or None where the repository has no such file (404). One deadline for the whole call (httpx's
    timeouts are per read); the Hub's own redirects (a renamed repository, its CDN) are followed, and httpx
    drops ``HF_TOKEN`` on a redirect to another host."""
    try:
        async with asyncio.timeout(DEADLINE_S):
            response = await client.get(url)
    except TimeoutError:
        raise ServerUnreachable(f"{url} did not answer within {DEADLINE_S:g} s; set HF_ENDPOINT for a mirror, or pass "
                                "--chat-template FILE") from None
    except httpx.HTTPError as exc:
        raise ServerUnreachable(f"cannot reach {url} ({type(exc).__name__}); set HF_ENDPOINT for a mirror, or pass "
                                "--chat-template FILE") from None
    if response.status_code in (401, 403):
        raise UserError(f"{url}: HTTP {response.status_code}: '{repo}' is gated or private; set HF_TOKEN to a token "
                        "with access, or pass --chat-template FILE")
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise UserError(f"{url}: HTTP {response.status_code}; pass --chat-template FILE instead")
    return response


def _template_of(config: Any) -> str | None:
    """``chat_template`` as text, or the ``default`` one of a named list."""
    template = config.get("chat_template") if isinstance(config, dict) else None
    if isinstance(template, list):
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    return template if isinstance(template, str) and template else None


async def hub_chat_template(repo: str, revision: str) -> ChatTemplate:
    """The chat template and special tokens of ``repo`` at ``revision``."""
    base = os.environ.get("HF_ENDPOINT", HUB_URL).rstrip("/")
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    where = f"{base}/{repo}/resolve/{quote(revision, safe='')}"
    async with httpx.AsyncClient(headers=headers, timeout=TIMEOUT, follow_redirects=True) as client:
        response = await _get(client, f"{where}/tokenizer_config.json", repo, revision)
        if response is None:
            raise UserError(f"{where}/tokenizer_config.json: not found: is '{repo}' a Hugging Face repository with "
                            f"a revision '{revision}'? (--hf-revision OWNER/NAME@REV names another repository; "
                            "--chat-template FILE gives the template directly)")
        try:
            config = loads(response.content)
        except ValueError:
            raise UserError(f"{where}/tokenizer_config.json is not JSON") from None
        template = _template_of(config)
        if template is None and (jinja := await _get(client, f"{where}/chat_template.jinja", repo, revision)):
            template = jinja.text
    if template is None:
        raise UserError(f"{repo}@{revision} has no chat template (tokenizer_config.json, chat_template.jinja): a base "
                        "model? pass --base-model for CLUE 2024's plain-text form, or --chat-template FILE")
    return ChatTemplate(template, special_tokens_of(config), origin=f"huggingface {repo}@{revision}").check()
