"""OpenAI's Responses API: ``POST {base}/responses`` with ``input`` messages; the answer is the ``output_text`` of
the ``message`` items (https://platform.openai.com/docs/api-reference/responses/create).

``store`` is always false: the API keeps every response for later retrieval unless told not to, and a
provider keeping credentialed PhysioNet text is what its data use agreement forbids. Reasoning summaries
(``reasoning`` items) are the thoughts, never the answer. A response cut at ``max_output_tokens`` comes back
``status: "incomplete"`` (``incomplete_details.reason``), maybe with no message at all when the limit ended
the reasoning: that is a truncated answer (``finish_reason: "length"``), counted as on chat completions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ...errors import UserError
from ..outcome import Action, Outcome, clean_text, one_line
from ..request import Request
from .reading import answer, read_answer, usage_of

__all__ = ["ResponsesWire", "RESPONSES", "parse_response"]

#: ``incomplete_details.reason`` as a chat completion's ``finish_reason``
_FINISH = {"max_output_tokens": "length", "content_filter": "content_filter"}
#: statuses of a response that is not (yet) an answer: a background or failed one
_NOT_DONE = frozenset({"failed", "cancelled", "queued", "in_progress"})


@dataclass(frozen=True, slots=True)
class ResponsesWire:
    name: str = "responses"

    def url(self, base_url: str) -> str:
        return f"{base_url}/responses"

    def body(self, request: Request, model: str) -> dict[str, Any]:
        if request.prompt is not None:
            raise UserError("the Responses API takes chat messages, not a client-rendered prompt: "
                            'use api = "chat" (or a completions endpoint) for this protocol')
        return {"model": model, "input": [dict(m) for m in request.messages], **request.params, "store": False}

    def parse(self, body: bytes) -> Outcome:
        return parse_response(body)


RESPONSES = ResponsesWire()


def _items(output: list[Any], kind: str) -> list[Mapping[str, Any]]:
    return [item for item in output if isinstance(item, Mapping) and item.get("type") == kind]


def _texts(parts: Any, kind: str, key: str = "text") -> list[str]:
    """The ``key`` of every part of type ``kind`` (``output_text``, ``summary_text``, ``reasoning_text``)."""
    if not isinstance(parts, list):
        return []
    found = [p.get(key) for p in parts if isinstance(p, Mapping) and p.get("type") == kind]
    return [text for text in found if isinstance(text, str)]


def _reasoning(output: list[Any]) -> str | None:
    """Reasoning summaries (OpenAI), else reasoning text (open servers with a reasoning parser), or None."""
    items = _items(output, "reasoning")
    parts = [t for item in items for t in _texts(item.get("summary"), "summary_text")]
    parts = parts or [t for item in items for t in _texts(item.get("content"), "reasoning_text")]
    return "\n".join(p for p in parts if p) or None


def _reasoning_tokens(usage: Mapping[str, Any]) -> Any:
    details = usage.get("output_tokens_details")
    return details.get("reasoning_tokens") if isinstance(details, Mapping) else None


def parse_response(body: bytes) -> Outcome:
    """A 2xx Responses body: DONE with the chat-shaped payload, or RETRY (saying what the server sent) when it is
    not a finished response."""
    return read_answer(body, "a Responses API answer", _response_answer)


def _response_answer(data: Any) -> Outcome:
    status = data.get("status")
    if status in _NOT_DONE:
        error = data.get("error") if isinstance(data.get("error"), Mapping) else {}
        said = error.get("message") or error.get("code") or "no answer"
        return Outcome(Action.RETRY, one_line(f"response {status}: {clean_text(str(said))}"))
    output = data["output"]
    if not isinstance(output, list):
        raise TypeError("output is not a list")
    usage = usage_of(data)
    text = "".join(t for item in _items(output, "message") for t in _texts(item.get("content"), "output_text"))
    if status == "incomplete":
        details = data.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, Mapping) else None
        finish = _FINISH.get(reason, reason) if isinstance(reason, str) else "length"
    else:
        finish = "stop"
    return answer(text, reasoning=_reasoning(output), reasoning_tokens=_reasoning_tokens(usage), finish=finish,
                  prompt_tokens=usage.get("input_tokens"), completion_tokens=usage.get("output_tokens"),
                  model=data.get("model"))
