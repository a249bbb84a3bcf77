"""``clue score RUN_DIR``: re-score a finished (or partial) run from its store; never calls the API."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from .common import add_scoring_flags, print_rejected, print_results, scoring_options, stdout


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("score", help="re-score a run folder offline (no API calls)")
    p.add_argument("run_dir", type=Path, help="a folder written by `clue run`")
    add_scoring_flags(p)
    p.set_defaults(func=score_command)


def score_command(args: argparse.Namespace) -> int:
    if not (args.run_dir / "store.sqlite").is_file():
        raise UserError(f"{args.run_dir}: no store.sqlite; is this a clue run folder?")
    from ..runner import score_run_dir

    summary = score_run_dir(args.run_dir, scoring_options(args))
    print_results(summary.results)
    print_rejected(summary.rejected, args.exclude_rejected, stdout)
    return 3 if summary.errors or summary.n_missing else 0
