"""Flags and output shared by several subcommands (scoring options, the results table)."""

from __future__ import annotations

import argparse
import math
import operator
from typing import Any, Callable

from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table

__all__ = ["add_scoring_flags", "scoring_options", "print_results", "results_view", "print_rejected", "number",
           "MAX_RESAMPLES"]

stdout = Console(highlight=False)
#: Bootstrap and permutation resamples: more is a typo that would hold memory for hours.
MAX_RESAMPLES = 1_000_000


def number(kind: type = float, low: float | None = None, high: float | None = None,
           above: float | None = None, below: float | None = None) -> Callable[[str], Any]:
    """An argparse ``type`` that parses ``kind`` within bounds (``low``/``high`` inclusive, ``above``/``below``
    exclusive), so ``--temperature -1`` or ``--bootstrap -5`` is a one-line usage error, not a request."""
    def parse(text: str) -> Any:
        shown = text if len(text) <= 24 else text[:20] + "..."
        try:
            value = kind(text)
        except ValueError:  # also an integer beyond Python's digit limit
            raise argparse.ArgumentTypeError(f"'{shown}' is not {'a whole number' if kind is int else 'a number'}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"'{shown}' is not a finite number")
        for bound, holds, words in ((low, operator.ge, "at least"), (high, operator.le, "at most"),
                                    (above, operator.gt, "above"), (below, operator.lt, "below")):
            if bound is not None and not holds(value, bound):
                limit = int(bound) if float(bound).is_integer() else bound  # 1000000, not 1e+06
                raise argparse.ArgumentTypeError(f"{shown} is out of range: must be {words} {limit}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def add_scoring_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scoring")
    group.add_argument("--clue-compat", action="store_true",
                       help="reproduce CLUE 2025's first-sample-counted-twice mean for MedNLI and MeDiSumCode "
                            "(a --protocol 2024 run counts it twice in five tasks anyway)")
    group.add_argument("--bertscore-model", help="BERTScore model name or local path for every task whose protocol "
                       "names no model of its own (default: CLUE's SciBERT; under --protocol 2024: MeQSum only)")
    group.add_argument("--bertscore-layer", type=number(int, low=1), help="BERTScore layer (default: 8 for SciBERT)")
    group.add_argument("--bertscore-clinical-model", metavar="NAME_OR_PATH",
                       help="replaces the BERTScore model a protocol names for a task: a --protocol 2024 run's "
                            "emilyalsentzer/Bio_ClinicalBERT (Problem Summary, MeDiSumQA), e.g. a local copy")
    group.add_argument("--bertscore-clinical-layer", type=number(int, low=1),
                       help="layer of --bertscore-clinical-model (default: the protocol's, 9 for Bio_ClinicalBERT)")
    group.add_argument("--no-bertscore", action="store_true", help="skip BERTScore (tasks are marked partial)")
    group.add_argument("--umls-model", help="local path of the scispacy model for UMLS F1")
    group.add_argument("--umls-linker", help="local folder with scispacy's UMLS linker files (offline use)")
    group.add_argument("--no-umls", action="store_true", help="skip UMLS F1 (tasks are marked partial)")
    group.add_argument("--bootstrap", type=number(int, low=0, high=MAX_RESAMPLES), default=1000, help="bootstrap resamples for 95%% CIs (default 1000)")
    group.add_argument("--exclude-rejected", action="store_true",
                       help="leave samples the server refused for good (context overflow) out of the scores "
                            "(tasks marked partial) instead of scoring them as empty answers, as CLUE does")


def scoring_options(args: argparse.Namespace) -> Any:
    from ..scoring import ScoringOptions

    return ScoringOptions(
        clue_compat=args.clue_compat,
        bertscore_model=args.bertscore_model,
        bertscore_layer=args.bertscore_layer,
        bertscore_clinical_model=args.bertscore_clinical_model,
        bertscore_clinical_layer=args.bertscore_clinical_layer,
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


#: Per-task sample counters of the results table: (header, results.json key).
COUNTERS = (("errors", "n_errors"), ("rejected", "n_rejected"), ("truncated", "n_truncated"), ("empty", "n_empty"),
            ("thinking cut off", "n_reasoning_truncated"))


NO_COUNTS = "no errors, refused, truncated or empty answers"


def _counters(tasks: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The counters to show: "thinking cut off" only for a run that had any."""
    thinking = any(t.get("n_reasoning_truncated") for t in tasks.values())
    return tuple(c for c in COUNTERS if c[1] != "n_reasoning_truncated" or thinking)


def _caption(results: dict[str, Any]) -> str | None:
    """Lines under the scores that say how to read them (what shaped the answers beyond CLUE's setting)."""
    from ..reports.terminal import decoding_note

    decoding = decoding_note(results.get("decoding") or {})
    lines = [protocol_note(results.get("protocol"))]
    if decoding:
        lines.append(f"{decoding}: not CLUE's setting, state it beside these scores")
    if (repeats := _repeats_caption(results)) is not None:
        lines.append(repeats)
    return "\n".join(lines) or None


def _scores_table(results: dict[str, Any], counters: tuple[tuple[str, str], ...], partial: bool = True) -> Table:
    """Task scores with CIs, sample counts, ``counters`` and what is partial; then Level 1 / Level 2."""
    table = Table(title=f"CLUE results: {results.get('model')} @ {results.get('endpoint')}", caption=_caption(results))
    table.add_column("task", no_wrap=True)
    for header in ("score %", "95% CI", "n", *(header for header, _ in counters)):
        table.add_column(header, justify="right", no_wrap=True)
    if partial:
        table.add_column("partial")
    tasks = results.get("tasks", {})
    for task_id, task in tasks.items():
        table.add_row(task_id, _pct(task.get("score")), _ci(task.get("ci95")), str(task.get("n", 0)),
                      *(str(task.get(key, 0)) for _, key in counters),
                      *([", ".join(task.get("partial") or [])] if partial else []))
    for level in ("level1", "level2"):
        ci = (results.get("levels_ci95") or {}).get(level)
        table.add_row(level.replace("level", "Level "), _pct(results.get(level)), _ci(ci),
                      *[""] * (len(table.columns) - 3))
    return table


def _counters_table(results: dict[str, Any], counters: tuple[tuple[str, str], ...]) -> Table:
    table = Table(title="samples per task")
    table.add_column("task", no_wrap=True)
    for header, _ in counters:
        table.add_column(header, justify="right", no_wrap=True)
    for task_id, task in results.get("tasks", {}).items():
        table.add_row(task_id, *(str(task.get(key, 0)) for _, key in counters))
    return table


def _notes(results: dict[str, Any], counters: tuple[tuple[str, str], ...], partial: bool = False) -> list[str]:
    """The counters (and with ``partial`` what is partial) as lines, one per task that has any: words wrap
    where a table cell would be cut."""
    lines = []
    for task_id, task in results.get("tasks", {}).items():
        notes = [", ".join(f"{header} {task[key]}" for header, key in counters if task.get(key))]
        if partial and task.get("partial"):
            notes.append("partial: " + ", ".join(task["partial"]))
        if any(notes):
            lines.append(f"{task_id}: " + "; ".join(n for n in notes if n))
    return lines


def _fits(table: Table, console: Console) -> bool:
    """The table's natural width (measured unbounded: rich clamps a measure to the width it is given) fits."""
    return Measurement.get(console, console.options.update_width(10_000), table).maximum <= console.width


def results_view(results: dict[str, Any], console: Console) -> list[RenderableType]:
    """The results as they read in full at ``console.width``: one table with every counter when it fits (200
    columns); else the scores, then the counters as a table of their own (80 columns); narrower still, the
    counters and what is partial as notes lines under the scores."""
    counters = _counters(results.get("tasks", {}))
    wide = _scores_table(results, counters)
    if _fits(wide, console):
        return [wide]
    scores, table = _scores_table(results, ()), _counters_table(results, counters)
    if _fits(scores, console) and _fits(table, console):
        return [scores, table if _notes(results, counters) else NO_COUNTS]
    if _fits(scores, console):
        return [scores, *(_notes(results, counters) or [NO_COUNTS])]
    return [_scores_table(results, (), partial=False), *(_notes(results, counters, partial=True) or [NO_COUNTS])]


def print_results(results: dict[str, Any]) -> None:
    """Task scores with CIs, sample counts and what is partial; then Level 1 / Level 2 (see ``results_view``)."""
    for part in results_view(results, stdout):
        stdout.print(part, markup=False)


def _repeats_caption(results: dict[str, Any]) -> str | None:
    """``--repeats K``: scores are means over repeats; the sd across repeats of each task and level."""
    from ..reports.terminal import repeats_note

    note = repeats_note(int(results.get("repeats") or 1), (results.get("decoding") or {}).get("sampling"))
    if note is None:
        return None
    sds = [(t, r.get("sd")) for t, r in results.get("tasks", {}).items()]
    sds += [(lv.replace("level", "Level "), sd) for lv, sd in (results.get("levels_sd") or {}).items()]
    return note + "; sd: " + ", ".join(f"{name} {_pct(sd)}" for name, sd in sds)


def print_rejected(rejected: list[tuple[str, str, str]], excluded: bool, console: Console) -> None:
    """One line on the samples the server refused for good and how they entered the scores, plus examples."""
    if not rejected:
        return
    how = ("left out of the scores (--exclude-rejected)" if excluded
           else "scored as empty answers, as CLUE does (--exclude-rejected leaves them out)")
    console.print(f"{len(rejected)} sample(s) refused by the server for good (e.g. context overflow): {how}")
    for task, sample_id, error in rejected[:3]:
        console.print(f"  {task} {sample_id}: {error}", markup=False)
