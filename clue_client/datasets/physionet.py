"""PhysioNet releases as shipped: each release folder's ``SHA256SUMS.txt`` first, then the files it lists.

A release is ``https://physionet.org/files/<project>/<version>/``; its ``SHA256SUMS.txt`` has one
``HASH PATH`` line per file, the path relative to the release root (``note/discharge.csv.gz``). File names
are taken from that list, never guessed, and every download is checked against it. Credentialed files need
HTTP basic auth with the user's PhysioNet account (the password from ``PHYSIONET_PASSWORD`` or a prompt,
sent only over HTTPS, loopback excepted for tests, and never written anywhere). An account without the
project's data use agreement gets a 403: said so in one line.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable
from urllib.parse import urlsplit

import httpx

from ..files import create_exclusively
from ..errors import DataError, UserError

__all__ = ["PHYSIONET_FILES", "PASSWORD_ENV", "Release", "Session", "parse_sums", "physionet_password"]

PHYSIONET_FILES = "https://physionet.org/files/"
PASSWORD_ENV = "PHYSIONET_PASSWORD"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Release:
    """One version of one PhysioNet project."""

    project: str
    version: str

    @property
    def name(self) -> str:
        return f"{self.project}/{self.version}"

    def url(self, path: str = "", mirror: str | None = None) -> str:
        base = (mirror.rstrip("/") + "/files/") if mirror else PHYSIONET_FILES
        return f"{base}{self.project}/{self.version}/{path}"


def parse_sums(text: str, where: str) -> dict[str, str]:
    """``SHA256SUMS.txt`` -> {path relative to the release root: lower-case sha256}."""
    sums: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(None, 1)
        digest = parts[0].lower()
        if len(parts) != 2 or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise DataError(f"{where}: line {lineno}: not a 'SHA256 PATH' line")
        path = PurePosixPath(parts[1].strip().lstrip("*")).as_posix().removeprefix("./")
        sums[path] = digest
    if not sums:
        raise DataError(f"{where}: lists no files")
    return sums


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


class Session:
    """One authenticated conversation with PhysioNet (or a mirror of its paths): checksum lists and files."""

    def __init__(
        self, label: str, user: str | None, password: str | None, mirror: str | None = None, timeout_s: float = 60.0
    ) -> None:
        self.label, self.user, self.mirror = label, user, mirror
        self._sums: dict[Release, dict[str, str]] = {}
        auth = None
        if user is not None:
            auth = httpx.BasicAuth(user, password if password is not None else physionet_password(user))
            where = urlsplit(mirror or PHYSIONET_FILES)
            if where.scheme != "https" and where.hostname not in _LOOPBACK:
                raise UserError(f"refusing to send PhysioNet credentials to {mirror}: not HTTPS")
        self.client = httpx.Client(auth=auth, follow_redirects=True, timeout=httpx.Timeout(timeout_s, connect=15.0))

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def refused(self, url: str, response: httpx.Response) -> UserError:
        code = response.status_code
        host = urlsplit(url).hostname
        if code == 401 and self.user:
            return UserError(f"{self.label}: {host} refused PhysioNet user '{self.user}' (401): check the user name and password")
        if code == 403 and self.user:
            return UserError(
                f"{self.label}: {host} refused PhysioNet user '{self.user}' (403): the account has no access to "
                "this project; sign its data use agreement on its PhysioNet page (credentialed access needed)"
            )
        return DataError(f"{self.label}: {url} answered {code} {response.reason_phrase or 'error'}")

    def sums(self, release: Release) -> dict[str, str]:
        """The release's ``SHA256SUMS.txt``, read once per session."""
        if release not in self._sums:
            url = release.url("SHA256SUMS.txt", self.mirror)
            try:
                response = self.client.get(url)
            except httpx.HTTPError as exc:
                raise DataError(f"{self.label}: cannot read {url} ({type(exc).__name__})") from None
            if response.status_code != 200:
                raise self.refused(url, response)
            self._sums[release] = parse_sums(response.text, f"{self.label}: SHA256SUMS.txt of {release.name}")
        return self._sums[release]

    def download(self, url: str, part: Path, progress: Callable[[str], None] = lambda _: None) -> str:
        """Stream ``url`` into ``part``; its sha256 (a cut connection is one line)."""
        digest = hashlib.sha256()
        try:
            with self.client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise self.refused(url, response)
                size = response.headers.get("Content-Length", "")
                progress(f"downloading {url}" + (f" ({int(size):,} bytes)" if size.isdigit() else ""))
                with os.fdopen(create_exclusively(part), "wb") as out:  # never through a planted link
                    for block in response.iter_bytes(1 << 20):
                        digest.update(block)
                        out.write(block)
        except httpx.HTTPError as exc:
            raise DataError(f"{self.label}: download from {url} failed ({type(exc).__name__})") from None
        return digest.hexdigest()
