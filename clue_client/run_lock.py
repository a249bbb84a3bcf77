"""One writer per run folder: an exclusive ``flock`` on ``RUN/.lock``, which names its holder.

Two runs on one folder would both send every missing request and the last to finish would overwrite the
other's manifest and results. The kernel drops a ``flock`` when its process dies (even by ``kill -9``), so
a lock left behind by a dead run is free and simply taken over; the pid and start time written into the
file only serve the message a second run prints. Re-entrant within a process (``clue run`` locks, then
scores under the same lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Iterator

from .errors import UserError
from .files import NO_FOLLOW, disk_errors, ensure_folder
from .store import utc_now

__all__ = ["LOCK_FILE", "RunFolderBusy", "run_lock"]

LOCK_FILE = ".lock"

_held: dict[Path, int] = {}  # folder -> nesting depth, for re-entrant use in one process


class RunFolderBusy(UserError):
    """Another live process holds the run folder."""


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {info['pid']} on {info['host']}, started {info['started_at']}"
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return "a process that has not written its details yet"


def _acquire(path: Path) -> int:
    """An fd holding the lock on ``path``; retried when the file was replaced under us (see release)."""
    for _ in range(5):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | NO_FOLLOW, 0o644)  # a planted symlink: ELOOP, one line
        if os.fstat(fd).st_nlink > 1:  # a hard link planted in its place: truncating it would clobber the other name
            os.close(fd)
            raise UserError(f"{path}: is a hard link to another file; remove it (clue writes no file through a link)")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise RunFolderBusy(f"{path.parent}: another clue process is using this run folder ({holder}); "
                                "wait for it to finish or pass another --out") from None
        with contextlib.suppress(FileNotFoundError):
            if os.fstat(fd).st_ino == os.stat(path).st_ino:  # still the file others will open
                info = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": utc_now()}
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(info).encode(), 0)
                return fd
        os.close(fd)  # the holder removed it between our open and our lock: try the new file
    raise RunFolderBusy(f"{path.parent}: the run folder lock keeps changing hands; is another clue process starting?")


@contextlib.contextmanager
def run_lock(run_dir: Path, create: bool = True) -> Iterator[None]:
    """Hold the run folder for the duration of the block, or raise RunFolderBusy (exit 2) at once.

    ``create=False`` for commands that need an existing run (score, import): a missing folder is an error."""
    if create:
        ensure_folder(run_dir)
    elif not run_dir.is_dir():
        raise UserError(f"{run_dir}: not found; is it a clue run folder?")
    key = run_dir.resolve()
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    path = run_dir / LOCK_FILE
    with disk_errors(path):
        fd = _acquire(path)
    _held[key] = 1
    try:
        yield
    finally:
        del _held[key]
        with contextlib.suppress(OSError):
            path.unlink()  # while still locked, so a waiting opener notices the change of file
        os.close(fd)
