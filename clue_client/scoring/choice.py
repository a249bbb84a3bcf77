"""Per-sample scores of the multiple-choice tasks: MedNLI labels and LongHealth answer letters."""

from __future__ import annotations

import re

__all__ = ["MEDNLI_LABELS", "longhealth_answer", "mednli_accuracy", "mednli_strict_accuracy"]

MEDNLI_LABELS = ("entailment", "neutral", "contradiction")
_LONGHEALTH_ANSWER = re.compile(r"The correct answer is (\w):")


def mednli_accuracy(prediction: str, gold: str) -> float:
    """CLUE's rule: 1 if the gold label occurs exactly once in the output, case-insensitively.

    An output naming all three labels once still scores 1; ``mednli_strict_accuracy`` closes that hole.
    """
    return 1.0 if prediction.upper().count(gold.upper()) == 1 else 0.0


def mednli_strict_accuracy(prediction: str, gold: str) -> float:
    """1 only if exactly one of the three labels is named, once, and it is the gold label."""
    text = prediction.upper()
    named = [label for label in MEDNLI_LABELS if label.upper() in text]
    return 1.0 if named == [gold.lower()] and text.count(gold.upper()) == 1 else 0.0


def longhealth_answer(prediction: str) -> str | None:
    """The letter of the first ``The correct answer is X:`` (case-sensitive, as CLUE), else None."""
    match = _LONGHEALTH_ANSWER.search(prediction)
    return match.group(1) if match else None
