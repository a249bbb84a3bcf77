"""A real run folder for export tests: ``clue run`` (a subprocess) against the loopback test server on the
bundled fictional samples, one credentialed task beside the public ones; and the sample texts of a run
folder, to prove what an export may and may not contain."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import polars as pl

from conftest import SAMPLES, run_clue
from fake_server import FakeServer

TASKS = "mednli,meqsum,longhealth"  # MedNLI is credentialed (PhysioNet); MeQSum and LongHealth are public
SECRET_ENV = "CLUE_EXPORT_TEST_KEY"
SECRET = "sk-export-" + "5e1c9a7b3d" * 3


def clue_run_on(server: FakeServer, out: Path, *extra: str, tasks: str = TASKS, env: dict[str, str] | None = None,
                cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``clue run`` of ``tasks`` (two samples each) against ``server``, sending the API key it checks."""
    return run_clue("run", "--endpoint", server.base_url, "--api-key-env", SECRET_ENV, "--tasks", tasks,
                    "--data-dir", str(SAMPLES), "--out", str(out), "--limit", "2", "--no-bertscore", "--no-umls",
                    "--bootstrap", "50", *extra, env={SECRET_ENV: SECRET, **(env or {})}, cwd=cwd, timeout=240)


def clue_run_on_fake_server(out: Path, *extra: str, **options: Any) -> tuple[subprocess.CompletedProcess[str], int]:
    """(the finished ``clue run``, requests the server received), on a test server of its own."""
    with FakeServer(api_key=SECRET) as server:
        proc = clue_run_on(server, out, *extra, **options)
        return proc, sum(server.requests.values())


def _markers(texts: list[str | None]) -> set[str]:
    """A distinctive plain stretch of each text (no character JSON or HTML would escape)."""
    found = set()
    for text in texts:
        runs = re.findall(r"[A-Za-z0-9 ,.'-]{24,}", text or "")
        if runs:
            found.add(max(runs, key=len)[:60].strip())
    return found


def sample_texts(run_dir: Path, task: str) -> set[str]:
    """Markers of a task's prompts (the sample's own user turn), references and the model's answers."""
    frame = pl.read_parquet(run_dir / "predictions" / f"{task}.parquet")
    prompts = [messages[-1]["content"] for messages in frame["messages"].to_list()]
    return _markers(prompts + frame["reference"].to_list() + frame["prediction"].to_list())


def files_containing(root: Path, markers: set[str]) -> dict[str, list[str]]:
    """Which markers occur in which file under ``root`` (any file: JSON, SQLite, HTML)."""
    hits: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found = [m for m in markers if m.encode() in data]
            if found:
                hits[str(path)] = found
    return hits
