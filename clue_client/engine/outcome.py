"""Classify one HTTP exchange: the single place that decides done / retry / rate-limited / record / abort.

Servers disagree on error shapes: OpenAI and vLLM-style ``{"error": {"message", "type", "code"}}`` or
``{"object": "error", "message", ...}``, TGI ``{"error": "...", "error_type": "..."}``, llama.cpp
``{"error": {"code", "message", "type": "exceed_context_size_error"}}``. All become one ``ServerError``.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping

from .reasoning import message_reasoning, reasoning_tokens

__all__ = [
    "Action", "Outcome", "ServerError", "parse_error_body", "parse_retry_after", "parse_duration", "classify_status",
    "parse_completion", "is_context_overflow",
]

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
AUTH_STATUS = frozenset({401, 403})


class Action(Enum):
    DONE = "done"
    RETRY = "retry"  # transient: backoff and try again (maybe on another replica)
    RATE_LIMITED = "rate_limited"  # retry, and lower the concurrency
    RECORD = "record"  # the request itself is at fault (e.g. context overflow): store the error, go on
    ABORT = "abort"  # the whole run cannot succeed (bad key, unknown model): stop


_OVERFLOW_TYPES = frozenset({"exceed_context_size_error", "context_length_exceeded"})
_OVERFLOW_TEXT = re.compile(
    r"context length|context size|context window|maximum context|max_new_tokens|prompt is too long|too many tokens",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ServerError:
    status: int
    message: str
    type: str | None = None
    code: str | None = None  # OpenAI-style ``error.code`` (e.g. unsupported_parameter, insufficient_quota)
    param: str | None = None  # OpenAI-style ``error.param``: the request field the server objects to

    def __str__(self) -> str:
        kind = f" {self.type}" if self.type else ""
        return f"HTTP {self.status}{kind}: {self.message}"


@dataclass(frozen=True, slots=True)
class Outcome:
    action: Action
    error: str | None = None
    retry_after_s: float | None = None
    payload: Mapping[str, Any] | None = None
    connection_failed: bool = False  # the server failed (refused, reset, 5xx): counts toward marking a replica down
    rejection: ServerError | None = None  # a 400/422 that may be the configuration's fault (see engine/alike.py)


def parse_error_body(status: int, body: bytes | str) -> ServerError:
    """One error type out of every server's error body; falls back to the raw text."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return ServerError(status, text.strip()[:300] or "(empty body)")
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, str):  # TGI
            return ServerError(status, err[:300], data.get("error_type"))
        if isinstance(err, dict):  # OpenAI, vLLM, llama.cpp
            message = err.get("message") or err.get("detail") or json.dumps(err)[:300]
            code, param = _text(err.get("code")), _text(err.get("param"))
            return ServerError(status, str(message)[:300], _text(err.get("type")) or code, code, param)
        if "detail" in data:
            return ServerError(status, str(data["detail"])[:300])
    return ServerError(status, text.strip()[:300])


def _text(value: Any) -> str | None:
    """A field as text; null and the string "None" (LiteLLM writes that) are absent."""
    return None if value is None or str(value) in ("", "None", "null") else str(value)


def is_context_overflow(error: ServerError) -> bool:
    """The prompt plus the output limit do not fit the model: a fact about the sample, never the config."""
    kinds = {error.type, error.code}
    return bool(kinds & _OVERFLOW_TYPES) or bool(_OVERFLOW_TEXT.search(error.message))


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_DURATION_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
#: LiteLLM passes its backend's headers on with this prefix (its own first 429s carry only these)
_PROVIDER_PREFIX = "llm_provider-"


def parse_duration(text: str) -> float | None:
    """Seconds in OpenAI's ``x-ratelimit-reset-*`` format (Go durations: ``1s``, ``6m0s``, ``20ms``) or a number."""
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _DURATION_UNIT_S[u] for n, u in parts)


def _seconds(value: str, now: float | None) -> float | None:
    """Delta seconds or an HTTP date, as ``Retry-After`` allows."""
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (now if now is not None else time.time()))


def _own_retry_after(headers: Mapping[str, str], prefix: str, now: float | None, resets: bool) -> float | None:
    if (ms := headers.get(f"{prefix}retry-after-ms")) is not None and (wait := parse_duration(ms)) is not None:
        return wait / 1000
    if (value := headers.get(f"{prefix}retry-after")) is not None and (wait := _seconds(value, now)) is not None:
        return wait
    if not resets:
        return None
    # OpenAI: when each quota refills; the one that ran out (remaining 0) is the one to wait for
    refills = {}
    for quota in ("requests", "tokens"):
        value = headers.get(f"{prefix}x-ratelimit-reset-{quota}")
        if value is not None and (wait := parse_duration(value)) is not None:
            refills[quota] = wait
    exhausted = [w for q, w in refills.items() if headers.get(f"{prefix}x-ratelimit-remaining-{q}", "").strip() == "0"]
    return max(exhausted or refills.values(), default=None)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None, *, resets: bool = True) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, ``Retry-After`` (seconds or HTTP date),
    OpenAI's ``x-ratelimit-reset-requests``/``-tokens``, or the same passed on by LiteLLM as
    ``llm_provider-...``; the server's own headers first.

    ``resets``: read the quota refill times too; they come on every OpenAI answer, so only a 429 means them.
    """
    for prefix in ("", _PROVIDER_PREFIX):
        if (wait := _own_retry_after(headers, prefix, now, resets)) is not None:
            return wait
    return None


def classify_status(status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
    """Decide what to do with a non-2xx answer."""
    error = parse_error_body(status, body)
    if status == 429 and "insufficient_quota" in (error.type, error.code):
        return Outcome(Action.ABORT, f"{error} (the account has no quota left: retrying cannot help; answers "
                                     "received so far are kept, rerun the same command once it has credit)")
    if status == 429 or (status == 503 and "overloaded" in error.message.lower()):
        return Outcome(Action.RATE_LIMITED, str(error), parse_retry_after(headers))
    wait = parse_retry_after(headers, resets=False)
    if status in RETRYABLE_STATUS:
        # a 5xx is the server failing (a dead backend behind a proxy, an engine crash): it counts toward
        # taking a replica out like a refused connection does; 408/409 are about the request
        return Outcome(Action.RETRY, str(error), wait, connection_failed=status >= 500)
    if status in AUTH_STATUS:
        return Outcome(Action.ABORT, f"{error} (check the API key in the endpoint's api_key_env variable)")
    if status == 404 and "v1/responses" in error.message:  # OpenAI, a Responses-only model asked for a chat
        return Outcome(Action.ABORT, f'{error} (set api = "responses" for the endpoint in endpoints.toml)')
    if status == 404:
        return Outcome(Action.ABORT, f"{error} (check the endpoint URL and model id)")
    if status in (400, 422) and not is_context_overflow(error):
        return Outcome(Action.RECORD, str(error), rejection=error)
    return Outcome(Action.RECORD, str(error))


def parse_completion(body: bytes) -> Outcome:
    """A 2xx body: DONE with the payload, or RETRY when it is not a usable chat completion."""
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        message = choice["message"]
        content = message.get("content")
        if content is None:  # a thinking model cut off before its answer: never score its thoughts
            content = ""
        if not isinstance(content, str):
            raise TypeError("content is not a string")
        usage = data.get("usage") or {}
        if not isinstance(usage, dict):
            raise TypeError("usage is not an object")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        return Outcome(Action.RETRY, f"unparseable response body ({type(exc).__name__})")
    return Outcome(
        Action.DONE,
        payload={
            "text": content,
            "reasoning": message_reasoning(message),
            "reasoning_tokens": reasoning_tokens(usage),
            "finish_reason": choice.get("finish_reason"),
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"),
            "model": data.get("model"),
        },
    )
