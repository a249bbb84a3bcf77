"""clue report: run loading, honest tables for missing metrics and errors, cost, and the HTML file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from clue_client.cli import main
from clue_client.errors import DataError, UserError
from clue_client.reports.html import HEAD_CHARS, TAIL_CHARS, render_html, shorten
from clue_client.reports.run_folder import load_run, run_usage
from runs_factory import synth_task, write_run

PRICES = {"input_per_million": 3.0, "output_per_million": 15.0}


@pytest.fixture()
def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    """A complete priced run, and one with errors, a missing metric and a missing task."""
    full = {t: synth_task(t, 40, seed=i) for i, t in enumerate(("mednli", "meqsum", "problem_summary"))}
    flawed = {"mednli": synth_task("mednli", 40, seed=9, error_rate=0.25),
              "meqsum": synth_task("meqsum", 40, seed=8)}
    return (write_run(tmp_path / "full", full, model="full-model", prices=PRICES),
            write_run(tmp_path / "flawed", flawed, model="flawed-model", partial={"meqsum": ("bertscore_f1",)}))


def test_load_run_rejects_incomplete_folders(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="run folder not found"):
        load_run(tmp_path / "nope")
    (tmp_path / "r").mkdir()
    with pytest.raises(UserError, match="missing manifest.json"):
        load_run(tmp_path / "r")
    (tmp_path / "r" / "manifest.json").write_text("{}")
    (tmp_path / "r" / "results.json").write_text('{"tasks": {"mednli": {"score": "high"}}}')
    with pytest.raises(DataError, match="tasks.mednli.score"):
        load_run(tmp_path / "r")


def test_usage_and_cost_come_from_prediction_tokens(two_runs: tuple[Path, Path]) -> None:
    run = load_run(two_runs[0])
    frames = pl.concat([f.select("prompt_tokens", "completion_tokens") for f in run.predictions.values()])
    usage = run_usage(run)
    assert usage.prompt_tokens == frames["prompt_tokens"].sum()
    assert usage.cost == pytest.approx(frames["prompt_tokens"].sum() * 3.0 / 1e6
                                       + frames["completion_tokens"].sum() * 15.0 / 1e6)
    assert run_usage(load_run(two_runs[1])).cost is None  # no prices: no invented cost


def test_terminal_report_shows_errors_and_missing_metrics(two_runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["report", *map(str, two_runs)]) == 0
    out = capsys.readouterr().out
    flawed = json.loads((two_runs[1] / "results.json").read_text())
    n_err = flawed["tasks"]["mednli"]["n_errors"]
    assert n_err > 0
    assert f"flawed-model: mednli had {n_err} errored sample(s) of 40" in out
    assert "flawed-model: meqsum is missing metric(s) bertscore_f1" in out
    assert "flawed-model: problem_summary was not run" in out
    assert f"{flawed['tasks']['meqsum']['score']:.2f}" in out
    assert "no prices" in out and "full-model" in out


def test_html_is_self_contained_and_escapes_model_output(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    # a hostile answer must neither close the data script nor inject markup
    hostile = synth_task("meqsum", 5, seed=1).with_columns(pl.lit("</script><img src=x onerror=alert(1)>").alias("prediction"))
    run = write_run(tmp_path / "hostile", {"meqsum": hostile}, model="<b>bold</b>")
    page = render_html([load_run(p) for p in (*two_runs, run)])
    assert page.count("<svg") >= 2
    assert "</script><img" not in page and "<b>bold</b>" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "the report must not load anything from the network"
    assert "<link" not in page
    data = json.loads(re.search(r'<script type="application/json" id="clue-data">(.*?)</script>', page, re.S).group(1))
    assert data["runs"] == ["full-model", "flawed-model", "<b>bold</b>"]
    mednli = data["tasks"]["mednli"]["samples"]
    assert len(mednli) == 40
    errors = [s["out"][1] for s in mednli if s["out"][1]["error"]]
    assert errors and all(o["prediction"] is None and o["score"] is None for o in errors)
    assert all(s["out"][2] is None for s in mednli)  # the hostile run has no mednli


def test_cli_writes_html(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "sub" / "report.html"
    assert main(["report", *map(str, two_runs), "--html", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_long_prompts_keep_head_and_tail() -> None:
    text = "HEAD" + "x" * 10_000 + "QUESTION?"
    short = shorten(text)
    assert short.startswith("HEAD") and short.endswith("QUESTION?") and len(short) < 2_000
    assert f"{10_013 - HEAD_CHARS - TAIL_CHARS:,} characters not shown" in short
    assert shorten("short") == "short"


def test_terminal_report_ranks_runs_among_published_models(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from clue_client.reports.leaderboard import CAVEAT, ordinal
    from clue_client.reports.published_table import published_table

    monkeypatch.setenv("COLUMNS", "250")
    level1 = ("mednli", "meqsum", "problem_summary")
    run = write_run(tmp_path / "clean", {t: synth_task(t, 40, seed=i, quality=0.4) for i, t in enumerate(level1)},
                    model="clean-model")
    flawed = write_run(tmp_path / "flawed", {t: synth_task(t, 40, seed=i) for i, t in enumerate(level1)},
                       model="flawed-model", partial={"meqsum": ("bertscore_f1",)})
    assert main(["report", str(run), str(flawed)]) == 0
    out = capsys.readouterr().out
    score = json.loads((run / "results.json").read_text())["level1"]
    rank = 1 + sum(m.results.level1 > score for m in published_table().models)
    assert f"clean-model: {ordinal(rank)} of 26 by Level 1" in out
    assert "flawed-model: not ranked: Level 1 is partial: meqsum lacks bertscore_f1" in out
    assert "Meta-Llama-3-70B-Instruct" in out and "published" in out
    assert CAVEAT[:60] in " ".join(out.split()) and "arXiv 2404.04067" in out

    assert main(["report", str(run), "--published", "none"]) == 0
    assert "Meta-Llama-3-70B-Instruct" not in capsys.readouterr().out
    assert main(["report", str(run), "--published", "Mistral-7B-v0.1,llama2-7b"]) == 0
    out = capsys.readouterr().out
    assert "Meta-Llama-3-70B-Instruct" not in out and "Mistral-7B-v0.1" in out
    assert f"clean-model: {ordinal(1 + (score < 33.99) + (score < 20.11))} of 3 by Level 1" in out
    assert main(["report", str(run), "--published", "gpt-9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--published: unknown model(s) gpt-9" in err


def test_ordinals() -> None:
    from clue_client.reports.leaderboard import ordinal

    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st", "111th"]


def test_a_2024_run_is_ranked_without_the_caveat_and_a_2025_run_with_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from clue_client.reports.leaderboard import CAVEAT
    from clue_client.reports.published_table import select_published

    monkeypatch.setenv("COLUMNS", "250")
    level1 = ("mednli", "meqsum", "problem_summary")
    frames = {t: synth_task(t, 40, seed=i, quality=0.4) for i, t in enumerate(level1)}
    old = write_run(tmp_path / "old", frames, model="old-model", protocol="2024", protocol_version="clue-ff75877/1")
    new = write_run(tmp_path / "new", frames, model="new-model")  # no protocol in the manifest: 2025
    limited = write_run(tmp_path / "limited", frames, model="limited-model", protocol="2024", limit=40)

    def report(*runs: Path) -> str:
        assert main(["report", *map(str, runs)]) == 0
        return " ".join(capsys.readouterr().out.split())

    out = report(old)
    assert "old-model: " in out and " of 26 by Level 1" in out
    assert "Caveat" not in out and CAVEAT[:40] not in out and "arXiv 2404.04067" in out
    assert "protocol │ CLUE 2024" in out and "not comparable" not in out
    out = report(new)
    assert CAVEAT[:60] in out and "protocol │ CLUE 2025" in out
    out = report(old, new)
    assert "Caveat for new-model (not --protocol 2024): the published numbers" in out
    assert "protocol │ CLUE 2024 │ CLUE 2025" in out
    out = report(limited)
    assert "limited-model: scored on the first 40 samples of each task" in out and "Caveat" not in out

    published = select_published("all")
    page = render_html([load_run(old)], published)
    assert 'class="caveat"' not in page and "run (CLUE 2024)" in page and "published (CLUE 2024)" in page
    assert "CLUE 2024 (clue-ff75877/1)" in page  # the runs table
    page = render_html([load_run(old), load_run(new)], published)
    assert page.count('class="caveat"') == 2 and "Caveat for new-model" in page and "run (CLUE 2025)" in page


def test_a_report_without_credentialed_samples_keeps_their_scores(two_runs: tuple[Path, Path]) -> None:
    """The copy that leaves the run folder (an MLflow artifact): no prompt, answer or reference of MedNLI or
    Problem Summary (PhysioNet data), MeQSum's samples and every task's scores as before."""
    runs = [load_run(p) for p in two_runs]
    full, public = render_html(runs), render_html(runs, credentialed_samples=False)
    for task, kept in (("mednli", False), ("problem_summary", False), ("meqsum", True)):
        assert f"Question 7 of {task}:" in full
        assert (f"Question 7 of {task}:" in public) is kept, task
    assert "Samples of credentialed tasks (mednli, problem_summary) are not in this copy" in public
    score = f"{runs[0].results.tasks['mednli'].score:.1f}"
    assert score in full and score in public
