"""MeDiSumCode metrics on hand-worked cases (regex, dots, duplicates, U codes, validity)."""

from __future__ import annotations

import pytest

from clue_client.scoring import icd_scores, parse_codes


def test_parse_drops_dots_keeps_order_and_duplicates_and_skips_u_codes() -> None:
    text = "ICD-10 Codes: E11.9, I10, I10, U07.1, e11.9, N17.9x, Z99.89"
    # "N17.9x": the dotted part would end inside a word, so the regex backs off to the category "N17"
    assert parse_codes(text) == ["E119", "I10", "I10", "N17", "Z9989"]


def test_exact_counts_duplicates_like_clue() -> None:
    # predicted [E119, I10, I10]; gold [E119, N179]: P = 1/3 (each I10 misses), R = 1/2
    s = icd_scores("E11.9 I10 I10", "E119, N179")
    assert s.em_p == 1 / 3
    assert s.em_r == 0.5
    assert s.em_f1 == 2 * (1 / 3) * 0.5 / (1 / 3 + 0.5)


def test_approximate_uses_sets_of_three_character_categories() -> None:
    # predicted categories {E11, I10}; gold {E11, N17}: P = R = 1/2
    s = icd_scores("E11.65, E11.9, I10", "E119, N179, N170")
    assert (s.ap_p, s.ap_r, s.ap_f1) == (0.5, 0.5, 0.5)


def test_duplicates_in_gold_count_in_recall() -> None:
    s = icd_scores("I10", "I10, I10, E119")
    assert s.em_r == 2 / 3  # CLUE counts each gold entry
    assert s.em_p == 1.0


def test_empty_output_scores_zero_everywhere() -> None:
    s = icd_scores("", "I10")
    assert (s.em_p, s.em_r, s.em_f1, s.ap_f1, s.valid, s.valid_current) == (0.0,) * 6


def test_u_codes_are_not_codes_for_clue() -> None:
    s = icd_scores("U07.1", "U071")
    assert s.em_p == 0.0 and s.em_r == 0.0 and s.valid == 0.0


def test_valid_share_old_package_versus_current_release() -> None:
    # E11.9 and I10 valid everywhere; E99.9 nowhere; E11.A (FY2025) and F32.A only in the current release
    s = icd_scores("E11.9, I10, E99.9, E11.A, F32.A", "E119")
    assert s.valid == 2 / 5
    assert s.valid_current == 4 / 5
