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


# ---- a rerun under another identity ------------------------------------------------------------------------
def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_rerun_under_another_identity_stops_before_rewriting_anything(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with FakeServer() as server:
        assert run_meqsum(server.base_url, out).returncode == 0
        sent = server.requests.total()
        before = _snapshot(out)
        same_server = server.base_url.replace("127.0.0.1", "localhost")
        for url, extra in ((same_server, ()), (server.base_url, ("--model", "fake-model-2", "--no-model-check"))):
            proc = run_meqsum(url, out, *extra)
            line = one_line(proc)
            assert proc.returncode == 2 and "--new-identity" in line
            assert f"holds answers of fake-model@{server.base_url}" in line
            assert f"this run is {extra[1] if extra else 'fake-model'}@{url}" in line
        assert server.requests.total() == sent, "nothing re-sent"
        assert _snapshot(out) == before, "nothing in the folder rewritten"

        moved = run_meqsum(same_server, out, "--new-identity")
        assert moved.returncode == 0, moved.stderr
        assert server.requests.total() == 2 * sent, "--new-identity: another identity reuses nothing"
        assert json.loads((out / "manifest.json").read_text())["base_urls"] == [same_server]
        again = run_meqsum(same_server, out)
        assert again.returncode == 0 and server.requests.total() == 2 * sent, "the same identity resumes as always"


def _exported_with_one_line_imported(tmp_path: Path, model: str, line: dict) -> tuple[Path, tuple[str, ...]]:
    """A batch-exported run folder (meqsum) with ``line`` (its first request's custom_id added) imported."""
    run = tmp_path / "run"
    export = ("batch", "export", "--endpoint", "http://127.0.0.1:9/v1", "--tasks", "meqsum", "--data-dir",
              str(SAMPLES), "--run", str(run))
    assert run_clue(*export, "--model", model).returncode == 0
    key = json.loads((run / "batch_requests.jsonl").read_text().splitlines()[0])["custom_id"]
    output = tmp_path / "out.jsonl"
    output.write_text(json.dumps({"custom_id": key, **line}) + "\n")
    imported = run_clue("batch", "import", str(output), "--run", str(run), *SCORING)
    assert imported.returncode == 3, imported.stderr  # the other samples are still missing
    return run, export


def test_batch_export_under_another_identity_stops_too(tmp_path: Path) -> None:
    answer = {"response": {"status_code": 200, "body": {
        "choices": [{"message": {"content": "a summary"}, "finish_reason": "stop"}]}}}
    run, export = _exported_with_one_line_imported(tmp_path, "m1", answer)
    before = _snapshot(run)
    proc = run_clue(*export, "--model", "m2")
    assert proc.returncode == 2 and "holds answers of m1@http://127.0.0.1:9/v1" in one_line(proc)
    assert _snapshot(run) == before
    assert run_clue(*export, "--model", "m2", "--new-identity").returncode == 0


def test_a_folder_without_answers_takes_a_corrected_identity(tmp_path: Path) -> None:
    """A first run that stored no answer (a wrong model: only errors a fix will resend) protects nothing."""
    expired = {"response": None, "error": {"code": "batch_expired", "message": "expired"}}
    run, export = _exported_with_one_line_imported(tmp_path, "typo", expired)
    (run / "results.json").unlink()  # as after a run stopped in its first wave: errors stored, nothing scored
    assert run_clue(*export, "--model", "right").returncode == 0


# ---- SIGTERM, and a run that stopped early --------------------------------------------------------------------
def test_sigterm_ends_a_run_like_ctrl_c_and_the_report_shows_it_unfinished(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO
    from test_run_cli import mednli_dir

    data, out = mednli_dir(tmp_path, 60), tmp_path / "run"
    with FakeServer(delay_s=0.2) as server:
        command = [sys.executable, "-m", "clue_client", "run", "--endpoint", server.base_url, "--tasks", "mednli",
                   "--data-dir", str(data), "--out", str(out), "--concurrency", "2", *SCORING]
        proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "NO_COLOR": "1"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(server.answered.values()) < 6:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, stderr
        assert stderr.strip().splitlines()[-1] == ("clue: terminated (SIGTERM); finished answers are saved, "
                                                   "rerun the same command to resume")
        manifest = json.loads((out / "manifest.json").read_text())
        import sqlite3
        with sqlite3.connect(out / "store.sqlite") as db:
            stored = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        assert 4 <= stored < 57 and manifest["stored_responses"] == stored, "the manifest was updated"
        assert manifest["finished_at"] is None and manifest["stopped_at"]
        assert not (out / ".lock").exists() and not (out / "results.json").exists()

        report = run_clue("report", str(out), "--published", "none")
        assert report.returncode == 0, report.stderr
        assert "(unfinished)" in report.stdout and f"{stored} answer(s) stored; no scores yet" in " ".join(report.stdout.split())
        compared = run_clue("compare", str(out), str(out))
        assert compared.returncode == 2 and "unfinished: stopped early" in one_line(compared)

        sent = server.requests.total()
        resumed = run_clue(*command[3:], "--concurrency", "16")
        assert resumed.returncode == 0, resumed.stderr
        assert server.requests.total() - sent == 57 - stored, "only what was missing is sent"
    finished = json.loads((out / "manifest.json").read_text())
    assert finished["finished_at"] and "stopped_at" not in finished
    assert "(unfinished)" not in run_clue("report", str(out), "--published", "none").stdout


def test_an_exported_batch_not_imported_yet_is_unfinished_not_a_foreign_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert run_clue("batch", "export", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--tasks", "meqsum",
                    "--data-dir", str(SAMPLES), "--run", str(run)).returncode == 0
    report = run_clue("report", str(run), "--published", "none", "--html", str(tmp_path / "r.html"))
    assert report.returncode == 0, report.stderr
    assert "not a run folder" not in report.stderr and "unfinished: started but not finished" in report.stdout
    assert "unfinished" in (tmp_path / "r.html").read_text()
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    assert "not a run folder (missing manifest.json)" in one_line(run_clue("report", str(elsewhere)))
