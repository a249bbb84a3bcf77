"""Download a dataset's original file into CLUE's layout, verify it, and never leave half a file.

Public sources (MeQSum, LongHealth) come from their upstream raw files. Credentialed PhysioNet sources
(MedNLI, Problem Summary, MeDiSumQA) need a PhysioNet user whose account has signed the project's data
use agreement; the password comes from ``PHYSIONET_PASSWORD`` or a terminal prompt, is sent only over
HTTPS (loopback excepted, for tests) and is never stored. Checksums: a pinned sha256 where we have one;
for PhysioNet, the project's own ``SHA256SUMS.txt`` from the same release folder; for LongHealth, the git
blob id of an independent public copy (MedARC-AI/med-lm-envs, ``environments/longhealth/benchmark_v5.json``),
as no sha256 is published. A LongHealth download that matches has its sha256 recorded beside it
(``benchmark_v5.json.sha256``, ``sha256sum -c`` format); one that does not is refused unless
``accept_unverified``, and then kept and reported as unverified.

The bytes go to a hidden ``.part`` file beside the target and are renamed into place only after the
checks pass; on any failure the part file is removed.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import httpx

from .formats import DATASETS, sha256_file
from ..errors import DataError, UserError
from ..files import create_exclusively, write_text_atomically

__all__ = [
    "Source", "SOURCES", "FetchResult", "PASSWORD_ENV", "get_source", "fetch", "git_blob_id", "physionet_password",
]

PASSWORD_ENV = "PHYSIONET_PASSWORD"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Source:
    """Where one dataset file comes from and how to check it."""

    name: str  # as typed on the command line
    dataset: str  # id in clue_client.datasets.formats.DATASETS
    url: str
    sha256: str | None = None
    physionet: bool = False
    git_blob: str | None = None  # SHA-1 of b"blob <size>\0" + content, as git names a file's content

    @property
    def dest(self) -> str:
        return DATASETS[self.dataset].path

    @property
    def sums_url(self) -> str | None:
        """PhysioNet publishes SHA256SUMS.txt in every release folder."""
        if not self.physionet:
            return None
        return self.url.rsplit("/", 1)[0] + "/SHA256SUMS.txt"


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
        Source(
            "mednli", "mednli", "https://physionet.org/files/mednli/1.0.0/mli_test_v1.jsonl", physionet=True
        ),
        Source(
            "problem-summary",
            "problem_summary",
            "https://physionet.org/files/bionlp-workshop-2023-task-1a/2.0.0/BioNLP2023-1A-Test.csv",
            physionet=True,
        ),
        Source(
            "medisumqa",
            "medisumqa",
            "https://physionet.org/files/medisumqa/1.0.0/MeDiSumQA.json",
            physionet=True,
        ),
    )
}


@dataclass(frozen=True)
class FetchResult:
    path: Path
    sha256: str
    verified_by: str | None  # "pinned sha256", "PhysioNet SHA256SUMS.txt", "pinned git blob id", or None
    already_present: bool = False
    mismatch: str | None = None  # kept with accept_unverified although it matched no pin: what it is instead


def get_source(name: str) -> Source:
    key = name.strip().lower().replace("_", "-")
    if key == "medisumcode":
        raise UserError(
            "medisumcode cannot be downloaded: build it from MIMIC-IV with CLUE's generator "
            "(see data/README.md)"
        )
    try:
        return SOURCES[key]
    except KeyError:
        raise UserError(f"unknown dataset '{name}' to fetch; choose from {', '.join(SOURCES)}") from None


def physionet_password(user: str) -> str:
    """From ``PHYSIONET_PASSWORD``, else a terminal prompt; never from the command line."""
    password = os.environ.get(PASSWORD_ENV)
    if password:
        return password
    if sys.stdin is not None and sys.stdin.isatty():
        password = getpass.getpass(f"PhysioNet password for {user}: ")
        if password:
            return password
    raise UserError(f"no PhysioNet password: set {PASSWORD_ENV} or run the command in a terminal to be asked")


def _with_mirror(url: str, mirror: str | None) -> str:
    """Send the same path to another host (a local mirror, or the tests' loopback server)."""
    if not mirror:
        return url
    return mirror.rstrip("/") + urlsplit(url).path


def _check_transport(url: str, credentials: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UserError(f"cannot fetch {url}: only http(s) URLs")
    if credentials and parts.scheme != "https" and parts.hostname not in _LOOPBACK:
        raise UserError(f"refusing to send PhysioNet credentials to {url}: not HTTPS")


def _status_error(name: str, url: str, response: httpx.Response, user: str | None) -> UserError:
    code = response.status_code
    if code in (401, 403) and user:
        return UserError(
            f"fetch {name}: {urlsplit(url).hostname} refused PhysioNet user '{user}' ({code}); check the "
            "password and that the account has signed this project's data use agreement"
        )
    reason = response.reason_phrase or "error"
    return DataError(f"fetch {name}: {url} answered {code} {reason}")


def _download(client: httpx.Client, name: str, url: str, part: Path, user: str | None) -> str:
    """Stream ``url`` into ``part``; its sha256."""
    digest = hashlib.sha256()
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise _status_error(name, url, response, user)
            with os.fdopen(create_exclusively(part), "wb") as out:  # never through a planted link
                for block in response.iter_bytes(1 << 16):
                    digest.update(block)
                    out.write(block)
    except httpx.HTTPError as exc:
        raise DataError(f"fetch {name}: download from {url} failed ({type(exc).__name__})") from None
    return digest.hexdigest()


def _physionet_sum(client: httpx.Client, name: str, url: str, filename: str, user: str | None) -> str:
    """The sha256 PhysioNet lists for ``filename`` in the release's SHA256SUMS.txt."""
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise DataError(f"fetch {name}: cannot read checksums at {url} ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise _status_error(name, url, response, user)
    for line in response.text.splitlines():
        fields = line.split()
        if len(fields) == 2 and PurePosixPath(fields[1].lstrip("*")).as_posix() == filename:
            return fields[0].lower()
    raise DataError(f"fetch {name}: {url} lists no checksum for {filename}")


def git_blob_id(path: Path) -> str:
    """The id git gives this file's content: SHA-1 of ``b"blob <size>\0"`` followed by the bytes."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
) -> FetchResult:
    """Download one dataset into ``data_dir`` in CLUE's layout; see the module docstring for the checks."""
    source = name if isinstance(name, Source) else get_source(name)
    dest = Path(data_dir) / source.dest
    if dest.is_file() and not force:
        return FetchResult(dest, sha256_file(dest), None, already_present=True)
    auth = None
    if source.physionet:
        if not physionet_user:
            raise UserError(f"fetch {source.name} needs --physionet-user (credentialed PhysioNet data)")
        auth = httpx.BasicAuth(
            physionet_user, password if password is not None else physionet_password(physionet_user)
        )
    url = _with_mirror(source.url, mirror)
    _check_transport(url, credentials=auth is not None)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.parent / f".{dest.name}.{secrets.token_hex(6)}.part"  # unguessable: no link can wait for it
    try:
        with httpx.Client(
            auth=auth, follow_redirects=True, timeout=httpx.Timeout(timeout_s, connect=15.0)
        ) as client:
            expected, verified_by = source.sha256, "pinned sha256" if source.sha256 else None
            if source.sums_url:
                sums_url = _with_mirror(source.sums_url, mirror)
                expected = _physionet_sum(
                    client, source.name, sums_url, url.rsplit("/", 1)[1], physionet_user
                )
                verified_by = "PhysioNet SHA256SUMS.txt"
            digest = _download(client, source.name, url, part, physionet_user)
        if expected is not None and digest != expected:
            raise DataError(
                f"fetch {source.name}: checksum mismatch for {url} (got {digest}, expected {expected})"
            )
        mismatch = None
        if source.git_blob:
            blob = git_blob_id(part)
            if blob == source.git_blob:
                verified_by = "pinned git blob id"
            elif accept_unverified:
                mismatch = f"git blob {blob}, pinned {source.git_blob}"
            else:
                raise DataError(
                    f"fetch {source.name}: {url} is not the pinned file (git blob {blob}, expected "
                    f"{source.git_blob}); --accept-unverified keeps it anyway"
                )
        os.replace(part, dest)
        if verified_by == "pinned git blob id":
            write_text_atomically(dest.with_name(dest.name + ".sha256"), f"{digest}  {dest.name}\n")
    finally:
        part.unlink(missing_ok=True)
    return FetchResult(dest, digest, verified_by, mismatch=mismatch)
