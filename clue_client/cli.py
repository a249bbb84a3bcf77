"""The ``clue`` command. Each subcommand group lives in ``clue_client.commands.<name>``.

Every ClueError becomes one line on stderr and its exit code; argparse errors exit 2 with one line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from rich.console import Console

from .errors import ClueError

#: Command name -> module; each module defines ``add_parser(subparsers)`` and sets ``func(args) -> int``.
COMMANDS = {"run": "run", "score": "score", "endpoints": "endpoints", "data": "data", "serve": "serve",
            "report": "report", "compare": "report", "batch": "batch", "merge": "merge"}

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class _OneLineHandler(logging.Handler):
    """Library warnings as ``clue: warning: ...`` lines, through the console a live progress bar redirects."""

    def emit(self, record: logging.LogRecord) -> None:
        err_console.print(f"clue: {record.levelname.lower()}: {record.getMessage()}", markup=False)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error as a single line (exit 2), not usage plus message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; given the command about to run, only its module is imported (startup stays fast)."""
    parser = OneLineParser(prog="clue", description="Score served language models on the CLUE clinical benchmark.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"clue-client {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    modules = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        try:
            module = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as exc:  # a command module not written yet must not break the others
            if exc.name != f"{__package__}.commands.{name}":
                raise
            continue
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    logger = logging.getLogger(__package__)
    if not logger.handlers:
        logger.addHandler(_OneLineHandler(logging.WARNING))
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
