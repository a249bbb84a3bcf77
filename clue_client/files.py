"""Writing into a run folder without leaving debris: atomic replaces and one-line file-system errors.

A full disk, a read-only folder or an ``--out`` that is a file are the user's to fix, so each becomes a
``UserError`` naming the path; a temp file that could not be completed is removed, and the file it was
meant to replace stays as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from pathlib import Path
from typing import Callable, Iterator

from .errors import UserError

__all__ = ["describe_os_error", "disk_errors", "ensure_folder", "replace_atomically"]

_HINTS = {
    errno.ENOSPC: "the disk is full; free some space and rerun the same command (finished answers are kept)",
    errno.EDQUOT: "the disk quota is exhausted; free some space and rerun the same command (finished answers are kept)",
    errno.EROFS: "the file system is read-only; pass a writable --out",
    errno.EACCES: "permission denied; pass a writable --out",
    errno.EPERM: "permission denied; pass a writable --out",
    errno.ENOTDIR: "a part of this path is a file, not a folder; pass a folder as --out",
    errno.EEXIST: "exists and is not a folder; pass a folder as --out",
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


def replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` then rename over ``path``: readers see the old file or the new one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    with disk_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write(tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
