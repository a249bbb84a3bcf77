"""JSON from a file a user hands us (a dataset, a batch output, a hand-edited run folder), parsed so that
every problem is a ``ValueError`` whose text is one short reason.

Python's ``json`` raises ``RecursionError`` for deep nesting and a bare ``ValueError`` for an integer of
more than 4,300 digits, and it accepts what later fails far from the file: ``1e999`` (infinity), ``NaN``,
and a lone surrogate (``"\\ud800"``), which no UTF-8 writer (SQLite, parquet, a report) can encode.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

__all__ = ["loads", "lone_surrogate", "without_surrogates"]

_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_ESCAPED_SURROGATE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def lone_surrogate(value: str) -> str | None:
    """The first lone surrogate in ``value`` as its ``\\uXXXX`` escape, or None (valid Unicode)."""
    found = _SURROGATE.search(value)
    return None if found is None else f"\\u{ord(found.group()):04x}"


def without_surrogates(value: str) -> str:
    """``value`` with each lone surrogate replaced by U+FFFD, the replacement character."""
    return _SURROGATE.sub("\ufffd", value)


def _escapes_surrogates(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        return _ESCAPED_SURROGATE_BYTES.search(text) is not None
    return _ESCAPED_SURROGATE.search(text) is not None or _SURROGATE.search(text) is not None


def loads(text: str | bytes, *, strict_values: bool = True) -> Any:
    """``json.loads`` with one-line ``ValueError`` reasons for what cannot be parsed at all; with
    ``strict_values`` also for non-finite numbers and lone surrogates (a server's answer in a batch file
    keeps them: the store cleans them as it does an online answer's)."""
    hooks: dict[str, Any] = {"parse_float": _finite, "parse_constant": _constant} if strict_values else {}
    try:
        value = json.loads(text, **hooks)
    except json.JSONDecodeError as exc:
        where = f"column {exc.colno}" if exc.lineno == 1 else f"line {exc.lineno} column {exc.colno}"
        raise ValueError(f"{exc.msg} at {where}") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError as exc:  # Python's own limit on integer digits, or _finite / _constant
        reason = str(exc)
        if "integer string conversion" in reason:
            reason = f"an integer of more than {sys.get_int_max_str_digits()} digits"
        raise ValueError(reason) from None
    if strict_values and _escapes_surrogates(text):  # rare: only then pay for a second pass
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start:exc.end]
            raise ValueError(f"a lone surrogate (\\u{ord(bad[0]):04x}) is not valid Unicode text") from None
    return value
