"""CLUE's two protocols as data: what differs between CLUE 2025 (2de4314, vLLM, the default) and CLUE 2024
(ff75877, TGI, the code behind the published table). Tasks, the engine and scoring read a ``Protocol``; none
of them branches on a year (one frozen value per protocol, as HELM's AdapterSpec does).

The request side (prompt rendering, few-shot order, prefills, answer lengths, stops, truncation, LongHealth
budgets) and the scoring side (output post-processing, the doubled first sample, BERTScore models,
lower-casing) are fields of the same value; ``get_protocol(name)`` is the one lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..engine.request import PROTOCOL_VERSION
from ..errors import UserError

__all__ = ["Protocol", "ScoringRules", "PROTOCOLS", "DEFAULT_PROTOCOL", "get_protocol"]

DEFAULT_PROTOCOL = "2025"


@dataclass(frozen=True, slots=True)
class ScoringRules:
    """How one task's outputs are scored under a protocol (CLUE_PROTOCOL_2024.md §4 and §6).

    ``post_process``: named output clean-ups applied before any metric, in order (``"phi_end"``: keep what
    precedes ``" <|end|>"`` for phi model ids; ``"self_prompting"``: CLUE's self-prompting regex cut;
    ``"strip"``: ``str.strip``); ``post_process_lh_tasks``: the LongHealth sub-tasks they apply to (other
    tasks: every output). ``double_first``: the first scored sample is counted twice in the mean.
    ``bertscore_model``/``bertscore_layer``: None keeps the run's BERTScore setting (SciBERT, layer 8).
    ``lowercase``: prediction and reference lower-cased for ROUGE and BERTScore (UMLS gets the original).
    """

    post_process: tuple[str, ...] = ()
    post_process_lh_tasks: tuple[int, ...] = (1, 2, 3)
    double_first: bool = False
    bertscore_model: str | None = None
    bertscore_layer: int | None = None
    lowercase: bool = False


@dataclass(frozen=True, slots=True)
class Protocol:
    """One CLUE protocol. ``version`` goes into every request key (answers under two protocols never mix)."""

    name: str
    version: str
    source: str
    scoring: Mapping[str, ScoringRules] = field(default_factory=dict)

    def scoring_rules(self, task_id: str) -> ScoringRules:
        return self.scoring.get(task_id, ScoringRules())


_SELF_PROMPTING = ("phi_end", "self_prompting")
_BIO_CLINICAL = {"bertscore_model": "emilyalsentzer/Bio_ClinicalBERT", "bertscore_layer": 9}

CLUE_2025 = Protocol(name="2025", version=PROTOCOL_VERSION, source="TIO-IKIM/CLUE 2de4314 (vLLM)")
CLUE_2024 = Protocol(
    name="2024",
    version="clue-ff75877/1",
    source="TIO-IKIM/CLUE ff75877 (TGI, June 2024; the published table)",
    scoring={
        "mednli": ScoringRules(_SELF_PROMPTING, double_first=True),
        "meqsum": ScoringRules(_SELF_PROMPTING, double_first=True),
        "problem_summary": ScoringRules(_SELF_PROMPTING, double_first=True, lowercase=True, **_BIO_CLINICAL),
        "longhealth": ScoringRules(("phi_end",), post_process_lh_tasks=(1,)),  # LH:295-296; tasks 2/3: LH:371-376
        "medisumqa": ScoringRules(("strip", "phi_end"), double_first=True, **_BIO_CLINICAL),  # QA:122, then 123-124
        "medisumcode": ScoringRules(_SELF_PROMPTING, double_first=True),
    },
)
PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (CLUE_2025, CLUE_2024)}


def get_protocol(name: str | None) -> Protocol:
    """The protocol named ``2025`` or ``2024`` (None: the default, 2025)."""
    try:
        return PROTOCOLS[name or DEFAULT_PROTOCOL]
    except KeyError:
        raise UserError(f"unknown protocol '{name}'; choose from {', '.join(PROTOCOLS)}") from None
