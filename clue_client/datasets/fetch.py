"""Download a dataset's original file into CLUE's layout, verify it, and never leave half a file.

Public sources (MeQSum, LongHealth) come from their upstream raw files and are checked against a pin: a
sha256 for MeQSum; for LongHealth, whose sha256 nobody publishes, the git blob id of an independent public
copy (MedARC-AI/med-lm-envs, ``environments/longhealth/benchmark_v5.json``). A LongHealth download that
matches has its sha256 recorded beside it (``benchmark_v5.json.sha256``); one that does not is refused
unless ``accept_unverified``, and then kept and reported as unverified.

PhysioNet sources (MedNLI, Problem Summary, MeDiSumQA, and the two MIMIC-IV tables MeDiSumCode is built
from) are releases as shipped (``physionet.py``): the file name comes from the release's ``SHA256SUMS.txt``
and the download must match it. What a verified PhysioNet file is recorded in ``fetch.json`` beside it
(``clue data status`` reads it). A file already present is checked against its pin or its release's list
the same way, never taken on trust.

The bytes go to a hidden ``.part`` file beside the target, are checked (checksum, then the dataset's own
loader) and only then renamed into place; on any failure the part file is removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Callable
from urllib.parse import urlsplit

from .formats import DATASETS, sha256_file
from .physionet import PASSWORD_ENV, Release, Session, physionet_password
from ..errors import DataError, UserError
from ..files import write_text_atomically

__all__ = [
    "Source", "SOURCES", "MIMIC_SOURCES", "FetchResult", "PASSWORD_ENV", "FETCH_JSON", "RELEASE_CHECKSUM",
    "PINNED_CHECKSUM", "get_source", "fetch", "fetch_mimic_sources", "git_blob_id", "physionet_password",
    "read_fetch_json",
]

FETCH_JSON = "fetch.json"
RELEASE_CHECKSUM = "release checksum"
PINNED_CHECKSUM = "pinned checksum"


@dataclass(frozen=True)
class Source:
    """Where one file comes from and how to check it."""

    name: str  # as typed on the command line
    dataset: str | None  # id in DATASETS, or None for a MeDiSumCode source table
    url: str | None = None  # a public file
    sha256: str | None = None
    git_blob: str | None = None  # SHA-1 of b"blob <size>\0" + content, as git names a file's content
    release: Release | None = None  # a PhysioNet release
    file: str | None = None  # its path in the release; None: the one SHA256SUMS.txt entry ending in `suffixes`
    suffixes: tuple[str, ...] = ()
    place: str | None = None  # where under the data directory, if not the dataset's path

    @property
    def dest(self) -> str:
        return self.place or DATASETS[self.dataset or ""].path


def _physionet(name: str, dataset: str | None, project: str, version: str, **kw: Any) -> Source:
    return Source(name, dataset, release=Release(project, version), **kw)


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            "meqsum",
            "meqsum",
            "https://raw.githubusercontent.com/abachaa/MeQSum/master/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx",
            "abedd939d5014306ca576522416bf69103e85dc8fcf1668a4099e8b84a39eeea",
        ),
        Source(
            "longhealth",
            "longhealth",
            "https://raw.githubusercontent.com/kbressem/LongHealth/main/data/benchmark_v5.json",
            git_blob="76bf80d37f321408a0e3f421a2e2d7ef59e97c1e",  # MedARC-AI/med-lm-envs' copy
        ),
        _physionet("mednli", "mednli", "mednli", "1.0.0", file="mli_test_v1.jsonl"),
        _physionet(
            "problem-summary", "problem_summary", "bionlp-workshop-2023-task-1a", "2.0.0",
            file="BioNLP2023-1A-Test.csv",
        ),
        _physionet("medisumqa", "medisumqa", "medisumqa", "1.0.0", suffixes=(".json", ".jsonl")),
    )
}
# The two MIMIC-IV tables CLUE's MeDiSumCode generator reads, placed as PhysioNet's folders are laid out
MIMIC_SOURCES = {
    "notes": _physionet(
        "mimic-iv-note", None, "mimic-iv-note", "2.2", file="note/discharge.csv.gz",
        place="mimic/mimic-iv-note/2.2/note/discharge.csv.gz",
    ),
    "diagnoses": _physionet(
        "mimic-iv", None, "mimiciv", "2.2", file="hosp/diagnoses_icd.csv.gz",
        place="mimic/mimiciv/2.2/hosp/diagnoses_icd.csv.gz",
    ),
}


@dataclass(frozen=True)
class FetchResult:
    path: Path
    sha256: str
    verified_by: str | None  # RELEASE_CHECKSUM, PINNED_CHECKSUM or None
    how: str = ""  # what exactly: "SHA256SUMS.txt of mednli/1.0.0", "sha256", "git blob id"
    already_present: bool = False
    mismatch: str | None = None  # kept with accept_unverified although it matched no pin: what it is instead


def get_source(name: str) -> Source:
    key = name.strip().lower().replace("_", "-")
    try:
        return SOURCES[key]
    except KeyError:
        raise UserError(f"unknown dataset '{name}' to fetch; choose from {', '.join(SOURCES)}, medisumcode") from None


def git_blob_id(path: Path) -> str:
    """The id git gives this file's content: SHA-1 of ``b"blob <size>\0"`` followed by the bytes."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_fetch_json(folder: Path) -> dict[str, Any] | None:
    """The record ``fetch`` left beside a verified PhysioNet file, or None."""
    try:
        data = json.loads((Path(folder) / FETCH_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("sha256"), str) else None


def _release_file(source: Source, sums: dict[str, str], label: str) -> str:
    """Which entry of the release's SHA256SUMS.txt is this source's file."""
    assert source.release is not None
    listing = f"SHA256SUMS.txt of {source.release.name}"
    if source.file:
        if source.file in sums:
            return source.file
        same = [p for p in sums if PurePosixPath(p).name == PurePosixPath(source.file).name]
        if len(same) == 1:
            return same[0]
        raise DataError(f"{label}: {listing} lists no {source.file}")
    candidates = [p for p in sums if p.lower().endswith(source.suffixes)]
    named = [p for p in candidates if (source.dataset or "") in PurePosixPath(p).name.lower()]
    chosen = named or candidates
    if len(chosen) == 1:
        return chosen[0]
    kinds = " or ".join(source.suffixes)
    found = ", ".join(chosen) or "none"
    raise DataError(f"{label}: {listing} should list one {kinds} file for {source.name}; found {found}")


def _check_loads(source: Source, part: Path, shown: str, label: str) -> None:
    """A download that passed its checksum must also be a file the task can read."""
    if source.dataset is None:
        return
    try:
        DATASETS[source.dataset].loader(part)
    except DataError as exc:
        raise DataError(f"{label}: {shown} cannot be used: {str(exc).replace(str(part), shown)}") from None


def _write_record(source: Source, dest: Path, digest: str, release_file: str) -> None:
    if source.dataset is None or source.release is None:
        return
    record = {
        "dataset": source.dataset, "file": dest.name, "sha256": digest, "verified_by": RELEASE_CHECKSUM,
        "release": source.release.name, "release_file": release_file,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_text_atomically(dest.parent / FETCH_JSON, json.dumps(record, indent=2) + "\n")


def _into_place(dest: Path, body: Callable[[Path], None]) -> None:
    """``body(part)`` writes and checks a hidden part file; only then is it renamed to ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.parent / f".{dest.name}.{secrets.token_hex(6)}.part"  # unguessable: no link can wait for it
    try:
        body(part)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)


def _physionet_file(
    session: Session, source: Source, data_dir: Path, force: bool, progress: Callable[[str], None]
) -> FetchResult:
    assert source.release is not None
    label = session.label
    sums = session.sums(source.release)
    rel = _release_file(source, sums, label)
    expected, how = sums[rel], f"SHA256SUMS.txt of {source.release.name}"
    dest = Path(data_dir) / source.dest
    if dest.is_file() and not force:
        digest = sha256_file(dest)
        if digest != expected:
            raise DataError(
                f"{label}: {dest} is present but is not {rel} of {source.release.name} (sha256 {digest}, "
                f"{how} has {expected}); --force downloads it again"
            )
        _write_record(source, dest, digest, rel)
        return FetchResult(dest, digest, RELEASE_CHECKSUM, how, already_present=True)
    url = source.release.url(rel, session.mirror)

    def body(part: Path) -> None:
        digest = session.download(url, part, progress)
        if digest != expected:
            raise DataError(f"{label}: checksum mismatch for {url} (got {digest}, {how} has {expected})")
        _check_loads(source, part, rel, label)

    _into_place(dest, body)
    digest = expected
    _write_record(source, dest, digest, rel)
    return FetchResult(dest, digest, RELEASE_CHECKSUM, how)


def _record_sha256(dest: Path, digest: str) -> None:
    """Beside a file matching a pinned git blob id, its sha256 in ``sha256sum -c`` form."""
    write_text_atomically(dest.with_name(dest.name + ".sha256"), f"{digest}  {dest.name}\n")


def _public_present(source: Source, dest: Path, accept_unverified: bool) -> FetchResult:
    digest = sha256_file(dest)
    label = f"fetch {source.name}"
    if source.sha256:
        if digest == source.sha256:
            return FetchResult(dest, digest, PINNED_CHECKSUM, "sha256", already_present=True)
        raise DataError(
            f"{label}: {dest} is present but is not the pinned file (sha256 {digest}, expected {source.sha256}); "
            "--force downloads it again"
        )
    if source.git_blob:
        blob = git_blob_id(dest)
        if blob == source.git_blob:
            _record_sha256(dest, digest)
            return FetchResult(dest, digest, PINNED_CHECKSUM, "git blob id", already_present=True)
        if accept_unverified:
            mismatch = f"git blob {blob}, pinned {source.git_blob}"
            return FetchResult(dest, digest, None, already_present=True, mismatch=mismatch)
        raise DataError(
            f"{label}: {dest} is present but is not the pinned file (git blob {blob}, expected {source.git_blob}); "
            "--force downloads it again, --accept-unverified keeps it"
        )
    return FetchResult(dest, digest, None, already_present=True)


def _public_file(
    source: Source, data_dir: Path, mirror: str | None, force: bool, timeout_s: float, accept_unverified: bool
) -> FetchResult:
    assert source.url is not None
    dest = Path(data_dir) / source.dest
    if dest.is_file() and not force:
        return _public_present(source, dest, accept_unverified)
    url = mirror.rstrip("/") + urlsplit(source.url).path if mirror else source.url
    if urlsplit(url).scheme not in ("http", "https"):
        raise UserError(f"cannot fetch {url}: only http(s) URLs")
    outcome: dict[str, Any] = {}

    def body(part: Path) -> None:
        with Session(f"fetch {source.name}", None, None, timeout_s=timeout_s) as session:
            digest = session.download(url, part)
        outcome.update(digest=digest, how="", verified=None, mismatch=None)
        if source.sha256:
            if digest != source.sha256:
                raise DataError(
                    f"fetch {source.name}: checksum mismatch for {url} (got {digest}, expected {source.sha256})"
                )
            outcome.update(verified=PINNED_CHECKSUM, how="sha256")
        if source.git_blob:
            blob = git_blob_id(part)
            if blob == source.git_blob:
                outcome.update(verified=PINNED_CHECKSUM, how="git blob id")
            elif accept_unverified:
                outcome["mismatch"] = f"git blob {blob}, pinned {source.git_blob}"
            else:
                raise DataError(
                    f"fetch {source.name}: {url} is not the pinned file (git blob {blob}, expected "
                    f"{source.git_blob}); --accept-unverified keeps it anyway"
                )

    _into_place(dest, body)
    if outcome["how"] == "git blob id":
        _record_sha256(dest, outcome["digest"])
    return FetchResult(dest, outcome["digest"], outcome["verified"], outcome["how"], mismatch=outcome["mismatch"])


def fetch(
    name: str | Source,
    data_dir: Path,
    *,
    physionet_user: str | None = None,
    password: str | None = None,
    mirror: str | None = None,
    force: bool = False,
    timeout_s: float = 60.0,
    accept_unverified: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> FetchResult:
    """Download one dataset into ``data_dir`` in CLUE's layout (or check the one there); see the module doc."""
    source = name if isinstance(name, Source) else get_source(name)
    if source.release is None:
        return _public_file(source, Path(data_dir), mirror, force, timeout_s, accept_unverified)
    if not physionet_user:
        raise UserError(f"fetch {source.name} needs --physionet-user (credentialed PhysioNet data)")
    with Session(f"fetch {source.name}", physionet_user, password, mirror, timeout_s) as session:
        return _physionet_file(session, source, Path(data_dir), force, progress)


def fetch_mimic_sources(
    data_dir: Path,
    *,
    physionet_user: str | None,
    password: str | None = None,
    mirror: str | None = None,
    force: bool = False,
    timeout_s: float = 60.0,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, FetchResult]:
    """MIMIC-IV-Note 2.2 ``note/discharge.csv.gz`` and MIMIC-IV 2.2 ``hosp/diagnoses_icd.csv.gz``, nothing
    else of either release, under ``data_dir/mimic/``; each checked against its release's SHA256SUMS.txt."""
    if not physionet_user:
        raise UserError("fetch medisumcode needs --physionet-user (it is built from credentialed MIMIC-IV files)")
    with Session("fetch medisumcode", physionet_user, password, mirror, timeout_s) as session:
        return {
            key: _physionet_file(session, source, Path(data_dir), force, progress)
            for key, source in MIMIC_SOURCES.items()
        }
