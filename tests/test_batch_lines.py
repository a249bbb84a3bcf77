"""Batch file lines: what export writes, and how each kind of output line is classified or refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from clue_client.batch import CHAT_URL, parse_output_line, request_line, result_from
from clue_client.engine.outcome import Action
from clue_client.engine.request import Request

REQUEST = Request.build("m@http://127.0.0.1:1/v1", [{"role": "system", "content": "be brief"},
                                                      {"role": "user", "content": "premise / hypothesis"}],
                        {"temperature": 0.0, "top_p": 1.0, "max_tokens": 12})


def completion(text: str, finish: str = "stop") -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 31, "completion_tokens": 2, "total_tokens": 33}}


def line(**record: Any) -> str:
    return json.dumps({"id": "batch_req_1", "custom_id": REQUEST.key, **record})


def test_request_line_is_an_openai_batch_request_with_our_key() -> None:
    record = json.loads(request_line(REQUEST, "m"))
    assert record == {"custom_id": REQUEST.key, "method": "POST", "url": CHAT_URL, "body": REQUEST.body("m")}
    assert record["body"]["max_tokens"] == 12 and record["body"]["messages"][1]["content"] == "premise / hypothesis"


def test_openai_success_line_becomes_a_stored_answer() -> None:
    parsed = parse_output_line(line(response={"status_code": 200, "request_id": "r1", "body": completion("neutral")},
                                    error=None))
    assert parsed.custom_id == REQUEST.key and parsed.outcome.action is Action.DONE
    result = result_from(parsed.custom_id, parsed.outcome)
    assert result.ok and result.text == "neutral" and result.finish_reason == "stop"
    assert (result.prompt_tokens, result.completion_tokens) == (31, 2)


@pytest.mark.parametrize(
    ("record", "retryable", "needle"),
    [
        # OpenAI: the batch expired or was cancelled before this request ran
        ({"response": None, "error": {"code": "batch_expired", "message": "This request could not be executed"}},
         True, "batch_expired"),
        # OpenAI: the request ran and the API answered with an error status
        ({"response": {"status_code": 500, "request_id": "r", "body": {"error": {"message": "boom", "type": "server_error"}}},
          "error": None}, True, "HTTP 500"),
        ({"response": {"status_code": 429, "request_id": "r", "body": {"error": {"message": "slow down"}}}, "error": None},
         True, "slow down"),
        ({"response": {"status_code": 400, "request_id": "r",
                       "body": {"error": {"message": "maximum context length is 8192 tokens", "type": "invalid_request_error"}}},
          "error": None}, False, "maximum context length"),
        # vLLM run_batch: status in response, no body, the error as a server error object or a plain string
        ({"response": {"status_code": 400, "request_id": "vllm-batch-1", "body": None},
          "error": {"object": "error", "message": "prompt is too long", "type": "BadRequestError", "code": 400}},
         False, "prompt is too long"),
        ({"response": {"status_code": 400, "request_id": "vllm-batch-2", "body": None}, "error": "engine crashed"},
         False, "engine crashed"),
    ],
)
def test_error_lines_are_recorded_like_online_errors(record: dict[str, Any], retryable: bool, needle: str) -> None:
    parsed = parse_output_line(line(**record))
    result = result_from(parsed.custom_id, parsed.outcome)
    assert not result.ok and result.text is None
    assert result.retryable is retryable, "transient errors must stay retryable so a resume re-sends them"
    assert needle in (result.error or "")


def test_a_success_status_with_an_unusable_body_is_a_retryable_error() -> None:
    parsed = parse_output_line(line(response={"status_code": 200, "request_id": "r", "body": {"choices": []}}, error=None))
    result = result_from(parsed.custom_id, parsed.outcome)
    assert not result.ok and result.retryable and "not a chat completion" in (result.error or "")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"response": {"status_code": 200, "body": completion("x")}}), "no custom_id"),
        (json.dumps({"custom_id": 7, "response": {"status_code": 200, "body": completion("x")}}), "no custom_id"),
        (line(response=None, error=None), "neither response nor error"),
        (line(response={"status_code": "200", "body": completion("x")}, error=None), "status_code"),
        (line(response={"status_code": 200, "request_id": "r", "body": None}, error=None), "without a JSON object body"),
        (line(response="ok", error=None), "neither an object nor null"),
    ],
)
def test_malformed_lines_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_output_line(text)
