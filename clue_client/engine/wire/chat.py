"""OpenAI chat completions: ``POST {base}/chat/completions`` with ``messages``; the answer is ``choices[0].message``.

``content`` is a string, or (Mistral) a list of parts: ``{"type": "text", "text": ...}`` parts are the answer,
``{"type": "thinking", "thinking": [text parts]}`` parts the thoughts. A 2xx that is no completion (an HTML
login page, an error object, bytes) is retried and says what the server sent instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..outcome import Outcome
from ..reasoning import message_reasoning, reasoning_tokens
from ..request import Request
from .reading import answer, not_an_answer, read_answer, usage_of

__all__ = ["ChatWire", "CHAT", "parse_completion", "not_an_answer"]


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
    return read_answer(body, "a chat completion", _chat_answer)


def _chat_answer(data: Any) -> Outcome:
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
    usage = usage_of(data)
    return answer(content, reasoning=reasoning, reasoning_tokens=reasoning_tokens(usage),
                  finish=choice.get("finish_reason"), prompt_tokens=usage.get("prompt_tokens"),
                  completion_tokens=usage.get("completion_tokens"), model=data.get("model"))
