"""Writing into a run folder without leaving debris: atomic replaces and one-line file-system errors.

A full disk, a read-only folder or an ``--out`` that is a file are the user's to fix, so each becomes a
``UserError`` naming the path; a temp file that could not be completed is removed, and the file it was
meant to replace stays as it was. Temp files get an unguessable name and are created exclusively without
following a symlink (``O_EXCL | O_NOFOLLOW``), so a link planted in a shared run folder cannot make a
write land outside it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from pathlib import Path
from typing import Callable, Iterator

from .errors import UserError

__all__ = ["describe_os_error", "disk_errors", "ensure_folder", "replace_atomically", "write_text_atomically",
           "create_exclusively", "NO_FOLLOW"]

#: Flags of a file this package creates: never through a symlink, never inherited by a child process.
NO_FOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC

_HINTS = {
    errno.ENOSPC: "the disk is full; free some space and rerun the same command (finished answers are kept)",
    errno.EDQUOT: "the disk quota is exhausted; free some space and rerun the same command (finished answers are kept)",
    errno.EROFS: "the file system is read-only; pass a writable --out",
    errno.EACCES: "permission denied; pass a writable --out",
    errno.EPERM: "permission denied; pass a writable --out",
    errno.ENOTDIR: "a part of this path is a file, not a folder; pass a folder as --out",
    errno.EEXIST: "exists and is not a folder; pass a folder as --out",
    errno.ELOOP: "is a symbolic link; clue writes no file through a link: remove it",
}


def describe_os_error(path: Path, exc: OSError) -> str:
    """One line: the path and what the user can do about the error."""
    hint = _HINTS.get(exc.errno or 0, exc.strerror or str(exc))
    return f"{path}: cannot write: {hint}"


_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")  # how polars (Rust) reports an I/O failure


@contextlib.contextmanager
def disk_errors(path: Path) -> Iterator[None]:
    """Turn an OSError (or a library's wrapped one) while writing ``path`` into a one-line UserError."""
    try:
        yield
    except OSError as exc:
        raise UserError(describe_os_error(Path(exc.filename or path), exc)) from None
    except Exception as exc:
        if (found := _RUST_OS_ERROR.search(str(exc))) is None:
            raise
        code = int(found.group(1))
        raise UserError(describe_os_error(path, OSError(code, os.strerror(code)))) from None


def ensure_folder(path: Path) -> None:
    """Create a run folder (and parents); a file in the way or an unwritable place is a user error."""
    with disk_errors(path):
        if path.exists() and not path.is_dir():
            raise FileExistsError(errno.EEXIST, "File exists", str(path))
        path.mkdir(parents=True, exist_ok=True)


def create_exclusively(path: Path, mode: int = 0o666) -> int:
    """An fd of a new file at ``path`` (write-only); an existing file or a symlink there is an OSError."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NO_FOLLOW, mode)


def _new_temp(path: Path) -> Path:
    """A fresh, empty temp file beside ``path`` that nobody could have named in advance."""
    for _ in range(100):
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            os.close(create_exclusively(tmp))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temp file name", str(path))


def replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` then rename over ``path``: readers see the old file or the new one, never half of one."""
    with disk_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _new_temp(path)
        try:
            write(tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def write_text_atomically(path: Path, text: str) -> None:
    """A whole text file (UTF-8) written atomically: a report, a state file, a checksum."""
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
