"""End to end: ``clue run --tasks all --data-dir data/samples`` against the loopback test server completes
all six tasks over real HTTP, with the sample counts the sample files imply.

BERTScore and UMLS are switched off: their models are downloads, and tests never download.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from clue_client.tasks import TASK_IDS
from fake_server import FakeServer, prompt_id

ROOT = Path(__file__).resolve().parents[1]
# scored samples per task in data/samples (records minus few-shot examples; LongHealth 9 questions x 15)
EXPECTED_N = {
    "mednli": 5,
    "meqsum": 3,
    "problem_summary": 3,
    "longhealth": 135,
    "medisumqa": 4,
    "medisumcode": 4,
}


@pytest.mark.slow
def test_run_all_tasks_on_samples(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with FakeServer(context_length=4096) as server:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "clue_client",
                "run",
                "--endpoint",
                server.base_url,
                "--tasks",
                "all",
                "--data-dir",
                str(ROOT / "data" / "samples"),
                "--out",
                str(out),
                "--no-bertscore",
                "--no-umls",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "COLUMNS": "200"},
        )
        answered = dict(server.answered)
    assert done.returncode == 0, done.stderr[-2000:]
    assert set(answered.values()) == {1}  # each distinct prompt answered once (identical prompts share a key)
    distinct = set()

    results = json.loads((out / "results.json").read_text())
    assert list(results["tasks"]) == list(TASK_IDS)
    for task_id, n in EXPECTED_N.items():
        task = results["tasks"][task_id]
        assert task["n"] == n and task["n_errors"] == 0, (task_id, task)
        predictions = pl.read_parquet(out / "predictions" / f"{task_id}.parquet")
        assert predictions.height == n
        assert predictions["prediction"].null_count() == 0
        distinct |= {prompt_id(m) for m in predictions["messages"].to_list()}
    assert distinct == set(answered)
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["data_files"]) == sorted(
        [
            "MedNLI/mli_test_v1.jsonl",
            "MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx",
            "ProblemSummary/BioNLP2023-1A-Test.csv",
            "LongHealth/benchmark_v5.json",
            "MeDiSumQA/MeDiSumQA.json",
            "MeDiSumCode/MeDiSumCode.json",
        ]
    )
