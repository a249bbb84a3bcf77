"""``clue data status|fetch``: which datasets a data directory holds, and downloading the fetchable ones."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..datasets.formats import dataset_status
from ..datasets.fetch import PASSWORD_ENV, SOURCES, fetch

stdout = Console(highlight=False, soft_wrap=True)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("data", help="dataset status and downloads")
    sub = p.add_subparsers(dest="data_action", required=True)

    status = sub.add_parser("status", help="which datasets are present: records, sha256, access class")
    status.add_argument("--data-dir", type=Path, default=Path("data"), help="data directory (default: data/)")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(func=status_command)

    fetcher = sub.add_parser(
        "fetch",
        help="download a dataset's original file",
        description="Public: meqsum, longhealth. PhysioNet (credentialed): mednli, problem-summary, "
        f"medisumqa with --physionet-user; the password comes from {PASSWORD_ENV} or a prompt.",
    )
    fetcher.add_argument("dataset", metavar="DATASET", help=", ".join(SOURCES))
    fetcher.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="data directory (default: data/)"
    )
    fetcher.add_argument("--physionet-user", help="PhysioNet user name (credentialed datasets)")
    fetcher.add_argument("--force", action="store_true", help="download again even if the file is present")
    fetcher.add_argument("--mirror", help="fetch the same paths from this base URL instead (a local mirror)")
    fetcher.add_argument("--accept-unverified", action="store_true",
                         help="keep a download that does not match its pinned checksum (said so in the output)")
    fetcher.set_defaults(func=fetch_command)


def status_command(args: argparse.Namespace) -> int:
    rows = dataset_status(args.data_dir)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    table = Table(title=f"CLUE datasets in {args.data_dir}")
    for column in ("dataset", "file", "present", "records", "sha256", "access"):
        table.add_column(column, overflow="fold", no_wrap=column in ("dataset", "present", "access"))
    for r in rows:
        if not r.present:
            present, records = "no", "-"
        elif r.error:
            present, records = "invalid", r.error
        else:
            present, records = "yes", r.detail or str(r.records)
        table.add_row(r.id, r.path, present, records, (r.sha256 or "-")[:12], r.access)
    stdout.print(table)
    return 0


def fetch_command(args: argparse.Namespace) -> int:
    result = fetch(
        args.dataset, args.data_dir, physionet_user=args.physionet_user, mirror=args.mirror, force=args.force,
        accept_unverified=args.accept_unverified,
    )
    if result.already_present:
        stdout.print(
            f"{result.path} already present (sha256 {result.sha256}); --force downloads again", markup=False
        )
        return 0
    if result.verified_by:
        check = f"verified against the {result.verified_by}"
    elif result.mismatch:
        check = f"NOT verified: it does not match the pin ({result.mismatch}), kept by --accept-unverified"
    else:
        check = "NOT verified: no pinned checksum"
    stdout.print(f"wrote {result.path} (sha256 {result.sha256}; {check})", markup=False)
    return 0
