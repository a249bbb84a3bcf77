"""The engine's unit of work: a Request is pure data with a stable key.

The key hashes everything that determines an answer (endpoint identity, canonical messages,
sampling parameters, protocol version) so a resume or a re-score never asks twice, and the same
question put to a different model never reuses an answer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

__all__ = ["PROTOCOL_VERSION", "Message", "Request", "Result", "request_key", "canonical_json"]

#: Bump when prompts or request construction change in a way that changes answers.
PROTOCOL_VERSION = "clue-2de4314/1"

Message = Mapping[str, str]  # {"role": ..., "content": ...}


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal data always gives equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(identity: str, messages: Sequence[Message], params: Mapping[str, Any], draw: str | None = None) -> str:
    """Stable hex key for one request to one endpoint identity.

    ``draw`` tells apart identical prompts that must get independent answers (sampling at temperature > 0);
    with greedy decoding it is None and identical prompts share one answer.
    """
    material: dict[str, Any] = {
        "identity": identity,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "params": dict(params),
        "protocol": PROTOCOL_VERSION,
    }
    if draw is not None:
        material["draw"] = draw
    canonical = canonical_json(material)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Request:
    """One chat-completion request. ``params`` holds sampling fields (max_tokens, temperature, ...)."""

    key: str
    messages: tuple[Message, ...]
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, identity: str, messages: Sequence[Message], params: Mapping[str, Any], draw: str | None = None) -> "Request":
        return cls(request_key(identity, messages, params, draw), tuple(messages), dict(params))

    @property
    def max_tokens(self) -> int | None:
        """The output limit sent, whichever field carries it (``max_tokens`` or ``max_completion_tokens``)."""
        value = self.params.get("max_tokens", self.params.get("max_completion_tokens"))
        return int(value) if value is not None else None

    def body(self, model: str) -> dict[str, Any]:
        """The OpenAI chat-completions JSON body for this request."""
        return {"model": model, "messages": [dict(m) for m in self.messages], **self.params}


@dataclass(frozen=True, slots=True)
class Result:
    """What came back for one Request: an answer or a recorded error, never both.

    ``text`` is the raw ``content`` as sent (reasoning is split off at scoring time); ``reasoning`` the
    thoughts the server returned beside it; ``rejection`` the server's own error when it refused the
    request (compared across the first requests to tell a configuration error from a sample's).
    """

    key: str
    text: str | None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    attempts: int = 1
    error: str | None = None
    replica: str | None = None
    retryable: bool = False  # the error was transient (retries ran out): a rerun tries again
    reasoning: str | None = None
    reasoning_tokens: int | None = None
    rejection: Any = None  # outcome.ServerError of a 400/422 that is not a context overflow

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None
