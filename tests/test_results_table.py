"""The results table reads in full in an 80-column terminal and at 200 columns: every task name and header
whole, nothing cut to an ellipsis. Run through the real CLI on the quick start's shape (all six tasks, the
first sample of each, LongHealth's first question) against the loopback server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from clue_client.commands.common import NO_COUNTS, results_view
from clue_client.tasks import TASK_IDS
from conftest import SAMPLES, run_clue
from fake_server import FakeServer

HEADERS = ("task", "score %", "95% CI", "n", "errors", "rejected", "truncated", "empty", "thinking cut off", "partial")
ELLIPSES = ("…", "...")


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split("[│┃]", line)[1:-1]]


def header_cells(text: str) -> list[list[str]]:
    return [cells(line) for line in text.splitlines() if line.startswith("┃")]


def first_cells(text: str) -> set[str]:
    return {row[0] for row in map(cells, text.splitlines()) if row}


@pytest.fixture(scope="module")
def quick_start(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One run at 80 columns: a thinking model (vLLM's shape) whose MedNLI thoughts the 20-token budget cuts
    off, one answer cut at max_tokens: every counter of the table has something to show."""
    out = tmp_path_factory.mktemp("table") / "run"
    cut: list[str] = []

    def one_truncated(pid: str, attempt: int) -> str | None:
        if not cut:
            cut.append(pid)
        return "length" if pid == cut[0] else None

    with FakeServer(shape="vllm", fault_for=one_truncated) as server:
        proc = run_clue("run", "--endpoint", server.base_url, "--tasks", "all", "--data-dir", str(SAMPLES),
                        "--limit", "1", "--out", str(out), "--no-bertscore", "--no-umls", "--bootstrap", "50",
                        env={"COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def test_the_table_reads_in_full_at_80_columns(quick_start: tuple[Path, str]) -> None:
    _, text = quick_start
    assert not any(mark in text for mark in ELLIPSES), text
    assert max(map(len, text.splitlines())) <= 80, text
    assert set(TASK_IDS) | {"Level 1", "Level 2"} <= first_cells(text), text
    scores, counters = header_cells(text)
    assert scores == ["task", "score %", "95% CI", "n", "partial"]
    assert counters == ["task", "errors", "rejected", "truncated", "empty", "thinking cut off"]
    rows = {row[0]: row for row in map(cells, text.splitlines()) if len(row) == len(counters)}
    assert rows["mednli"][counters.index("thinking cut off")] == "1", "20 tokens end MedNLI's thoughts"
    assert sum(int(rows[t][counters.index("truncated")]) for t in TASK_IDS) == 1
    assert "bertscore_f1, umls_f1" in text, "partial names its metrics whole"


def test_the_same_run_at_200_columns_is_one_table(quick_start: tuple[Path, str]) -> None:
    out, _ = quick_start
    proc = run_clue("score", str(out), "--no-bertscore", "--no-umls", "--bootstrap", "50", env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    assert not any(mark in proc.stdout for mark in ELLIPSES), proc.stdout
    assert header_cells(proc.stdout) == [list(HEADERS)], "every counter beside the scores"
    assert set(TASK_IDS) | {"Level 1", "Level 2"} <= first_cells(proc.stdout)


def test_narrower_than_the_counters_table_they_become_notes() -> None:
    tasks = {t: {"n": 1, "score": 50.0, "ci95": [0.0, 100.0], "n_truncated": int(t == "meqsum"),
                 "partial": ["bertscore_f1"] if t == "meqsum" else []}
             for t in TASK_IDS}
    console = Console(width=56, record=True, highlight=False)
    parts = results_view({"model": "m", "endpoint": "e", "tasks": tasks}, console)
    assert parts[1:] == ["meqsum: truncated 1; partial: bertscore_f1"]
    clean = {t: {**task, "n_truncated": 0} for t, task in tasks.items()}
    assert results_view({"model": "m", "endpoint": "e", "tasks": clean}, Console(width=80))[1:] == [NO_COUNTS]
    for part in parts:
        console.print(part)
    assert not any(mark in console.export_text() for mark in ELLIPSES)
