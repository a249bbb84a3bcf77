"""The scored answer is the final content with reasoning removed: hand-written cases for each rule."""

from __future__ import annotations

import polars as pl
import pytest

from clue_client.scoring.answers import Answer, final_answers, split_answer


@pytest.mark.parametrize(
    ("content", "reasoning", "tokens", "expected"),
    [
        ("ENTAILMENT", None, None, Answer("ENTAILMENT", None, False)),
        ("  spaced answer \n", None, None, Answer("  spaced answer \n", None, False)),  # untouched: no reasoning
        (None, None, None, Answer("", None, False)),  # an empty answer, not cut-off thinking
        ("\n\nNEUTRAL", "label by label", None, Answer("NEUTRAL", "label by label", False)),  # vLLM / llama.cpp
        ("<think>\nweigh all three\n</think>\n\nCONTRADICTION", None, None,
         Answer("CONTRADICTION", "weigh all three", False)),
        ("<think>a</think>x<think>b</think>y", None, None, Answer("xy", "a\nb", False)),
        ("opened by the template\n</think>\n\nNEUTRAL", None, None, Answer("NEUTRAL", "opened by the template", False)),
        ("<think>\nentailment or neutral, or", None, None, Answer("", "entailment or neutral, or", True)),  # unclosed
        ("", "entailment, contradiction", None, Answer("", "entailment, contradiction", True)),  # content empty
        (None, "entailment, contradiction", None, Answer("", "entailment, contradiction", True)),  # content null
        ("", None, 20, Answer("", None, True)),  # OpenAI: no text, 20 reasoning tokens, nothing left for the answer
        ("ENTAILMENT", None, 12, Answer("ENTAILMENT", None, False)),
        ("<think></think>ENTAILMENT", None, None, Answer("ENTAILMENT", None, False)),
    ],
)
def test_split_answer(content: str | None, reasoning: str | None, tokens: int | None, expected: Answer) -> None:
    assert split_answer(content, reasoning, tokens) == expected


@pytest.mark.parametrize(
    ("content", "reasoning", "expected"),
    [
        ("entailment or neutral, hm", None, Answer("", "entailment or neutral, hm", True)),  # cut before </think>
        ("weighing\n</think>\n\nNEUTRAL", None, Answer("NEUTRAL", "weighing", False)),
        ("<think>a</think>NEUTRAL", None, Answer("NEUTRAL", "a", False)),
        ("NEUTRAL", "the server split it", Answer("NEUTRAL", "the server split it", False)),  # a parser ran
        ("", None, Answer("", None, False)),
    ],
)
def test_a_template_that_opens_think(content: str, reasoning: str | None, expected: Answer) -> None:
    assert split_answer(content, reasoning, None, opened=True) == expected


def test_final_answers_keeps_raw_text_and_leaves_errors_alone() -> None:
    frame = pl.DataFrame({
        "prediction": ["<think>x</think>A", None, ""],
        "reasoning": [None, None, "thinking"],
        "reasoning_tokens": [None, None, 5],
    })
    out = final_answers(frame)
    assert out["prediction"].to_list() == ["A", None, ""]
    assert out["raw_content"].to_list() == ["<think>x</think>A", None, ""]
    assert out["reasoning"].to_list() == ["x", None, "thinking"]
    assert out["reasoning_truncated"].to_list() == [False, False, True]
    assert final_answers(out).equals(out), "already split: unchanged"
    bare = final_answers(pl.DataFrame({"prediction": ["plain"]}))
    assert bare["prediction"].to_list() == ["plain"] and bare["reasoning_truncated"].to_list() == [False]
