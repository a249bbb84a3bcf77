"""``clue data status|fetch`` as a user runs them: a subprocess, its output, its exit code."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from physionet_mirror import PASSWORD, USER, Mirror
from test_fetch import _path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"


def clue(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    inherited = {k: v for k, v in os.environ.items() if k != "PHYSIONET_PASSWORD"}
    full_env = {**inherited, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "clue_client", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


def test_status_describes_the_samples() -> None:
    done = clue("data", "status", "--data-dir", str(SAMPLES), "--json")
    assert done.returncode == 0, done.stderr
    rows = {r["id"]: r for r in json.loads(done.stdout)}
    assert list(rows) == ["mednli", "meqsum", "problem_summary", "longhealth", "medisumqa", "medisumcode"]
    assert {k: r["records"] for k, r in rows.items()} == {
        "mednli": 8,
        "meqsum": 6,
        "problem_summary": 6,
        "longhealth": 9,
        "medisumqa": 5,
        "medisumcode": 5,
    }
    assert rows["longhealth"]["detail"] == "3 patients, 9 questions"
    for r in rows.values():
        assert r["present"] and r["error"] is None
        assert r["sha256"] == hashlib.sha256((SAMPLES / r["path"]).read_bytes()).hexdigest()
        assert r["access"] == ("public" if r["id"] in ("meqsum", "longhealth") else "credentialed")
        assert r["state"] == "unverified" and r["verified_by"] is None  # fictional: nothing vouches for them
    assert rows["meqsum"]["reason"] == "not the pinned sha256"
    assert rows["mednli"]["reason"] == "not checked against its release"
    assert rows["medisumcode"]["reason"] == "no build.json names this file"
    assert rows["mednli"]["command"] == f"clue data fetch mednli --physionet-user USER --data-dir {SAMPLES}"
    assert rows["meqsum"]["command"] == f"clue data fetch meqsum --data-dir {SAMPLES} --force"
    table = clue("data", "status", "--data-dir", str(SAMPLES))
    assert table.returncode == 0
    assert "3 patients, 9 questions" in table.stdout and "credentialed" in table.stdout
    assert f"to make medisumqa ready: clue data fetch medisumqa --physionet-user USER --data-dir {SAMPLES}\n" in table.stdout


def test_status_reports_missing_and_invalid_files(tmp_path: Path) -> None:
    shutil.copytree(SAMPLES / "MeDiSumQA", tmp_path / "MeDiSumQA")
    (tmp_path / "MedNLI").mkdir()
    (tmp_path / "MedNLI" / "mli_test_v1.jsonl").write_text('{"sentence1": "x"}\n')
    rows = {
        r["id"]: r for r in json.loads(clue("data", "status", "--data-dir", str(tmp_path), "--json").stdout)
    }
    assert rows["medisumqa"]["present"] and rows["medisumqa"]["records"] == 5
    assert not rows["meqsum"]["present"] and rows["meqsum"]["sha256"] is None
    assert rows["meqsum"]["state"] == "missing"
    assert rows["meqsum"]["command"] == f"clue data fetch meqsum --data-dir {tmp_path}"
    assert rows["medisumcode"]["command"] == f"clue data fetch medisumcode --physionet-user USER --data-dir {tmp_path}"
    assert "line 1: field 'sentence2' is missing" in rows["mednli"]["error"] and rows["mednli"]["state"] == "invalid"
    assert rows["mednli"]["command"].endswith("--force")


def test_fetch_over_http_and_errors_are_one_line(tmp_path: Path) -> None:
    with Mirror() as mirror:
        body = (SAMPLES / "LongHealth" / "benchmark_v5.json").read_bytes()
        mirror.files[_path("longhealth")] = body
        refused = clue("data", "fetch", "longhealth", "--data-dir", str(tmp_path), "--mirror", mirror.url)
        assert refused.returncode == 2 and refused.stderr.strip().count("\n") == 0
        assert "is not the pinned file" in refused.stderr and "--accept-unverified" in refused.stderr
        assert not (tmp_path / "LongHealth" / "benchmark_v5.json").exists()
        done = clue("data", "fetch", "longhealth", "--data-dir", str(tmp_path), "--mirror", mirror.url,
                    "--accept-unverified")
        assert done.returncode == 0, done.stderr
        assert "NOT verified: it does not match the pin" in done.stdout
        assert (tmp_path / "LongHealth" / "benchmark_v5.json").read_bytes() == body

        missing = clue("data", "fetch", "meqsum", "--data-dir", str(tmp_path), "--mirror", mirror.url)
        assert missing.returncode == 2
        assert missing.stderr.strip().count("\n") == 0 and "answered 404" in missing.stderr
        assert "Traceback" not in missing.stderr

        mirror.publish("mednli/1.0.0", {"mli_test_v1.jsonl": (SAMPLES / "MedNLI" / "mli_test_v1.jsonl").read_bytes()})
        no_user = clue("data", "fetch", "mednli", "--data-dir", str(tmp_path), "--mirror", mirror.url)
        assert no_user.returncode == 2 and "needs --physionet-user" in no_user.stderr
        where = ("--data-dir", str(tmp_path), "--mirror", mirror.url)
        mednli = ("data", "fetch", "mednli", "--physionet-user", USER, *where)
        no_password = clue(*mednli)
        assert no_password.returncode == 2 and "PHYSIONET_PASSWORD" in no_password.stderr
        ok = clue(*mednli, env={"PHYSIONET_PASSWORD": PASSWORD})
        assert ok.returncode == 0, ok.stderr
        assert "verified against the release checksum: SHA256SUMS.txt of mednli/1.0.0" in ok.stdout
        assert PASSWORD not in ok.stdout + ok.stderr
        again = clue(*mednli, env={"PHYSIONET_PASSWORD": PASSWORD})
        assert again.returncode == 0 and again.stdout.count("\n") == 1
        assert "already present and matches the release checksum: SHA256SUMS.txt of mednli/1.0.0" in again.stdout
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "benchmark_v5.json",
        "fetch.json",
        "mli_test_v1.jsonl",
    ]
