"""Flags and output shared by several subcommands (scoring options, the results table)."""

from __future__ import annotations

import argparse
import math
import operator
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

__all__ = ["add_scoring_flags", "scoring_options", "print_results", "print_rejected", "number"]

stdout = Console(highlight=False)


def number(kind: type = float, low: float | None = None, high: float | None = None,
           above: float | None = None, below: float | None = None) -> Callable[[str], Any]:
    """An argparse ``type`` that parses ``kind`` within bounds (``low``/``high`` inclusive, ``above``/``below``
    exclusive), so ``--temperature -1`` or ``--bootstrap -5`` is a one-line usage error, not a request."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {'a whole number' if kind is int else 'a number'}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
        for bound, holds, words in ((low, operator.ge, "at least"), (high, operator.le, "at most"),
                                    (above, operator.gt, "above"), (below, operator.lt, "below")):
            if bound is not None and not holds(value, bound):
                raise argparse.ArgumentTypeError(f"{text} is out of range: must be {words} {bound:g}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def add_scoring_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scoring")
    group.add_argument("--clue-compat", action="store_true",
                       help="reproduce CLUE's first-sample-counted-twice mean for MedNLI and MeDiSumCode")
    group.add_argument("--bertscore-model", help="BERTScore model name or local path (default: CLUE's SciBERT)")
    group.add_argument("--bertscore-layer", type=number(int, low=1), help="BERTScore layer (default: 8 for SciBERT)")
    group.add_argument("--no-bertscore", action="store_true", help="skip BERTScore (tasks are marked partial)")
    group.add_argument("--umls-model", help="local path of the scispacy model for UMLS F1")
    group.add_argument("--umls-linker", help="local folder with scispacy's UMLS linker files (offline use)")
    group.add_argument("--no-umls", action="store_true", help="skip UMLS F1 (tasks are marked partial)")
    group.add_argument("--bootstrap", type=number(int, low=0), default=1000, help="bootstrap resamples for 95%% CIs (default 1000)")
    group.add_argument("--exclude-rejected", action="store_true",
                       help="leave samples the server refused for good (context overflow) out of the scores "
                            "(tasks marked partial) instead of scoring them as empty answers, as CLUE does")


def scoring_options(args: argparse.Namespace) -> Any:
    from ..scoring import ScoringOptions

    return ScoringOptions(
        clue_compat=args.clue_compat,
        bertscore_model=args.bertscore_model,
        bertscore_layer=args.bertscore_layer,
        bertscore=not args.no_bertscore,
        umls=not args.no_umls,
        umls_model=args.umls_model,
        umls_linker=args.umls_linker,
        bootstrap=args.bootstrap,
        exclude_rejected=args.exclude_rejected,
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _ci(ci: list[float | None] | None) -> str:
    return "-" if not ci or ci[0] is None else f"{ci[0]:.2f}-{ci[1]:.2f}"


def protocol_note(name: str | None) -> str:
    """One short line naming the CLUE protocol the answers were produced under (a run older than the choice: 2025)."""
    from ..protocols import get_protocol

    protocol = get_protocol(name)
    return f"protocol {protocol.name}: {protocol.source}"


def print_results(results: dict[str, Any]) -> None:
    """Task scores with CIs, sample counts and what is partial; then Level 1 / Level 2."""
    from ..reports.terminal import decoding_note

    decoding = decoding_note(results.get("decoding") or {})
    caption = [protocol_note(results.get("protocol"))]
    if decoding:
        caption.append(f"{decoding}: not CLUE's setting, state it beside these scores")
    table = Table(title=f"CLUE results: {results.get('model')} @ {results.get('endpoint')}", caption="\n".join(caption))
    tasks = results.get("tasks", {})
    thinking = any(t.get("n_reasoning_truncated") for t in tasks.values())
    columns = ("task", "score %", "95% CI", "n", "errors", "rejected", "truncated", "empty", *(("thinking cut off",) if thinking else ()), "partial")
    for column in columns:
        table.add_column(column, justify="left" if column in ("task", "partial") else "right")
    for task_id, task in tasks.items():
        cut = (str(task.get("n_reasoning_truncated", 0)),) if thinking else ()
        table.add_row(task_id, _pct(task.get("score")), _ci(task.get("ci95")), str(task.get("n", 0)),
                      str(task.get("n_errors", 0)), str(task.get("n_rejected", 0)),
                      str(task.get("n_truncated", 0)), str(task.get("n_empty", 0)), *cut, ", ".join(task.get("partial") or []))
    for level in ("level1", "level2"):
        ci = (results.get("levels_ci95") or {}).get(level)
        table.add_row(level.replace("level", "Level "), _pct(results.get(level)), _ci(ci), *[""] * (len(columns) - 3))
    stdout.print(table)


def print_rejected(rejected: list[tuple[str, str, str]], excluded: bool, console: Console) -> None:
    """One line on the samples the server refused for good and how they entered the scores, plus examples."""
    if not rejected:
        return
    how = ("left out of the scores (--exclude-rejected)" if excluded
           else "scored as empty answers, as CLUE does (--exclude-rejected leaves them out)")
    console.print(f"{len(rejected)} sample(s) refused by the server for good (e.g. context overflow): {how}")
    for task, sample_id, error in rejected[:3]:
        console.print(f"  {task} {sample_id}: {error}", markup=False)
