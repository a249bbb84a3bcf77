"""CLUE 2024's output clean-ups, applied to the answer before any metric (CLUE_PROTOCOL_2024.md §4).

Which steps a task gets, and in what order, is the protocol's (``ScoringRules.post_process``); this module
only knows what each named step does, exactly as CLUE's ff75877 code does it:

- ``phi_end``: when ``"phi"`` is in the lower-cased model id and the output holds ``" <|end|>"``, keep what
  precedes the first one (``mednli:95-96``);
- ``self_prompting``: ``re.sub`` of CLUE's pattern with no flags, so ``.`` stops at a newline and each match
  removes text only to the end of its line (``mednli:99-100``);
- ``strip``: ``str.strip`` (MeDiSumQA, before its phi split: ``QA:122-124``).

The server's text stays in ``raw_content``; ``prediction`` becomes the cleaned answer that is scored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import polars as pl

__all__ = ["STEPS", "post_process", "post_process_frame"]

_PHI_END = " <|end|>"
_SELF_PROMPTING = re.compile(r"(You are an AI.*)|(\[INST\].*)|((<\|user\|>).*)")


def _phi_end(text: str, model: str) -> str:
    return text.split(_PHI_END)[0] if "phi" in model.lower() and _PHI_END in text else text


STEPS: dict[str, Callable[[str, str], str]] = {
    "phi_end": _phi_end,
    "self_prompting": lambda text, model: _SELF_PROMPTING.sub("", text),
    "strip": lambda text, model: text.strip(),
}


def post_process(text: str, steps: Sequence[str], model: str) -> str:
    """``text`` after each named step in order; ``model`` is the model id the phi rule looks at."""
    for step in steps:
        text = STEPS[step](text, model)
    return text


def post_process_frame(frame: pl.DataFrame, steps: Sequence[str], model: str,
                       lh_tasks: Sequence[int] = (1, 2, 3)) -> tuple[pl.DataFrame, int]:
    """``prediction`` cleaned by ``steps`` (LongHealth: only rows of the sub-tasks in ``lh_tasks``), and how
    many answers that changed. Rows without an answer (errors) are left as they are."""
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ValueError(f"unknown post-processing step(s) {', '.join(unknown)}; known: {', '.join(STEPS)}")
    if not steps or frame.height == 0:
        return frame, 0
    applies = (frame["lh_task"].is_in(list(lh_tasks)).fill_null(False).to_list() if "lh_task" in frame.columns
               else [True] * frame.height)
    before = frame["prediction"].cast(pl.Utf8).to_list()
    after = [post_process(text, steps, model) if text is not None and use else text
             for text, use in zip(before, applies)]
    changed = sum(a != b for a, b in zip(after, before))
    return frame.with_columns(pl.Series("prediction", after, dtype=pl.Utf8)), changed
