"""What every wire does with a 2xx body: read it as untrusted JSON, and say what the server sent when it is
no answer. Shared so that an odd value (JSON nested 100,000 deep, a 5,000-digit integer, ``1e999``, a lone
surrogate, a wrong-typed count) costs the same on every API: that field, never the run.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any, Callable, Mapping

from ..outcome import Action, Outcome, ServerError, clean_text, count, loads, one_line, parse_error_body

__all__ = ["read_answer", "answer", "usage_of", "not_an_answer"]

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]*>|\s+")


def read_answer(body: bytes, what: str, extract: Callable[[Any], Outcome]) -> Outcome:
    """``extract(data)`` of the body read as untrusted JSON; a body that is not JSON, or JSON that ``extract``
    finds no answer in (a missing key, a wrong type: it raises), is ``not_an_answer``: what the server sent."""
    try:
        data = loads(body)
    except ValueError as exc:
        return not_an_answer(body, exc, what)
    try:
        return extract(data)
    except (KeyError, IndexError, TypeError, AttributeError):
        return not_an_answer(body, data, what)


def usage_of(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """``usage`` when it is an object; else empty (usage is bookkeeping: a wrong one costs the token counts,
    not the answer)."""
    usage = data.get("usage")
    return usage if isinstance(usage, dict) else {}


def answer(text: str, *, reasoning: str | None = None, reasoning_tokens: int | None = None, finish: Any = None,
           prompt_tokens: Any = None, completion_tokens: Any = None, model: Any = None) -> Outcome:
    """DONE with the payload the engine stores, every field cleaned: text a store and a terminal take, counts
    that are counts (else unknown), a ``finish_reason`` and model id only when they are short text."""
    return Outcome(
        Action.DONE,
        payload={
            "text": clean_text(text),
            "reasoning": clean_text(reasoning) if reasoning else None,
            "reasoning_tokens": count(reasoning_tokens),
            "finish_reason": clean_text(finish)[:64] if isinstance(finish, str) else None,
            "prompt_tokens": count(prompt_tokens),
            "completion_tokens": count(completion_tokens),
            "model": clean_text(model)[:200] if isinstance(model, str) else None,
        },
    )


def not_an_answer(body: bytes, parsed: Any, what: str = "a chat completion") -> Outcome:
    """A 2xx that carries no completion, as RETRY with the server's own words (``parsed``: the JSON, or the
    parse error). A body cut short is a transient fault; anything else is what the server says to every request
    when it is misconfigured, so it is a ``rejection`` the first-wave check and the breaker compare."""
    if isinstance(parsed, Exception):
        text = body.decode("utf-8", "replace").strip()
        if text[:1] in ("{", "[") and isinstance(parsed, json.JSONDecodeError):  # cut short on the way: transient
            return Outcome(Action.RETRY, f"HTTP 200 with malformed JSON ({len(body)} bytes; {parsed.msg})")
        if text[:1] in ("{", "["):
            said = f"JSON that cannot be read ({parsed})"
        elif (title := _TITLE.search(body[:65536])) is not None or text[:1] == "<":
            page = title.group(1).decode("utf-8", "replace") if title is not None else text[:2000]
            said = "an HTML page: " + (_TAGS.sub(" ", html.unescape(page)).strip()[:200] or "(no text)")
        elif not text:
            said = "an empty body"
        else:
            said = f"a body that is not JSON ({parsed}): {text[:120]!r}"
    elif isinstance(parsed, dict) and ("error" in parsed or parsed.get("object") == "error"):
        said = f"an error instead of an answer: {parse_error_body(200, body)}"
    elif isinstance(parsed, dict):
        said = f"JSON without the answer's fields (keys: {', '.join(map(str, list(parsed)[:8])) or 'none'})"
    else:
        said = f"JSON that is not a completion object (a {type(parsed).__name__})"
    said = one_line(said)
    return Outcome(Action.RETRY, f"HTTP 200 but not {what}: {said}", rejection=ServerError(200, said))
