"""The run's crash-safe state: one SQLite row per request key, plus the run manifest.

Each answer is committed the moment it arrives (WAL, synchronous=NORMAL: a commit is an append to the
log, no fsync), so a ``kill -9`` loses at most the requests in flight and a rerun sends only what is
missing. This module is the only place that writes results state, and the one that merges stores (the
shards of a run, ``clue merge``).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import UserError
from .engine.request import Request, Result, canonical_json
from .files import ensure_folder, replace_atomically

__all__ = ["Store", "write_manifest", "read_manifest", "utc_now", "STORED_KEY"]

#: Manifest key: how many rows the store held when the manifest was last written (a lost store shows).
STORED_KEY = "stored_responses"

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    text TEXT,
    finish_reason TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    latency_s REAL,
    attempts INTEGER NOT NULL,
    error TEXT,
    retryable INTEGER NOT NULL DEFAULT 0,
    replica TEXT,
    created_at TEXT NOT NULL,
    reasoning TEXT,
    reasoning_tokens INTEGER
);
"""

#: Columns added after the first release: a store written before them gains them when opened.
ADDED_COLUMNS = {"reasoning": "TEXT", "reasoning_tokens": "INTEGER"}

COLUMNS = (
    "key", "text", "finish_reason", "prompt_tokens", "completion_tokens", "latency_s", "attempts", "error", "retryable",
    "replica", "reasoning", "reasoning_tokens",
)
_WRITTEN = ("key", "request", "text", "finish_reason", "prompt_tokens", "completion_tokens", "latency_s", "attempts",
            "error", "retryable", "replica", "created_at", "reasoning", "reasoning_tokens")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _store_problem(path: Path, exc: sqlite3.Error) -> str:
    """One line for an SQLite failure: what happened to the store and what the user can do."""
    text = str(exc)
    if "full" in text:
        return f"{path}: cannot write: the disk is full; free some space and rerun the same command (finished answers are kept)"
    if "readonly" in text or "unable to open" in text:
        return f"{path}: cannot write: the folder is read-only or not accessible ({text}); pass a writable --out"
    if "disk I/O" in text:
        return f"{path}: cannot write: disk I/O error; check the disk, then rerun the same command (finished answers are kept)"
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return f"{path}: the store is locked by another process ({text})"
    return (f"{path}: the store is damaged ({text}); it was left as it is: keep a copy, try "
            f"`sqlite3 {path} .recover`, or move it aside to send the whole run again")


class Store:
    """Responses keyed by request key. Open with ``Store(path)``; close with ``close()`` or ``with``.

    ``expected``: how many rows the run's manifest says were stored; a store holding fewer (a 0-byte file,
    a deleted one) was lost, and resending the whole run silently would hide that.
    """

    def __init__(self, path: Path, expected: int = 0) -> None:
        ensure_folder(path.parent)
        self.path = path
        with self._guard():
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.executescript(SCHEMA)
            present = {row[1] for row in self._db.execute("PRAGMA table_info(responses)")}
            for name, kind in ADDED_COLUMNS.items():
                if name not in present:
                    self._db.execute(f"ALTER TABLE responses ADD COLUMN {name} {kind}")
        if (held := self.count()) < expected:
            self.close()
            raise UserError(
                f"{path}: the store holds {held} response(s) but manifest.json recorded {expected}: the store was "
                "lost or replaced; restore it from a copy, or delete manifest.json to send the whole run again"
            )

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise UserError(_store_problem(self.path, exc)) from None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def put(self, request: Request, result: Result, *, model: str = "") -> None:
        """Record one answer or error; an error never replaces an answer already stored.

        ``text`` is the raw content as the server sent it; reasoning is split off when scoring."""
        with self._guard():
            self._put(request, result, model)

    def _put(self, request: Request, result: Result, model: str) -> None:
        self._db.execute(
            f"""INSERT INTO responses ({', '.join(_WRITTEN)}) VALUES ({', '.join('?' * len(_WRITTEN))})
               ON CONFLICT(key) DO UPDATE SET text=excluded.text, finish_reason=excluded.finish_reason,
                 reasoning=excluded.reasoning, reasoning_tokens=excluded.reasoning_tokens,
                 prompt_tokens=excluded.prompt_tokens, completion_tokens=excluded.completion_tokens,
                 latency_s=excluded.latency_s, attempts=responses.attempts + excluded.attempts,
                 error=excluded.error, retryable=excluded.retryable, replica=excluded.replica,
                 created_at=excluded.created_at
               WHERE responses.error IS NOT NULL""",
            (
                result.key,
                canonical_json(request.body(model)),
                result.text,
                result.finish_reason,
                result.prompt_tokens,
                result.completion_tokens,
                result.latency_s,
                result.attempts,
                result.error,
                int(result.retryable),
                result.replica,
                utc_now(),
                result.reasoning,
                result.reasoning_tokens,
            ),
        )

    def done_keys(self, retry_errors: bool = False) -> set[str]:
        """Keys that need no new request: answered, or failed in a way a retry cannot fix (with
        ``retry_errors``, answered only: every stored error is sent again)."""
        where = "error IS NULL" if retry_errors else "error IS NULL OR retryable = 0"
        with self._guard():
            return {key for (key,) in self._db.execute(f"SELECT key FROM responses WHERE {where}")}

    def missing(self, requests: Iterable[Request], retry_errors: bool = False) -> list[Request]:
        done = self.done_keys(retry_errors)
        return [r for r in requests if r.key not in done]

    def rows(self, keys: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
        """Stored rows (all, or those whose key is given), as dicts of COLUMNS."""
        with self._guard():
            yield from self._rows(keys)

    def _rows(self, keys: Iterable[str] | None) -> Iterator[dict[str, Any]]:
        query = f"SELECT {', '.join(COLUMNS)} FROM responses"
        if keys is None:
            cursor = self._db.execute(query)
        else:
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (key TEXT PRIMARY KEY)")
            self._db.execute("DELETE FROM wanted")
            self._db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", ((k,) for k in keys))
            cursor = self._db.execute(query + " WHERE key IN (SELECT key FROM wanted)")
        for row in cursor:
            yield dict(zip(COLUMNS, row))

    def absorb(self, other: "Store") -> int:
        """Copy every row of another run's store into this one (``clue merge``: shards hold disjoint keys).

        An answer replaces an error, never the reverse, and a row already here is kept as it is, so merging
        the same store twice changes nothing. Returns the rows copied or replaced."""
        with self._guard(), other._guard():
            before = self._db.total_changes
            rows = other._db.execute(f"SELECT {', '.join(_WRITTEN)} FROM responses")
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    f"""INSERT INTO responses ({', '.join(_WRITTEN)}) VALUES ({', '.join('?' * len(_WRITTEN))})
                       ON CONFLICT(key) DO UPDATE SET {', '.join(f'{c}=excluded.{c}' for c in _WRITTEN[1:])}
                       WHERE responses.error IS NOT NULL AND excluded.error IS NULL""", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return self._db.total_changes - before

    def count(self) -> int:
        with self._guard():
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Atomic write (temp file + rename) so a crash never leaves half a manifest."""
    text = json.dumps(manifest, indent=2, sort_keys=False) + "\n"
    ensure_folder(run_dir)
    replace_atomically(run_dir / "manifest.json", lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: not found; is {run_dir} a clue run folder?") from None
    except ValueError as exc:
        raise UserError(f"{path}: invalid JSON ({exc})") from None
