"""The Python API end to end against the loopback server: ``evaluate`` runs ``clue run`` in-process, silently,
returns typed frames equal to the run folder's files, works inside a running event loop, takes every
``clue run`` flag as a keyword and raises the CLI's one-line errors; ``load_run`` reads the same folder."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import polars as pl
import pytest

import clue_client
from clue_client import Evaluation, GateFailed, UserError, evaluate, load_run
from clue_client.api import run_options
from clue_client.cli import build_parser
from conftest import SAMPLES
from fake_server import FakeServer
from test_reasoning import answer

TASKS = ["mednli", "meqsum"]
QUICK = {"no_bertscore": True, "no_umls": True, "bootstrap": 20}


def run_flags() -> set[str]:
    parser = build_parser("run")
    run = next(a for a in parser._actions if a.dest == "command").choices["run"]
    return {a.dest for a in run._actions if a.option_strings and a.dest != "help"}


@pytest.fixture(scope="module")
def server() -> FakeServer:
    with FakeServer(responder=answer) as fake:
        yield fake


def test_evaluate_returns_the_run_as_frames_and_prints_nothing(server: FakeServer, tmp_path: Path,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    result = evaluate(server.base_url, tasks=TASKS, data_dir=SAMPLES, out=tmp_path / "run", limit=3, **QUICK)
    assert capfd.readouterr() == ("", ""), "quiet by default: no table, no progress, no notes"
    assert isinstance(result, Evaluation) and result.complete and result.path == tmp_path / "run"
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert result.scores["task"].to_list() == TASKS
    for row in result.scores.iter_rows(named=True):
        task = results["tasks"][row["task"]]
        assert (row["score"], [row["ci95_low"], row["ci95_high"]], row["n"]) == (task["score"], task["ci95"], 3)
        assert row["partial"] == task["partial"] and row["n_truncated"] == task["n_truncated"]
    assert result.levels.filter(pl.col("level") == "level1")["score"].item() == results["level1"]
    for task in TASKS:
        frame = result.predictions[task]
        assert frame.height == 3 and frame["prediction"].null_count() == 0
        assert frame.equals(pl.read_parquet(tmp_path / "run" / "predictions" / f"{task}.parquet"))
    assert result.model == "fake-model" and result.run.manifest.tasks == tuple(TASKS)
    again = load_run(tmp_path / "run")
    assert again.scores.equals(result.scores) and again.levels.equals(result.levels)
    assert clue_client.load_run is load_run


def test_evaluate_works_inside_a_running_event_loop(server: FakeServer, tmp_path: Path) -> None:
    """As in a notebook cell: the caller's loop is running, so the run goes to a worker thread."""
    async def cell() -> tuple[Evaluation, int]:
        loop_thread = threading.get_ident()
        result = evaluate(server.base_url, tasks="meqsum", data_dir=SAMPLES, out=tmp_path / "run", **QUICK)
        return result, loop_thread

    before = sum(server.requests.values())
    result, loop_thread = asyncio.run(cell())
    assert loop_thread == threading.main_thread().ident
    assert result.complete and result.scores["n"].item() == 3 and sum(server.requests.values()) - before == 3


def test_every_clue_run_flag_is_a_keyword_and_works_as_one(server: FakeServer, tmp_path: Path,
                                                           capfd: pytest.CaptureFixture[str]) -> None:
    assert set(run_options()) == run_flags() - {"endpoint", "tasks", "data_dir", "out", "quiet", "dry_run"}
    out = tmp_path / "run"
    with pytest.raises(GateFailed, match="--fail-under: meqsum scored"):
        evaluate(server.base_url, tasks="meqsum", data_dir=SAMPLES, out=out, fail_under={"meqsum": 101},
                 temperature=0.5, reasoning_budget=8, **QUICK)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sampling"]["temperature"] == 0.5 and manifest["reasoning_budget"] == 8
    assert server.calls[-1]["params"]["max_tokens"] == 512 + 8
    evaluate(server.base_url, tasks="meqsum", data_dir=SAMPLES, out=out, temperature=0.5, reasoning_budget=8,
             progress=True, **QUICK)
    err = capfd.readouterr().err
    assert f"run folder: {out}" in err, "progress=True: notes (and progress) on stderr, as the CLI prints them"


@pytest.mark.parametrize(("options", "expected"), [
    ({"limt": 3}, "evaluate(): unknown option limt; valid: endpoint, tasks, data_dir, out, progress, api_key_env,"),
    ({"limit": "ten"}, "clue run: argument --limit: 'ten' is not a whole number"),
    ({"temperature": -1}, "argument --temperature: -1 is out of range: must be at least 0"),
    ({"no_umls": "yes"}, "evaluate(): no_umls takes True or False, not 'yes'"),
    ({"dry_run": True}, "evaluate(): dry_run: sends nothing"),
    ({"tasks": "mednli,nosuchtask"}, "nosuchtask"),
    ({"endpoint": "a,b", "out": None}, "evaluate takes one endpoint, not 2 (a, b)"),
])
def test_mistakes_are_the_one_line_user_errors_of_the_cli(server: FakeServer, tmp_path: Path, options: dict,
                                                          expected: str) -> None:
    with pytest.raises(UserError) as caught:
        evaluate(**{"endpoint": server.base_url, "data_dir": SAMPLES, "out": tmp_path / "run", **options})
    assert expected in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "run").exists(), "refused before anything was written"


def test_an_unreachable_server_and_a_missing_folder_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot reach http://127.0.0.1:9/v1"):
        evaluate("http://127.0.0.1:9/v1", tasks="meqsum", data_dir=SAMPLES, out=tmp_path / "run")
    with pytest.raises(UserError, match="run folder not found"):
        load_run(tmp_path / "nothing")
