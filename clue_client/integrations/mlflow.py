"""A finished run as one MLflow run: params, metrics and artifacts, in any tracking store MLflow reaches.

Needs the ``[mlflow]`` extra (``mlflow-skinny`` plus SQLAlchemy and Alembic for a local ``sqlite:///`` store;
the full ``mlflow`` package would add a server, Flask, scikit-learn and pyarrow that logging never uses).
``connect`` is called before a run sends anything, so a missing extra or an unreachable store is one line
and costs no request. Logging the same run folder again (a resumed run, a second export) updates the MLflow
run it went to before instead of adding another.

What goes out is read from the run folder, which never holds a secret; base URLs lose any user info or
query, and the HTML report artifact holds no sample of a credentialed task (PhysioNet's agreement).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import urlsplit

from ..datasets.formats import is_public
from ..errors import UserError
from ..redact import Redactor
from ..reports.eee import public_url
from ..reports.run_folder import LEVEL_TASKS, Run, run_usage

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["EXTRA_HINT", "Tracker", "require_mlflow", "connect", "log_run", "run_params", "run_metrics"]

EXTRA_HINT = "pip install 'clue-client[mlflow]'"
DEFAULT_EXPERIMENT = "clue"
RUN_KEY_TAG = "clue.run_key"
ARTIFACTS = ("results.json", "manifest.json")
_NOISY = ("mlflow", "alembic")  # their INFO lines (database migrations) would land between our results


def require_mlflow(flag: str) -> None:
    """One line naming the extra when MLflow is not installed (before anything is sent)."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise UserError(f"{flag} needs the [mlflow] extra: {EXTRA_HINT}") from None


@dataclass(frozen=True)
class Tracker:
    """An open tracking store and the experiment the runs go to."""

    client: MlflowClient
    uri: str
    experiment_id: str
    experiment: str

    def describe(self, run_id: str) -> str:
        """The line a command prints once the run is logged."""
        return f"MLflow: run {run_id} in experiment '{self.experiment}' ({_shown(self.uri)})"


def _shown(uri: str) -> str:
    """A tracking URI as printed: without user info or query (an http or database URI may carry a credential)."""
    return public_url(uri)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _NOISY]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _first_line(exc: BaseException, uri: str) -> str:
    """The error's first line, without the password a tracking URI may carry (``http://user:pw@host``)."""
    text = str(exc).strip().splitlines()
    line = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return Redactor.of([p for p in (urlsplit(uri).password,) if p]).text(line)


def _is_file_store(uri: str) -> bool:
    scheme = urlsplit(uri).scheme
    return scheme == "file" or len(scheme) <= 1  # a plain path (or a Windows drive letter)


def _artifacts_beside(uri: str) -> str | None:
    """For a local SQLite store, artifacts go in ``mlruns/`` beside the database (MLflow's default is the current
    folder, wherever the command happened to run); other stores keep their own default."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri.removeprefix("sqlite:///"))
    return (database.parent.resolve() / "mlruns").as_uri()


def connect(tracking_uri: str | None, flag: str = "--mlflow") -> Tracker:
    """Open the store (``None``: MLflow's own default, ``$MLFLOW_TRACKING_URI`` or ``./mlflow.db``) and the
    experiment (``$MLFLOW_EXPERIMENT_NAME``, else "clue"), creating either as needed."""
    require_mlflow(flag)
    import mlflow
    from mlflow import MlflowClient

    uri = tracking_uri or mlflow.get_tracking_uri()
    if _is_file_store(uri):
        # MLflow 3 refuses its file store unless asked; naming a file store is asking
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
    try:
        with _quiet():
            client = MlflowClient(tracking_uri=uri)
            found = client.get_experiment_by_name(name)
            experiment_id = found.experiment_id if found else client.create_experiment(name, _artifacts_beside(uri))
    except Exception as exc:  # MLflow, SQLAlchemy, requests and OS errors alike: the store is the user's to fix
        raise UserError(f"{flag}: cannot open the MLflow tracking store {_shown(uri)}: "
                        f"{_first_line(exc, uri)}") from None
    return Tracker(client, uri, experiment_id, name)


def _ms(iso: str | None) -> int | None:
    try:
        return int(datetime.fromisoformat(iso).timestamp() * 1000) if iso else None
    except ValueError:
        return None


def run_params(run: Run) -> dict[str, str]:
    """What the run was: endpoint, model, protocol, decoding, tasks and data checksums (strings)."""
    raw = run.manifest.raw
    decoding = run.results.decoding or {"sampling": run.manifest.sampling}
    params = {
        "endpoint": public_url(run.manifest.endpoint),
        "endpoint_kind": str(raw.get("kind") or ""),
        "model": run.manifest.model or run.results.model,
        "protocol": run.results.protocol,
        "protocol_version": str(run.manifest.protocol_version or ""),
        "tasks": ",".join(run.manifest.tasks or run.results.tasks),
        "limit": "none" if raw.get("limit") is None else str(raw.get("limit")),
        "clue_client_version": str(raw.get("clue_client_version") or ""),
    }
    for key in ("sampling", "reasoning_budget", "reasoning_effort"):
        value = decoding.get(key)
        params[f"decoding.{key}"] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    params.update({f"data_sha256.{path}": digest for path, digest in run.manifest.data_files.items()})
    return params


def run_metrics(run: Run) -> dict[str, float]:
    """Task scores, metric means, levels, CI bounds, sample counts, tokens, cost and errors."""
    metrics: dict[str, float] = {}
    for task, result in run.results.tasks.items():
        values: dict[str, float | None] = {"score": result.score, **dict(result.metrics)}
        if result.ci95:
            values.update(ci95_low=result.ci95[0], ci95_high=result.ci95[1])
        values.update(n=result.n, n_errors=result.n_errors, n_rejected=result.n_rejected, n_missing=result.n_missing,
                      n_truncated=result.n_truncated, n_empty=result.n_empty)
        metrics.update({f"{task}/{k}": float(v) for k, v in values.items() if v is not None})
    for level in LEVEL_TASKS:
        score, ci = getattr(run.results, level), run.results.levels_ci95.get(level)
        if score is not None:
            metrics[f"{level}/score"] = score
        if ci:
            metrics[f"{level}/ci95_low"], metrics[f"{level}/ci95_high"] = ci
    usage = run_usage(run)
    metrics.update({"usage/requests": usage.requests, "usage/errors": usage.errors,
                    "usage/prompt_tokens": usage.prompt_tokens, "usage/completion_tokens": usage.completion_tokens,
                    "usage/reasoning_tokens": usage.reasoning_tokens})
    for name in ("latency_p50", "latency_p90", "latency_p99", "cost"):
        if (value := getattr(usage, name)) is not None:
            metrics[f"usage/{name}_s" if name.startswith("latency") else f"usage/{name}"] = float(value)
    return metrics


def _run_key(run: Run) -> str:
    """The same run folder (same place, endpoint and model) always maps to the same MLflow run."""
    ident = f"{run.path.resolve()}\n{run.manifest.endpoint}\n{run.manifest.model}"
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def _target_run(tracker: Tracker, run: Run, params: dict[str, str]) -> tuple[str, dict[str, str]]:
    """(MLflow run id, params still to log): the run this folder went to before, while its params agree."""
    client, key = tracker.client, _run_key(run)
    earlier = client.search_runs([tracker.experiment_id], filter_string=f"tags.`{RUN_KEY_TAG}` = '{key}'",
                                 max_results=1, order_by=["attributes.start_time DESC"])
    if earlier:
        logged = earlier[0].data.params
        if all(logged.get(k, v) == v for k, v in params.items()):
            return earlier[0].info.run_id, {k: v for k, v in params.items() if k not in logged}
    name = f"{run.name} @ {params['endpoint']}" if run.manifest.endpoint != run.name else run.name
    created = client.create_run(tracker.experiment_id, start_time=_ms(run.manifest.started_at),
                                tags={RUN_KEY_TAG: key}, run_name=f"{name} ({run.path.name})")
    return created.info.run_id, params


def log_run(tracker: Tracker, run: Run, flag: str = "--mlflow") -> str:
    """Log ``run`` and return its MLflow run id."""
    from mlflow.entities import Metric, Param, RunTag

    from ..reports.html import render_html
    from ..reports.published_table import select_published

    params, metrics = run_params(run), run_metrics(run)
    withheld = [t for t in run.results.tasks if not is_public(t)]
    # base URLs are a tag, not a param: the embedded server listens on a new port each time a run resumes
    tags = {"clue.run_folder": str(run.path.resolve()), "clue.protocol": run.results.protocol,
            "clue.base_urls": ",".join(public_url(u) for u in run.manifest.raw.get("base_urls") or []),
            "clue.report_samples": ("public tasks only (credentialed samples left out: " + ", ".join(withheld) + ")")
            if withheld else "all tasks"}
    page = render_html([run], select_published("all"), credentialed_samples=False)
    client = tracker.client
    try:
        with _quiet(), tempfile.TemporaryDirectory(prefix="clue-mlflow-") as tmp:
            run_id, new_params = _target_run(tracker, run, params)
            now = _ms(run.manifest.finished_at) or 0
            items = list(new_params.items())
            for start in range(0, max(len(items), 1), 100):  # MLflow takes at most 100 params per batch
                client.log_batch(run_id, params=[Param(k, v) for k, v in items[start:start + 100]],
                                 tags=[RunTag(k, v) for k, v in tags.items()] if start == 0 else ())
            client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])
            for name in ARTIFACTS:
                if (run.path / name).is_file():
                    client.log_artifact(run_id, str(run.path / name))
            report = Path(tmp) / "report.html"
            report.write_text(page, encoding="utf-8")
            client.log_artifact(run_id, str(report))
            client.set_terminated(run_id, "FINISHED", end_time=_ms(run.manifest.finished_at))
    except Exception as exc:
        raise UserError(f"{flag}: logging to {_shown(tracker.uri)} failed: {_first_line(exc, tracker.uri)}; the run "
                        f"folder is complete: clue export {run.path} --format mlflow --tracking-uri URI logs it "
                        "again") from None
    return run_id
