"""``clue merge OUT SHARD_DIR...``: the run folders of ``clue run --shard I/N`` as one scored run.

Exit codes as ``clue run``: 0 every sample answered; 3 some ended in errors or are still missing (a
``clue run --out OUT`` then resumes them); 2 user error (shards that do not belong together: one line
naming the first difference).
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from rich.console import Console

from .common import add_scoring_flags, print_rejected, print_results, scoring_options

console = Console(stderr=True, highlight=False)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("merge", help="merge the run folders of clue run --shard I/N into one run and score it")
    p.add_argument("out", type=Path, metavar="OUT", help="the merged run folder (new, or an earlier merge to refresh)")
    p.add_argument("shards", type=Path, nargs="+", metavar="SHARD_DIR", help="every shard's run folder (1/N ... N/N)")
    add_scoring_flags(p)
    p.set_defaults(func=merge_command)


def merge_command(args: argparse.Namespace) -> int:
    from ..merge import merge_shards

    report = merge_shards(args.out, args.shards, scoring_options(args))
    summary = report.summary
    print_results(summary.results)
    print_rejected(summary.rejected, args.exclude_rejected, console)
    console.print(f"merged {report.shards} shards into {report.out} ({report.rows_copied} stored answers copied)",
                  markup=False)
    if summary.errors:
        console.print(f"{len(summary.errors)} sample(s) ended in errors (see {report.out}/predictions)", markup=False)
    if summary.n_missing:
        console.print(f"{summary.n_missing} sample(s) without an answer: `clue run --out {shlex.quote(str(report.out))}` "
                      "with the shards' other flags (no --shard) sends them", markup=False)
    console.print(f"next: clue report {shlex.quote(str(report.out))} --html report.html", markup=False)
    return 3 if summary.errors or summary.n_missing else 0
