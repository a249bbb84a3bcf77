"""`clue score` scores a run folder under the protocol its manifest names (CLUE 2024's clean-ups and doubled
first sample; none for a folder without one), as a user runs it: real HTTP, then a rescore subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from conftest import SAMPLES, run_clue
from fake_server import FakeServer, prompt_id

LABELS = ("entailment", "contradiction", "neutral")


def phi_responder(body: dict) -> str:
    """A label (from the prompt) said twice around phi's end marker: right only once the marker is cut."""
    label = LABELS[int(prompt_id(body["messages"]), 16) % 3].upper()
    return f"{label} <|end|> {label}"


def _rescore(run: Path, protocol: str | None) -> dict:
    manifest = json.loads((run / "manifest.json").read_text())
    manifest.pop("protocol", None)
    if protocol is not None:
        manifest["protocol"] = protocol
    (run / "manifest.json").write_text(json.dumps(manifest))
    proc = run_clue("score", str(run), "--no-bertscore", "--no-umls", "--bootstrap", "0")
    assert proc.returncode == 0, proc.stderr
    return json.loads((run / "results.json").read_text())["tasks"]["mednli"]


def test_clue_score_follows_the_manifests_protocol(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with FakeServer(model="microsoft/Phi-3-mini-4k-instruct", responder=phi_responder) as server:
        proc = run_clue("run", "--endpoint", server.base_url, "--tasks", "mednli", "--data-dir", str(SAMPLES),
                        "--out", str(run), "--no-bertscore", "--no-umls", "--bootstrap", "0")
        assert proc.returncode == 0, proc.stderr
    assert json.loads((run / "results.json").read_text())["tasks"]["mednli"]["score"] == 0.0  # every label twice

    old = _rescore(run, "2024")  # the server is gone: scoring alone
    predictions = pl.read_parquet(run / "predictions" / "mednli.parquet")
    first = [t.split(" <|end|>")[0] for t in predictions["raw_content"]]
    assert predictions["prediction"].to_list() == first
    right = [float(text.upper().count(gold.upper()) == 1) for text, gold in zip(first, predictions["reference"])]
    assert 0 < sum(right) < len(right)
    assert old["score"] == pytest.approx(100 * (right[0] + sum(right)) / (len(right) + 1))  # the first counted twice
    assert old["n_post_processed"] == len(right)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["scorer"]["protocol"] == "2024"
    assert manifest["scorer"]["tasks"]["mednli"] == {"post_process": ["phi_end", "self_prompting"], "double_first": True}
    assert predictions["counted"].to_list() == [2] + [1] * (len(right) - 1)
    report = run_clue("report", str(run), "--published", "none")
    assert report.returncode == 0, report.stderr
    assert f"mednli had {len(right)} answer(s) changed by CLUE 2024's output clean-up" in " ".join(report.stdout.split())

    assert _rescore(run, None)["score"] == 0.0  # no protocol in the manifest: 2025, nothing cleaned
    assert "counted" not in pl.read_parquet(run / "predictions" / "mednli.parquet").columns
    bad = tmp_path / "bad"
    manifest = json.loads((run / "manifest.json").read_text())
    run.rename(bad)
    (bad / "manifest.json").write_text(json.dumps({**manifest, "protocol": "1999"}))
    proc = run_clue("score", str(bad), "--no-bertscore", "--no-umls")
    assert proc.returncode == 2 and "unknown protocol '1999'" in proc.stderr and "Traceback" not in proc.stderr
