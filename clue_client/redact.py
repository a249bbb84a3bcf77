"""Scrub an endpoint's secrets out of whatever its server says, before it is printed or stored.

Some proxies echo the Authorization header in an error body ("Incorrect API key provided: Bearer sk-...");
that text would reach the console, ``store.sqlite`` and ``predictions/*.parquet``. The engine scrubs each
raw response body once, before it is parsed (so a cut at 300 characters cannot leave half a key behind),
in both its plain and its JSON-escaped spelling.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

__all__ = ["MARK", "Redactor"]

MARK = "[redacted]"
MIN_LENGTH = 4  # shorter "secrets" would shred ordinary text and protect nothing


@dataclass(frozen=True, slots=True)
class Redactor:
    """Replaces every given secret (longest first, so a key inside a longer header value goes with it)."""

    secrets: tuple[str, ...] = ()

    @classmethod
    def of(cls, secrets: Iterable[str]) -> "Redactor":
        kept = {s for s in secrets if s and len(s) >= MIN_LENGTH}
        spelled = kept | {json.dumps(s, ensure_ascii=True)[1:-1] for s in kept}  # as it appears inside JSON
        return cls(tuple(sorted(spelled, key=len, reverse=True)))

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, MARK)
        return value

    def body(self, raw: bytes) -> bytes:
        for secret in self.secrets:
            raw = raw.replace(secret.encode("utf-8"), MARK.encode())
        return raw
