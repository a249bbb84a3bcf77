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


_LIMIT_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
_BASE_MATERIAL = frozenset({"identity", "messages", "params", "protocol", "draw", "prompt"})


def request_key(identity: str, messages: Sequence[Message], params: Mapping[str, Any], draw: str | None = None, *,
                prompt: str | None = None, protocol: str = PROTOCOL_VERSION,
                extra: Mapping[str, Any] | None = None) -> str:
    """Stable hex key for one request to one endpoint identity.

    ``draw`` tells apart identical prompts that must get independent answers (sampling at temperature > 0);
    with greedy decoding it is None and identical prompts share one answer. ``prompt``: a raw prompt rendered
    on the client (sent to a completions API instead of ``messages``). ``protocol``: the CLUE protocol's
    version string. ``extra``: anything else that changes the answer (the wire API, a repeat index, the
    chat template's checksum); absent or empty, the key is what it always was, so old run folders resume.
    """
    material: dict[str, Any] = {
        "identity": identity,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "params": dict(params),
        "protocol": protocol,
    }
    if draw is not None:
        material["draw"] = draw
    if prompt is not None:
        material["prompt"] = prompt
    for name, value in (extra or {}).items():
        if name in _BASE_MATERIAL:
            raise ValueError(f"request key material '{name}' cannot be overridden")
        material[name] = value
    canonical = canonical_json(material)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Request:
    """One request. ``params`` holds the body fields besides the input (max_tokens, temperature, ...).

    The input is ``messages`` (a chat), or ``prompt`` when the client rendered the prompt itself (CLUE 2024
    sends raw text); which HTTP API carries it is the engine's wire format (``engine/wire``).
    ``prompt_ids``: the prompt's token ids when the client cut them to the last T (a server that cannot
    truncate itself, llama.cpp); derived from ``prompt`` and the ``truncate`` param, so not part of the key.
    """

    key: str
    messages: tuple[Message, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    prompt: str | None = None
    prompt_ids: tuple[int, ...] | None = None

    @classmethod
    def build(cls, identity: str, messages: Sequence[Message], params: Mapping[str, Any], draw: str | None = None, *,
              prompt: str | None = None, protocol: str = PROTOCOL_VERSION,
              extra: Mapping[str, Any] | None = None) -> "Request":
        """A Request and its key (see ``request_key`` for what the key covers)."""
        key = request_key(identity, messages, params, draw, prompt=prompt, protocol=protocol, extra=extra)
        return cls(key, tuple(messages), dict(params), prompt)

    @property
    def max_tokens(self) -> int | None:
        """The output limit sent, whichever field carries it (``max_tokens``, ``max_completion_tokens`` or the
        Responses API's ``max_output_tokens``)."""
        value = next((self.params[f] for f in _LIMIT_FIELDS if self.params.get(f) is not None), None)
        return int(value) if value is not None else None

    def turns(self) -> tuple[Message, ...]:
        """The input as turns (a raw prompt is one user turn): what token estimates count."""
        return self.messages if self.prompt is None else ({"role": "user", "content": self.prompt},)

    def body(self, model: str) -> dict[str, Any]:
        """The OpenAI-style JSON body: chat completions (``messages``), or completions for a raw ``prompt``.
        A wire format (``engine/wire``) may reshape it for its API; the store records this canonical form."""
        if self.prompt is not None:
            return {"model": model, "prompt": self.prompt, **self.params}
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
