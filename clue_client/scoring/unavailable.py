"""The one way a model-based metric says it cannot be computed here."""

from __future__ import annotations

__all__ = ["MetricUnavailable"]


class MetricUnavailable(Exception):
    """An optional metric cannot run (extra not installed, model not available offline).

    Scoring catches it, reports the metric as missing with ``str(exc)`` as the reason and marks the task
    score partial; it is never raised to the user.
    """
