"""Scoring: pure functions over polars frames (no network). CLUE's metrics, task scores, levels, CIs.

Public surface::

    ScoringOptions, score_run, score_task, task_score, level_scores, metric_means
    rouge, bertscore, umls_scores, icd_scores, parse_codes
    mednli_accuracy, mednli_strict_accuracy, longhealth_answer
    TASKS, TASK_IDS, LEVELS, MetricUnavailable

Model-based metrics import torch / bert-score / scispacy only when called.
"""

from .aggregate import level_scores, metric_means, task_score
from .bertscore import CLUE_BERTSCORE_LAYER, CLUE_BERTSCORE_MODEL, bertscore
from .choice import longhealth_answer, mednli_accuracy, mednli_strict_accuracy
from .icd import icd_scores, parse_codes
from .options import ScoringOptions
from .outputs import write_results, write_scored
from .protocol import LEVELS, TASK_IDS, TASKS
from .rouge import rouge
from .run import score_run, score_task
from .stats import bootstrap_scores
from .umls import CLUE_UMLS_MODEL, umls_scores
from .unavailable import MetricUnavailable

__all__ = [
    "CLUE_BERTSCORE_LAYER",
    "CLUE_BERTSCORE_MODEL",
    "CLUE_UMLS_MODEL",
    "LEVELS",
    "TASKS",
    "TASK_IDS",
    "MetricUnavailable",
    "ScoringOptions",
    "bertscore",
    "bootstrap_scores",
    "icd_scores",
    "level_scores",
    "longhealth_answer",
    "mednli_accuracy",
    "mednli_strict_accuracy",
    "metric_means",
    "parse_codes",
    "rouge",
    "score_run",
    "score_task",
    "task_score",
    "umls_scores",
    "write_results",
    "write_scored",
]
