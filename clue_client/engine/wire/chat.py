"""OpenAI chat completions: ``POST {base}/chat/completions`` with ``messages``; the answer is ``choices[0].message``.

``content`` is a string, or (Mistral) a list of parts: ``{"type": "text", "text": ...}`` parts are the answer,
``{"type": "thinking", "thinking": [text parts]}`` parts the thoughts. A 2xx that is no completion (an HTML
login page, an error object, bytes) is retried and says what the server sent instead.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

from ..outcome import Action, Outcome, ServerError, clean_text, count, loads, one_line, parse_error_body
from ..reasoning import message_reasoning, reasoning_tokens
from ..request import Request

__all__ = ["ChatWire", "CHAT", "parse_completion", "not_an_answer"]

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]*>|\s+")


@dataclass(frozen=True, slots=True)
class ChatWire:
    name: str = "chat"

    def url(self, base_url: str) -> str:
        return f"{base_url}/chat/completions"

    def body(self, request: Request, model: str) -> dict[str, Any]:
        return request.body(model)

    def parse(self, body: bytes) -> Outcome:
        return parse_completion(body)


CHAT = ChatWire()


def _parts(content: list[Any], kind: str) -> str | None:
    """The text of Mistral's content parts of one kind (``text``; ``thinking`` holds text parts itself)."""
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type", "text") != kind:
            continue
        value = part.get(kind)
        if kind == "thinking" and isinstance(value, list):
            value = _parts(value, "text")
        if isinstance(value, str):
            texts.append(value)
    return "".join(texts) if texts else None


def parse_completion(body: bytes) -> Outcome:
    """A 2xx body: DONE with the payload, or RETRY saying what the server sent when it is not a chat completion."""
    try:
        data = loads(body)
    except ValueError as exc:
        return not_an_answer(body, exc)
    try:
        choice = data["choices"][0]
        message = choice["message"]
        content = message.get("content")
        reasoning = message_reasoning(message)
        if content is None:  # a thinking model cut off before its answer: never score its thoughts
            content = ""
        elif isinstance(content, list):  # Mistral: text parts, and thinking parts for its reasoning models
            reasoning = reasoning or _parts(content, "thinking")
            content = _parts(content, "text") or ""
        if not isinstance(content, str):
            raise TypeError("content is not a string")
        usage = data.get("usage") or {}
        if not isinstance(usage, dict):
            usage = {}  # usage is bookkeeping: a wrong one costs the token counts, not the answer
    except (KeyError, IndexError, TypeError, AttributeError):
        return not_an_answer(body, data)
    finish = choice.get("finish_reason")
    model = data.get("model")
    return Outcome(
        Action.DONE,
        payload={
            "text": clean_text(content),
            "reasoning": clean_text(reasoning) if reasoning else None,
            "reasoning_tokens": reasoning_tokens(usage),
            "finish_reason": clean_text(finish)[:64] if isinstance(finish, str) else None,
            "prompt_tokens": count(usage.get("prompt_tokens")),
            "completion_tokens": count(usage.get("completion_tokens")),
            "model": clean_text(model)[:200] if isinstance(model, str) else None,
        },
    )


def not_an_answer(body: bytes, parsed: Any) -> Outcome:
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
        said = f"JSON without choices[0].message (keys: {', '.join(map(str, list(parsed)[:8])) or 'none'})"
    else:
        said = f"JSON that is not a completion object (a {type(parsed).__name__})"
    said = one_line(said)
    return Outcome(Action.RETRY, f"HTTP 200 but not a chat completion: {said}", rejection=ServerError(200, said))
