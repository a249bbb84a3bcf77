"""Scrub an endpoint's secrets out of whatever its server says, before it is printed or stored.

Some proxies echo the Authorization header in an error body ("Incorrect API key provided: Bearer sk-...");
that text would reach the console, ``store.sqlite`` and ``predictions/*.parquet``. The engine scrubs each
raw response body once, before it is parsed (so a cut at 300 characters cannot leave half a key behind).
JSON may spell any character as an escape (``\\/``, ``\\u0073``, mixed): a body holding a backslash is also
read as JSON and its decoded strings are scrubbed (or, when it is not JSON, its escapes are undone first).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

__all__ = ["MARK", "Redactor"]

MARK = "[redacted]"
MIN_LENGTH = 4  # shorter "secrets" would shred ordinary text and protect nothing
_JSON_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|([/\\\"]))")


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
        if not self.secrets or b"\\" not in raw:  # no escape: no other spelling of a secret
            return raw
        return self._escaped(raw)

    def _found(self, text: str) -> bool:
        return any(secret in text for secret in self.secrets)

    def _escaped(self, raw: bytes) -> bytes:
        """The body with secrets spelled through JSON escapes removed (unchanged when there are none)."""
        try:
            data = json.loads(raw)
            if not any(self._found(s) for s in _strings(data)):
                return raw
            return json.dumps(self._scrubbed(data)).encode("ascii")
        except (ValueError, RecursionError):  # not JSON (or absurdly deep): undo the escapes in the text
            text = raw.decode("utf-8", "replace")
            plain = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)) if m.group(1) else m.group(2), text)
            return self.text(plain).encode("utf-8", "replace") if self._found(plain) else raw

    def _scrubbed(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self._scrubbed(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k): self._scrubbed(v) for k, v in value.items()}
        return value


def _strings(value: Any) -> Iterable[str]:
    """Every string (keys included) in parsed JSON, without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
