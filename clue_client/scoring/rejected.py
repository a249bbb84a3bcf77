"""Samples the server refused for good (context overflow: vLLM/llama.cpp 400, TGI 422), as CLUE counts them.

CLUE scores such a sample against the model, so a small-context model is not scored on the short notes
only and two models are always scored on the same samples. The runner marks each one in a ``rejected``
column (the server's refusal; null elsewhere). By default it becomes an empty answer and is scored;
``exclude_rejected`` keeps it an unscored error row (the task is then marked partial). Transient failures
(retries exhausted) are not rejections: they stay unscored and a rerun sends them again.
"""

from __future__ import annotations

import polars as pl

__all__ = ["REJECTED", "PARTIAL_MARK", "n_rejected", "settle_rejected"]

REJECTED = "rejected"
#: What ``partial`` lists when refused samples were left out of the task score.
PARTIAL_MARK = "rejected samples"


def n_rejected(frame: pl.DataFrame) -> int:
    return int(frame[REJECTED].is_not_null().sum()) if REJECTED in frame.columns else 0


def settle_rejected(frame: pl.DataFrame, exclude: bool) -> pl.DataFrame:
    """Refused rows as empty answers (no error), or, with ``exclude``, left as they are (unscored errors)."""
    if exclude or REJECTED not in frame.columns or not n_rejected(frame):
        return frame
    refused = pl.col(REJECTED).is_not_null()
    return frame.with_columns(
        pl.when(refused).then(pl.lit("")).otherwise(pl.col("prediction")).alias("prediction"),
        pl.when(refused).then(pl.lit(None, dtype=pl.Utf8)).otherwise(pl.col("error")).alias("error"),
    )
