"""Token counting as the LongHealth budget needs it: a Protocol, and a calibrated estimate.

The real counts come from the served model's own tokenizer over HTTP (``clue_client.serving.introspect``).
When a server offers none (hosted APIs), ``EstimateTokenizer`` assumes one token per ``CHARS_PER_TOKEN``
characters. Calibration (``bench/chars_per_token.py``, the 21 prompt texts of ``data/samples``): Gemma 3's
tokenizer (262k pieces) gives 4.77 characters a token overall and at least 4.00 on every text; a BERT
WordPiece vocabulary (30k pieces) 4.63 overall. 3.5 sits below every per-document ratio measured, so the
estimate over-counts a little and prompts stay inside the context, with about 17% more text than the
former fixed 3.
"""

from __future__ import annotations

import math
from typing import Protocol, Sequence, runtime_checkable

__all__ = ["Tokenizer", "EstimateTokenizer", "CHARS_PER_TOKEN", "ESTIMATE_NOTE"]

CHARS_PER_TOKEN = 3.5
#: What the manifest and the report say about estimated counts.
ESTIMATE_NOTE = (f"estimated, not counted: 1 token per {CHARS_PER_TOKEN} characters (calibrated on the bundled "
                 "samples with Gemma 3's and a WordPiece tokenizer, see bench/chars_per_token.py)")


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
    """Calibrated character-based estimate: ceil(len / CHARS_PER_TOKEN) tokens."""

    exact = False

    async def count(self, texts: Sequence[str]) -> list[int]:
        return [math.ceil(len(t) / CHARS_PER_TOKEN) for t in texts]

    async def truncate(self, text: str, n_tokens: int) -> str:
        return text[: int(max(n_tokens, 0) * CHARS_PER_TOKEN)]
