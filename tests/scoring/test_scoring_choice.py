"""MedNLI and LongHealth per-sample rules, on hand-worked outputs."""

from __future__ import annotations

import pytest

from clue_client.scoring import longhealth_answer, mednli_accuracy, mednli_strict_accuracy


@pytest.mark.parametrize(
    ("output", "gold", "clue", "strict"),
    [
        ("ENTAILMENT", "entailment", 1.0, 1.0),
        ("The relation is Entailment.", "entailment", 1.0, 1.0),  # odd case still counts
        ("eNtAiLmEnT", "entailment", 1.0, 1.0),
        ("neutral", "entailment", 0.0, 0.0),
        ("", "neutral", 0.0, 0.0),  # empty output
        ("NEUTRAL, definitely neutral", "neutral", 0.0, 0.0),  # named twice: CLUE gives 0
        ("ENTAILMENT, NEUTRAL or CONTRADICTION", "neutral", 1.0, 0.0),  # all three: CLUE credits it, strict not
        ("contradiction (not entailment)", "contradiction", 1.0, 0.0),
    ],
)
def test_mednli_accuracy_and_strict_accuracy(output: str, gold: str, clue: float, strict: float) -> None:
    assert mednli_accuracy(output, gold) == clue
    assert mednli_strict_accuracy(output, gold) == strict


@pytest.mark.parametrize(
    ("output", "letter"),
    [
        ("The correct answer is C: Acute bronchitis.", "C"),
        ("The correct answer is B: x. The correct answer is D: y.", "B"),  # first match wins
        ("the correct answer is C: lower-case phrase", None),  # case-sensitive, as CLUE
        ("The correct answer is C", None),  # no colon
        ("The correct answer is (C): x", None),
        ("", None),
        ("Answer: The correct answer is F: Question cannot be answered", "F"),
    ],
)
def test_longhealth_answer_parse(output: str, letter: str | None) -> None:
    assert longhealth_answer(output) == letter
