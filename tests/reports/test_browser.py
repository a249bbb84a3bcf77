"""The HTML report in a real browser: Debian's headless Chromium renders it; figures, tables and the
script-built sample browser must be there. A full-page screenshot is kept in test-artifacts/report.png for people to look at.

Chromium comes from Debian (``apt-get install -y chromium``); CI installs it, so this test never skips.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

from clue_client.reports.html import render_html
from clue_client.reports.leaderboard import ordinal, rank_statement
from clue_client.reports.published_table import published_table
from clue_client.reports.run_folder import load_run
from clue_client.scoring import TASKS as SCORING_TASKS
from runs_factory import improve, synth_task, write_run

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TASKS = ("mednli", "meqsum", "problem_summary", "longhealth", "medisumqa", "medisumcode")


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is required for this test: apt-get install -y chromium"
    return path


def _browse(page: Path, tmp_path: Path, *extra: str, fragment: str = "") -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile{len(list(tmp_path.glob('profile*')))}"
    args = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
            "--hide-scrollbars", *extra, page.as_uri() + fragment]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    base = {t: synth_task(t, 60, seed=i, quality=0.45, error_rate=0.05, model="small") for i, t in enumerate(TASKS)}
    tuned = {t: improve(synth_task(t, 60, seed=i, quality=0.45, model="large"), 0.3, seed=i) for i, t in enumerate(TASKS)}
    runs = [write_run(root / "small", base, model="small-model", prices={"input_per_million": 0.5, "output_per_million": 1.5}),
            write_run(root / "large", tuned, model="large-model", partial={"problem_summary": ("umls_f1",)}),
            write_run(root / "clean", {t: synth_task(t, 60, seed=20 + i, quality=0.3, model="clean")
                                       for i, t in enumerate(TASKS)}, model="clean-model")]
    page = root / "report.html"
    page.write_text(render_html([load_run(r) for r in runs], published_table().models), encoding="utf-8")
    return page


def _sample_rows(dom: str) -> list[str]:
    body = re.search(r'<table id="samples">.*?<tbody>(.*?)</tbody>', dom, re.S)
    assert body, "sample table missing from the rendered page"
    return re.findall(r"<tr[^>]*>.*?</tr>", body.group(1), re.S)


def test_report_renders_in_chromium_with_figures_and_tables(report: Path, tmp_path: Path) -> None:
    dom = _browse(report, tmp_path, "--dump-dom").stdout
    assert dom.count("<svg") >= 2, "the Level 1 vs Level 2 figure and the task bars must be inline SVG"
    assert 'id="fig-levels"' in dom and "Level 1 score (%)" in dom
    leaderboard = re.search(r'<table class="leaderboard">(.*?)</table>', dom, re.S).group(1)
    assert leaderboard.index("large-model") < leaderboard.index("small-model")  # the better first
    # published rows are in the table and marked; the clean run is ranked among them, the large one (Problem
    # Summary lacks UMLS) and the small one (errored samples left out) are listed, unranked, with the reason
    published = published_table().models
    assert leaderboard.count('<tr class="published">') == 25 and leaderboard.count('<tr class="run">') == 3
    clean = load_run(report.parent / "clean").results
    statement = rank_statement(clean, published)
    rank = 1 + sum(p.results.level1 > clean.level1 for p in published)
    assert statement.startswith(f"{ordinal(rank)} of 26 by Level 1")
    placement = re.search(r'<ul id="placement">(.*?)</ul>', dom, re.S).group(1)
    assert f"<b>clean-model</b>: {statement}" in placement
    assert "<b>large-model</b>: not ranked: Level 1 is partial: problem_summary lacks umls_f1" in placement
    assert "<b>small-model</b>: not ranked: Level 1 is partial: mednli left out" in placement
    first_row = re.search(r"<tr[^>]*>(.*?)</tr>", leaderboard.split("<tbody>")[1], re.S).group(1)
    ranked_rows = re.findall(r"<tr[^>]*><td>(\d+)</td><td>([^<]*)</td>", leaderboard)
    assert (str(rank), "clean-model") in ranked_rows and len(ranked_rows) == 26 and "–" not in first_row
    assert 'href="docs/protocol.md"' in dom and "CLUE_PROTOCOL_2024.md" in dom and "arXiv 2404.04067" in dom
    # every published model with both levels is a grey point of the Level 1 vs Level 2 figure
    both = [p for p in published if p.results.level2 is not None]
    scatter = re.search(r'<figure id="fig-levels">(.*?)</figure>', dom, re.S).group(1)
    points = re.findall(r'<g id="published-(\d+)">(.*?)</g>', scatter, re.S)
    assert len(points) == len(both) == 18 and all("<path" in body or "<use" in body for _, body in points)
    assert all(f"<!-- {p.name} -->" in scatter for p in both)  # each point labelled
    assert all(re.search(f'<g id="run-{i}">', scatter) for i in range(3))
    tasks_fig = re.search(r'<figure id="fig-tasks">(.*?)</figure>', dom, re.S).group(1)
    assert all(f'id="published-range-{t}"' in tasks_fig for t in TASKS)
    assert "umls_f1" in dom and "no prices" in dom
    rows = _sample_rows(dom)  # built by the page's own script, so this proves the script ran
    assert len(rows) == 25 and "mednli-0000" in rows[0]
    assert "Question 0 of mednli: &lt;b&gt;is this &amp; that&lt;/b&gt;?" in rows[0]  # prompt as text, escaped once
    assert "You are a clinician." in rows[0]
    assert "of 60 samples; page 1 of 3" in dom

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    _browse(report, tmp_path, "--window-size=1280,4400", f"--screenshot={shot}")
    assert shot.stat().st_size > 20_000  # a real picture, not a blank page


def test_sample_browser_filters_wrong_answers(report: Path, tmp_path: Path) -> None:
    frame = pl.read_parquet(report.parent / "small" / "predictions" / "meqsum.parquet")
    metrics = list(SCORING_TASKS["meqsum"].score)
    wrong = frame.filter(pl.col("prediction").is_null() | (pl.mean_horizontal(metrics) < 0.5))
    dom = _browse(report, tmp_path, "--dump-dom", fragment="#task=meqsum&run=0&wrong=1").stdout
    assert f"{wrong.height} of 60 samples" in dom
    rows = _sample_rows(dom)
    assert 0 < len(rows) <= 25 and all('class="wrong"' in row for row in rows)
    assert all(any(sid in row for sid in wrong["sample_id"]) for row in rows)

    dom = _browse(report, tmp_path, "--dump-dom", fragment="#task=meqsum&run=0&error=1").stdout
    errored = frame.filter(pl.col("error").is_not_null())
    assert f"{errored.height} of 60 samples" in dom and "context length exceeded" in dom

