"""``clue export RUN_DIR --format eee|mlflow``: a finished run folder in a format other tools read.

``eee``: Every Eval Ever files (schema 0.3.0) under ``--out`` in the EEE datastore layout; with
``--include-samples`` also the per-sample file of the public tasks (never of a credentialed one).
``mlflow``: one MLflow run (params, metrics, artifacts) in ``--tracking-uri``; needs the ``[mlflow]`` extra.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from ..errors import UserError

__all__ = ["add_parser"]

FORMATS = ("eee", "mlflow")
_ONLY_FOR = {"out": ("--out", "eee"), "include_samples": ("--include-samples", "eee"),
             "model_id": ("--model-id", "eee"), "tracking_uri": ("--tracking-uri", "mlflow")}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="write a run folder as Every Eval Ever files or an MLflow run")
    p.add_argument("run", type=Path, metavar="RUN_DIR", help="run folder written by clue run")
    p.add_argument("--format", required=True, choices=FORMATS,
                   help="eee: Every Eval Ever files (schema 0.3.0); mlflow: one MLflow run (needs the [mlflow] extra)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="eee: the folder to write into (files go to DIR/data/clue/<developer>/<model>/)")
    p.add_argument("--include-samples", action="store_true",
                   help="eee: also write the per-sample file of the public tasks (MeQSum, LongHealth); credentialed "
                        "tasks never get one")
    p.add_argument("--model-id", metavar="ORG/NAME",
                   help="eee: the model in Hugging Face form, where the served id names no developer")
    p.add_argument("--tracking-uri", metavar="URI",
                   help="mlflow: tracking store, e.g. sqlite:///mlflow.db, a folder or http://host:5000 "
                        "(default: $MLFLOW_TRACKING_URI, else MLflow's own default)")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    for dest, (flag, fmt) in _ONLY_FOR.items():
        if fmt != args.format and getattr(args, dest) not in (None, False):
            raise UserError(f"{flag} applies to --format {fmt}, not --format {args.format}")
    if args.format == "eee" and args.out is None:
        raise UserError("--format eee needs --out DIR")
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if args.format == "mlflow":
        from ..integrations.mlflow import connect, log_run

        tracker = connect(args.tracking_uri, flag="--format mlflow")  # the extra is checked before the run is read
        from ..reports.run_folder import load_run

        run_id = log_run(tracker, load_run(args.run), flag="--format mlflow")
        console.print(tracker.describe(run_id), markup=False)
        return 0
    from ..reports.eee import COLLECTION, export_eee
    from ..reports.run_folder import load_run

    files = export_eee(load_run(args.run), args.out, model_id=args.model_id, include_samples=args.include_samples)
    console.print(f"Every Eval Ever aggregate: {files.aggregate}", markup=False)
    if files.samples is not None:
        console.print(f"per-sample file ({files.n_samples} samples of public tasks): {files.samples}", markup=False)
    elif args.include_samples:
        console.print("no per-sample file: no scored sample of a public task (credentialed tasks never get one)")
    # EEE's validator maps a path to its datastore form by the enclosing data/ folder: it wants an absolute glob
    pattern = f"{args.out.resolve()}/data/{COLLECTION}/*/*/*.json*"
    console.print(f"check with: python -m every_eval_ever validate '{pattern}'", markup=False)
    return 0
