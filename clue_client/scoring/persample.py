"""Per-sample metric columns of one task, from predictions and references (no I/O, no network)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from .bertscore import bertscore
from .choice import longhealth_answer, mednli_accuracy, mednli_strict_accuracy
from .icd import icd_scores
from .options import ScoringOptions
from .protocol import TASKS
from .rouge import rouge
from .umls import umls_scores
from .unavailable import MetricUnavailable

__all__ = ["SampleMetrics", "sample_metrics"]


@dataclass(frozen=True)
class SampleMetrics:
    """``columns``: metric name -> float array (NaN = not applicable to that row, e.g. another LongHealth
    task); ``missing``: metric name -> why it could not be computed; ``extra``: non-metric columns;
    ``counts``: task-level counts for results.json (``n_bertscore_cut``)."""

    columns: dict[str, np.ndarray] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    extra: dict[str, list] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def _texts(frame: pl.DataFrame, column: str) -> list[str]:
    return frame[column].cast(pl.Utf8).fill_null("").to_list()


def _model_metric(
    names: tuple[str, str, str], enabled: bool, flag: str, compute: Callable[[], object]
) -> SampleMetrics:
    """Run a model-based metric, or record all three of its names as missing with the reason."""
    if not enabled:
        return SampleMetrics(missing=dict.fromkeys(names, f"not requested ({flag})"))
    try:
        scores = compute()
    except MetricUnavailable as exc:
        return SampleMetrics(missing=dict.fromkeys(names, str(exc)))
    counts = {"n_bertscore_cut": scores.n_cut} if hasattr(scores, "n_cut") else {}
    return SampleMetrics(columns=dict(zip(names, (scores.p, scores.r, scores.f1))), counts=counts)


def _summary(task: str, frame: pl.DataFrame, options: ScoringOptions) -> SampleMetrics:
    preds, refs = _texts(frame, "prediction"), _texts(frame, "reference")
    if not preds:  # nothing to score: load no model, report nothing missing
        return SampleMetrics(columns={name: np.zeros(0) for name in TASKS[task].metrics})
    if options.rules(task).lowercase:  # CLUE 2024's Problem Summary: ROUGE and BERTScore only, not UMLS
        text_preds, text_refs = [p.lower() for p in preds], [r.lower() for r in refs]
    else:
        text_preds, text_refs = preds, refs
    model, layer = options.bertscore_for(task)
    r = rouge(text_preds, text_refs)
    parts = [
        SampleMetrics(columns={"rouge1": r.rouge1, "rouge2": r.rouge2, "rougeL": r.rougeL}),
        _model_metric(
            ("bertscore_p", "bertscore_r", "bertscore_f1"),
            options.bertscore,
            "--no-bertscore",
            lambda: bertscore(text_preds, text_refs, model, layer),
        ),
    ]
    if "umls_f1" in TASKS[task].metrics:
        parts.append(
            _model_metric(
                ("umls_p", "umls_r", "umls_f1"),
                options.umls,
                "--no-umls",
                lambda: umls_scores(preds, refs, options.umls_model, options.umls_linker),
            )
        )
    return SampleMetrics(
        columns={k: v for p in parts for k, v in p.columns.items()},
        missing={k: v for p in parts for k, v in p.missing.items()},
        counts={k: v for p in parts for k, v in p.counts.items()},
    )


def _mednli(frame: pl.DataFrame) -> SampleMetrics:
    pairs = list(zip(_texts(frame, "prediction"), _texts(frame, "reference")))
    return SampleMetrics(
        columns={
            "accuracy": np.array([mednli_accuracy(p, g) for p, g in pairs], dtype=np.float64),
            "strict_accuracy": np.array([mednli_strict_accuracy(p, g) for p, g in pairs], dtype=np.float64),
        }
    )


def _longhealth(frame: pl.DataFrame) -> SampleMetrics:
    answers = [longhealth_answer(p) for p in _texts(frame, "prediction")]
    correct = np.array([a == ref for a, ref in zip(answers, _texts(frame, "reference"))], dtype=np.float64)
    task = frame["lh_task"].to_numpy()
    return SampleMetrics(
        columns={f"longhealth_task{k}": np.where(task == k, correct, np.nan) for k in (1, 2, 3)},
        extra={"lh_answer": answers},
    )


def _medisumcode(frame: pl.DataFrame) -> SampleMetrics:
    rows = [icd_scores(p, r) for p, r in zip(_texts(frame, "prediction"), _texts(frame, "reference"))]
    names = ("em_p", "em_r", "em_f1", "ap_p", "ap_r", "ap_f1", "valid", "valid_current")
    return SampleMetrics(
        columns={f"icd_{n}": np.array([getattr(s, n) for s in rows], dtype=np.float64) for n in names}
    )


def sample_metrics(task: str, frame: pl.DataFrame, options: ScoringOptions) -> SampleMetrics:
    """Metrics of every row of ``frame`` (rows that ended in an error must already be removed)."""
    if task == "mednli":
        return _mednli(frame)
    if task == "longhealth":
        return _longhealth(frame)
    if task == "medisumcode":
        return _medisumcode(frame)
    return _summary(task, frame, options)
