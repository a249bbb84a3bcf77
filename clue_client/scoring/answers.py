"""The scored answer: the final content with reasoning removed. Reasoning is kept beside it, never scored.

Applied at scoring time to the raw content the store keeps, so ``clue score`` re-applies changed rules
without a call:

- ``<think>...</think>`` blocks in the content are reasoning (a server without a reasoning parser);
- text before a lone ``</think>`` is reasoning (chat templates that open the tag in the prompt); with the
  endpoint key ``template_opens_think``, content that never reaches ``</think>`` is unfinished thinking;
- thinking that never finished is an empty answer, flagged ``reasoning_truncated``: an unclosed
  ``<think>``, or blank content beside reasoning the server returned (text or ``reasoning_tokens``), as a
  thinking model cut off by CLUE's answer budget (MedNLI: 20 tokens) sends it. CLUE scores an empty answer
  as wrong; scoring the thoughts instead would credit a model for naming every label while thinking.

Answers without any reasoning pass through byte for byte.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import polars as pl

__all__ = ["Answer", "split_answer", "final_answers"]

OPEN, CLOSE = "<think>", "</think>"
_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


class Answer(NamedTuple):
    text: str
    reasoning: str | None
    truncated: bool


def split_answer(content: str | None, reasoning: str | None = None, reasoning_tokens: int | None = None,
                 opened: bool = False) -> Answer:
    """Split one raw content (and the reasoning the server sent beside it) into answer and reasoning.

    ``opened``: the chat template opened ``<think>`` in the prompt and the server returned no reasoning of its
    own, so content that never reaches ``</think>`` is all thought (the budget ended it)."""
    answer = content or ""
    thoughts = [reasoning] if reasoning else []
    thoughts += _BLOCK.findall(answer)
    answer = _BLOCK.sub("", answer)
    before, closed, after = answer.rpartition(CLOSE)
    if closed:
        thoughts.append(before)
        answer = after
    never_closed = opened and CLOSE not in (content or "") and not reasoning and bool(answer.strip())
    unclosed = OPEN in answer or never_closed
    if unclosed and OPEN not in answer:
        thoughts.append(answer)
        answer = ""
    elif unclosed:
        thoughts.append(answer.split(OPEN, 1)[1])
        answer = ""
    found = bool(thoughts) or bool(closed) or bool(reasoning_tokens)
    if not found:
        return Answer(content or "", None, False)
    answer = answer.strip()
    truncated = unclosed or (not answer and (bool(reasoning) or bool(reasoning_tokens)))
    joined = "\n".join(t.strip() for t in thoughts if t.strip()) or None
    return Answer(answer, joined, truncated)


def final_answers(frame: pl.DataFrame, opened: bool = False) -> pl.DataFrame:
    """``prediction`` becomes the answer and the server's text moves to ``raw_content``; ``reasoning`` holds
    all reasoning found (server's and inline); ``reasoning_truncated`` flags thinking that never finished.
    A frame that already has ``raw_content`` was split before and is returned as it is."""
    if "raw_content" in frame.columns:
        return frame
    nulls = [None] * frame.height
    raw = frame["prediction"].cast(pl.Utf8).to_list()
    server = frame["reasoning"].cast(pl.Utf8).to_list() if "reasoning" in frame.columns else nulls
    tokens = frame["reasoning_tokens"].cast(pl.Int64).to_list() if "reasoning_tokens" in frame.columns else nulls
    split = [None if text is None else split_answer(text, r, t, opened) for text, r, t in zip(raw, server, tokens)]
    return frame.with_columns(
        pl.Series("raw_content", raw, dtype=pl.Utf8),
        pl.Series("prediction", [None if a is None else a.text for a in split], dtype=pl.Utf8),
        pl.Series("reasoning", [None if a is None else a.reasoning for a in split], dtype=pl.Utf8),
        pl.Series("reasoning_tokens", tokens, dtype=pl.Int64),
        pl.Series("reasoning_truncated", [a is not None and a.truncated for a in split], dtype=pl.Boolean),
    )
