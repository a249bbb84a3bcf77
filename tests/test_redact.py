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
