"""Shards back into one run: ``clue merge OUT SHARD_DIR...``.

``clue run --shard I/N`` sends the requests whose key falls in shard I (``shards.py``) and keeps every
prompt in ``samples/``; so the shards of one evaluation, run on different nodes each next to its own
server, hold disjoint parts of one store. Merging checks that they belong together (the first difference is
named in one line), copies their stores into one (``Store.absorb``), takes the shared prompts, and scores
once: the merged folder is the run an unsharded ``clue run`` of the same requests writes, and a normal run
folder (``clue run --out OUT`` resumes what the shards left unanswered).
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import polars as pl

from .errors import UserError
from .files import replace_atomically
from .run_lock import run_lock
from .runner import RunSummary, score_run_dir
from .store import STORED_KEY, Store, read_manifest, utc_now, write_manifest

__all__ = ["MergeReport", "merge_shards", "first_difference"]

#: What shards of one run share, in the order it is checked: (what the user reads, manifest keys).
SAME: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("protocol", ("protocol", "protocol_version")),
    ("model", ("model",)),
    ("model identity", ("embedded", "base_urls")),
    ("data", ("data_files",)),
    ("tasks", ("tasks",)),
    ("sampling", ("sampling", "max_tokens_field", "reasoning_budget", "reasoning_effort", "extra_body")),
    ("repeats", ("repeats",)),
    ("prompts", ("limit", "seed", "fold_system", "template_opens_think")),
)
#: Missing keys of older manifests, read as what they meant then.
_DEFAULTS = {"repeats": 1}


@dataclass(frozen=True)
class MergeReport:
    out: Path
    shards: int
    rows_copied: int
    summary: RunSummary


def _value(manifest: dict[str, Any], key: str) -> Any:
    value = manifest.get(key, _DEFAULTS.get(key))
    if key == "base_urls" and manifest.get("embedded"):
        return None  # an embedded server's URL changes every run; its identity is the model alone
    return value


def first_difference(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """``"model differs: 'x' vs 'y'"`` for the first of ``SAME`` the two manifests disagree on, else None."""
    for what, keys in SAME:
        for key in keys:
            va, vb = _value(a, key), _value(b, key)
            if va != vb:
                detail = key if key == what else f"{what} ({key})"
                return f"{detail} differs: {va!r} vs {vb!r}"
    return None


def _shard_of(path: Path, manifest: dict[str, Any]) -> tuple[int, int]:
    shard = manifest.get("shard")
    if not (isinstance(shard, list) and len(shard) == 2 and all(isinstance(v, int) for v in shard)):
        raise UserError(f"{path}: not a shard (its manifest has no shard; it was run without --shard I/N)")
    return shard[0], shard[1]


def _check_shards(paths: Sequence[Path], manifests: Sequence[dict[str, Any]]) -> int:
    """Raise one line naming the first shard that does not belong; the shard count N otherwise."""
    first, base = paths[0], manifests[0]
    shards = [_shard_of(p, m) for p, m in zip(paths, manifests)]
    for path, manifest in zip(paths[1:], manifests[1:]):
        if (difference := first_difference(base, manifest)) is not None:
            raise UserError(f"{path} does not belong with {first}: {difference}")
    count = shards[0][1]
    for path, (index, n) in zip(paths, shards):
        if n != count:
            raise UserError(f"{path} does not belong with {first}: shard {index}/{n}, not one of {count}")
    indices = [i for i, _ in shards]
    if dupes := sorted({i for i in indices if indices.count(i) > 1}):
        raise UserError(f"shard {dupes[0]}/{count} is given twice")
    if missing := sorted(set(range(1, count + 1)) - set(indices)):
        raise UserError(f"shard(s) {', '.join(f'{i}/{count}' for i in missing)} not given; a merge needs all {count}")
    return count


def _check_samples(paths: Sequence[Path], tasks: Sequence[str]) -> None:
    """Every shard built the same prompts (and keys): else their requests do not partition one run."""
    for task in tasks:
        frames = []
        for path in paths:
            file = path / "samples" / f"{task}.parquet"
            if not file.is_file():
                raise UserError(f"{file}: missing; was {path} written by `clue run --shard`?")
            frames.append(pl.read_parquet(file))
        for path, frame in zip(paths[1:], frames[1:]):
            if not frame.equals(frames[0]):
                raise UserError(f"{path} does not belong with {paths[0]}: its {task} prompts differ")


def merge_shards(out: Path, paths: Sequence[Path], scoring: Any = None) -> MergeReport:
    """Check, merge the stores of and score the shards ``paths`` into the run folder ``out``."""
    if not paths:
        raise UserError("clue merge: give the shards' run folders after OUT")
    resolved = [p.resolve() for p in paths]
    if out.resolve() in resolved:
        raise UserError(f"{out}: the merged run must be a new folder, not one of the shards")
    if len(set(resolved)) != len(resolved):
        raise UserError("a shard folder is given twice")
    with contextlib.ExitStack() as locks:
        for path in paths:  # a shard still running is refused, not half read
            locks.enter_context(run_lock(path, create=False))
        manifests = [read_manifest(p) for p in paths]
        _check_shards(paths, manifests)
        _check_samples(paths, manifests[0]["tasks"])
        locks.enter_context(run_lock(out))
        return _write_merged(out, paths, manifests, scoring)


def _write_merged(out: Path, paths: Sequence[Path], manifests: Sequence[dict[str, Any]], scoring: Any) -> MergeReport:
    expected = 0
    if (out / "manifest.json").is_file():  # merging again (more shards finished): only onto an earlier merge
        earlier = read_manifest(out)
        if "merged_from" not in earlier:
            raise UserError(f"{out}: already a run folder not made by clue merge; merge into a new folder")
        if (difference := first_difference(earlier, manifests[0])) is not None:
            raise UserError(f"{paths[0]} does not belong with the earlier merge in {out}: {difference}")
        expected = int(earlier.get(STORED_KEY) or 0)
    for task in manifests[0]["tasks"]:
        source = paths[0] / "samples" / f"{task}.parquet"
        replace_atomically(out / "samples" / source.name, lambda tmp: shutil.copyfile(source, tmp))
    copied = 0
    with Store(out / "store.sqlite", expected=expected) as merged:
        for path, manifest in zip(paths, manifests):
            with Store(path / "store.sqlite", expected=int(manifest.get(STORED_KEY) or 0)) as shard:
                copied += merged.absorb(shard)
        stored = merged.count()
    manifest = {
        **manifests[0],
        "shard": None,
        "merged_from": [{"run": str(p), "shard": m["shard"], STORED_KEY: m.get(STORED_KEY)}
                        for p, m in zip(paths, manifests)],
        "started_at": min(str(m.get("started_at") or "") for m in manifests) or None,
        "finished_at": utc_now(),
        "replicas": {},  # per shard in its own folder
        STORED_KEY: stored,
    }
    write_manifest(out, manifest)
    return MergeReport(out, len(paths), copied, score_run_dir(out, scoring))
