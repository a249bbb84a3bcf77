"""CLUE's two protocols as data: what differs between CLUE 2025 (2de4314, vLLM, the default) and CLUE 2024
(ff75877, TGI, the code behind the published table). Tasks, the engine and scoring read a ``Protocol``; none
of them branches on a year (one frozen value per protocol, as HELM's AdapterSpec does).

The request side (prompt strings, prompt rendering, few-shot order, truncation, stops, LongHealth budgets)
and the scoring side (output post-processing, the doubled first sample, BERTScore models, lower-casing) are
fields of the same value; ``get_protocol(name)`` is the one lookup. The prompt strings, answer lengths and
prefills stay in the protocol's prompt file (``tasks/prompts.json``, ``tasks/prompts_2024.json``: CLUE's
constants, byte for byte).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..engine.request import PROTOCOL_VERSION
from ..errors import UserError

__all__ = ["Protocol", "PromptRules", "ScoringRules", "PROTOCOLS", "DEFAULT_PROTOCOL", "CLUE_2025", "CLUE_2024",
           "get_protocol"]

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
class PromptRules:
    """How one task's prompts and requests are built under a protocol (CLUE_PROTOCOL_2024.md §1-§3, §5).

    ``file_order``: examples are ``data[:k]`` and the scored samples ``data[k:]`` in file order (otherwise
    CLUE's seeded shuffle first). ``truncate_reserve``: the prompt keeps its last ``context - reserve`` tokens,
    as TGI's ``truncate`` did (None: never cut); ``truncate_cap``: and at most this many (MeQSum's 24,576).
    ``stops``: the protocol's stop strings go to model ids its stop rule names (Llama-3).
    """

    file_order: bool = False
    truncate_reserve: int | None = None
    truncate_cap: int | None = None
    stops: bool = False

    def truncate_to(self, context_length: int) -> int | None:
        """T, the prompt tokens kept (the last T), for a model whose context is ``context_length``."""
        if self.truncate_reserve is None:
            return None
        kept = context_length - self.truncate_reserve
        return max(1, min(kept, self.truncate_cap) if self.truncate_cap is not None else kept)


@dataclass(frozen=True, slots=True)
class Protocol:
    """One CLUE protocol. ``version`` goes into every request key (answers under two protocols never mix).

    Request side: ``prompt_file`` (the prompt strings, answer lengths and prefills); ``client_renders``:
    the client applies the model's chat template and sends raw text (CLUE 2024 with TGI) instead of chat
    messages; ``prompts`` per task; ``stop_strings`` for model ids containing one of ``stop_markers``
    (lower-cased), and the same stops as ``stop_token_ids`` for servers that match stop strings on text only;
    ``greedy``: decoding is greedy, never sampled. LongHealth: ``longhealth_bare_tasks`` are sent without
    truncation or stops; ``longhealth_last_expected``: the expected letter is the *last* option containing
    the answer (options F included); ``longhealth_fits_context``: the document budget shrinks to a smaller
    served context; ``longhealth_counted_separator``: the separator the budget counts (None: the one joined).
    """

    name: str
    version: str
    source: str
    scoring: Mapping[str, ScoringRules] = field(default_factory=dict)
    prompt_file: str = "prompts.json"
    client_renders: bool = False
    prompts: Mapping[str, PromptRules] = field(default_factory=dict)
    stop_strings: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    stop_markers: tuple[str, ...] = ()
    greedy: bool = False
    longhealth_bare_tasks: frozenset[int] = frozenset()
    longhealth_last_expected: bool = False
    longhealth_fits_context: bool = True
    longhealth_counted_separator: str | None = None

    def scoring_rules(self, task_id: str) -> ScoringRules:
        return self.scoring.get(task_id, ScoringRules())

    def prompt_rules(self, task_id: str) -> PromptRules:
        return self.prompts.get(task_id, PromptRules())

    def stops_for(self, model: str) -> tuple[str, ...]:
        """The stop strings a request to ``model`` carries when its task sends stops."""
        lowered = model.lower()
        return self.stop_strings if any(marker in lowered for marker in self.stop_markers) else ()


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
    prompt_file="prompts_2024.json",
    client_renders=True,
    prompts={  # CLUE_PROTOCOL_2024.md §1: few-shot selection and TGI truncate per task
        "mednli": PromptRules(file_order=True, truncate_reserve=200, stops=True),
        "meqsum": PromptRules(file_order=True, truncate_reserve=200, truncate_cap=24576, stops=True),
        "problem_summary": PromptRules(file_order=True, truncate_reserve=100, stops=True),
        "longhealth": PromptRules(truncate_reserve=50, stops=True),  # task 1; tasks 2/3: bare (below)
        "medisumqa": PromptRules(truncate_reserve=200, stops=True),  # seeded shuffle, as in 2025
        "medisumcode": PromptRules(file_order=True, truncate_reserve=200, stops=True),
    },
    stop_strings=("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|im_end|>"),
    stop_token_ids=(128006, 128007, 128009),  # Llama-3's ids of the first three (<|im_end|> is no Llama-3 token)
    stop_markers=("llama-3", "llama3"),
    greedy=True,
    longhealth_bare_tasks=frozenset({2, 3}),
    longhealth_last_expected=True,
    longhealth_fits_context=False,
    longhealth_counted_separator="\n\n-------------- NEW DOCUMENT --------------\n\n",
)
PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (CLUE_2025, CLUE_2024)}


def get_protocol(name: str | None) -> Protocol:
    """The protocol named ``2025`` or ``2024`` (None: the default, 2025)."""
    try:
        return PROTOCOLS[name or DEFAULT_PROTOCOL]
    except KeyError:
        raise UserError(f"unknown protocol '{name}'; choose from {', '.join(PROTOCOLS)}") from None
