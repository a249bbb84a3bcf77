"""Thinking models over real HTTP: answers, not thoughts, whatever shape the server gives them.

Each shape the loopback server plays is taken from a public source, cited in ``fake_shapes.py``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import polars as pl
import pytest

from conftest import SAMPLES, run_clue
from fake_server import FakeServer, prompt_id

LABELS = ("entailment", "contradiction", "neutral")
THINKING = ("vllm", "llamacpp", "openrouter", "inline", "inline-open")
TASKS = "mednli,meqsum"
SCORING = ("--no-bertscore", "--no-umls", "--bootstrap", "50")


def answer(body: dict) -> str:
    """A label for MedNLI, the question's first words for MeQSum: scores neither 0 nor 1."""
    last = body["messages"][-1]["content"]
    if "SENTENCE_1" in last:
        return LABELS[int(prompt_id(body["messages"]), 16) % 3].upper()
    return " ".join(last.split()[3:15])


def run(server: FakeServer, out: Path, *extra: str) -> dict:
    proc = run_clue("run", "--endpoint", server.base_url, "--tasks", TASKS, "--data-dir", str(SAMPLES),
                    "--out", str(out), *SCORING, *extra)
    assert proc.returncode == 0, proc.stderr
    return {"results": json.loads((out / "results.json").read_text()), "stdout": proc.stdout}


def scores(results: dict) -> dict:
    return {t: (r["score"], r["metrics"], r["n"]) for t, r in results["tasks"].items()}


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> dict:
    with FakeServer(responder=answer) as server:
        return run(server, tmp_path_factory.mktemp("plain") / "run", "--reasoning-budget", "64")


@pytest.mark.parametrize("shape", THINKING)
def test_every_shape_scores_as_the_plain_server(shape: str, plain: dict, tmp_path: Path) -> None:
    with FakeServer(responder=answer, shape=shape) as server:
        got = run(server, tmp_path / "run", "--reasoning-budget", "64")
        sent = {call["params"]["max_tokens"] for call in server.calls}
    assert sent == {20 + 64, 512 + 64}, "the budget is added to every task's limit"
    assert scores(got["results"]) == scores(plain["results"])
    assert 0 < got["results"]["tasks"]["mednli"]["score"] < 100
    for task in TASKS.split(","):
        assert got["results"]["tasks"][task]["n_reasoning_truncated"] == 0
        frame = pl.read_parquet(tmp_path / "run" / "predictions" / f"{task}.parquet")
        assert frame["reasoning"].str.contains("Weighing entailment, contradiction and neutral").all()
        assert not frame["prediction"].str.contains("Weighing|think>").any(), "thoughts never reach the answer"
        assert frame["raw_content"].null_count() == 0
    assert got["results"]["decoding"]["reasoning_budget"] == 64
    assert "reasoning budget +64 tokens" in got["stdout"]


@pytest.mark.parametrize("shape", ("vllm", "llamacpp", "openrouter", "inline"))
def test_thinking_cut_off_by_the_answer_budget_scores_empty_and_is_counted(shape: str, tmp_path: Path) -> None:
    with FakeServer(responder=answer, shape=shape) as server:
        got = run(server, tmp_path / "run")
        assert {c["params"]["max_tokens"] for c in server.calls} == {20, 512}, "no budget: CLUE's limits"
    mednli = got["results"]["tasks"]["mednli"]
    assert mednli["n_reasoning_truncated"] == mednli["n"] > 0, "20 tokens end every MedNLI thought"
    assert mednli["score"] == 0.0, "thoughts that name every label must not score"
    assert got["results"]["tasks"]["meqsum"]["n_reasoning_truncated"] == 0
    frame = pl.read_parquet(tmp_path / "run" / "predictions" / "mednli.parquet")
    assert (frame["prediction"] == "").all() and frame["reasoning_truncated"].all()
    assert frame["reasoning"].str.starts_with("Weighing entailment").all()
    assert "thinking cut off" in got["stdout"]
    report = run_clue("report", str(tmp_path / "run"))
    assert report.returncode == 0, report.stderr
    assert f"mednli had {mednli['n']} answer(s) whose thinking was cut off" in report.stdout


def test_reasoning_tokens_count_in_usage_and_cost(tmp_path: Path) -> None:
    with FakeServer(responder=answer, shape="openai-reasoning", model="o4-mini") as server:
        config = tmp_path / "endpoints.toml"
        config.write_text(f'[endpoints.o4]\nbase_url = "{server.base_url}"\nkind = "openai"\n'
                          "price_per_million_input = 1.0\nprice_per_million_output = 4.0\n")
        out = tmp_path / "run"
        proc = run_clue("run", "--endpoint", "o4", "--config", str(config), "--tasks", TASKS, "--data-dir",
                        str(SAMPLES), "--out", str(out), "--reasoning-budget", "64", *SCORING)
        assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(out / "store.sqlite") as db:
        rows = db.execute("SELECT completion_tokens, reasoning_tokens, prompt_tokens FROM responses").fetchall()
    assert rows and all(r[1] > 0 and r[0] > r[1] for r in rows), "reasoning tokens are stored, inside completion"
    prompt, completion = sum(r[2] for r in rows), sum(r[0] for r in rows)
    report = run_clue("report", str(out))
    assert report.returncode == 0, report.stderr
    assert f"{completion:,}" in report.stdout and f"{sum(r[1] for r in rows):,}" in report.stdout
    assert f"${(prompt * 1.0 + completion * 4.0) / 1e6:,.4f}" in report.stdout, "reasoning tokens are paid for"
    mednli = pl.read_parquet(out / "predictions" / "mednli.parquet")
    assert mednli["reasoning_tokens"].min() > 0 and mednli["reasoning"].null_count() == mednli.height


def test_clue_score_reapplies_the_rules_from_the_stored_raw_text(tmp_path: Path) -> None:
    with FakeServer(responder=answer, shape="inline") as server:
        got = run(server, tmp_path / "run", "--reasoning-budget", "64")
    out = tmp_path / "run"
    with sqlite3.connect(out / "store.sqlite") as db:
        raw = [t for (t,) in db.execute("SELECT text FROM responses")]
    assert all(t.startswith("<think>") for t in raw), "the store keeps the raw content"
    (out / "results.json").unlink()
    again = run_clue("score", str(out), *SCORING)  # the server is gone
    assert again.returncode == 0, again.stderr
    assert scores(json.loads((out / "results.json").read_text())) == scores(got["results"])


def test_a_store_from_before_reasoning_columns_opens_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with FakeServer(responder=answer) as server:
        run(server, out, "--limit", "2")
        with sqlite3.connect(out / "store.sqlite") as db:  # make it an old store: no reasoning columns
            db.execute("ALTER TABLE responses DROP COLUMN reasoning")
            db.execute("ALTER TABLE responses DROP COLUMN reasoning_tokens")
            old = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        sent = sum(server.requests.values())
        again = run(server, out)
        assert sum(server.requests.values()) - sent == again["results"]["tasks"]["mednli"]["n"] + \
            again["results"]["tasks"]["meqsum"]["n"] - old, "the old answers were kept, only the rest sent"
    with sqlite3.connect(out / "store.sqlite") as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(responses)")}
    assert {"reasoning", "reasoning_tokens"} <= columns


def test_compare_flags_a_budget_and_server_default_sampling(tmp_path: Path) -> None:
    with FakeServer(responder=answer, shape="llamacpp") as server:
        run(server, tmp_path / "a", "--reasoning-budget", "64")
    with FakeServer(responder=answer, shape="openai-reasoning", model="o3") as server:
        config = tmp_path / "endpoints.toml"
        config.write_text(f'[endpoints.o3]\nbase_url = "{server.base_url}"\nkind = "openai"\n')
        proc = run_clue("run", "--endpoint", "o3", "--config", str(config), "--tasks", TASKS, "--data-dir",
                        str(SAMPLES), "--out", str(tmp_path / "b"), "--reasoning-budget", "32", *SCORING)
        assert proc.returncode == 0, proc.stderr
    compared = run_clue("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--resamples", "50")
    assert compared.returncode == 0, compared.stderr
    text = " ".join((compared.stdout + compared.stderr).split())
    assert "sampling differs: mode = unset in A, 'server default' in B" in text
    assert "reasoning budget differs: 64 in A, 32 in B" in text
    html = run_clue("report", str(tmp_path / "a"), str(tmp_path / "b"), "--html", str(tmp_path / "r.html"))
    assert html.returncode == 0, html.stderr
    page = (tmp_path / "r.html").read_text()
    assert "server default" in page and "reasoning budget +32 tokens" in page


def test_a_template_that_opens_think_on_a_server_without_parser(tmp_path: Path) -> None:
    """Cut off before ``</think>``, such content carries no tag at all: only the endpoint key can tell."""
    with FakeServer(responder=answer, shape="inline-open") as server:
        config = tmp_path / "endpoints.toml"
        config.write_text(f'[endpoints.r1]\nbase_url = "{server.base_url}"\ntemplate_opens_think = true\n')
        out = tmp_path / "run"
        proc = run_clue("run", "--endpoint", "r1", "--config", str(config), "--tasks", TASKS, "--data-dir",
                        str(SAMPLES), "--out", str(out), *SCORING)
        assert proc.returncode == 0, proc.stderr
    mednli = json.loads((out / "results.json").read_text())["tasks"]["mednli"]
    assert mednli["n_reasoning_truncated"] == mednli["n"] > 0 and mednli["score"] == 0.0
    assert json.loads((out / "manifest.json").read_text())["template_opens_think"] is True
