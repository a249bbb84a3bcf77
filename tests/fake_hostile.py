"""What a careless or hostile server sends instead of a plain answer, for ``fake_server.FakeServer``'s faults.

Each fault is the body a real misconfiguration or bug produces: a single-sign-on proxy's login page in
front of the API (``html200``), a gateway's error object with status 200 (``error200``), bytes that are no
text (``bytes200``), JSON nested 100,000 deep (``deep``, ``deep400``), a 5,000-digit integer or ``1e999`` in
``usage`` (``bigint``, ``inf``), a lone surrogate escaped in the content (``surrogate``: valid JSON, invalid
UTF-8), ``usage`` and ``finish_reason`` of the wrong types (``usage-type``, ``finish-type``), a refusal whose
message differs by the token counts it quotes without naming the context (``too-long``), Azure's
content-filter 400 (``content-filter``, body as in learn.microsoft.com/azure/ai-services/openai/concepts/
content-filter), LiteLLM's budget refusal (``budget``: BerriAI/litellm ``litellm/proxy/auth/
auth_exception_handler.py`` turns its BudgetExceededError, "Budget has been exceeded! Current cost: ..., Max
budget: ...", into a 400 of type ``budget_exceeded``).
"""

from __future__ import annotations

import json
from typing import Any

HOSTILE = ("html200", "error200", "bytes200", "deep", "deep400", "bigint", "inf", "surrogate", "usage-type",
           "finish-type", "too-long", "content-filter", "budget")

LOGIN_PAGE = (b"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Sign in &ndash; Example SSO</title></head>"
              b"<body><form method='post' action='/login'><input name='user'></form></body></html>")
CONTENT_FILTER = {"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
                                       "management policy. Please modify your prompt and retry.",
                            "type": None, "param": "prompt", "code": "content_filter", "status": 400}}
BUDGET = {"error": {"message": "Budget has been exceeded! Current cost: 10.0021, Max budget: 10.0",
                    "type": "budget_exceeded", "param": None, "code": "400"}}
DEPTH = 100_000


def body(fault: str, completion: dict[str, Any], prompt_tokens: int) -> tuple[int, bytes, str]:
    """(status, body, content type) of a hostile ``fault``, built around the ``completion`` it replaces."""
    json_type = "application/json"
    if fault == "html200":
        return 200, LOGIN_PAGE, "text/html"
    if fault == "error200":
        return 200, json.dumps({"error": {"message": "upstream model unavailable", "type": "upstream_error"}}).encode(), json_type
    if fault == "bytes200":
        return 200, bytes(range(256)) * 4, "application/octet-stream"
    if fault in ("deep", "deep400"):
        return (200 if fault == "deep" else 400), b'{"choices": ' + b"[" * DEPTH + b"]" * DEPTH + b"}", json_type
    if fault == "content-filter":
        return 400, json.dumps(CONTENT_FILTER).encode(), json_type
    if fault == "budget":
        return 400, json.dumps(BUDGET).encode(), json_type
    if fault == "too-long":
        message = f"Input of {prompt_tokens} tokens does not fit this deployment"
        return 400, json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode(), json_type
    raw = json.dumps(completion)
    if fault == "bigint":
        raw = raw.replace('"prompt_tokens": ', '"prompt_tokens": ' + "9" * 5000 + ", \"was\": ", 1)
    elif fault == "inf":
        raw = raw.replace('"completion_tokens": ', '"completion_tokens": 1e999, "was": ', 1)
        raw = raw.replace('"usage": {', '"usage": {"completion_tokens_details": {"reasoning_tokens": 1e999}, ', 1)
    elif fault == "surrogate":
        raw = raw.replace('"content": "', '"content": "\\ud800 lone surrogate, then ', 1)
    elif fault == "usage-type":
        completion["usage"] = {"prompt_tokens": "12", "completion_tokens": [3], "total_tokens": {"n": 15},
                               "completion_tokens_details": {"reasoning_tokens": True}}
        raw = json.dumps(completion)
    elif fault == "finish-type":
        completion["choices"][0]["finish_reason"] = {"reason": "stop"}
        completion["model"] = 42
        raw = json.dumps(completion)
    return 200, raw.encode(), json_type
