"""``clue data status|fetch|build``: which task files a data directory holds and how each was verified,
downloading them, and building MeDiSumCode from the user's own MIMIC-IV files."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from ..errors import UserError
from .common import number

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)
PUBLIC = ("meqsum", "longhealth")
PHYSIONET = ("mednli", "problem-summary", "medisumqa", "medisumcode")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("data", help="dataset status, downloads and the MeDiSumCode build")
    sub = p.add_subparsers(dest="data_action", required=True)
    data_dir = dict(type=Path, default=Path("data"), help="data directory (default: data/)")

    status = sub.add_parser("status", help="per task: ready, missing, unverified or invalid; how it was verified")
    status.add_argument("--data-dir", **data_dir)
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(func=status_command)

    fetcher = sub.add_parser(
        "fetch",
        help="download a dataset's original file (or check the one present) against its pin or release",
        description=f"Public: {', '.join(PUBLIC)}. PhysioNet (credentialed): {', '.join(PHYSIONET)} with "
        "--physionet-user; the password comes from PHYSIONET_PASSWORD or a prompt. medisumcode downloads "
        "MIMIC-IV-Note 2.2 note/discharge.csv.gz and MIMIC-IV 2.2 hosp/diagnoses_icd.csv.gz into "
        "DATA_DIR/mimic/ and builds it from them.",
    )
    fetcher.add_argument("dataset", metavar="DATASET", help=", ".join(PUBLIC + PHYSIONET))
    fetcher.add_argument("--data-dir", **data_dir)
    fetcher.add_argument("--physionet-user", help="PhysioNet user name (credentialed datasets)")
    fetcher.add_argument("--force", action="store_true", help="download (and build) again even if present")
    fetcher.add_argument("--mirror", help="fetch the same paths from this base URL instead (a local mirror)")
    fetcher.add_argument("--accept-unverified", action="store_true",
                         help="keep a download that does not match its pinned checksum (said so in the output)")
    fetcher.set_defaults(func=fetch_command)

    builder = sub.add_parser(
        "build",
        help="build MeDiSumCode from MIMIC-IV files, byte for byte as CLUE's generator does",
        description="Inputs as PhysioNet ships them (gzip or plain): MIMIC-IV-Note 2.2 note/discharge.csv.gz "
        "and MIMIC-IV 2.2 hosp/diagnoses_icd.csv.gz. Writes DATA_DIR/MeDiSumCode/MeDiSumCode.json and "
        "build.json beside it. Needs the build extra: pip install 'clue-client[build]'.",
    )
    builder.add_argument("dataset", choices=["medisumcode"], help="medisumcode")
    builder.add_argument("--notes", type=Path, required=True, help="MIMIC-IV-Note discharge.csv(.gz)")
    builder.add_argument("--diagnoses", type=Path, required=True, help="MIMIC-IV hosp diagnoses_icd.csv(.gz)")
    builder.add_argument("--data-dir", **data_dir)
    builder.add_argument("--max-examples", type=number(int, low=1), default=500,
                         help="notes drawn (CLUE's default: 500)")
    builder.add_argument("--force", action="store_true", help="replace an existing MeDiSumCode.json")
    builder.set_defaults(func=build_command)


def _progress(message: str) -> None:
    stderr.print(f"clue: {message}", markup=False)


def status_command(args: argparse.Namespace) -> int:
    from ..datasets.status import READY, dataset_status

    rows = dataset_status(args.data_dir)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    table = Table(title=f"CLUE datasets in {args.data_dir}", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("dataset", "state", "records", "access"):
        table.add_column(column, no_wrap=True)
    table.add_column("verified by (or why not)", overflow="fold", ratio=1, min_width=20)
    for r in rows:
        how = r.error or (f"{r.verified_by}: {r.how}" if r.verified_by else r.reason)
        how = "; ".join(x for x in (how, r.detail) if x) or "-"
        table.add_row(r.id, r.state, "-" if r.records is None else str(r.records), r.access, how)
    stdout.print(table)
    for r in rows:
        if r.state != READY:
            stdout.print(f"to make {r.id} ready: {r.command}", markup=False)
    return 0


def _fetched_line(result) -> str:  # noqa: ANN001 (a FetchResult; its module loads only when fetching)
    if result.verified_by:
        check = f"the {result.verified_by}: {result.how}"
        if result.already_present:
            return f"{result.path} already present and matches {check} (sha256 {result.sha256}); --force downloads it again"
        return f"wrote {result.path} (sha256 {result.sha256}; verified against {check})"
    if result.mismatch:
        head = f"{result.path} already present" if result.already_present else f"wrote {result.path}"
        return (f"{head} (sha256 {result.sha256}; NOT verified: it does not match the pin ({result.mismatch}), "
                "kept by --accept-unverified)")
    return f"{result.path}: NOT verified: no pinned checksum (sha256 {result.sha256})"


def fetch_command(args: argparse.Namespace) -> int:
    from ..datasets.fetch import fetch, fetch_mimic_sources

    if args.dataset.strip().lower() == "medisumcode":
        results = fetch_mimic_sources(
            args.data_dir, physionet_user=args.physionet_user, mirror=args.mirror, force=args.force,
            progress=_progress,
        )
        for result in results.values():
            stdout.print(_fetched_line(result), markup=False)
        return _build(results["notes"].path, results["diagnoses"].path, args.data_dir, 500, args.force,
                      {k: r.sha256 for k, r in results.items()})
    result = fetch(
        args.dataset, args.data_dir, physionet_user=args.physionet_user, mirror=args.mirror, force=args.force,
        accept_unverified=args.accept_unverified, progress=_progress,
    )
    stdout.print(_fetched_line(result), markup=False)
    return 0


def _already_built(data_dir: Path, inputs: dict[str, str]) -> Path | None:
    """The MeDiSumCode file, if build.json says it was built from exactly these inputs and is unchanged."""
    from ..datasets.formats import DATASETS, sha256_file
    from ..datasets.medisumcode_build import read_build_json

    out = data_dir / DATASETS["medisumcode"].path
    build = read_build_json(out.parent)
    if not out.is_file() or build is None or build["output_sha256"] != sha256_file(out):
        return None
    built_from = {k: (v or {}).get("sha256") for k, v in (build.get("inputs") or {}).items()}
    return out if built_from == inputs and build.get("max_examples") == 500 else None


def _build(notes: Path, diagnoses: Path, data_dir: Path, max_examples: int, force: bool,
           inputs: dict[str, str] | None = None) -> int:
    from ..datasets.medisumcode_build import build_medisumcode

    if inputs and not force and (done := _already_built(data_dir, inputs)):
        stdout.print(f"{done} already built from these files (build.json); --force builds it again", markup=False)
        return 0
    result = build_medisumcode(notes, diagnoses, data_dir, max_examples=max_examples, force=force,
                               progress=_progress)
    for notice in result.warnings:
        stderr.print(f"clue: warning: {notice}", markup=False)
    stdout.print(
        f"wrote {result.path}: {result.records} records from {result.notes:,} notes and {result.diagnoses:,} "
        f"diagnosis rows (sha256 {result.sha256}; build.json beside it)", markup=False,
    )
    return 0


def build_command(args: argparse.Namespace) -> int:
    if args.notes.resolve() == args.diagnoses.resolve():
        raise UserError("--notes and --diagnoses name the same file")
    return _build(args.notes, args.diagnoses, args.data_dir, args.max_examples, args.force)
