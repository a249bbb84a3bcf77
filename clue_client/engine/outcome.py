"""Classify one HTTP exchange: the single place that decides done / retry / rate-limited / record / abort.

Servers disagree on error shapes: OpenAI and vLLM-style ``{"error": {"message", "type", "code"}}`` or
``{"object": "error", "message", ...}``, TGI ``{"error": "...", "error_type": "..."}``, llama.cpp
``{"error": {"code", "message", "type": "exceed_context_size_error"}}``. All become one ``ServerError``.

Whatever a server sends is data, never a crash: JSON nested deeper than the parser goes, integers too long
to convert, lone surrogates and values of the wrong type all end as one line about the answer. A redirect
is never followed (see ``redirect_problem``).
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping
from urllib.parse import urljoin, urlsplit

__all__ = [
    "Action", "Outcome", "ServerError", "parse_error_body", "parse_retry_after", "parse_duration", "classify_status",
    "is_context_overflow", "is_per_sample", "redirect_problem", "loads", "clean_text", "one_line", "count",
]

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
AUTH_STATUS = frozenset({401, 403})
#: ``json.loads`` failures a server can cause: bad syntax, too many digits (ValueError), too deep (RecursionError)
JSON_ERRORS = (ValueError, RecursionError)


class Action(Enum):
    DONE = "done"
    RETRY = "retry"  # transient: backoff and try again (maybe on another replica)
    RATE_LIMITED = "rate_limited"  # retry, and lower the concurrency
    RECORD = "record"  # the request itself is at fault (e.g. context overflow): store the error, go on
    ABORT = "abort"  # the whole run cannot succeed (bad key, unknown model, a redirect): stop


_OVERFLOW_TYPES = frozenset({"exceed_context_size_error", "context_length_exceeded"})
_OVERFLOW_TEXT = re.compile(
    r"context length|context size|context window|maximum context|max_new_tokens|prompt is too long|too many tokens"
    r"|too many input tokens|input is too long|input length|maximum input|string too long|too long for|tokens? limit",
    re.IGNORECASE,
)
#: Refusals about what a prompt says: Azure's content filter, OpenAI's flagged prompts (error-codes guide).
_CONTENT_TYPES = frozenset({"content_filter", "content_policy_violation", "invalid_prompt"})
_CONTENT_TEXT = re.compile(r"content (?:management |filter|polic)|content_filter|flagged as potentially violating",
                           re.IGNORECASE)
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]+")


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
    #: what the server said instead of an answer when it may say it to every request (a refusal that is not about
    #: the sample, a 2xx that is no completion): compared across requests by engine/alike.py
    rejection: ServerError | None = None
    sent: bool = True  # False: the attempt was never sent (the endpoint's rate-limit budget was already spent)


def clean_text(value: str) -> str:
    """``value`` with lone surrogates (valid in JSON escapes, not in UTF-8) as U+FFFD: stores and terminals
    take it. Cheap for the usual answer: ASCII and well-formed text is returned as it is."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", value)
    return value


def one_line(value: str, limit: int = 300) -> str:
    """Server text fit for a one-line message: line breaks, tabs and control characters (a terminal escape
    sequence too) become single spaces, lone surrogates U+FFFD, at most ``limit`` characters."""
    return " ".join(_CONTROL.sub(" ", clean_text(value[: limit * 2])).split())[:limit]


def count(value: Any) -> int | None:
    """A token count as servers should send it (a non-negative integer, or a float with no fraction), else None:
    a string, ``1e999``, a bool or a 5,000-digit number in ``usage`` is the server's error, not ours."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and 0 <= value < 2**53 else None


def _int_or_none(digits: str) -> int | None:
    return int(digits) if len(digits.lstrip("-")) <= 4000 else None


def loads(body: bytes | str) -> Any:
    """JSON, or raises ValueError for anything a server can send that is not (too deep included). An integer
    too long for Python to convert (a 5,000-digit ``prompt_tokens``) reads as null: the rest of the answer stands."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None
    except ValueError as exc:
        if "digits" not in str(exc):
            raise
    try:
        return json.loads(body, parse_int=_int_or_none)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None


def parse_error_body(status: int, body: bytes | str) -> ServerError:
    """One error type out of every server's error body; falls back to the raw text."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = loads(text)
    except ValueError as exc:
        said = "a JSON body nested too deep to read" if "too deep" in str(exc) else one_line(text)
        return ServerError(status, said or "(empty body)")
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, str):  # TGI
            return ServerError(status, _short(err), _text(data.get("error_type")))
        if isinstance(err, dict):  # OpenAI, vLLM, llama.cpp
            message = err.get("message") or err.get("detail") or text
            code, param = _text(err.get("code")), _text(err.get("param"))
            return ServerError(status, _short(message), _text(err.get("type")) or code, code, param)
        if "detail" in data:
            return ServerError(status, _short(data["detail"]))
    return ServerError(status, one_line(text) or "(empty body)")


def _short(value: Any) -> str:
    """At most 300 characters of a value, storable (JSON escapes can spell lone surrogates); ``str`` of a
    deeply nested one is not attempted."""
    if isinstance(value, str):
        return one_line(value)
    try:
        return one_line(json.dumps(value, ensure_ascii=False)[:600])
    except (ValueError, TypeError, RecursionError):
        return f"({type(value).__name__})"


def _text(value: Any) -> str | None:
    """A short field as text; null and the string "None" (LiteLLM writes that) are absent."""
    if value is None or isinstance(value, bool):
        return None
    text = _short(value)[:80]
    return None if text in ("", "None", "null") else text


def is_context_overflow(error: ServerError) -> bool:
    """The prompt plus the output limit do not fit the model: a fact about the sample, never the config."""
    kinds = {error.type, error.code}
    return bool(kinds & _OVERFLOW_TYPES) or bool(_OVERFLOW_TEXT.search(error.message))


def is_per_sample(error: ServerError) -> bool:
    """A refusal about this one request: too long (a context overflow, HTTP 413) or its content filtered.
    Such a refusal is the sample's result even when many samples in a row get it (long prompts come in runs)."""
    kinds = {error.type, error.code}
    return (error.status == 413 or is_context_overflow(error) or bool(kinds & _CONTENT_TYPES)
            or bool(_CONTENT_TEXT.search(error.message)))


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_DURATION_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
#: LiteLLM passes its backend's headers on with this prefix (its own first 429s carry only these)
_PROVIDER_PREFIX = "llm_provider-"


def _number(text: str) -> float | None:
    """A wait in seconds: negative is 0 (no wait); not a number (``nan``) is None; ``inf`` stays (absurd: the
    caller bounds it)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else max(0.0, value)


def parse_duration(text: str) -> float | None:
    """Seconds in OpenAI's ``x-ratelimit-reset-*`` format (Go durations: ``1s``, ``6m0s``, ``20ms``) or a number."""
    text = text.strip()
    if (value := _number(text)) is not None:
        return value
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _DURATION_UNIT_S[u] for n, u in parts)


def _seconds(value: str, now: float | None) -> float | None:
    """Delta seconds or an HTTP date (one in the past is no wait), as ``Retry-After`` allows."""
    if (seconds := _number(value)) is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, OverflowError, IndexError):
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
    ``llm_provider-...``; the server's own headers first. Zero, negative and past waits are 0 and ``inf`` stays:
    the retry policy bounds them (``retry.py``).

    ``resets``: read the quota refill times too; they come on every OpenAI answer, so only a 429 means them.
    """
    for prefix in ("", _PROVIDER_PREFIX):
        if (wait := _own_retry_after(headers, prefix, now, resets)) is not None:
            return wait
    return None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        port = None
    return parts.scheme, (parts.hostname or ""), port


def redirect_problem(url: str, status: int, location: str | None, base_url: str | None = None) -> str:
    """One line for a redirect, which is never followed: a POST redirected by 301/302 comes back as a GET
    whose reply is no answer to the prompt, one to another place would carry the key and the (maybe
    credentialed) prompt there, and one within the same server means base_url is spelled differently from
    what the server serves, which is fixed once in the configuration rather than paid for on every request."""
    target = urljoin(url, one_line(location, 500)) if location and location.strip() else None
    if target is None:
        return f"{url} answered HTTP {status} (a redirect without a Location); clue follows no redirect: check base_url"
    where = "the same server" if _origin(target) == _origin(url) else "another place"
    route = url[len(base_url):] if base_url and url.startswith(base_url) else ""
    fix = f'base_url = "{target[: -len(route)]}"' if route and target.endswith(route) else "base_url to that address"
    return (f"{url} answered HTTP {status}, a redirect to {target} ({where}); clue follows no redirect, so the key "
            f"and prompts go nowhere but base_url: if that is the right server, set {fix}")


def classify_status(status: int, headers: Mapping[str, str], body: bytes, url: str | None = None,
                    base_url: str | None = None) -> Outcome:
    """Decide what to do with a non-2xx answer (``url``: the address asked, named by a redirect's line)."""
    if 300 <= status < 400:
        return Outcome(Action.ABORT, redirect_problem(url or "the endpoint", status, headers.get("Location"), base_url))
    error = parse_error_body(status, body)
    if status == 429 and ({"insufficient_quota", "budget_exceeded"} & {error.type, error.code}):
        # OpenAI's quota, a LiteLLM budget (some versions send it as a 429): "no", not "later"
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
    # a final refusal: the sample's result, unless every request gets it alike (engine/alike.py tells)
    return Outcome(Action.RECORD, str(error), rejection=None if is_per_sample(error) else error)
