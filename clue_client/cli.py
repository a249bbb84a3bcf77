"""The ``clue`` command. Each subcommand group lives in ``clue_client.commands.<name>``.

Every ClueError becomes one line on stderr and its exit code; argparse errors exit 2 with one line. SIGTERM
(what ``timeout``, ``docker stop`` and Slurm send) ends a command as Ctrl-C does: finished answers saved, the
manifest updated, one line, exit 130.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import signal
import sys
import threading
from types import FrameType
from typing import Iterator, Sequence

from rich.console import Console

from .errors import ClueError, UserError

#: Command name -> module; each module defines ``add_parser(subparsers)`` and sets ``func(args) -> int``.
COMMANDS = {"run": "run", "score": "score", "endpoints": "endpoints", "data": "data", "serve": "serve",
            "report": "report", "compare": "report", "batch": "batch", "export": "export", "merge": "merge"}

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class _OneLineHandler(logging.Handler):
    """Library warnings as ``clue: warning: ...`` lines, through the console a live progress bar redirects."""

    def emit(self, record: logging.LogRecord) -> None:
        err_console.print(f"clue: {record.levelname.lower()}: {record.getMessage()}", markup=False)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error as a single line (exit 2), not usage plus message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


class RaisingParser(OneLineParser):
    """The same parser for the Python API: a usage error is the one-line UserError, never SystemExit."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {(message or 'exit').strip()}")


def build_parser(command: str | None = None,
                 parser_class: type[argparse.ArgumentParser] = OneLineParser) -> argparse.ArgumentParser:
    """The parser; given the command about to run, only its module is imported (startup stays fast)."""
    parser = parser_class(prog="clue", description="Score served language models on the CLUE clinical benchmark.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"clue-client {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=parser_class)
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


class _Terminated:
    """Whether SIGTERM arrived while a command ran (only the closing line differs from Ctrl-C)."""

    received = False


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[_Terminated]:
    """For the block, SIGTERM is handled as SIGINT: by asyncio's handler during ``asyncio.run`` (it cancels the
    main task, so every ``finally`` runs and the manifest is written), else as a KeyboardInterrupt."""
    state = _Terminated()
    if threading.current_thread() is not threading.main_thread():  # signals can only be set there
        yield state
        return

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        state.received = True
        handler = signal.getsignal(signal.SIGINT)
        if not callable(handler):  # SIGINT ignored (a background job of a script): interrupt anyway
            raise KeyboardInterrupt
        handler(signal.SIGINT, frame)

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield state
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    logger = logging.getLogger(__package__)
    if not logger.handlers:
        logger.addHandler(_OneLineHandler(logging.WARNING))
    with _sigterm_as_interrupt() as terminated:
        try:
            return int(args.func(args) or 0)
        except ClueError as exc:
            err_console.print(f"clue: error: {exc}", markup=False)
            return exc.exit_code
        except KeyboardInterrupt:
            how = "terminated (SIGTERM)" if terminated.received else "interrupted"
            err_console.print(f"clue: {how}; finished answers are saved, rerun the same command to resume",
                              markup=False)
            return 130


if __name__ == "__main__":
    sys.exit(main())
