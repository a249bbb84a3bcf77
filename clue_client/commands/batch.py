"""``clue batch export|import``: run CLUE through the OpenAI Batch API or vLLM ``run_batch`` (a contract).

``export`` writes ``RUN/batch_requests.jsonl`` (one request per line, ``custom_id`` = request key) into a run
folder built exactly like ``clue run``'s; ``import OUTPUT.jsonl --run RUN`` stores the batch output and writes
``RUN/results.json``. Exit codes as ``clue run``: 0 every sample answered; 3 some ended in errors or are still
missing; 2 user error.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from .common import add_scoring_flags, print_rejected, print_results, scoring_options
from .run import LIMIT, LONGHEALTH_BUDGET_HELP, TEMPERATURE, _endpoint, add_request_flags, longhealth_budget, protocol_options

if TYPE_CHECKING:  # the batch and runner modules load when the command runs, not for clue --help
    from ..batch import ExportReport, ImportReport

console = Console(stderr=True, highlight=False)
MAX_LISTED = 20


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("batch", help="export requests for a batch engine, import its output")
    sub = p.add_subparsers(dest="action", required=True)

    ex = sub.add_parser("export", help="write RUN/batch_requests.jsonl (OpenAI Batch API / vLLM run_batch input)")
    ex.add_argument("--endpoint", required=True, help="endpoint name from endpoints.toml, or a URL (part of the request keys)")
    ex.add_argument("--tasks", default="all", help="comma-separated task ids, or 'all' (default)")
    ex.add_argument("--data-dir", type=Path, default=Path("data"), help="datasets folder in CLUE's layout (default: data)")
    ex.add_argument("--run", type=Path, required=True, help="run folder to create or refresh")
    ex.add_argument("--model", help="model id; with it (and without longhealth) the server is never contacted")
    ex.add_argument("--no-model-check", action="store_true",
                    help="take --model as given even when the server's /models does not list it")
    ex.add_argument("--limit", type=LIMIT, help="at most N scored samples per task (LongHealth: N questions)")
    ex.add_argument("--config", type=Path, help="endpoints file (default: ./endpoints.toml, else the shipped one)")
    ex.add_argument("--api-key-env", help="environment variable holding the API key (for a URL endpoint)")
    ex.add_argument("--fold-system", action="store_true", help="fold the system prompt into the first user turn")
    ex.add_argument("--temperature", type=TEMPERATURE, help="sampling temperature, 0-2 (default: endpoint's, else 0 = greedy)")
    add_request_flags(ex)
    ex.add_argument("--longhealth-budget", type=longhealth_budget, metavar="N|max", help=LONGHEALTH_BUDGET_HELP)
    ex.add_argument("--new-identity", action="store_true",
                    help="export into a folder holding answers of another model or server (they are not reused)")
    ex.set_defaults(func=export_command)

    im = sub.add_parser("import", help="store a batch output file in the run and write RUN/results.json")
    im.add_argument("output", type=Path, help="batch output JSONL (OpenAI Batch API output/error file, vLLM run_batch -o)")
    im.add_argument("--run", type=Path, required=True, help="the run folder the requests were exported from")
    add_scoring_flags(im)
    im.set_defaults(func=import_command)


def export_command(args: argparse.Namespace) -> int:
    from ..tasks import parse_tasks

    endpoint = _endpoint(args)
    from ..batch import export_batch
    from ..runner import RunOptions

    options = RunOptions(endpoint=endpoint, tasks=parse_tasks(args.tasks), data_dir=args.data_dir, out=args.run,
                         model=args.model, limit=args.limit, longhealth_budget=args.longhealth_budget,
                         model_check=not args.no_model_check, new_identity=args.new_identity, repeats=args.repeats,
                         **protocol_options(args))
    report = asyncio.run(export_batch(options))
    _print_export(report)
    return 0


def _print_export(report: ExportReport) -> None:
    how = "without contacting the endpoint" if report.offline else "model and prompt budgets from the endpoint"
    console.print(f"wrote {report.written} request(s) for model {report.model} to {report.path} ({how}); "
                  f"{report.already_done} already answered in the store", markup=False)
    if report.written:
        console.print(f"next: run the file through the OpenAI Batch API or `vllm run-batch -i {report.path} -o OUT.jsonl "
                      f"--model {report.model}`, then `clue batch import OUT.jsonl --run {report.path.parent}`", markup=False)


def import_command(args: argparse.Namespace) -> int:
    from ..batch import import_batch

    report = import_batch(args.run, args.output, scoring_options(args))
    assert report.summary is not None
    print_results(report.summary.results)
    print_rejected(report.summary.rejected, args.exclude_rejected, console)
    _print_import(report)
    summary = report.summary
    return 3 if summary.errors or summary.n_missing else 0


def _print_import(report: ImportReport) -> None:
    console.print(f"{report.path}: {report.lines} line(s): {report.answered} answered, {report.errors} error(s) "
                  f"({report.retryable_errors} retryable), {len(report.skipped)} skipped, "
                  f"{report.duplicates} duplicate custom_id(s)", markup=False)
    for problem in report.skipped[:MAX_LISTED]:
        console.print(f"  skipped line {problem.line}: {problem.reason}", markup=False)
    if len(report.skipped) > MAX_LISTED:
        console.print(f"  ... and {len(report.skipped) - MAX_LISTED} more skipped line(s)", markup=False)
    summary = report.summary
    if summary is not None and summary.errors:
        console.print(f"{len(summary.errors)} sample(s) ended in errors (retryable ones are re-sent by "
                      "`clue run --out RUN` or a new export):", markup=False)
        for task, sample_id, error in summary.errors[:MAX_LISTED]:
            console.print(f"  {task} {sample_id}: {error}", markup=False)
    if summary is not None and summary.n_missing:
        console.print(f"{summary.n_missing} sample(s) still without an answer: `clue batch export` again writes "
                      "only those, or resume online with `clue run --out RUN`", markup=False)
