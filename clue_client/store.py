"""The run's crash-safe state: one SQLite row per request key, plus the run manifest.

Each answer is committed the moment it arrives (WAL, synchronous=NORMAL: a commit is an append to the
log, no fsync), so a ``kill -9`` loses at most the requests in flight and a rerun sends only what is
missing. This module is the only place that writes results state.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import UserError
from .engine.request import Request, Result, canonical_json

__all__ = ["Store", "write_manifest", "read_manifest", "utc_now"]

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


class Store:
    """Responses keyed by request key. Open with ``Store(path)``; close with ``close()`` or ``with``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.executescript(SCHEMA)
            present = {row[1] for row in self._db.execute("PRAGMA table_info(responses)")}
            for name, kind in ADDED_COLUMNS.items():
                if name not in present:
                    self._db.execute(f"ALTER TABLE responses ADD COLUMN {name} {kind}")
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{path}: not a usable clue store ({exc})") from None
        self.path = path

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def put(self, request: Request, result: Result, *, model: str = "") -> None:
        """Record one answer or error; an error never replaces an answer already stored.

        ``text`` is the raw content as the server sent it; reasoning is split off when scoring."""
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

    def done_keys(self) -> set[str]:
        """Keys that need no new request: answered, or failed in a way a retry cannot fix."""
        rows = self._db.execute("SELECT key FROM responses WHERE error IS NULL OR retryable = 0")
        return {key for (key,) in rows}

    def missing(self, requests: Iterable[Request]) -> list[Request]:
        done = self.done_keys()
        return [r for r in requests if r.key not in done]

    def rows(self, keys: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
        """Stored rows (all, or those whose key is given), as dicts of COLUMNS."""
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

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Atomic write (temp file + rename) so a crash never leaves half a manifest."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(run_dir / "manifest.json")


def read_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: not found; is {run_dir} a clue run folder?") from None
    except ValueError as exc:
        raise UserError(f"{path}: invalid JSON ({exc})") from None
