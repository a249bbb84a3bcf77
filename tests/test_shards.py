"""`clue run --shard I/N` and `clue merge`: shards partition the requests by key, and merged they are the
unsharded run; shards that do not belong together are refused in one line."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import polars as pl
import pytest

from clue_client.cli import main
from clue_client.shards import shard_filter, shard_index
from conftest import SAMPLES
from fake_server import FakeServer
from test_run_cli import label_responder

FLAGS = ("--tasks", "mednli,meqsum", "--data-dir", str(SAMPLES), "--no-bertscore", "--no-umls", "--repeats", "2")


def clue(*args: str) -> int:
    """The `clue` command in this process (as the entry point runs it: no subprocess start-up per call)."""
    try:
        return main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)


def one_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    code = clue(*args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_every_key_falls_in_exactly_one_shard_alike_in_python_and_polars() -> None:
    rng = random.Random(5)
    keys = [f"{rng.getrandbits(128):032x}" for _ in range(3000)]
    frame = pl.DataFrame({"key": keys})
    for count in (1, 2, 3, 7):
        picked = [set(frame.filter(shard_filter((i, count)))["key"]) for i in range(1, count + 1)]
        assert sum(len(p) for p in picked) == len(keys) and set().union(*picked) == set(keys)
        assert all(shard_index(k, count) == i for i, p in enumerate(picked, 1) for k in p)
        assert min(len(p) for p in picked) > 0.8 * len(keys) / count  # about even


def test_three_shards_merged_equal_the_unsharded_run(tmp_path: Path) -> None:
    with FakeServer(responder=label_responder) as server:
        for i in (1, 2, 3):  # a shard scores its own share: nothing missing, exit 0
            assert clue("run", "--endpoint", server.base_url, *FLAGS, "--shard", f"{i}/3", "--out", str(tmp_path / f"s{i}")) == 0
            assert json.loads((tmp_path / f"s{i}" / "manifest.json").read_text())["shard"] == [i, 3]
        per_prompt = dict(server.requests)
        assert set(per_prompt.values()) == {2}, "each prompt's two repeats were sent once, by one shard"
        sizes = [json.loads((tmp_path / f"s{i}" / "manifest.json").read_text())["stored_responses"] for i in (1, 2, 3)]
        assert all(sizes) and sum(sizes) == 2 * len(per_prompt)
        shards = [str(tmp_path / f"s{i}") for i in (1, 2, 3)]
        assert clue("merge", str(tmp_path / "merged"), *shards, "--no-bertscore", "--no-umls") == 0
        assert dict(server.requests) == per_prompt, "merging sends nothing"
        assert clue("run", "--endpoint", server.base_url, *FLAGS, "--out", str(tmp_path / "whole")) == 0
    read = lambda name: json.loads((tmp_path / name / "results.json").read_text())  # noqa: E731
    assert read("merged") == read("whole")  # results.json holds no timestamps: equal as a whole
    for task in ("mednli", "meqsum"):
        columns = ["sample_id", "repeat", "key", "prediction"]
        frame = lambda name: pl.read_parquet(tmp_path / name / "predictions" / f"{task}.parquet")  # noqa: E731
        assert frame("merged").select(columns).equals(frame("whole").select(columns))
    manifest = json.loads((tmp_path / "merged" / "manifest.json").read_text())
    assert manifest["shard"] is None and [m["shard"] for m in manifest["merged_from"]] == [[1, 3], [2, 3], [3, 3]]
    assert clue("merge", str(tmp_path / "merged"), *shards, "--no-bertscore", "--no-umls") == 0
    assert read("merged") == read("whole"), "merging again changes nothing"


def test_shards_that_do_not_belong_together_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shards = [str(tmp_path / f"s{i}") for i in (1, 2, 3)]
    with FakeServer(responder=label_responder) as server:
        for shard, model in zip(shards, ("model-a", "model-b", "model-a")):
            assert clue("run", *FLAGS, "--endpoint", server.base_url, "--no-model-check", "--model", model,
                        "--shard", f"{shard[-1]}/3", "--out", shard) == 0
    line = one_error(capsys, "merge", str(tmp_path / "m"), *shards)
    assert line == f"clue: error: {shards[1]} does not belong with {shards[0]}: model differs: 'model-a' vs 'model-b'"
    assert "2/3 not given" in one_error(capsys, "merge", str(tmp_path / "m"), shards[0], shards[2])
    assert "must be a new folder" in one_error(capsys, "merge", shards[0], shards[0], shards[2])
    plain = tmp_path / "plain"  # a run folder made without --shard
    shutil.copytree(shards[0], plain)
    manifest = json.loads((plain / "manifest.json").read_text())
    (plain / "manifest.json").write_text(json.dumps({**manifest, "shard": None}))
    assert one_error(capsys, "merge", str(tmp_path / "m"), str(plain), *shards[1:]).endswith(
        f"{plain}: not a shard (its manifest has no shard; it was run without --shard I/N)")
    assert not (tmp_path / "m").exists()
