"""Where servers put a thinking model's thoughts, read into one string (never into the answer).

- vLLM >= 0.11 with ``--reasoning-parser``: ``message.reasoning``;
- llama.cpp ``--reasoning-format``, DeepSeek's API, older vLLM: ``message.reasoning_content``;
- OpenRouter: ``message.reasoning_details[*].text`` (or ``.summary``; encrypted entries carry no text),
  often with the same text in ``message.reasoning`` too;
- OpenAI: no text, only ``usage.completion_tokens_details.reasoning_tokens``.

Thoughts inline in ``content`` (``<think>`` tags) are split off at scoring time (``scoring/answers.py``)
from the stored raw text, so changed rules can be re-applied without a call.
"""

from __future__ import annotations

from typing import Any, Mapping

from .outcome import count

__all__ = ["message_reasoning", "reasoning_tokens"]


def _details_text(details: Any) -> str | None:
    if not isinstance(details, list):
        return None
    parts = []
    for item in details:
        if isinstance(item, Mapping):
            text = item.get("text") or item.get("summary")
            if isinstance(text, str) and text:
                parts.append(text)
    return "\n".join(parts) or None


def message_reasoning(message: Mapping[str, Any]) -> str | None:
    """The reasoning text of one chat message, or None when the server sent none."""
    for name in ("reasoning", "reasoning_content"):
        value = message.get(name)
        if isinstance(value, str) and value:
            return value
    return _details_text(message.get("reasoning_details"))


def reasoning_tokens(usage: Mapping[str, Any]) -> int | None:
    """``usage.completion_tokens_details.reasoning_tokens`` when given (they are inside completion_tokens)."""
    details = usage.get("completion_tokens_details")
    return count(details.get("reasoning_tokens")) if isinstance(details, Mapping) else None
