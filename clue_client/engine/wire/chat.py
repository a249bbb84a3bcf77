"""OpenAI chat completions: ``POST {base}/chat/completions`` with ``messages``; the answer is ``choices[0].message``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..outcome import Outcome, parse_completion
from ..request import Request

__all__ = ["ChatWire", "CHAT"]


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
