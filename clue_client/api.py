"""The Python API: ``evaluate`` is ``clue run`` for a notebook or a script, ``load_run`` reads a run folder; both
return the same typed ``Evaluation`` (task scores, levels and per-sample predictions as polars frames).

``evaluate`` takes every ``clue run`` flag as a keyword (``limit=5``, ``no_bertscore=True``,
``fail_under={"mednli": 40}``), read from the run command's own parser, so a flag added to ``clue run`` works
here the day it is added, and it runs that command itself: the same checks, run folder, resume and gates.
Errors are the one-line ``UserError``s the CLI prints (a usage error too, never ``SystemExit``); a missed
``fail_under`` floor raises ``GateFailed``. It prints nothing unless ``progress=True`` (then progress and notes
go to stderr, as on the command line) and it is synchronous: called where an event loop is already running
(Jupyter), the run gets a worker thread with its own loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import polars as pl

from .errors import UserError
from .reports.run_folder import LEVEL_TASKS, Run
from .reports.run_folder import load_run as load_run_folder

__all__ = ["Evaluation", "evaluate", "load_run", "run_options"]

#: ``clue run`` flags the API sets itself: its parameters, and ``progress`` for ``--quiet``.
_OWN = ("endpoint", "tasks", "data_dir", "out", "quiet")
#: ``clue run`` flags that leave no run to return, and why.
_NO_RESULT = {"dry_run": "sends nothing and leaves no run to return; `clue run --dry-run` prints the plan"}


@dataclass(frozen=True, eq=False)
class Evaluation:
    """One finished (or resumed) run. ``scores``: a row per task (score and 95% CI in %, sample counts, the
    metrics that could not be computed); ``levels``: Level 1 and Level 2; ``predictions``: per task, a row per
    sample (prompt, answer, reasoning, error, per-sample metrics); ``run``: the run folder as ``clue report``
    reads it (manifest, results)."""

    path: Path
    model: str
    endpoint: str
    scores: pl.DataFrame
    levels: pl.DataFrame
    predictions: Mapping[str, pl.DataFrame]
    run: Run

    @property
    def complete(self) -> bool:
        """Every sample answered and none ended in an error (``clue run`` exits 0)."""
        return self.scores.height > 0 and self.scores.select((pl.col("n_errors") + pl.col("n_missing")).sum()).item() == 0

    @classmethod
    def of(cls, run: Run) -> "Evaluation":
        results = run.results
        scores = pl.DataFrame(
            [{"task": task, "score": r.score, **_bounds(r.ci95), "n": r.n, "n_errors": r.n_errors,
              "n_missing": r.n_missing, "n_rejected": r.n_rejected, "n_truncated": r.n_truncated, "n_empty": r.n_empty,
              "n_reasoning_truncated": r.n_reasoning_truncated, "partial": list(r.partial)}
             for task, r in results.tasks.items()],
            schema={"task": pl.Utf8, "score": pl.Float64, "ci95_low": pl.Float64, "ci95_high": pl.Float64,
                    **dict.fromkeys(("n", "n_errors", "n_missing", "n_rejected", "n_truncated", "n_empty",
                                     "n_reasoning_truncated"), pl.Int64), "partial": pl.List(pl.Utf8)},
        )
        levels = pl.DataFrame(
            [{"level": level, "score": getattr(results, level), **_bounds(results.levels_ci95.get(level)),
              "partial_tasks": list(results.levels_partial.get(level, ()))} for level in LEVEL_TASKS],
            schema={"level": pl.Utf8, "score": pl.Float64, "ci95_low": pl.Float64, "ci95_high": pl.Float64,
                    "partial_tasks": pl.List(pl.Utf8)},
        )
        return cls(run.path, results.model or run.manifest.model, results.endpoint or run.manifest.endpoint, scores,
                   levels, dict(run.predictions), run)


def _bounds(ci: tuple[float, float] | None) -> dict[str, float | None]:
    return {"ci95_low": ci[0] if ci else None, "ci95_high": ci[1] if ci else None}


def load_run(path: str | Path) -> Evaluation:
    """An existing run folder (written by ``clue run``, ``clue score`` or ``clue batch import``) as an Evaluation."""
    return Evaluation.of(load_run_folder(path))


def _run_parser() -> argparse.ArgumentParser:
    from .cli import RaisingParser, build_parser

    parser = build_parser("run", parser_class=RaisingParser)
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices["run"]


def run_options(parser: argparse.ArgumentParser | None = None) -> dict[str, str]:
    """Every keyword ``evaluate`` takes beyond its own parameters, with the ``clue run`` flag it sets."""
    flags = {a.dest: max(a.option_strings, key=len) for a in (parser or _run_parser())._actions
             if a.option_strings and a.dest not in (*_OWN, *_NO_RESULT) and a.default != argparse.SUPPRESS}
    return dict(sorted(flags.items()))


def _listed(value: Any) -> str:
    """A list as ``a,b`` and a mapping as ``a=1,b=2``: the comma lists ``--tasks`` and ``--fail-under`` take."""
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return ",".join(map(str, value))


def _flag_args(action: argparse.Action, value: Any) -> list[str]:
    """``value`` of one keyword as the command-line words of its flag (nothing for an unset one)."""
    flag = max(action.option_strings, key=len)
    if value is None:
        return []
    if isinstance(action, argparse._CountAction):
        return [flag] * int(value)
    if action.nargs == 0:  # store_true, store_false, store_const
        if value == action.const:
            return [flag]
        if value == action.default:
            return []
        raise UserError(f"evaluate(): {action.dest} takes {action.const!r} or {action.default!r}, not {value!r}")
    if action.nargs == "?" and isinstance(value, bool):  # a flag with an optional value: True sets its const
        return [flag] if value else []
    sequence = isinstance(value, Sequence) and not isinstance(value, str)
    if isinstance(action, argparse._AppendAction):
        return [word for item in (value if sequence else [value]) for word in (flag, str(item))]
    if action.nargs in ("*", "+") or isinstance(action.nargs, int):
        return [flag, *map(str, value if sequence else [value])]
    return [flag, _listed(value) if sequence or isinstance(value, Mapping) else str(value)]


def _argv(parser: argparse.ArgumentParser, given: dict[str, Any], options: dict[str, Any]) -> list[str]:
    """The ``clue run`` command line of the API's own parameters (``given``) and the keywords (``options``)."""
    if blocked := sorted(set(options) & set(_NO_RESULT)):
        raise UserError(f"evaluate(): {blocked[0]}: {_NO_RESULT[blocked[0]]}")
    valid = run_options(parser)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise UserError(f"evaluate(): unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                        f"valid: endpoint, tasks, data_dir, out, progress, {', '.join(valid)}")
    actions = {a.dest: a for a in parser._actions if a.option_strings}
    return [word for dest, value in {**given, **options}.items() for word in _flag_args(actions[dest], value)]


@contextlib.contextmanager
def _silenced(progress: bool) -> Iterator[None]:
    """The run command's consoles quiet while it runs: the results table always (the caller gets them as
    data), notes and warnings unless ``progress``."""
    from .commands import common, run

    consoles = [common.stdout] + ([] if progress else [run.console, run.alerts])
    before = [c.quiet for c in consoles]
    for console in consoles:
        console.quiet = True
    try:
        yield
    finally:
        for console, was in zip(consoles, before):
            console.quiet = was


def _in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def evaluate(endpoint: str, tasks: str | Sequence[str] = "all", data_dir: str | Path | None = None,
             out: str | Path | None = None, *, progress: bool = False, **options: Any) -> Evaluation:
    """Run (or resume) ``clue run`` on ``endpoint`` (a name from endpoints.toml, or a URL) and return its results.

    ``tasks``: "all", "mednli,meqsum" or a list; ``data_dir`` and ``out`` as ``--data-dir`` and ``--out`` (same
    defaults); ``options``: any other ``clue run`` flag as a keyword, dashes as underscores (``run_options()``
    lists them): ``limit=5``, ``no_bertscore=True``, ``reasoning_effort="low"``, ``fail_under={"mednli": 40}``.
    """
    from .commands.run import default_out, endpoint_names
    from .config import resolve_endpoint

    parser = _run_parser()
    given = {"endpoint": endpoint, "tasks": tasks, "data_dir": data_dir, "out": out, "quiet": not progress}
    args = parser.parse_args(_argv(parser, given, options))
    names = endpoint_names(args.endpoint)
    if len(names) != 1:
        raise UserError(f"evaluate takes one endpoint, not {len(names)} ({', '.join(names)}): call it once per "
                        "endpoint, or run `clue run --endpoint A --endpoint B` for several at once")
    folder = args.out or default_out(resolve_endpoint(names[0], args.config))

    def run() -> None:  # exit code 3 (errors, samples missing) shows as Evaluation.complete
        with _silenced(progress):
            args.func(args)

    if _in_running_loop():  # asyncio.run cannot nest: the run gets a thread and a loop of its own
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="clue-evaluate") as worker:
            worker.submit(run).result()
    else:
        run()
    return load_run(folder)
