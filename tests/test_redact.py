"""Redaction of an endpoint's secrets from server text (the end-to-end case is in test_run_faults.py)."""

from __future__ import annotations

import json

from clue_client.redact import MARK, Redactor


def test_longest_secret_first_and_json_spelling() -> None:
    key, header = "sk-abc/def\"ghi", "Bearer sk-abc/def\"ghi tenant-7"
    redact = Redactor.of([key, header, "", "ab"])
    body = json.dumps({"error": {"message": f"bad header {header}; key {key}; ab stays"}}).encode()
    scrubbed = redact.body(body)
    assert key.encode() not in scrubbed and json.dumps(key)[1:-1].encode() not in scrubbed
    message = json.loads(scrubbed)["error"]["message"]
    assert message == f"bad header {MARK}; key {MARK}; ab stays"
    assert redact.text(f"x {key} y") == f"x {MARK} y"


def test_no_secrets_changes_nothing() -> None:
    assert Redactor.of([]).body(b"Bearer sk-anything") == b"Bearer sk-anything"


KEY = "sk-live/" + "4b7d2a9e" * 3


def _escape_every(text: str, which: str) -> str:
    """``text`` inside a JSON string with each character of ``which`` written as ``\\uXXXX``."""
    return "".join(f"\\u{ord(c):04x}" if c in which else c for c in text).replace("/", "\\/")


def test_a_key_in_any_json_escaping_is_redacted() -> None:
    redact = Redactor.of([KEY])
    for spelled in (KEY.replace("/", "\\/"), _escape_every(KEY, "k"), _escape_every(KEY, KEY), _escape_every(KEY, "sl4")):
        body = ('{"error": {"message": "Incorrect API key provided: Bearer ' + spelled + '", "type": "auth"}}').encode()
        assert json.loads(body)["error"]["message"].endswith(KEY), "the test spells the real key"
        scrubbed = redact.body(body)
        assert KEY not in json.loads(scrubbed)["error"]["message"], spelled
        assert json.loads(scrubbed)["error"]["message"] == f"Incorrect API key provided: Bearer {MARK}"
        assert json.loads(scrubbed)["error"]["type"] == "auth"


def test_an_escaped_key_in_a_body_that_is_not_json_is_redacted() -> None:
    cut = ('{"error": "Bearer ' + _escape_every(KEY, "s-") + ' rejected').encode()  # truncated: no closing brace
    assert KEY.encode() not in Redactor.of([KEY]).body(cut)
    assert MARK.encode() in Redactor.of([KEY]).body(cut)


def test_escapes_without_a_key_leave_the_body_as_it_was() -> None:
    body = b'{"choices": [{"message": {"content": "caf\\u00e9 \\/ ok\\n"}}], "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert Redactor.of([KEY]).body(body) == body
