"""Which metrics each CLUE task reports and which of them make its score (CLUE_PROTOCOL.md)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LEVELS", "TASKS", "TASK_IDS", "TaskMetrics"]

_ROUGE = ("rouge1", "rouge2", "rougeL")
_BERT = ("bertscore_p", "bertscore_r", "bertscore_f1")
_UMLS = ("umls_p", "umls_r", "umls_f1")


@dataclass(frozen=True, slots=True)
class TaskMetrics:
    """``metrics``: every per-sample column scoring adds; ``score``: the ones averaged into the task score.

    ``double_first``: CLUE's ``update_results`` stores the first sample twice for this task (used only with
    ``clue_compat``).
    """

    metrics: tuple[str, ...]
    score: tuple[str, ...]
    double_first: bool = False


TASKS: dict[str, TaskMetrics] = {
    "mednli": TaskMetrics(("accuracy", "strict_accuracy"), ("accuracy",), double_first=True),
    "meqsum": TaskMetrics((*_ROUGE, *_BERT), ("rougeL", "rouge1", "rouge2", "bertscore_f1")),
    "problem_summary": TaskMetrics(
        (*_ROUGE, *_BERT, *_UMLS), ("rougeL", "rouge1", "rouge2", "bertscore_f1", "umls_f1")
    ),
    "longhealth": TaskMetrics(
        ("longhealth_task1", "longhealth_task2", "longhealth_task3"),
        ("longhealth_task1", "longhealth_task2", "longhealth_task3"),
    ),
    "medisumqa": TaskMetrics((*_ROUGE, *_BERT, *_UMLS), ("rougeL", "rouge1", "rouge2", "bertscore_f1", "umls_f1")),
    "medisumcode": TaskMetrics(
        ("icd_em_p", "icd_em_r", "icd_em_f1", "icd_ap_p", "icd_ap_r", "icd_ap_f1", "icd_valid", "icd_valid_current"),
        ("icd_em_f1", "icd_ap_f1", "icd_valid"),
        double_first=True,
    ),
}
TASK_IDS: tuple[str, ...] = tuple(TASKS)
LEVELS: dict[str, tuple[str, ...]] = {
    "level1": ("mednli", "meqsum", "problem_summary"),
    "level2": ("longhealth", "medisumqa", "medisumcode"),
}
