"""Which requests belong to shard I of N: a pure function of the request key.

The key hashes everything that decides an answer (model identity, prompt, sampling, protocol, repeat), so
every node that builds the same prompts for the same model picks the same disjoint share without talking
to the others, and ``clue merge`` can put the shards back together into the unsharded run. Identical
prompts share a key and so always land in the same shard.
"""

from __future__ import annotations

import re

import polars as pl

from .errors import UserError

__all__ = ["Shard", "parse_shard", "shard_index", "in_shard", "shard_filter"]

Shard = tuple[int, int]  # (I, N), 1 <= I <= N

#: Hex digits of the key that decide its shard: 15 fit a signed 64-bit integer (polars' Int64).
_DIGITS = 15
_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_shard(text: str) -> Shard:
    """``"2/3"`` → (2, 3); anything else is a one-line user error."""
    shown = text if len(text) <= 24 else text[:20] + "..."  # never echo a 5,000-digit typo back
    match = _SPEC.fullmatch(text) if len(text) <= 24 else None
    if match is None:
        raise UserError(f"--shard: '{shown}' is not I/N (e.g. 2/3: the second of three shards)")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise UserError(f"--shard: '{shown}': I must be between 1 and N (N at least 1)")
    return index, count


def shard_index(key: str, count: int) -> int:
    """The shard (1..count) a request key belongs to."""
    return int(key[:_DIGITS], 16) % count + 1


def in_shard(key: str, shard: Shard | None) -> bool:
    return shard is None or shard_index(key, shard[1]) == shard[0]


def shard_filter(shard: Shard | None, column: str = "key") -> pl.Expr:
    """The same choice over a frame's key column (``shard_index`` in polars)."""
    if shard is None:
        return pl.lit(True)
    index, count = shard
    return pl.col(column).str.slice(0, _DIGITS).str.to_integer(base=16) % count + 1 == index
