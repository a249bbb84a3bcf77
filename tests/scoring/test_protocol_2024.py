"""Scoring under CLUE 2024 (CLUE_PROTOCOL_2024.md §4, §6): output clean-ups, the doubled first sample, and
what they do to hand-computed cases, beside the same answers scored under 2025."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

from clue_client.protocols import CLUE_2024, CLUE_2025
from clue_client.scoring import ScoringOptions, score_run, task_score
from clue_client.scoring.aggregate import COUNTED, count_first_twice
from clue_client.scoring.postprocess import post_process
from clue_client.scoring.stats import bootstrap_scores, group_draws

PHI = "microsoft/Phi-3-mini-4k-instruct"
LLAMA = "meta-llama/Meta-Llama-3-8B-Instruct"


def _frame(task: str, preds: list[str | None], refs: list[str], errors: list[str | None] | None = None,
           **extra: list) -> pl.DataFrame:
    ids = [f"{task}-{i}" for i in range(len(preds))]
    return pl.DataFrame({"task": [task] * len(ids), "sample_id": ids, "group_id": ids, "reference": refs,
                         "prediction": preds, "error": errors or [None] * len(ids), **extra},
                        schema_overrides={"prediction": pl.Utf8, "error": pl.Utf8})


def _score(task: str, frame: pl.DataFrame, protocol: str, model: str = PHI, **options: object) -> dict:
    opts = ScoringOptions(protocol=protocol, model=model, bootstrap=0, bertscore=False, umls=False, **options)
    return score_run({task: frame}, opts)[1]["tasks"][task]


def test_each_step_does_what_clues_2024_code_does() -> None:
    # phi: only for a model id naming phi (any case), only at " <|end|>" (with its space), first one wins
    assert post_process("neutral <|end|> x <|end|> y", ("phi_end",), PHI) == "neutral"
    assert post_process("neutral<|end|> x", ("phi_end",), PHI) == "neutral<|end|> x"
    assert post_process("neutral <|end|> x", ("phi_end",), LLAMA) == "neutral <|end|> x"
    # the self-prompting cut has no DOTALL: each match ends at its line's end, and every match goes
    cut = ("self_prompting",)
    assert post_process("A\nYou are an AI. B\nC", cut, LLAMA) == "A\n\nC"
    assert post_process("You are an AI.\nneutral", cut, LLAMA) == "\nneutral"
    assert post_process("x [INST] y\nz <|user|> w\nv", cut, LLAMA) == "x \nz \nv"
    assert re.sub(r"(You are an AI.*)", "", "You are an AI.\nneutral", flags=re.DOTALL) == ""  # what DOTALL would do
    # MeDiSumQA strips first, then splits (QA:122-124): a leading " <|end|>" is no longer one
    assert post_process(" <|end|>Paris ", CLUE_2024.scoring_rules("medisumqa").post_process, PHI) == "<|end|>Paris"
    assert post_process(" <|end|>Paris ", ("phi_end", "strip"), PHI) == ""  # the other order would empty it


def test_2025_rules_are_empty_and_2024_rules_follow_the_spec() -> None:
    for task in ("mednli", "meqsum", "problem_summary", "longhealth", "medisumqa", "medisumcode"):
        assert CLUE_2025.scoring_rules(task).post_process == () and not CLUE_2025.scoring_rules(task).double_first
    rules = {t: CLUE_2024.scoring_rules(t) for t in ("mednli", "meqsum", "problem_summary", "longhealth",
                                                     "medisumqa", "medisumcode")}
    assert [t for t, r in rules.items() if r.double_first] == ["mednli", "meqsum", "problem_summary", "medisumqa",
                                                                "medisumcode"]
    assert rules["longhealth"].post_process == ("phi_end",) and rules["longhealth"].post_process_lh_tasks == (1,)
    assert rules["medisumqa"].post_process == ("strip", "phi_end")
    assert [t for t, r in rules.items() if r.lowercase] == ["problem_summary"]
    assert {t: (r.bertscore_model, r.bertscore_layer) for t, r in rules.items() if r.bertscore_model} == {
        "problem_summary": ("emilyalsentzer/Bio_ClinicalBERT", 9), "medisumqa": ("emilyalsentzer/Bio_ClinicalBERT", 9)}


MEDNLI = [  # (answer, gold, right under 2025, right under 2024 for a phi model)
    ("contradiction", "neutral", 0, 0),  # the first scored sample: counted twice under 2024
    ("neutral <|end|> neutral", "neutral", 0, 1),  # phi split leaves one "neutral"
    ("entailment\nYou are an AI assistant. entailment", "entailment", 0, 1),  # the cut ends at the line's end
    ("You are an AI.\ncontradiction", "contradiction", 1, 1),  # ... so the next line survives (DOTALL would not)
    ("neutral [INST] neutral", "neutral", 0, 1),
    ("entailment <|user|> entailment", "entailment", 0, 1),
]


def test_mednli_post_processing_and_the_doubled_first_sample_change_the_score_as_the_spec_says() -> None:
    frame = _frame("mednli", [a for a, *_ in MEDNLI], [g for _, g, *_ in MEDNLI])
    new, old = _score("mednli", frame, "2025"), _score("mednli", frame, "2024")
    assert new["score"] == pytest.approx(100 * 1 / 6)  # plain mean of 0,0,0,1,0,0
    assert old["score"] == pytest.approx(100 * 5 / 7)  # (0 + 0 + 1 + 1 + 1 + 1 + 1) / 7: the first twice
    assert old["n_post_processed"] == 5 and "n_post_processed" not in new
    # not a phi model: the <|end|> answer stays doubled-neutral (wrong); the cuts still apply
    assert _score("mednli", frame, "2024", model=LLAMA)["score"] == pytest.approx(100 * 4 / 7)
    # --clue-compat under 2025 doubles MedNLI's first sample too, and changes nothing more under 2024
    assert _score("mednli", frame, "2025", clue_compat=True)["score"] == pytest.approx(100 * 1 / 7)
    assert _score("mednli", frame, "2024", clue_compat=True)["score"] == old["score"]


def test_doubled_first_sample_in_the_summary_tasks_and_longhealth_counted_plainly() -> None:
    preds, refs = ["fever and cough", "no", "none"], ["fever and cough", "pneumonia", "sepsis"]
    for task in ("meqsum", "problem_summary", "medisumqa"):
        old, new = _score(task, _frame(task, preds, refs), "2024"), _score(task, _frame(task, preds, refs), "2025")
        assert old["metrics"]["rouge1"] == pytest.approx(2 / 4) and new["metrics"]["rouge1"] == pytest.approx(1 / 3)
    lh = _frame("longhealth", ["The correct answer is A: x", "nothing", "nothing"], ["A", "A", "A"], lh_task=[1, 1, 1])
    assert _score("longhealth", lh, "2024")["metrics"]["longhealth_task1"] == pytest.approx(1 / 3)
    codes = _frame("medisumcode", ["I10", "none"], ["I10", "E119"])
    assert _score("medisumcode", codes, "2024")["metrics"]["icd_em_f1"] == pytest.approx(2 / 3)


def test_medisumqa_is_stripped_then_split_and_not_cut() -> None:
    frame = _frame("medisumqa", ["  Paris <|end|> London", "You are an AI and Paris"], ["Paris", "You are an AI and Paris"])
    scored = score_run({"medisumqa": frame}, ScoringOptions(protocol="2024", model=PHI, bootstrap=0, bertscore=False,
                                                             umls=False))[0]["medisumqa"]
    assert scored["prediction"].to_list() == ["Paris", "You are an AI and Paris"]  # no self-prompting cut here
    assert scored["raw_content"].to_list() == frame["prediction"].to_list()  # the server's text is kept
    assert scored["rouge1"].to_list() == [1.0, 1.0]


def test_longhealth_phi_split_is_for_task_1_only() -> None:
    answer = "I am unsure <|end|> The correct answer is A: x"
    frame = _frame("longhealth", [answer, answer], ["A", "A"], lh_task=[1, 2])
    old, new = _score("longhealth", frame, "2024"), _score("longhealth", frame, "2025")
    assert old["metrics"] == {"longhealth_task1": 0.0, "longhealth_task2": 1.0}  # task 1 cut before the answer
    assert new["metrics"] == {"longhealth_task1": 1.0, "longhealth_task2": 1.0}


def test_the_doubled_sample_is_the_first_one_and_no_other() -> None:
    preds, refs = ["neutral", "neutral", "contradiction"], ["neutral", "entailment", "contradiction"]
    # the first sample refused by the server and left out (--exclude-rejected): nothing else is doubled
    refused = _frame("mednli", [None, *preds[1:]], refs, errors=["HTTP 400: too long", None, None],
                     rejected=["HTTP 400: too long", None, None])
    assert _score("mednli", refused, "2024", exclude_rejected=True)["score"] == pytest.approx(50.0)
    # scored as an empty answer (the default): it is the doubled one, and it is wrong
    assert _score("mednli", refused, "2024")["score"] == pytest.approx(100 * 1 / 4)
    # weights set on the whole frame survive dropping an unanswered first row (the runner does this)
    whole = count_first_twice("mednli", _frame("mednli", preds, refs), ScoringOptions(protocol="2024"))
    assert whole[COUNTED].to_list() == [2, 1, 1]
    assert task_score("mednli", whole.slice(1).with_columns(accuracy=pl.Series([0.0, 1.0]))) == 50.0
    # repeats: every row of the first sample counts twice
    repeated = pl.concat([_frame("mednli", preds, refs)] * 2)
    assert count_first_twice("mednli", repeated, ScoringOptions(protocol="2024"))[COUNTED].to_list() == [2, 1, 1, 2, 1, 1]


def test_bootstrap_replicates_carry_the_doubled_sample_with_its_weight() -> None:
    accuracy = [0.0, 1.0, 1.0, 0.0, 1.0]
    frame = _frame("mednli", ["x"] * 5, ["neutral"] * 5).with_columns(
        accuracy=pl.Series(accuracy), counted=pl.Series([2, 1, 1, 1, 1], dtype=pl.Int8))
    reps = bootstrap_scores("mednli", frame, 50, seed=7)
    draws = group_draws(7, "mednli", 5, 50)  # groups sort as the sample ids: mednli-0 .. mednli-4
    weights, values = np.array([2.0, 1, 1, 1, 1]), np.array(accuracy)
    by_hand = [100 * (weights[d] * values[d]).sum() / weights[d].sum() for d in draws]
    assert reps == pytest.approx(by_hand, abs=1e-12)
    assert task_score("mednli", frame) == pytest.approx(100 * 3 / 6)
    plain = bootstrap_scores("mednli", frame.drop(COUNTED), 50, seed=7)
    assert not np.allclose(reps, plain)  # the weight is really used
