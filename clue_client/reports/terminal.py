"""Terminal tables (rich) for ``clue report`` and ``clue compare``.

Scores are shown with their 95% CI; anything that makes a number less than complete (errored samples,
metrics that could not be computed, a task the run lacks) is shown next to it, never silently dropped.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..scoring.rejected import PARTIAL_MARK
from .compare import Comparison
from .leaderboard import caveat_line, leaderboard, limit_notes, protocol_label, rank_statement
from .published_table import Published, published_table
from .run_folder import LEVEL_TASKS, TASK_IDS, Run, TaskResult, replica_usage, run_labels, run_usage

__all__ = [
    "fmt_score",
    "fmt_cost",
    "report_tasks",
    "score_table",
    "leaderboard_table",
    "placement_lines",
    "placement",
    "usage_table",
    "replica_table",
    "run_notes",
    "decoding_note",
    "repeats_note",
    "comparison_table",
    "baseline_table",
    "print_report",
    "print_comparison",
]

LEVEL_NAMES = {"level1": "Level 1", "level2": "Level 2"}


def fmt_score(score: float | None, ci: tuple[float, float] | None = None, sd: float | None = None) -> str:
    """``52.36 [50.10, 54.62]`` (with repeats ``52.36 ± 1.20 [50.10, 54.62]``); ``n/a`` when there is no score."""
    if score is None:
        return "n/a"
    return f"{score:.2f}" + (f" ± {sd:.2f}" if sd is not None else "") + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def _short(score: float | None, ci: tuple[float, float] | None, sd: float | None = None) -> str:
    """Compact cell for wide tables: ``52.36 [50.1–54.6]`` (with repeats ``52.36±1.2 [50.1–54.6]``)."""
    if score is None:
        return "n/a"
    return f"{score:.2f}" + (f"±{sd:.1f}" if sd is not None else "") + (f" [{ci[0]:.1f}–{ci[1]:.1f}]" if ci else "")


def fmt_cost(cost: float | None) -> str:
    return "no prices" if cost is None else f"${cost:,.4f}"


def report_tasks(runs: Sequence[Run]) -> list[str]:
    """Every task any run has, in CLUE order, unknown task ids last."""
    present = {t for run in runs for t in run.results.tasks}
    return [t for t in TASK_IDS if t in present] + sorted(present - set(TASK_IDS))


def _one_decimal(score: float | None) -> str:
    return "n/a" if score is None else f"{score:.1f}"


def _task_cell(result: TaskResult | None, ci: bool = True) -> str:
    """Score and CI (or the score to one decimal); ``*`` marks missing metrics and ``!`` errored samples."""
    if result is None:
        return "—"
    return ((_short(result.score, result.ci95, result.sd) if ci else _one_decimal(result.score))
            + ("*" if result.partial else "") + ("!" if result.n_errors else ""))


def score_table(runs: Sequence[Run], labels: Sequence[str] | None = None) -> Table:
    """Tasks as rows, runs as columns (headed ``labels``, default the models), then Level 1 and Level 2."""
    repeated = any(run.results.repeats > 1 for run in runs)
    table = Table(title="CLUE scores (%, 95% CI)", caption="* metrics missing  ! errored samples (see notes)"
                  + ("  ±: sd across repeats (the score is their mean)" if repeated else ""))
    table.add_column("task")
    for label, run in zip(labels or run_labels(list(runs)), runs):
        table.add_column(escape(label) + (" (unfinished)" if run.unfinished else ""), justify="right")
    table.add_row("protocol", *(protocol_label(run) for run in runs))
    table.add_section()
    for task in report_tasks(runs):
        table.add_row(task, *(_task_cell(run.results.tasks.get(task)) for run in runs))
    table.add_section()
    for level in LEVEL_TASKS:
        cells = [_short(getattr(run.results, level), run.results.levels_ci95.get(level), run.results.levels_sd.get(level))
                 for run in runs]
        table.add_row(LEVEL_NAMES[level], *cells, style="bold")
    return table


#: Short task headers for the wide leaderboard.
SHORT_TASKS = {"mednli": "NLI", "meqsum": "MeQS", "problem_summary": "PS", "longhealth": "LH", "medisumqa": "QA",
               "medisumcode": "Code"}


def leaderboard_table(runs: Sequence[Run], published: Sequence[Published]) -> Table:
    """Runs ranked among the published models by Level 1 (published rows dim), unranked runs last.

    Scores without CIs so that it fits a terminal; the score table above has them."""
    table = Table(title="Among CLUE's published models (%, ranked by Level 1)", box=box.SIMPLE_HEAD, pad_edge=False,
                  padding=0, show_edge=False, caption="src: CLUE = published 2024, run = yours; #: – = not ranked "
                  "(reason below); * metrics missing, ! errored samples")
    table.add_column("#", justify="right", min_width=2, no_wrap=True)
    table.add_column("model", no_wrap=True, overflow="ellipsis", min_width=12, max_width=32)
    table.add_column("src", min_width=4, no_wrap=True)
    for name in ("L1", "L2", *(SHORT_TASKS[t] for t in TASK_IDS)):
        table.add_column(name, justify="right", no_wrap=True, min_width=4)
    for row in leaderboard(runs, published):
        cells = [_one_decimal(getattr(row.results, lvl)) for lvl in LEVEL_TASKS]
        cells += [_task_cell(row.results.tasks.get(t), ci=False) for t in TASK_IDS]
        table.add_row("–" if row.rank is None else str(row.rank), escape(row.label),
                      "CLUE" if row.published else "run", *cells, style="dim" if row.published else "bold")
    return table


def placement_lines(runs: Sequence[Run], published: Sequence[Published]) -> list[str]:
    """Each run's place among the published models, then what limits it (``--limit``), the caveat for runs not
    made under the published numbers' protocol, and the table's attribution."""
    table = published_table()
    lines = [f"{label}: {placement(run, published)}" for label, run in zip(run_labels(list(runs)), runs)]
    caveat = caveat_line(runs, table.protocol_name)
    return [*lines, *limit_notes(runs), *([caveat] if caveat else []), table.credit]


def placement(run: Run, published: Sequence[Published]) -> str:
    """A run's place among the published models; a run with no scores yet has none."""
    if run.unfinished and not run.results.tasks:
        return "not ranked: unfinished, no scores yet"
    return rank_statement(run.results, published)


def usage_table(runs: Sequence[Run]) -> Table:
    """Requests, errors, tokens, latency percentiles and cost per run."""
    table = Table(title="Usage")
    for name in ("run", "requests", "errors", "prompt tok", "completion tok", "of which reasoning", "p50 s", "p90 s",
                 "p99 s", "cost"):
        table.add_column(name, justify="left" if name == "run" else "right")
    for label, run in zip(run_labels(list(runs)), runs):
        u = run_usage(run)
        lat = [_seconds(v) for v in (u.latency_p50, u.latency_p90, u.latency_p99)]
        table.add_row(escape(label), str(u.requests), str(u.errors), f"{u.prompt_tokens:,}", f"{u.completion_tokens:,}",
                      f"{u.reasoning_tokens:,}", *lat, fmt_cost(u.cost))
    return table


def decoding_note(decoding: Mapping[str, Any]) -> str | None:
    """What shaped the answers beyond CLUE's protocol (a reasoning budget, effort, the server's sampling),
    to be stated beside every score; None for CLUE's own setting (greedy, its answer budgets)."""
    parts = []
    if decoding.get("reasoning_budget"):
        parts.append(f"reasoning budget +{decoding['reasoning_budget']} tokens on every task's max_tokens")
    if decoding.get("reasoning_effort"):
        parts.append(f"reasoning effort {decoding['reasoning_effort']}")
    sampling = decoding.get("sampling")
    if isinstance(sampling, str):
        parts.append(f"sampling: {sampling}")
    elif isinstance(sampling, Mapping) and float(sampling.get("temperature", 0.0)) > 0:
        parts.append("sampling: " + ", ".join(f"{k} {v}" for k, v in sorted(sampling.items())))
    return "; ".join(parts) or None


def repeats_note(repeats: int, sampling: Any) -> str | None:
    """With ``--repeats K``: what a score is, and whether the decoding was greedy (then repeats differ only
    where the server is not deterministic, as hosted APIs are not even at temperature 0)."""
    if repeats < 2:
        return None
    greedy = isinstance(sampling, Mapping) and float(sampling.get("temperature", 0.0)) == 0.0
    how = "greedy decoding (temperature 0)" if greedy else "sampled decoding"
    return f"{repeats} answers per prompt, {how}: scores are means over repeats, ± their sd; CIs resample whole samples"


def _run_decoding(run: Run) -> Mapping[str, Any]:
    raw = run.manifest.raw
    return {"sampling": run.manifest.sampling, "reasoning_budget": raw.get("reasoning_budget"),
            "reasoning_effort": raw.get("reasoning_effort")}


def _seconds(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def replica_table(runs: Sequence[Run]) -> Table | None:
    """Requests, errors and latency per base URL, for runs that used several replicas; None if none did."""
    rows = [(label, r) for label, run in zip(run_labels(list(runs)), runs) for r in replica_usage(run)]
    if not rows:
        return None
    table = Table(title="Replicas")
    for name in ("run", "base URL", "requests", "errors", "p50 s", "p90 s"):
        table.add_column(name, justify="left" if name in ("run", "base URL") else "right")
    for label, r in rows:
        table.add_row(escape(label), escape(r.url), str(r.requests), str(r.errors), _seconds(r.latency_p50),
                      _seconds(r.latency_p90))
    return table


def run_notes(runs: Sequence[Run], labels: Sequence[str] | None = None) -> list[str]:
    """Plain statements of what is missing or failed, one per run and task."""
    notes = []
    for label, run in zip(labels or run_labels(list(runs)), runs):
        if run.unfinished:
            notes.append(f"{label}: {run.unfinished}")
            if not run.results.tasks:
                continue  # nothing scored: no per-task notes to give
        if (decoding := decoding_note(_run_decoding(run))) is not None:
            notes.append(f"{label}: {decoding} (CLUE used greedy decoding and answer budgets only)")
        if (repeated := repeats_note(run.results.repeats, run.manifest.sampling)) is not None:
            notes.append(f"{label}: {repeated}")
        for task in report_tasks(runs):
            result = run.results.tasks.get(task)
            if result is None:
                notes.append(f"{label}: {task} was not run")
                continue
            excluded = PARTIAL_MARK in result.partial
            metrics = [m for m in result.partial if m != PARTIAL_MARK]
            if result.n_rejected:
                how = "left out of its score (--exclude-rejected)" if excluded else "scored as empty answers"
                notes.append(f"{label}: {task} had {result.n_rejected} sample(s) the server refused "
                             f"(e.g. context overflow); {how}")
            if metrics:
                reasons = sorted({result.missing[m] for m in metrics if m in result.missing})
                notes.append(f"{label}: {task} is missing metric(s) {', '.join(metrics)}"
                             + (f" – {'; '.join(reasons)}" if reasons else "") + "; its score uses the others"
                             + ("" if result.score is not None else " (none left)"))
            if result.n_errors:
                notes.append(f"{label}: {task} had {result.n_errors} errored sample(s) of "
                             f"{result.n + result.n_errors}; they are not scored")
            if result.n_missing:
                notes.append(f"{label}: {task} has {result.n_missing} sample(s) not answered yet (unfinished run)")
            if result.n_post_processed:
                notes.append(f"{label}: {task} had {result.n_post_processed} answer(s) changed by "
                             f"{protocol_label(run)}'s output clean-up before scoring (phi <|end|> split, "
                             "self-prompting cut, strip); the server's text is kept as raw_content")
            if result.n_bertscore_cut:
                notes.append(f"{label}: {task} had {result.n_bertscore_cut} BERTScore pair(s) longer than the model's "
                             "512 tokens, scored on their first 512 (CLUE 2024's code stopped on such a pair)")
            if result.n_reasoning_truncated:
                notes.append(f"{label}: {task} had {result.n_reasoning_truncated} answer(s) whose thinking was cut off "
                             "by the token limit; they are scored as empty answers (a larger --reasoning-budget helps)")
        notes.extend(_budget_notes(label, run))
        for level, members in LEVEL_TASKS.items():
            if getattr(run.results, level) is None:
                absent = [t for t in members if t not in run.results.tasks]
                notes.append(f"{label}: {LEVEL_NAMES[level]} not available"
                             + (f" ({', '.join(absent)} not run)" if absent else " (a task score is missing)"))
            elif run.results.levels_partial.get(level):
                notes.append(f"{label}: {LEVEL_NAMES[level]} uses partial task score(s): "
                             + ", ".join(run.results.levels_partial[level]))
    return notes


def _budget_notes(label: str, run: Run) -> list[str]:
    """LongHealth's document budget, when it is not CLUE's 8k setting counted by the model's tokenizer."""
    budget = run.manifest.raw.get("longhealth_budget")
    if "longhealth" not in run.results.tasks or not isinstance(budget, dict):
        return []
    tokens = str(budget.get("tokens", ""))
    reason = str(budget.get("reason", ""))
    if budget.get("setting") == "clue" and "shrunk" not in reason and not tokens.startswith("estimated"):
        return []
    return [f"{label}: longhealth prompts had {budget.get('user_tokens')} user-prompt tokens: {reason}; tokens {tokens}"]


def print_report(runs: Sequence[Run], console: Console, published: Sequence[Published] = ()) -> None:
    console.print(score_table(runs))
    if published:
        console.print(leaderboard_table(runs, published))
        console.print("\n".join(placement_lines(runs, published)), markup=False, highlight=False)
    console.print(usage_table(runs))
    replicas = replica_table(runs)
    if replicas is not None:
        console.print(replicas)
    notes = run_notes(runs)
    if notes:
        console.print("* " + "\n* ".join(notes), markup=False, highlight=False)


def _fmt_p(p: float | None) -> str:
    return "–" if p is None else (f"{p:.2g}" if p < 0.001 else f"{p:.3f}")


TEST_NAMES = {"mcnemar_exact": "McNemar", "permutation_paired": "perm", "permutation_paired_by_group": "perm/group",
              "permutation_paired_level": "perm/level"}


def comparison_table(comparison: Comparison, alpha: float = 0.05) -> Table:
    """One row per task: paired n, A, B, B−A with CI, p, Holm p, test; significant rows coloured."""
    table = Table(title=escape(f"B − A on paired samples\nA = {comparison.a}\nB = {comparison.b}"),
                  box=box.SIMPLE_HEAD, pad_edge=False, caption="green/red: B significantly better/worse (Holm p < "
                  f"{alpha:g}); perm = paired permutation test; a level's replicates are the means of its tasks'")
    for name in ("task", "n", "A", "B", "B − A", "95% CI", "p", "p Holm", "test"):
        table.add_column(name, justify="left" if name in ("task", "test") else "right", no_wrap=name == "task",
                         overflow="fold")
    levels = _compared_levels(comparison)
    for i, (task, c) in enumerate([*comparison.tasks.items(), *levels.items()]):
        if i == len(comparison.tasks) and levels:
            table.add_section()
        delta, ci = _delta_cells(c)
        table.add_row(task, str(c.n_paired), fmt_score(c.score_a), fmt_score(c.score_b), delta, ci, _fmt_p(c.p_value),
                      _fmt_p(c.p_holm), TEST_NAMES.get(c.test, c.test), style=_style(c, alpha, task in levels))
    return table


def _compared_levels(comparison: Comparison) -> dict[str, Any]:
    return {LEVEL_NAMES[lv]: c for lv, c in comparison.levels.items() if c is not None}


def _delta_cells(c: Any) -> tuple[str, str]:
    """``+1.23`` and ``[-0.5, +3.0]`` of one paired result (``n/a`` and ``–`` when there is none)."""
    return ("n/a" if c.delta is None else f"{c.delta:+.2f}"), (f"[{c.ci95[0]:+.1f}, {c.ci95[1]:+.1f}]" if c.ci95 else "–")


def _style(c: Any, alpha: float, level: bool) -> str | None:
    """Bold for a level; green/red where B is significantly better/worse after Holm's correction."""
    style = "bold" if level else None
    if c.delta is not None and c.p_holm is not None and c.p_holm < alpha:
        style = ("bold " if level else "") + ("green" if c.delta > 0 else "red")
    return style


def baseline_table(comparisons: Mapping[str, Comparison], baseline: str, alpha: float = 0.05) -> Table:
    """Every endpoint of a set against the baseline, as ``clue compare BASELINE ENDPOINT`` tests it: a section
    per endpoint, a row per task and level (B − A on paired samples, its CI, Holm-corrected p)."""
    table = Table(title=escape(f"Paired comparison with the baseline (A = {baseline}, B = each endpoint)"),
                  box=box.SIMPLE_HEAD, pad_edge=False, caption=f"green/red: B significantly better/worse than A "
                  f"(Holm p < {alpha:g} over each endpoint's tasks and levels, as clue compare)")
    for name in ("endpoint", "task", "n", "A", "B", "B − A", "95% CI", "p Holm"):
        table.add_column(name, justify="left" if name in ("endpoint", "task") else "right", no_wrap=name == "task")
    for i, (label, comparison) in enumerate(comparisons.items()):
        if i:
            table.add_section()
        levels = _compared_levels(comparison)
        for task, c in [*comparison.tasks.items(), *levels.items()]:
            delta, ci = _delta_cells(c)
            table.add_row(escape(label), task, str(c.n_paired), _one_decimal(c.score_a), _one_decimal(c.score_b), delta,
                          ci, _fmt_p(c.p_holm), style=_style(c, alpha, task in levels))
    return table


def print_comparison(comparison: Comparison, console: Console, alpha: float = 0.05) -> None:
    console.print(comparison_table(comparison, alpha))
    a, b = comparison.protocols.get("a"), comparison.protocols.get("b")
    console.print(f"protocol: A CLUE {a}, B CLUE {b}" if a != b else f"protocol: CLUE {a}", markup=False,
                  highlight=False)
    for note in comparison.warnings:
        console.print(f"warning: {note}", style="yellow", markup=False, highlight=False)
