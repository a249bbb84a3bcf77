"""Every wire reads a 2xx body the same careful way (engine/wire/reading.py): the odd values a hostile or broken
server can send cost that field, never the run, on chat completions, the Responses API, raw-prompt completions
and TGI's /generate alike; a body that is no answer says what the server sent instead."""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest

from clue_client.engine.outcome import Action
from clue_client.engine.wire import CHAT, COMPLETIONS, RESPONSES, TGI_GENERATE

# each wire with a function that wraps (text, usage-or-None, finish) in its own answer shape
SHAPES: dict[str, tuple[Any, Callable[[Any, Any, Any], dict[str, Any]]]] = {
    "chat": (CHAT, lambda text, usage, finish: {
        "choices": [{"message": {"content": text}, "finish_reason": finish}], "usage": usage}),
    "responses": (RESPONSES, lambda text, usage, finish: {
        "status": "completed", "usage": usage,
        "output": [{"type": "message", "content": [{"type": "output_text", "text": text}]}]}),
    "completions": (COMPLETIONS, lambda text, usage, finish: {
        "choices": [{"text": text, "finish_reason": finish}], "usage": usage}),
    "tgi": (TGI_GENERATE, lambda text, usage, finish: {"generated_text": text, "details": {"finish_reason": finish}}),
}
LOGIN = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>SSO</body></html>"


def _bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


@pytest.mark.parametrize("api", SHAPES)
def test_odd_counts_and_text_cost_only_their_field(api: str) -> None:
    wire, shape = SHAPES[api]
    usage = {"prompt_tokens": "12", "completion_tokens": 1e300, "input_tokens": True, "output_tokens": [3]}
    body = _bytes(shape("fine \ud800 answer", usage, {"not": "a string"}))
    outcome = wire.parse(body)
    assert outcome.action is Action.DONE
    payload = outcome.payload
    assert payload["text"] == "fine \ufffd answer", "a lone surrogate becomes U+FFFD: every store takes it"
    assert payload["prompt_tokens"] is None and payload["completion_tokens"] is None
    assert api == "responses" or payload["finish_reason"] is None, "a finish_reason that is not text is unknown"
    payload["text"].encode("utf-8")  # storable


@pytest.mark.parametrize("api", SHAPES)
def test_a_5000_digit_count_reads_as_unknown_and_deep_json_is_no_answer(api: str) -> None:
    wire, shape = SHAPES[api]
    text = _bytes(shape("ok", None, "stop")).decode()
    huge = text.replace('"ok"', '"ok", "extra": ' + "9" * 5000, 1)
    outcome = wire.parse(huge.encode())
    assert outcome.action is Action.DONE and outcome.payload["text"] == "ok"
    deep = wire.parse(b"[" * 100_000 + b"]" * 100_000)
    assert deep.action is Action.RETRY and "nested too deep" in deep.error


@pytest.mark.parametrize("api", SHAPES)
def test_a_page_or_an_error_object_says_what_the_server_sent(api: str) -> None:
    wire, _ = SHAPES[api]
    page = wire.parse(LOGIN)
    assert page.action is Action.RETRY and "an HTML page: Sign in" in page.error
    assert page.rejection is not None, "the same page for every request is compared as a refusal"
    error = wire.parse(_bytes({"error": {"message": "upstream unavailable", "type": "upstream_error"}}))
    assert error.action is Action.RETRY and "upstream unavailable" in error.error
    assert "\n" not in page.error and "\n" not in error.error
