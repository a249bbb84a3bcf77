"""Token counting as the LongHealth budget needs it: a Protocol, and a conservative estimate.

The real counts come from the served model's own tokenizer over HTTP (``clue_client.serving.introspect``). When a
server offers none (hosted APIs), ``EstimateTokenizer`` assumes one token per ``CHARS_PER_TOKEN``
characters: English BPE vocabularies average about four characters a token, so three over-counts and the
prompts stay inside the context at the price of slightly fewer documents.
"""

from __future__ import annotations

import math
from typing import Protocol, Sequence, runtime_checkable

__all__ = ["Tokenizer", "EstimateTokenizer", "CHARS_PER_TOKEN"]

CHARS_PER_TOKEN = 3


@runtime_checkable
class Tokenizer(Protocol):
    """What the tasks need from a tokenizer; implementations batch and cache."""

    async def count(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text (no special tokens added)."""
        ...

    async def truncate(self, text: str, n_tokens: int) -> str:
        """The first ``n_tokens`` tokens of ``text``, as text."""
        ...


class EstimateTokenizer:
    """Conservative character-based estimate: ceil(len / CHARS_PER_TOKEN) tokens."""

    exact = False

    async def count(self, texts: Sequence[str]) -> list[int]:
        return [math.ceil(len(t) / CHARS_PER_TOKEN) for t in texts]

    async def truncate(self, text: str, n_tokens: int) -> str:
        return text[: max(n_tokens, 0) * CHARS_PER_TOKEN]
