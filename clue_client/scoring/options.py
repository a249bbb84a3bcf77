"""Scoring options: one frozen value object the CLI fills from its flags."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ScoringOptions"]


@dataclass(frozen=True, slots=True)
class ScoringOptions:
    """How to score a run.

    clue_compat: reproduce CLUE's mean that counts the first sample twice (MedNLI, MeDiSumCode).
    bertscore / umls: False skips the metric (reported missing, task score partial).
    bertscore_model / bertscore_layer: None = CLUE's SciBERT, layer 8; a local folder works offline.
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
    bertscore: bool = True
    umls: bool = True
    umls_model: str | None = None
    umls_linker: str | None = None
    bootstrap: int = 1000
    seed: int = 0
    exclude_rejected: bool = False
    template_opens_think: bool = False

    def __post_init__(self) -> None:
        if self.bootstrap < 0:
            raise ValueError(f"bootstrap must be >= 0, got {self.bootstrap}")
        if self.bertscore_layer is not None and self.bertscore_layer < 1:
            raise ValueError(f"bertscore_layer must be >= 1, got {self.bertscore_layer}")
