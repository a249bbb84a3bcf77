"""What ``clue data status`` says per task: ready, missing, unverified or invalid; how a ready file was
verified; and, for any other, the one command that makes it ready.

Ready means the file loads and its bytes are the ones something trustworthy vouches for:

- ``pinned checksum``: the sha256 (MeQSum) or git blob id (LongHealth) this package pins;
- ``release checksum``: ``fetch.json``, which ``clue data fetch`` writes after checking the file against its
  PhysioNet release's ``SHA256SUMS.txt``, names these very bytes;
- ``build.json``: ``clue data build medisumcode`` wrote it, and it names these very bytes.

A file that loads but nothing vouches for (placed by hand, edited since) is unverified; fetching it again
without ``--force`` checks the present file against its release and records the result.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .fetch import MIMIC_SOURCES, PINNED_CHECKSUM, RELEASE_CHECKSUM, SOURCES, git_blob_id, read_fetch_json
from .formats import DATASETS, Dataset, sha256_file
from .medisumcode_build import BUILD_JSON, MIMIC_IV_NOTE_2_2_NOTES, read_build_json

__all__ = ["DatasetStatus", "dataset_status", "READY", "MISSING", "UNVERIFIED", "INVALID"]

READY, MISSING, UNVERIFIED, INVALID = "ready", "missing", "unverified", "invalid"


@dataclass(frozen=True)
class DatasetStatus:
    """One task's data file under one data directory."""

    id: str
    path: str
    access: str
    present: bool
    state: str
    verified_by: str | None = None  # "pinned checksum", "release checksum" or "build.json"
    how: str = ""  # what exactly vouches for it
    records: int | None = None
    detail: str = ""
    sha256: str | None = None
    error: str | None = None
    reason: str = ""  # why an unverified file is not ready
    command: str | None = None  # the one command that makes it ready


def _source_name(dataset_id: str) -> str:
    return dataset_id.replace("_", "-")


def _command(dataset: Dataset, data_dir: Path, replace: bool) -> str:
    where = ["--data-dir", str(data_dir)]
    force = ["--force"] if replace else []
    if dataset.id == "medisumcode":
        notes, diagnoses = (data_dir / s.dest for s in MIMIC_SOURCES.values())
        if notes.is_file() and diagnoses.is_file():
            words = ["clue", "data", "build", "medisumcode", "--notes", str(notes), "--diagnoses", str(diagnoses)]
            return shlex.join(words + where + force)
        words = ["clue", "data", "fetch", "medisumcode", "--physionet-user", "USER"]
        return shlex.join(words + where + force)
    source = SOURCES[_source_name(dataset.id)]
    user = ["--physionet-user", "USER"] if source.release else []
    return shlex.join(["clue", "data", "fetch", source.name, *user, *where, *force])


def _vouched(dataset: Dataset, path: Path, digest: str) -> tuple[str | None, str, str]:
    """(verified_by, how, note) for a file that loads; the note says why not when nothing vouches for it."""
    if dataset.id == "medisumcode":
        build = read_build_json(path.parent)
        if not build or build.get("output_sha256") != digest:
            return None, "", "no build.json names this file" if not build else "differs from what build.json names"
        notes = (build.get("inputs") or {}).get("notes") or {}
        rows = notes.get("rows")
        how = f"built {str(build.get('date', '?'))[:10]} from {notes.get('file', '?')} ({rows} notes)"
        odd = isinstance(rows, int) and rows != MIMIC_IV_NOTE_2_2_NOTES
        detail = f"not MIMIC-IV-Note 2.2 ({MIMIC_IV_NOTE_2_2_NOTES:,} notes): differs from CLUE's" if odd else ""
        return BUILD_JSON, how, detail
    source = SOURCES[_source_name(dataset.id)]
    if source.sha256:
        ok = digest == source.sha256
        return (PINNED_CHECKSUM, "sha256", "") if ok else (None, "", "not the pinned sha256")
    if source.git_blob:
        ok = git_blob_id(path) == source.git_blob
        return (PINNED_CHECKSUM, "git blob id", "") if ok else (None, "", "not the pinned git blob id")
    record = read_fetch_json(path.parent)
    if record and record.get("sha256") == digest and record.get("file") == path.name:
        return RELEASE_CHECKSUM, f"SHA256SUMS.txt of {record.get('release')} ({record.get('release_file')})", ""
    return None, "", "not checked against its release" if not record else "differs from the fetched file"


def dataset_status(data_dir: Path) -> list[DatasetStatus]:
    """Every task's data file: state, how verified, records, sha256, access class, command to fix."""
    data_dir = Path(data_dir)
    rows = []
    for dataset in DATASETS.values():
        path = data_dir / dataset.path
        base = dict(id=dataset.id, path=dataset.path, access=dataset.access)
        if not path.is_file():
            rows.append(DatasetStatus(**base, present=False, state=MISSING, command=_command(dataset, data_dir, False)))
            continue
        digest = sha256_file(path)
        try:
            frame = dataset.loader(path)
        except DataError as exc:
            rows.append(DatasetStatus(
                **base, present=True, state=INVALID, sha256=digest, error=str(exc),
                command=_command(dataset, data_dir, True),
            ))
            continue
        records, detail = frame.height, ""
        if dataset.id == "longhealth":
            records = int(frame["questions"].list.len().sum())
            detail = f"{frame.height} patients, {records} questions"
        verified_by, how, note = _vouched(dataset, path, digest)
        reason = "" if verified_by else note
        detail = "; ".join(d for d in (detail, note if verified_by else "") if d)
        state = READY if verified_by else UNVERIFIED
        # an unverified PhysioNet file is checked in place by fetch (no --force); any other is replaced
        replace = dataset.id == "medisumcode" or SOURCES[_source_name(dataset.id)].release is None
        command = None if verified_by else _command(dataset, data_dir, replace)
        rows.append(DatasetStatus(
            **base, present=True, state=state, verified_by=verified_by, how=how, records=records, detail=detail,
            sha256=digest, reason=reason, command=command,
        ))
    return rows
