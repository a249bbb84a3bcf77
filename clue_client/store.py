"""The run's crash-safe state: one SQLite row per request key, plus the run manifest.

Each answer is committed the moment it arrives (WAL, synchronous=NORMAL: a commit is an append to the
log, no fsync), so a ``kill -9`` loses at most the requests in flight and a rerun sends only what is
missing. This module is the only place that writes results state, and the one that merges stores (the
shards of a run, ``clue merge``).

What a server or a batch file answers is stored as it can be: a lone surrogate becomes U+FFFD, a token count
that is not a whole number in SQLite's range is stored as unknown, a ``finish_reason`` that is not text is
stored as its JSON. An odd answer is the answer's fault and never makes the store look damaged. What is read
back is checked column by column, so a hand-edited row is one line naming its key and column.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import UserError
from .engine.request import Request, Result, canonical_json
from .files import ensure_folder, replace_atomically
from .untrusted_json import loads, without_surrogates

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

#: Files SQLite creates beside the database (write-ahead log, shared memory, rollback journal).
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")

#: Columns added after the first release: a store written before them gains them when opened.
ADDED_COLUMNS = {"reasoning": "TEXT", "reasoning_tokens": "INTEGER"}

COLUMNS = (
    "key", "text", "finish_reason", "prompt_tokens", "completion_tokens", "latency_s", "attempts", "error", "retryable",
    "replica", "reasoning", "reasoning_tokens",
)
_WRITTEN = ("key", "request", "text", "finish_reason", "prompt_tokens", "completion_tokens", "latency_s", "attempts",
            "error", "retryable", "replica", "created_at", "reasoning", "reasoning_tokens")
#: What each read column must hold (None aside): a hand edit that breaks it is one line, not a traceback later.
_TEXT_COLUMNS = frozenset({"key", "text", "finish_reason", "error", "replica", "reasoning"})
_COUNT_COLUMNS = frozenset({"prompt_tokens", "completion_tokens", "attempts", "reasoning_tokens", "retryable"})
_INT64 = (-(2**63), 2**63 - 1)


def _as_text(value: Any) -> str | None:
    """Text SQLite and parquet can hold: lone surrogates replaced, anything else spelled as JSON."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=True, default=repr)
    return without_surrogates(value)


def _as_count(value: Any) -> int | None:
    """A whole number SQLite stores as INTEGER, else None (a usage field of another type is unknown)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not _INT64[0] <= value <= _INT64[1]:
        return None
    return value


def _as_seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _store_problem(path: Path, exc: sqlite3.Error, intact: bool = False) -> str:
    """One line for an SQLite failure: what happened to the store and what the user can do (``intact``: SQLite's
    own check found the file sound, so a bad value is one row's, not damage)."""
    text = str(exc)
    if isinstance(exc, (sqlite3.InterfaceError, sqlite3.ProgrammingError, sqlite3.DataError)):  # a value, not the file
        return f"{path}: could not store a value ({text}); the store itself is intact, rerun the same command"
    if "decode to UTF-8" in text and intact:
        return f"{path}: a row holds text that is not UTF-8 ({text[:200]}); was it edited by hand? fix or delete that row"
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
        for name in (path.name, *(path.name + end for end in SQLITE_SIDE_FILES)):
            if (path.parent / name).is_symlink():  # SQLite would write through it, outside the run folder
                raise UserError(f"{path.parent / name}: is a symbolic link; clue writes no file through a link: remove it")
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
            raise UserError(_store_problem(self.path, exc, "decode to UTF-8" in str(exc) and self._sound())) from None

    def _sound(self) -> bool:
        """SQLite's own quick check finds the file sound (asked only after an error, to word it right)."""
        try:
            return self._db.execute("PRAGMA quick_check").fetchone() == ("ok",)
        except sqlite3.Error:
            return False

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
                _as_text(canonical_json(request.body(model))),
                _as_text(result.text),
                _as_text(result.finish_reason),
                _as_count(result.prompt_tokens),
                _as_count(result.completion_tokens),
                _as_seconds(result.latency_s),
                _as_count(result.attempts) or 1,
                _as_text(result.error),
                int(bool(result.retryable)),
                _as_text(result.replica),
                utc_now(),
                _as_text(result.reasoning),
                _as_count(result.reasoning_tokens),
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
            yield self._checked(dict(zip(COLUMNS, row)))

    def _checked(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row if every column holds its type; a hand edit that broke one is a one-line error."""
        for column, value in row.items():
            if value is None:
                continue
            if column in _TEXT_COLUMNS:
                fits = isinstance(value, str)
            elif column in _COUNT_COLUMNS:
                fits = isinstance(value, int)
            else:
                fits = isinstance(value, (int, float)) and math.isfinite(value)
            if not fits:
                raise UserError(f"{self.path}: the row of key {str(row['key'])[:40]!r}: column '{column}' holds "
                                f"{str(value)[:40]!r} ({type(value).__name__}); was it edited by hand? fix or "
                                "delete that row (a rerun sends a deleted row again)")
        return row

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


#: How pydantic names the member of a union a value failed, inside an error's location (not a manifest key).
_UNION_TAGS = frozenset({"str", "int", "float", "bool", "none"})


class _ManifestKeys(BaseModel):
    """The manifest keys commands read back, with their types (the file may hold more)."""

    model_config = ConfigDict(extra="allow", strict=True)
    model: str
    tasks: list[str]
    endpoint: str = ""
    base_urls: list[str] = []
    embedded: bool = False
    stored_responses: int = Field(default=0, ge=0)
    sampling: dict[str, float | int | None] | str = {}
    max_tokens_field: str | None = None
    reasoning_budget: int | None = Field(default=None, ge=0)
    reasoning_effort: str | None = None
    extra_body: dict[str, Any] = {}
    template_opens_think: bool = False
    batch_imports: list[dict[str, Any]] = []


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The run's manifest; a missing, unreadable or hand-broken one is one line naming the key."""
    path = run_dir / "manifest.json"
    try:
        manifest = loads(path.read_bytes())
    except FileNotFoundError:
        raise UserError(f"{path}: not found; is {run_dir} a clue run folder?") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a manifest") from None
    except ValueError as exc:
        raise UserError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    try:
        _ManifestKeys.model_validate(manifest)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"] if "[" not in str(p) and p not in _UNION_TAGS)
        raise UserError(f"{path}: key '{key}': {first['msg']}; was it edited by hand? restore it, or delete "
                        "manifest.json and rerun `clue run` to write it again") from None
    return manifest
