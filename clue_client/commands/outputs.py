"""What ``clue run`` and ``clue compare`` hand to the tools around them: a JUnit XML report of their gates,
the results as Markdown on a GitHub Actions summary page, and (``clue run --mlflow``) an MLflow run.

Everything that can fail for the user's reasons (a JUnit file without a gate, MLflow not installed, a
tracking store that does not open) is checked before a run sends its first request.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from rich.console import Console

from ..errors import UserError

if TYPE_CHECKING:
    from ..integrations.mlflow import Tracker
    from ..reports.compare import Comparison

__all__ = ["add_junit_flag", "add_mlflow_flag", "RunOutputs", "open_run_outputs", "check_comparison_outputs",
           "write_comparison_outputs"]

JUNIT_HELP = "write the gates as JUnit XML (one test case per gated task or level) for CI test reports"


def add_junit_flag(parser: argparse.ArgumentParser, gate: str) -> None:
    parser.add_argument("--junit-xml", type=Path, metavar="FILE", help=f"{JUNIT_HELP}; needs {gate}")


def add_mlflow_flag(parser: argparse.ArgumentParser) -> None:
    # nargs="?": `--mlflow` alone takes MLflow's default store; `clue run` has no positional it could swallow
    parser.add_argument("--mlflow", nargs="?", const="", default=None, metavar="TRACKING_URI",
                        help="log the finished run to MLflow (needs the [mlflow] extra): params, metrics and "
                             "artifacts; TRACKING_URI e.g. sqlite:///mlflow.db, a folder or http://host:5000 "
                             "(default: $MLFLOW_TRACKING_URI, else MLflow's own default)")


def _require_gate(junit: Path | None, gated: bool, gate: str) -> None:
    if junit is not None and not gated:
        raise UserError(f"--junit-xml reports gates: add {gate}")


@dataclass
class RunOutputs:
    """A run's outputs besides its folder, opened before sending and written once it is scored."""

    junit: Path | None
    floors: dict[str, float]
    tracker: Tracker | None

    def write(self, out: Path, console: Console) -> None:
        from ..reports.step_summary import append_step_summary, results_markdown

        if self.junit is None and self.tracker is None and not _in_actions():
            return
        from ..reports.run_folder import load_run

        run = load_run(out)
        if self.junit is not None:
            from ..reports.junit import floor_cases, write_junit

            write_junit(self.junit, "clue run --fail-under", floor_cases(run.results, self.floors),
                        {"model": run.name, "endpoint": run.results.endpoint, "run_folder": str(out)})
            console.print(f"JUnit XML written to {self.junit}", markup=False)
        append_step_summary(results_markdown(run))
        if self.tracker is not None:
            from ..integrations.mlflow import log_run

            run_id = log_run(self.tracker, run)
            console.print(self.tracker.describe(run_id), markup=False)


def _in_actions() -> bool:
    from ..reports.step_summary import SUMMARY_ENV

    return bool(os.environ.get(SUMMARY_ENV))


def open_run_outputs(args: argparse.Namespace, floors: dict[str, float]) -> RunOutputs:
    """Check the output flags of ``clue run`` and open the MLflow store, before any server starts."""
    _require_gate(args.junit_xml, bool(floors), "--fail-under TASK=SCORE,...")
    tracker = None
    if args.mlflow is not None and not args.dry_run:
        from ..integrations.mlflow import connect

        tracker = connect(args.mlflow or None)
    return RunOutputs(args.junit_xml, floors, tracker)


def check_comparison_outputs(args: argparse.Namespace) -> None:
    _require_gate(args.junit_xml, args.fail_on_regression or args.fail_on_regression_in is not None,
                  "--fail-on-regression or --fail-on-regression-in")


def write_comparison_outputs(args: argparse.Namespace, comparison: Comparison, among: Sequence[str] | None,
                             console: Any) -> None:
    """JUnit XML of the regression gate (with ``--junit-xml``) and the comparison on the summary page."""
    from ..reports.step_summary import append_step_summary, comparison_markdown

    if args.junit_xml is not None:
        from ..reports.junit import regression_cases, write_junit

        cases = regression_cases(comparison, args.alpha, among)
        write_junit(args.junit_xml, "clue compare --fail-on-regression", cases,
                    {"a": comparison.a, "b": comparison.b, "alpha": f"{args.alpha:g}"})
        console.print(f"JUnit XML written to {args.junit_xml}", markup=False, highlight=False)
    append_step_summary(comparison_markdown(comparison, args.alpha))
