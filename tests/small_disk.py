"""Real file-system faults for tests: a tiny tmpfs that fills up, remounted bigger or read-only.

Needs root (``mount``), which the tests have in CI and here; a failure to mount fails the test loudly
rather than skipping it. Every mount is unmounted when the block ends, even on failure.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Iterator


def _mount(*args: str) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"mount {' '.join(args)} failed (tests need root for tmpfs): {proc.stderr.strip()}")


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (e.g. ``"300k"``) mounted at ``path`` for the block."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def resize(path: Path, size: str) -> None:
    """Give a mounted tmpfs more (or less) room: the disk was cleaned up."""
    _mount("-o", f"remount,size={size}", str(path))


def read_only(path: Path, on: bool = True) -> None:
    """Remount a tmpfs read-only (root ignores permission bits, so chmod would prove nothing)."""
    _mount("-o", f"remount,{'ro' if on else 'rw'}", str(path))
