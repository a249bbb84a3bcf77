"""`clue run --repeats K` against a sampling test server: every prompt K times, scores as the mean over repeats
with their sd, resume as K grows, and `clue compare` pairing samples by their mean."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from clue_client.engine.hosted_rules import RequestRules
from clue_client.engine.request import Request
from fake_server import FakeServer, prompt_id, sampled_choice
from test_run_cli import mednli_dir
from test_shards import clue

LABELS = ("ENTAILMENT", "CONTRADICTION", "NEUTRAL")
SEED = 7
FLAGS = ("--tasks", "mednli", "--no-bertscore", "--no-umls", "--concurrency", "1")  # one at a time: draw n = repeat n-1


def expected_repeat_scores(run: Path, repeats: int) -> list[float]:
    """Accuracy (%) of each repeat, recomputed from the server's seeded draws and the references alone."""
    samples = pl.read_parquet(run / "samples" / "mednli.parquet").filter(pl.col("repeat") == 0)
    pids = [prompt_id(list(m)) for m in samples["messages"].to_list()]
    return [100 * float(np.mean([sampled_choice(pid, r + 1, LABELS, SEED) == ref.upper()
                                 for pid, ref in zip(pids, samples["reference"].to_list())]))
            for r in range(repeats)]


def test_repeats_give_the_mean_and_sd_of_the_draws_and_grow_on_resume(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    data, out = mednli_dir(tmp_path, 33), tmp_path / "run"
    args = ("run", "--data-dir", str(data), "--out", str(out), "--temperature", "1.0", *FLAGS)
    with FakeServer(sample_from=LABELS, sample_seed=SEED) as server:
        assert clue(*args, "--endpoint", server.base_url) == 0  # one repeat: today's keys and layout
        assert "repeat" not in pl.read_parquet(out / "samples" / "mednli.parquet").columns
        keys_before = set(pl.read_parquet(out / "samples" / "mednli.parquet")["key"])
        capsys.readouterr()
        assert clue(*args, "--endpoint", server.base_url, "--repeats", "4") == 0
        table = " ".join(capsys.readouterr().out.split())  # the caption wraps
        assert len(server.requests) == 30 and set(server.requests.values()) == {4}, "repeat 0 was answered already"
    results = json.loads((out / "results.json").read_text())
    task = results["tasks"]["mednli"]
    expected = expected_repeat_scores(out, 4)
    assert task["repeat_scores"] == pytest.approx(expected)
    assert task["score"] == pytest.approx(np.mean(expected))
    assert task["sd"] == pytest.approx(np.std(expected, ddof=1)) and task["sd"] > 0
    assert task["repeats"] == 4 and results["repeats"] == 4 and task["n"] == 120
    lo, hi = task["ci95"]
    assert lo < task["score"] < hi
    samples = pl.read_parquet(out / "samples" / "mednli.parquet")
    assert samples.height == 120 and sorted(samples["repeat"].unique()) == [0, 1, 2, 3]
    assert set(samples.filter(pl.col("repeat") == 0)["key"]) == keys_before, "repeat 0 keeps the plain request key"
    manifest = json.loads((out / "manifest.json").read_text())
    rules, identity = RequestRules.from_manifest(manifest), f"fake-model@{manifest['base_urls'][0]}"
    plain = {Request.build(identity, list(m), rules.params(t), f"mednli/{sid}").key  # a key without repeat material
             for sid, m, t in samples.filter(pl.col("repeat") == 0).select("sample_id", "messages", "max_tokens").rows()}
    assert plain == keys_before, "run folders written before --repeats must resume"
    assert samples["key"].n_unique() == 120
    predictions = pl.read_parquet(out / "predictions" / "mednli.parquet")
    assert predictions.height == 120 and "repeat" in predictions.columns
    assert f"sd: mednli {task['sd']:.2f}" in table and "4 answers per prompt, sampled decoding" in table


def test_greedy_repeats_are_allowed_and_said_so_and_compare_pairs_by_the_mean(tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:
    data = mednli_dir(tmp_path, 23)
    with FakeServer(sample_from=LABELS, sample_seed=SEED) as server:
        base = ("run", "--endpoint", server.base_url, "--data-dir", str(data), *FLAGS)
        assert clue(*base, "--out", str(tmp_path / "greedy"), "--repeats", "3") == 0
        greedy = " ".join(capsys.readouterr().out.split())
        assert clue(*base, "--out", str(tmp_path / "sampled"), "--repeats", "3", "--temperature", "1.0") == 0
        assert set(server.requests.values()) == {6}, "three greedy and three sampled requests per prompt"
    assert "3 answers per prompt, greedy decoding (temperature 0)" in greedy
    task = json.loads((tmp_path / "greedy" / "results.json").read_text())["tasks"]["mednli"]
    assert task["sd"] == 0.0 and len(set(task["repeat_scores"])) == 1  # this server's greedy answer never changes
    assert clue("compare", str(tmp_path / "greedy"), str(tmp_path / "sampled"), "--json", str(tmp_path / "c.json")) == 0
    mednli = json.loads((tmp_path / "c.json").read_text())["tasks"]["mednli"]
    sampled_task = json.loads((tmp_path / "sampled" / "results.json").read_text())["tasks"]["mednli"]
    assert mednli["n_paired"] == 20, "one pair per sample, not per repeat"
    assert mednli["score_a"] == pytest.approx(task["score"]) and mednli["score_b"] == pytest.approx(sampled_task["score"])
    assert mednli["test"] == "permutation_paired"  # means over repeats are not right/wrong: no McNemar


def test_repeats_travel_through_batch_export_and_import(tmp_path: Path) -> None:
    """A batch engine answers each repeat line; import scores the mean over repeats like an online run."""
    from test_batch import success, write_output

    data, run = mednli_dir(tmp_path, 13), tmp_path / "batch"
    with FakeServer(sample_from=LABELS, sample_seed=SEED) as server:  # never called: --model, no longhealth
        assert clue("batch", "export", "--endpoint", server.base_url, "--tasks", "mednli", "--data-dir", str(data),
                    "--run", str(run), "--model", "fake-model", "--repeats", "3", "--temperature", "1.0") == 0
        assert not server.requests
    lines = [json.loads(line) for line in (run / "batch_requests.jsonl").read_text().splitlines()]
    assert len(lines) == 30 and len({line["custom_id"] for line in lines}) == 30
    assert clue("batch", "import", write_output(tmp_path / "out.jsonl", [success(r) for r in lines]).as_posix(),
                "--run", str(run), "--no-bertscore", "--no-umls") == 0
    task = json.loads((run / "results.json").read_text())["tasks"]["mednli"]
    assert task["repeats"] == 3 and task["n"] == 30 and len(task["repeat_scores"]) == 3
    assert task["sd"] == 0.0  # the test's batch engine answers a prompt alike every time


def test_clue_report_shows_the_sd_across_repeats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, out = mednli_dir(tmp_path, 13), tmp_path / "run"
    with FakeServer(sample_from=LABELS, sample_seed=SEED) as server:
        assert clue("run", "--endpoint", server.base_url, "--data-dir", str(data), "--out", str(out), "--repeats", "3",
                    "--temperature", "1.0", *FLAGS) == 0
    task = json.loads((out / "results.json").read_text())["tasks"]["mednli"]
    capsys.readouterr()
    assert clue("report", str(out), "--published", "none", "--html", str(tmp_path / "r.html")) == 0
    report = " ".join(capsys.readouterr().out.split())
    assert f"{task['score']:.2f}±{task['sd']:.1f}" in report
    assert "3 answers per prompt, sampled decoding: scores are means over repeats" in report
    assert f"{task['score']:.2f} ± {task['sd']:.2f}" in (tmp_path / "r.html").read_text()
