"""BERTScore as CLUE computes it (``bert_score.score(..., lang="en-sci")``), with a loadable local model.

CLUE's default is SciBERT (``allenai/scibert_scivocab_uncased``), layer 8, no IDF, no baseline rescaling;
CLUE 2024 scored Problem Summary and MeDiSumQA with ``emilyalsentzer/Bio_ClinicalBERT``, layer 9 (which
model scores which task is the protocol's: ``ScoringOptions.bertscore_for``).

Neither tokenizer declares a length limit, so ``bert_score`` never truncates and a pair past 512 tokens
(either side, [CLS] and [SEP] included) reaches the model longer than its 512 positions: BERT's forward
raises ``RuntimeError`` (the expand of its 512 buffered ``token_type_ids``), in transformers 4.39.3 as
today. CLUE 2024 called BERTScore once per sample with no guard, so such a pair ended the whole
evaluation: every published Problem Summary and MeDiSumQA number comes from a run where no pair passed 512
tokens. We cap the tokenizer at the model's position limit (what CLUE 2025's fork does since 20ffcb3),
which scores every pair CLUE 2024 could score exactly as it did and cuts the longer ones to 512 tokens
instead of failing; ``BertScores.n_cut`` counts those, and the task's results say how many there were.
Pairs where either side is empty score 0, as in ``bert_score`` (whose own empty-string path breaks under
transformers 5). Heavy imports stay inside functions so ``import clue_client.scoring`` works without the
extra.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .unavailable import MetricUnavailable

__all__ = ["CLUE_BERTSCORE_LAYER", "CLUE_BERTSCORE_MODEL", "BertScores", "bertscore"]

CLUE_BERTSCORE_MODEL = "allenai/scibert_scivocab_uncased"
CLUE_BERTSCORE_LAYER = 8
_BATCH_SIZE = 64
_HUB_FILES = ["*.json", "*.txt", "*.model", "*.safetensors", "pytorch_model.bin"]


@dataclass(frozen=True, slots=True)
class BertScores:
    """Per-pair BERTScore precision, recall and F1 (float64 arrays, input order); ``n_cut``: pairs with a
    side longer than the model's 512 positions, scored on its first 512 tokens."""

    p: np.ndarray
    r: np.ndarray
    f1: np.ndarray
    n_cut: int = 0


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _local_dir(model: str) -> str:
    """A directory holding ``model``: as given, from the Hugging Face cache, or downloaded once."""
    if os.path.isdir(model):
        return model
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise MetricUnavailable(f"huggingface_hub is not installed ({exc})") from exc
    try:
        return snapshot_download(model, allow_patterns=_HUB_FILES, local_files_only=True)
    except Exception:  # noqa: BLE001 - any cache miss means "not here yet"
        pass
    hint = "pass --bertscore-model PATH (or --bertscore-clinical-model PATH for Bio_ClinicalBERT) to a local copy"
    if _offline():
        raise MetricUnavailable(f"BERTScore model {model} is not cached and HF_HUB_OFFLINE is set; {hint}")
    try:
        return snapshot_download(model, allow_patterns=_HUB_FILES)
    except Exception as exc:  # noqa: BLE001 - network, auth or missing repo: report, do not crash
        raise MetricUnavailable(f"cannot download BERTScore model {model} ({type(exc).__name__}); {hint}") from exc


@lru_cache(maxsize=2)
def _load(model: str, layer: int) -> tuple[Any, Any]:
    """(tokenizer, truncated model), loaded once per process."""
    try:
        from bert_score.utils import get_model, get_tokenizer
    except ImportError as exc:
        raise MetricUnavailable("bert-score is not installed: pip install 'clue-client[bertscore]'") from exc
    path = _local_dir(model)
    try:
        tokenizer = get_tokenizer(path, use_fast=False)
        network = get_model(path, layer, all_layers=False)
    except Exception as exc:  # noqa: BLE001 - a broken or foreign model folder
        raise MetricUnavailable(f"cannot load BERTScore model {model}: {exc}") from exc
    limit = getattr(network.config, "max_position_embeddings", 512)
    tokenizer.model_max_length = min(int(tokenizer.model_max_length), int(limit))
    return tokenizer, network


def _layer_for(model: str, layer: int | None) -> int:
    if layer is not None:
        return layer
    if model == CLUE_BERTSCORE_MODEL:
        return CLUE_BERTSCORE_LAYER
    try:
        from bert_score.utils import model2layers
    except ImportError as exc:
        raise MetricUnavailable("bert-score is not installed: pip install 'clue-client[bertscore]'") from exc
    if model not in model2layers:
        raise MetricUnavailable(f"no default layer known for BERTScore model {model}: pass --bertscore-layer N")
    return int(model2layers[model])


def bertscore(
    predictions: Sequence[str], references: Sequence[str], model: str | None = None, layer: int | None = None
) -> BertScores:
    """BERTScore P/R/F1 of each pair; raises MetricUnavailable when the model cannot be had."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    name = model or CLUE_BERTSCORE_MODEL
    tokenizer, network = _load(name, _layer_for(name, layer))
    out = np.zeros((len(predictions), 3))
    keep = [i for i, (p, r) in enumerate(zip(predictions, references)) if p.strip() and r.strip()]
    if keep:
        import torch
        from bert_score.utils import bert_cos_score_idf

        idf: dict[int, float] = _unit_idf(tokenizer)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        network.to(device)
        with torch.no_grad():
            scores = bert_cos_score_idf(
                network,
                [references[i] for i in keep],
                [predictions[i] for i in keep],
                tokenizer,
                idf,
                verbose=False,
                device=device,
                batch_size=_BATCH_SIZE,
                all_layers=False,
            ).cpu()
        out[keep] = scores.numpy().astype(np.float64)
    n_cut = sum(_too_long(tokenizer, predictions[i]) or _too_long(tokenizer, references[i]) for i in keep)
    return BertScores(out[:, 0], out[:, 1], out[:, 2], n_cut)


def _too_long(tokenizer: Any, text: str) -> bool:
    """Whether ``text`` encodes (as ``bert_score`` encodes it: stripped, with special tokens) to more tokens
    than the capped tokenizer keeps."""
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # counting a long text is not the model's "indexing errors" warning
    try:
        n = len(tokenizer.tokenize(text.strip())) + tokenizer.num_special_tokens_to_add()
    finally:
        logging.set_verbosity(verbosity)
    return n > tokenizer.model_max_length


def _unit_idf(tokenizer: Any) -> dict[int, float]:
    """``bert_score``'s no-IDF weights: 1 for every token, 0 for [CLS] and [SEP]."""
    from collections import defaultdict

    idf: dict[int, float] = defaultdict(lambda: 1.0)
    idf[tokenizer.sep_token_id] = 0.0
    idf[tokenizer.cls_token_id] = 0.0
    return idf
