"""Run folders a careless or hostile neighbour can touch: planted links, a rerun under another identity, a
SIGTERM, a run that stopped early, reports written atomically. Real ``clue`` subprocesses against the loopback
test server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from clue_client import files
from conftest import SAMPLES, run_clue
from fake_server import FakeServer

SCORING = ("--no-bertscore", "--no-umls", "--bootstrap", "50")


def run_meqsum(url: str, out: Path, *extra: str) -> "subprocess.CompletedProcess[str]":  # noqa: F821
    return run_clue("run", "--endpoint", url, "--tasks", "meqsum", "--data-dir", str(SAMPLES), "--out", str(out),
                    *SCORING, *extra)


def one_line(proc) -> str:  # type: ignore[no-untyped-def]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
    return lines[0]


# ---- planted links -----------------------------------------------------------------------------------
@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the run folder that a planted link points at; it must never change."""
    target = tmp_path / "precious.txt"
    target.write_text("precious\n")
    return target


@pytest.mark.parametrize("name", [".lock", "store.sqlite-wal", "store.sqlite"])
def test_a_link_planted_as_the_lock_or_the_store_is_refused_in_one_line(tmp_path: Path, outside: Path,
                                                                       server: FakeServer, name: str) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / name).symlink_to(outside)
    proc = run_meqsum(server.base_url, out)
    assert proc.returncode == 2 and "symbolic link" in one_line(proc) and name in one_line(proc)
    assert outside.read_text() == "precious\n" and (out / name).is_symlink()


def test_links_planted_where_temp_files_used_to_go_are_never_followed(tmp_path: Path, outside: Path,
                                                                      server: FakeServer) -> None:
    out = tmp_path / "run"
    planted = [out / "manifest.json.tmp", out / "results.json.tmp", out / "samples" / "meqsum.parquet.tmp",
               out / "predictions" / "meqsum.parquet.tmp"]
    for link in planted:
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(outside)
    proc = run_meqsum(server.base_url, out)
    assert proc.returncode == 0, proc.stderr
    assert outside.read_text() == "precious\n" and all(link.is_symlink() for link in planted)
    assert json.loads((out / "results.json").read_text())["tasks"]["meqsum"]["n"] == 3


def test_a_temp_file_is_never_created_through_a_link_even_at_its_own_name(tmp_path: Path, outside: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    names = iter(["guessed", "fresh"])
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(names))
    (tmp_path / "results.json.guessed.tmp").symlink_to(outside)  # an attacker who guessed the first name
    files.write_text_atomically(tmp_path / "results.json", "{}\n")
    assert (tmp_path / "results.json").read_text() == "{}\n" and outside.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt", "results.json", "results.json.guessed.tmp"]


def test_reports_are_written_atomically(tmp_path: Path, outside: Path, server: FakeServer) -> None:
    out = tmp_path / "run"
    assert run_meqsum(server.base_url, out).returncode == 0
    html, comparison = tmp_path / "report.html", tmp_path / "cmp.json"
    html.symlink_to(outside)  # a link where the report goes is replaced, not written through
    comparison.write_text("old\n")
    before = comparison.stat().st_ino
    assert run_clue("report", str(out), "--html", str(html), "--published", "none").returncode == 0
    assert run_clue("compare", str(out), str(out), "--json", str(comparison), "--resamples", "50").returncode == 0
    assert outside.read_text() == "precious\n" and not html.is_symlink() and "<html" in html.read_text()
    assert comparison.stat().st_ino != before, "a new file renamed into place, not the old one rewritten"
    assert json.loads(comparison.read_text())
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
