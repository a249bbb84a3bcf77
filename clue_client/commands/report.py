"""``clue report RUN_DIR... [--html FILE]`` and ``clue compare RUN_A RUN_B [--json FILE]``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from ..errors import GateFailed, UserError
from .common import MAX_RESAMPLES, number
from .outputs import add_junit_flag, check_comparison_outputs, write_comparison_outputs

if TYPE_CHECKING:
    from ..reports.compare import Comparison
    from ..reports.run_folder import Run

__all__ = ["add_parser"]


def _write_text(path: Path, text: str) -> None:
    """A report file, written atomically: an interrupted write leaves the old file (or none), never half of one."""
    from ..files import disk_errors, write_text_atomically

    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a folder; give a file name")
    if path.exists() and not path.is_file():  # a stream (/dev/stdout, a pipe): nothing to replace atomically
        with disk_errors(path):
            path.write_text(text, encoding="utf-8")
        return
    write_text_atomically(path, text)


def run_report(args: argparse.Namespace) -> int:
    from ..reports.published_table import select_published
    from ..reports.run_folder import load_run
    from ..reports.terminal import print_report

    published = select_published(args.published)
    runs = [load_run(path) for path in args.runs]
    print_report(runs, Console(), published)
    if args.html:
        from ..reports.html import render_html

        _write_text(args.html, render_html(runs, published))
        Console(stderr=True).print(f"HTML report written to {args.html}", markup=False, highlight=False)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from ..reports.compare import compare_runs
    from ..reports.terminal import print_comparison

    if not 0 < args.alpha < 1:
        raise UserError("--alpha must be between 0 and 1")
    check_comparison_outputs(args)
    from ..reports.run_folder import load_run

    run_a, run_b = (_scored(load_run(path)) for path in (args.run_a, args.run_b))
    comparison = compare_runs(run_a, run_b, resamples=args.resamples, seed=args.seed, tasks=_task_list(args.tasks),
                              allow_mixed_protocols=args.allow_mixed_protocols,
                              allow_different_samples=args.allow_different_samples)
    print_comparison(comparison, Console(), args.alpha)
    if args.json:
        _write_text(args.json, json.dumps(comparison.to_json(), indent=2) + "\n")
    gate = args.fail_on_regression or args.fail_on_regression_in is not None
    among = _gated(args.fail_on_regression_in or "all", comparison) if gate else None
    write_comparison_outputs(args, comparison, among, Console(stderr=True))
    if gate:
        worse = comparison.regressions(args.alpha, among)
        if worse:
            raise GateFailed(f"significant regression (Holm p < {args.alpha}) on: {', '.join(worse)}")
    return 0


def _scored(run: "Run") -> "Run":
    """A run with scores to compare: one that stopped before its first scoring has none yet."""
    if not run.results.tasks:
        raise UserError(f"{run.path}: {run.unfinished or 'no task scores'}")
    return run


def _gated(given: str, comparison: "Comparison") -> list[str] | None:
    """``--fail-on-regression-in all|TASK,level1,...``: what the gate looks at (None: every task and level)."""
    names = [n.strip() for n in given.split(",") if n.strip()]
    if names == ["all"]:
        return None
    known = [*comparison.tasks, *comparison.levels]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f"--fail-on-regression-in: {', '.join(unknown)} not compared here; choose from all, "
                        + ", ".join(known))
    missing = [n for n in names if n in comparison.levels and comparison.levels[n] is None]
    if missing:
        raise UserError(f"--fail-on-regression-in: {', '.join(missing)} cannot be compared (a task of it is missing "
                        "from one of the runs)")
    return names


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    report = subparsers.add_parser("report", help="tables of task scores, levels, tokens and cost; HTML report")
    report.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="run folders written by clue run")
    report.add_argument("--html", type=Path, metavar="FILE", help="also write a self-contained HTML report")
    report.add_argument("--published", default="all", metavar="NAME,...|none",
                        help="CLUE's published models to rank the runs among (default: all 25; none: leave them out)")
    report.set_defaults(func=run_report)

    compare = subparsers.add_parser("compare", help="paired comparison of two runs with CIs and Holm-corrected p")
    compare.add_argument("run_a", type=Path, metavar="RUN_A", help="baseline run folder")
    compare.add_argument("run_b", type=Path, metavar="RUN_B", help="new run folder (differences are B - A)")
    compare.add_argument("--json", type=Path, metavar="FILE", help="write the comparison as JSON")
    compare.add_argument("--fail-on-regression", action="store_true",
                         help="exit 4 if B is significantly worse than A (Holm-corrected) on any task or level")
    compare.add_argument("--fail-on-regression-in", metavar="TASK,LEVEL",
                         help="the same gate on only these tasks and levels (e.g. level1 or level1,mednli)")
    add_junit_flag(compare, "--fail-on-regression or --fail-on-regression-in")
    compare.add_argument("--alpha", type=number(float, above=0, below=1), default=0.05, help="significance level (default 0.05)")
    compare.add_argument("--resamples", type=number(int, low=1, high=MAX_RESAMPLES), default=1000,
                         help="bootstrap and permutation resamples per task (default 1000)")
    compare.add_argument("--seed", type=number(int, low=0), default=0, help="random seed of the resampling (default 0)")
    compare.add_argument("--allow-different-samples", action="store_true",
                         help="compare runs whose answered samples differ (only the samples both have are paired)")
    compare.add_argument("--tasks", nargs="+", metavar="TASK",
                         help="compare only these tasks (space- or comma-separated, as in clue run)")
    compare.add_argument("--allow-mixed-protocols", action="store_true",
                         help="compare runs made under different CLUE protocols (2024 and 2025), which is "
                              "otherwise refused: their differences are mostly the protocols'")
    compare.set_defaults(func=run_compare)


def _task_list(given: list[str] | None) -> list[str] | None:
    """``--tasks a b`` and ``--tasks a,b`` mean the same."""
    if not given:
        return None
    return [name.strip() for item in given for name in item.split(",") if name.strip()]
