"""The ``clue`` command. Each subcommand group lives in ``clue_client.commands.<name>``.

Every ClueError becomes one line on stderr and its exit code; argparse errors exit 2 with one line.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from rich.console import Console

from .errors import ClueError

#: Command modules; each defines ``add_parser(subparsers)`` and sets ``func(args) -> int``.
COMMAND_MODULES = ("run", "score", "endpoints", "data", "serve", "report", "batch")

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error as a single line (exit 2), not usage plus message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="clue", description="Score served language models on the CLUE clinical benchmark.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"clue-client {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as exc:  # a command module not written yet must not break the others
            if exc.name != f"{__package__}.commands.{name}":
                raise
            continue
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ClueError as exc:
        err_console.print(f"clue: error: {exc}", markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("clue: interrupted; finished answers are saved, rerun the same command to resume", markup=False)
        return 130


if __name__ == "__main__":
    sys.exit(main())
