"""Scoring options: one frozen value object the CLI fills from its flags (and the runner from the manifest)."""

from __future__ import annotations

from dataclasses import dataclass

from ..protocols import DEFAULT_PROTOCOL, ScoringRules, get_protocol
from .bertscore import CLUE_BERTSCORE_MODEL

__all__ = ["ScoringOptions"]


@dataclass(frozen=True, slots=True)
class ScoringOptions:
    """How to score a run.

    protocol: the CLUE protocol the run was made under (the manifest's ``protocol``); its ``ScoringRules``
    say per task how outputs are cleaned, which BERTScore model scores them, and whether the first sample
    counts twice. ``model``: the run's model id (CLUE 2024's phi rule reads it).
    clue_compat: reproduce CLUE 2025's mean that counts the first sample twice (MedNLI, MeDiSumCode); a
    protocol that doubles it already (2024) is unchanged by it.
    bertscore / umls: False skips the metric (reported missing, task score partial).
    bertscore_model / bertscore_layer: the BERTScore model of every task whose protocol names none (None =
    CLUE's SciBERT, layer 8); a local folder works offline.
    bertscore_clinical_model / bertscore_clinical_layer: replace the model the protocol names for a task
    (CLUE 2024: Bio_ClinicalBERT, layer 9, for Problem Summary and MeDiSumQA), e.g. by a local copy.
    umls_model: spaCy pipeline name or folder (None = ``en_core_sci_sm``).
    umls_linker: folder with scispacy linker files + a ``*.jsonl`` knowledge base (None = download UMLS).
    bootstrap: resamples for the 95% confidence intervals (0 = no intervals); seed makes them repeatable.
    exclude_rejected: leave samples the server refused for good out of the scores (the task is marked
    partial) instead of scoring them as empty answers as CLUE does.
    template_opens_think: the run's chat template opened ``<think>`` in the prompt and the server had no
    reasoning parser: content without ``</think>`` is unfinished thinking (see ``answers.py``).
    """

    clue_compat: bool = False
    bertscore_model: str | None = None
    bertscore_layer: int | None = None
    bertscore_clinical_model: str | None = None
    bertscore_clinical_layer: int | None = None
    bertscore: bool = True
    umls: bool = True
    umls_model: str | None = None
    umls_linker: str | None = None
    bootstrap: int = 1000
    seed: int = 0
    exclude_rejected: bool = False
    template_opens_think: bool = False
    protocol: str = DEFAULT_PROTOCOL
    model: str = ""

    def __post_init__(self) -> None:
        if self.bootstrap < 0:
            raise ValueError(f"bootstrap must be >= 0, got {self.bootstrap}")
        for name in ("bertscore_layer", "bertscore_clinical_layer"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        get_protocol(self.protocol)  # an unknown protocol is one clear line, before anything is scored

    def rules(self, task_id: str) -> ScoringRules:
        """How ``task_id`` is scored under this run's protocol."""
        return get_protocol(self.protocol).scoring_rules(task_id)

    def bertscore_for(self, task_id: str) -> tuple[str, int | None]:
        """(model, layer) scoring ``task_id``'s BERTScore; layer None = the model's known default."""
        rules = self.rules(task_id)
        if rules.bertscore_model is None:
            return self.bertscore_model or CLUE_BERTSCORE_MODEL, self.bertscore_layer
        return (self.bertscore_clinical_model or rules.bertscore_model,
                self.bertscore_clinical_layer or rules.bertscore_layer)
