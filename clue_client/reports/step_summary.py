"""Results as Markdown for a CI job's summary page (GitHub Actions' ``$GITHUB_STEP_SUMMARY``).

GitHub renders the Markdown a step appends to the file named by ``GITHUB_STEP_SUMMARY`` on the run's
summary page, so a pull request shows the scores and the regression check without opening a log.
``clue run`` appends its results table, ``clue compare`` its comparison; outside Actions nothing happens.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from ..errors import UserError
from .run_folder import LEVEL_TASKS, Run
from .terminal import LEVEL_NAMES, TEST_NAMES, decoding_note

if TYPE_CHECKING:
    from .compare import Comparison, TaskComparison

__all__ = ["SUMMARY_ENV", "results_markdown", "comparison_markdown", "append_step_summary"]

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], align: str, rows: Iterable[Sequence[object]]) -> list[str]:
    """A GitHub-flavoured Markdown table; ``align`` has one letter per column, l or r."""
    marks = {"l": ":---", "r": "---:"}
    lines = ["| " + " | ".join(map(_cell, header)) + " |", "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in rows]
    return lines


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _ci(ci: tuple[float, float] | None, signed: bool = False) -> str:
    if not ci:
        return "–"
    return f"[{ci[0]:+.1f}, {ci[1]:+.1f}]" if signed else f"{ci[0]:.2f}–{ci[1]:.2f}"


def results_markdown(run: Run) -> str:
    """The results table of one run: score, CI and counts per task, then Level 1 and Level 2."""
    results = run.results
    lines = [f"### CLUE results: {_cell(run.name)} @ {_cell(results.endpoint or run.manifest.endpoint)}", ""]
    rows: list[list[object]] = []
    for task, r in results.tasks.items():
        rows.append([task, _pct(r.score), _ci(r.ci95), r.n, r.n_errors, r.n_rejected, r.n_truncated, r.n_empty,
                     ", ".join(r.partial)])
    for level, members in LEVEL_TASKS.items():
        if not set(members) & set(results.tasks):
            continue  # none of its tasks ran
        partial = ", ".join(results.levels_partial.get(level) or ())
        rows.append([f"**{LEVEL_NAMES[level]}**", f"**{_pct(getattr(results, level))}**",
                     _ci(results.levels_ci95.get(level)), "", "", "", "", "", partial])
    lines += _table(("task", "score %", "95% CI", "n", "errors", "refused", "truncated", "empty", "partial"),
                    "lrrrrrrrl", rows)
    note = decoding_note(results.decoding or {})
    lines += ["", f"Protocol: CLUE {results.protocol}."
              + (f" Decoding: {note} (not CLUE's setting; state it beside these scores)." if note else "")]
    return "\n".join(lines) + "\n"


def comparison_markdown(comparison: Comparison, alpha: float = 0.05) -> str:
    """B − A per task and level with its CI, p-values and a verdict (Holm-corrected, at ``alpha``)."""
    lines = ["### CLUE comparison: B − A on paired samples", "", f"A = {_cell(comparison.a)}  ",
             f"B = {_cell(comparison.b)}", ""]
    rows = []
    entries: dict[str, TaskComparison] = {**comparison.tasks,
                                     **{LEVEL_NAMES[lv]: c for lv, c in comparison.levels.items() if c is not None}}
    for name, c in entries.items():
        significant = c.delta is not None and c.p_holm is not None and c.p_holm < alpha
        verdict = ("better" if c.delta > 0 else "**worse**") if significant else "no significant difference"
        rows.append([name, c.n_paired, _pct(c.score_a), _pct(c.score_b),
                     "n/a" if c.delta is None else f"{c.delta:+.2f}", _ci(c.ci95, signed=True),
                     _p(c.p_value), _p(c.p_holm), TEST_NAMES.get(c.test, c.test), verdict])
    lines += _table(("task", "n", "A", "B", "B − A", "95% CI", "p", "p Holm", "test", "verdict"), "lrrrrrrrll", rows)
    lines += ["", f"Significant: Holm-corrected p < {alpha:g}."]
    lines += [f"- warning: {_cell(w)}" for w in comparison.warnings]
    return "\n".join(lines) + "\n"


def _p(p: float | None) -> str:
    return "–" if p is None else (f"{p:.2g}" if p < 0.001 else f"{p:.3f}")


def append_step_summary(markdown: str, environ: Mapping[str, str] = os.environ) -> Path | None:
    """Append to ``$GITHUB_STEP_SUMMARY`` when it is set; the file it names, or None outside Actions."""
    target = environ.get(SUMMARY_ENV)
    if not target:
        return None
    path = Path(target)
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    except OSError as exc:
        raise UserError(f"{SUMMARY_ENV}={path}: cannot append the summary: {exc.strerror or exc}") from None
    return path
