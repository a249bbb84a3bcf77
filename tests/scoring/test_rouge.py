"""ROUGE: hand-worked cases, and bit-for-bit parity with rouge-score (what CLUE's `evaluate` call uses)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from rouge_score import rouge_scorer

from clue_client.scoring import rouge

_REFERENCE = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)


def _reference(preds: list[str], refs: list[str]) -> dict[str, np.ndarray]:
    scores = [_REFERENCE.score(r, p) for p, r in zip(preds, refs)]
    return {k: np.array([s[k].fmeasure for s in scores]) for k in ("rouge1", "rouge2", "rougeL")}


def test_hand_computed_pair() -> None:
    # pred tokens: the cat sat on the mat (6); ref: the cat is on the mat (6)
    # unigram overlap: the x2, cat, on, mat = 5 -> P = R = F = 5/6
    # bigrams: pred {the cat, cat sat, sat on, on the, the mat}; ref {the cat, cat is, is on, on the, the mat}
    # overlap 3 of 5 -> F = 0.6; LCS: the cat on the mat = 5 -> F = 5/6
    s = rouge(["The cat sat on the mat."], ["the CAT is on the mat"])
    assert s.rouge1[0] == pytest.approx(5 / 6, abs=1e-15)
    assert s.rouge2[0] == pytest.approx(0.6, abs=1e-15)
    assert s.rougeL[0] == pytest.approx(5 / 6, abs=1e-15)


def test_empty_sides_score_zero() -> None:
    s = rouge(["", "text here", "", "!!!"], ["text", "", "", "text"])
    for arr in (s.rouge1, s.rouge2, s.rougeL):
        assert arr.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_non_alphanumerics_split_tokens_and_case_is_ignored() -> None:
    # "covid-19" -> covid, 19 ; "é" is not [a-z0-9] so "fébrile" -> f, brile
    s = rouge(["COVID-19 fébrile"], ["covid 19 f brile"])
    assert s.rouge1[0] == 1.0 and s.rouge2[0] == 1.0 and s.rougeL[0] == 1.0


def test_repeated_ngrams_are_clipped() -> None:
    # pred "a a a a" vs ref "a b": unigram overlap min(4, 1) = 1 -> P = 1/4, R = 1/2
    s = rouge(["a a a a"], ["a b"])
    p, r = 1 / 4, 1 / 2
    assert s.rouge1[0] == 2 * p * r / (p + r)


def test_no_pairs() -> None:
    s = rouge([], [])
    assert s.rouge1.size == s.rouge2.size == s.rougeL.size == 0


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError):
        rouge(["a"], [])


def _synthetic_pairs(count: int, seed: int) -> tuple[list[str], list[str]]:
    """Clinical-looking texts with the tokenizer's traps: case, punctuation, digits, accents, odd Unicode."""
    rng = random.Random(seed)
    words = (
        "patient denies chest pain fever cough BP 120/80 mg dose q.d. COVID-19 X-ray fébrile naïve "
        "İstanbul Kelvin \u212a ß Straße the of and a an to in with no history of DM2 HTN MI s/p CABG x3 "
        "follow-up 2-3 weeks"
    ).split()
    seps = [" ", " ", " ", ", ", ". ", "\n", "\t", " - ", "; ", "  "]

    def text(n: int) -> str:
        return "".join(rng.choice(words) + rng.choice(seps) for _ in range(n))

    preds, refs = [], []
    for i in range(count):
        ref = text(rng.randint(0, 60))
        if i % 4 == 0:  # a summary that copies and edits the reference
            tokens = ref.split()
            rng.shuffle(tokens[: len(tokens) // 3])
            pred = " ".join(tokens[: rng.randint(0, len(tokens))]) + " " + text(rng.randint(0, 10))
        else:
            pred = text(rng.randint(0, 80))
        preds.append(pred)
        refs.append(ref)
    return preds, refs


def test_parity_with_rouge_score_on_thousands_of_pairs() -> None:
    preds, refs = _synthetic_pairs(3000, seed=7)
    ours = rouge(preds, refs)
    theirs = _reference(preds, refs)
    for key in ("rouge1", "rouge2", "rougeL"):
        got = getattr(ours, key)
        assert np.abs(got - theirs[key]).max() <= 1e-12, key
        assert (got == theirs[key]).mean() > 0.999, key  # in practice bit-identical
    assert (theirs["rougeL"] > 0).sum() > 1000  # the pairs really overlap: the test can fail


def test_order_of_pairs_does_not_matter() -> None:
    preds, refs = _synthetic_pairs(300, seed=3)
    whole = rouge(preds, refs)
    half = rouge(preds[150:], refs[150:])
    assert np.array_equal(whole.rougeL[150:], half.rougeL)
    assert np.array_equal(whole.rouge2[150:], half.rouge2)
