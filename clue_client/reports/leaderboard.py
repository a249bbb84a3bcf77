"""Runs placed among CLUE's published models: one ranking for the terminal and the HTML report.

With published models present, everything is ranked by Level 1 (every published model has one; only
some have Level 2). A run made under the protocol behind the published numbers (``--protocol 2024``) is
ranked without the caveat; any other run's rank carries it. A run whose Level 1 is not the protocol's
(a metric missing, errored samples left out, unfinished, a task not run) is listed but not ranked, with
the reason. Without published models, runs are ordered as before: more levels first, then the mean of
their levels (or task scores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .published_table import Published
from .run_folder import LEVEL_TASKS, Results, Run, run_labels

__all__ = ["CAVEAT", "PROTOCOL_DOC", "Row", "caveat_line", "leaderboard", "limit_notes", "ordinal", "protocol_label",
           "rank_statement", "unranked_reason"]

PROTOCOL_DOC = "docs/protocol.md"
#: One line under every comparison with published numbers: why a small gap is not a finding.
CAVEAT = (
    "Caveat: the published numbers come from CLUE's June 2024 code on the full test sets, which differs in ways "
    "that move scores (CLUE_PROTOCOL_2024.md §7 rows 1, 3, 4, 7, 11, 17: TGI with client-rendered prompts and "
    "answer prefills, shorter answer limits, left truncation, the first sample counted twice, Bio_ClinicalBERT); "
    f"see {PROTOCOL_DOC}. A gap of a few points is not a finding; a run on other samples (--limit, the bundled "
    "fictional ones) is not comparable at all. `clue run --protocol 2024` follows the June 2024 code."
)


def protocol_label(run: Run) -> str:
    """``CLUE 2024``: the protocol a run was made under, as reports print it."""
    return f"CLUE {run.manifest.protocol}"


def caveat_line(runs: Sequence[Run], published_protocol: str) -> str | None:
    """The caveat, for the runs not made under ``published_protocol``; None when every run was."""
    others = [label for label, run in zip(run_labels(list(runs)), runs) if run.manifest.protocol != published_protocol]
    if not others:
        return None
    if len(others) == len(runs):
        return CAVEAT
    return CAVEAT.replace("Caveat:", f"Caveat for {', '.join(others)} (not --protocol {published_protocol}):", 1)


def limit_notes(runs: Sequence[Run]) -> list[str]:
    """A line for each run scored on the first N samples only (``--limit``): its rank says little."""
    notes = []
    for label, run in zip(run_labels(list(runs)), runs):
        limit = run.manifest.raw.get("limit")
        if limit:
            notes.append(f"{label}: scored on the first {limit} samples of each task (LongHealth: questions; "
                         "--limit), not the full test sets of the published numbers: its rank is not comparable")
    return notes


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    results: Results
    published: bool
    rank: int | None  # None: not ranked (see reason)
    reason: str | None = None
    run: Run | None = None


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def unranked_reason(results: Results, level: str = "level1") -> str | None:
    """Why ``level`` of these results is not comparable with the published one; None if it is."""
    members = LEVEL_TASKS[level]
    name = "Level 1" if level == "level1" else "Level 2"
    absent = [t for t in members if t not in results.tasks]
    if absent:
        return f"{name} not available ({', '.join(absent)} not run)"
    if getattr(results, level) is None:
        return f"{name} not available (a task score is missing)"
    reasons = []
    for task in members:
        r = results.tasks[task]
        if r.partial:
            reasons.append(f"{task} lacks {', '.join(r.partial)}")
        if r.n_errors:
            reasons.append(f"{task} left out {r.n_errors} errored sample(s)")
        if r.n_missing:
            reasons.append(f"{task} is unfinished ({r.n_missing} unanswered)")
    return f"{name} is partial: " + "; ".join(reasons) if reasons else None


def _mean_key(results: Results) -> tuple[int, float]:
    """Without published models: more levels first, then the mean of levels (or of task scores)."""
    levels = [v for v in (results.level1, results.level2) if v is not None]
    scores = levels or [r.score for r in results.tasks.values() if r.score is not None]
    return -len(levels), -sum(scores) / len(scores) if scores else float("inf")


def leaderboard(runs: Sequence[Run], published: Sequence[Published] = ()) -> list[Row]:
    """Runs and published models in one ranked list (published rows marked)."""
    entries = [Row(label, run.results, False, None, run=run) for label, run in zip(run_labels(list(runs)), runs)]
    entries += [Row(p.name, p.results, True, None) for p in published]
    if not published:
        ordered = sorted(entries, key=lambda r: _mean_key(r.results))
        return [Row(r.label, r.results, False, i, run=r.run) for i, r in enumerate(ordered, start=1)]
    ranked, unranked = [], []
    for row in entries:
        reason = unranked_reason(row.results)
        if reason is None:
            ranked.append(row)
        else:
            unranked.append(Row(row.label, row.results, row.published, None, reason, row.run))
    ranked.sort(key=lambda r: -(r.results.level1 or 0.0))
    out = []
    for row in ranked:  # competition ranking: ties share a rank
        better = sum(1 for other in ranked if (other.results.level1 or 0.0) > (row.results.level1 or 0.0))
        out.append(Row(row.label, row.results, row.published, better + 1, run=row.run))
    return out + sorted(unranked, key=lambda r: _mean_key(r.results))


def rank_statement(results: Results, published: Sequence[Published]) -> str:
    """``4th of 26 by Level 1; 9th of 17 by Level 2``: a run's place among the published models alone."""
    parts = []
    for level, name in (("level1", "Level 1"), ("level2", "Level 2")):
        reason = unranked_reason(results, level)
        others = [getattr(p.results, level) for p in published if getattr(p.results, level) is not None]
        if not others:
            continue
        if reason is not None:
            if level == "level1":
                return f"not ranked: {reason}"
            continue
        value = getattr(results, level)
        parts.append(f"{ordinal(1 + sum(v > value for v in others))} of {len(others) + 1} by {name}")
    return "; ".join(parts)
