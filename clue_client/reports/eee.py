"""A run folder as Every Eval Ever files (schema 0.3.0), the shared results format other harnesses export to.

The files land where EEE's datastore keeps them, so its own validator (``python -m every_eval_ever
validate``) checks them as they are: ``OUT/data/clue/<developer>/<model>/<uuid>.json`` (the aggregate: task
scores in %, each metric's mean as a proportion, Level 1/2, bootstrap 95% CIs as uncertainty, model,
endpoint, decoding, protocol, clue-client's version) and, with ``include_samples``, ``<uuid>_samples.jsonl``
beside it (one line per scored sample of a public task). The uuid is derived from the run, so exporting the
same run again rewrites the same files.

Credentialed tasks (MedNLI, Problem Summary, MeDiSumQA, MeDiSumCode) are PhysioNet data: their results carry
``source_data_private`` and no sample of theirs is ever written, whatever the options.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit, urlunsplit

import polars as pl

from ..datasets.fetch import SOURCES
from ..datasets.formats import DATASETS, is_public
from ..errors import UserError
from ..files import replace_atomically
from ..scoring.protocol import TASKS
from .run_folder import LEVEL_TASKS, Run, TaskResult, score_columns

__all__ = ["SCHEMA_VERSION", "COLLECTION", "EeeFiles", "export_eee", "aggregate_record", "model_identity",
           "public_url"]

SCHEMA_VERSION = "0.3.0"
COLLECTION = "clue"  # the datastore folder of every CLUE record
_UNSAFE_PATH = set('<>"\\|?*')  # besides ':', which the datastore maps to '_'
_BUNDLED = {"gemma-3-270m-q4_k_m": ("google/gemma-3-270m", "Q4_K_M GGUF")}  # the embedded model's served alias
_TITLES = {"mednli": "MedNLI", "meqsum": "MeQSum", "problem_summary": "Problem Summary", "longhealth": "LongHealth",
           "medisumqa": "MeDiSumQA", "medisumcode": "MeDiSumCode"}
_ENGINES = {"vllm": "vLLM", "tgi": "TGI", "llamacpp": "llama.cpp"}


@dataclass(frozen=True, slots=True)
class EeeFiles:
    """What an export wrote: the aggregate file, and the per-sample file when there was one."""

    aggregate: Path
    samples: Path | None
    n_samples: int


def public_url(url: str) -> str:
    """A URL without user info, query or fragment (where a careless URL could carry a credential); a path or
    a URL without a host (``sqlite:///x.db``, ``file:///x``) as it is."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _path_part(text: str, what: str) -> str:
    """One datastore folder name, as EEE's publisher derives it (':' → '_'; nothing unportable)."""
    part = text.strip().replace(":", "_")
    if (not part or part in {".", "..", "data"} or "/" in part or part.endswith((".", " "))
            or any(c in _UNSAFE_PATH or ord(c) < 32 for c in part)):
        raise UserError(f"--model-id: {what} '{text}' cannot be a datastore folder name")
    return part


def model_identity(run: Run, model_id: str | None = None) -> tuple[str, str, str]:
    """(id in Hugging Face form, developer folder, model folder). A served id without an organisation needs
    ``model_id``, except the bundled model and OpenAI's API models, whose developer is known."""
    served = run.manifest.model or run.results.model
    given = model_id or served
    if "/" not in given:
        if given in _BUNDLED:
            given = _BUNDLED[given][0]
        elif run.manifest.raw.get("kind") == "openai":
            given = f"openai/{given}"
        else:
            raise UserError(f"the served model id '{served}' names no developer; pass --model-id ORG/NAME "
                            "(its Hugging Face form, e.g. Qwen/Qwen2.5-7B-Instruct)")
    developer, _, name = given.strip().partition("/")
    if not developer or not name or any(not p for p in name.split("/")):
        raise UserError(f"--model-id: '{given}' is not ORG/NAME")
    folder = "_".join(_path_part(p, "model name") for p in name.split("/"))
    return given.strip(), _path_part(developer, "developer"), folder


def _epoch(iso: str | None) -> str | None:
    if not iso:
        return None
    try:
        return str(int(datetime.fromisoformat(iso).timestamp()))
    except ValueError:
        return None


def _strings(mapping: Mapping[str, Any]) -> dict[str, str]:
    """EEE's ``additional_details``: strings only; None left out, anything else as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True)
            for k, v in mapping.items() if v is not None}


def _model_info(run: Run, model_id: str, developer: str) -> dict[str, Any]:
    raw = run.manifest.raw
    served = run.manifest.model or run.results.model
    hosted = bool(raw.get("hosted"))
    kind = str(raw.get("kind") or "generic")
    if served in _BUNDLED:
        availability = "open_weights"
    elif kind == "openai":
        availability = "closed_weights"
    else:
        availability = "unknown"
    info: dict[str, Any] = {
        "name": served, "id": model_id, "developer": developer,
        "additional_details": _strings({
            "deployment_type": "externally_managed" if hosted else "self_deployed",
            "model_availability": availability,
            "served_model_id": served,
            "endpoint": public_url(run.manifest.endpoint),
            "endpoint_kind": kind,
            "base_urls": [public_url(u) for u in raw.get("base_urls") or []],
            "quantization": _BUNDLED[served][1] if served in _BUNDLED else None,
        }),
    }
    if raw.get("embedded"):
        info["inference_engine"] = {"name": "llama.cpp (xllamacpp, embedded by clue-client)"}
    elif kind in _ENGINES:
        info["inference_engine"] = {"name": _ENGINES[kind]}
    if hosted:
        hosts = sorted({urlsplit(u).hostname or "" for u in raw.get("base_urls") or []} - {""})
        if hosts:
            info["inference_platform"] = ", ".join(hosts)
    return info


def _source_data(run: Run, task: str) -> dict[str, Any]:
    """Where the task's data came from: a URL for a public set, ``other`` (private) for a credentialed one."""
    dataset = DATASETS.get(task)
    path = dataset.path if dataset else task
    details = _strings({"file": path, "sha256": run.manifest.data_files.get(path),
                        "licence": dataset.licence if dataset else None})
    source = SOURCES.get(task)
    if is_public(task) and source is not None:
        return {"dataset_name": _TITLES.get(task, task), "source_type": "url", "url": [source.url],
                "additional_details": details}
    details["access"] = "credentialed: PhysioNet data use agreement; no sample is published"
    return {"dataset_name": _TITLES.get(task, task), "source_type": "other", "additional_details": details}


def _generation(run: Run, task: str) -> dict[str, Any]:
    decoding = run.results.decoding or {}
    sampling = decoding.get("sampling", run.manifest.sampling)
    args: dict[str, Any] = {}
    if isinstance(sampling, Mapping):
        args.update({k: float(sampling[k]) for k in ("temperature", "top_p", "top_k") if sampling.get(k) is not None})
    frame = run.predictions.get(task)
    if frame is not None and "max_tokens" in frame.columns and frame.height:
        args["max_tokens"] = int(frame["max_tokens"].max())
    args["reasoning"] = bool(decoding.get("reasoning_budget") or decoding.get("reasoning_effort"))
    extra = {"sampling": sampling if isinstance(sampling, str) else None,
             "seed": sampling.get("seed") if isinstance(sampling, Mapping) else None,
             "reasoning_budget": decoding.get("reasoning_budget"),
             "reasoning_effort": decoding.get("reasoning_effort"),
             "max_tokens_field": run.manifest.raw.get("max_tokens_field"), "limit": run.manifest.raw.get("limit")}
    return {"generation_args": args, "additional_details": _strings(extra)}


def _uncertainty(ci: tuple[float, float] | None, n: int | None) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if ci is not None:
        out["confidence_interval"] = {"lower": ci[0], "upper": ci[1], "confidence_level": 0.95,
                                      "method": "bootstrap percentile (samples resampled; LongHealth by question)"}
    if n is not None:
        out["num_samples"] = n
    return out or None


def _metric(metric_id: str, name: str, unit: str, top: float, description: str) -> dict[str, Any]:
    return {"evaluation_description": description, "metric_id": metric_id, "metric_name": name,
            "metric_kind": "score" if unit == "percent" else metric_id, "metric_unit": unit,
            "lower_is_better": False, "score_type": "continuous", "min_score": 0.0, "max_score": top}


def _task_results(run: Run, task: str, result: TaskResult) -> list[dict[str, Any]]:
    name = f"clue.{task}"
    source, generation = _source_data(run, task), _generation(run, task)
    counts = _strings({"n_errors": result.n_errors, "n_rejected": result.n_rejected, "n_truncated": result.n_truncated,
                       "n_empty": result.n_empty, "n_missing": result.n_missing,
                       "n_reasoning_truncated": result.n_reasoning_truncated,
                       "partial": list(result.partial) or None, "missing_metrics": dict(result.missing) or None})
    out = []
    if result.score is not None:
        parts = ", ".join(TASKS[task].score) if task in TASKS else "its metrics"
        score = {"score": result.score, "details": counts}
        if (uncertainty := _uncertainty(result.ci95, result.n)) is not None:
            score["uncertainty"] = uncertainty
        out.append({"evaluation_result_id": f"{name}/score", "evaluation_name": name, "source_data": source,
                    "metric_config": _metric("clue.task_score", "CLUE task score", "percent", 100.0,
                                             f"CLUE {_TITLES.get(task, task)} task score: mean of {parts}, in %"),
                    "score_details": score, "generation_config": generation})
    for metric, value in result.metrics.items():
        if value is None or not math.isfinite(value):
            continue
        out.append({"evaluation_result_id": f"{name}/{metric}", "evaluation_name": name, "source_data": source,
                    "metric_config": _metric(metric, metric, "proportion", 1.0,
                                             f"mean of the per-sample {metric} over scored samples"),
                    "score_details": {"score": value, "uncertainty": {"num_samples": result.n}},
                    "generation_config": generation})
    return out


def _level_results(run: Run) -> list[dict[str, Any]]:
    out = []
    for level, members in LEVEL_TASKS.items():
        score = getattr(run.results, level)
        if score is None:
            continue
        source = {"dataset_name": f"CLUE {level.replace('level', 'Level ')}", "source_type": "other",
                  "additional_details": {"tasks": ",".join(members)}}
        details = _strings({"partial_tasks": list(run.results.levels_partial.get(level) or ()) or None})
        entry: dict[str, Any] = {"score": score, "details": details}
        if (uncertainty := _uncertainty(run.results.levels_ci95.get(level), None)) is not None:
            entry["uncertainty"] = uncertainty
        out.append({"evaluation_result_id": f"clue.{level}/score", "evaluation_name": f"clue.{level}",
                    "source_data": source,
                    "metric_config": _metric("clue.level_score", "CLUE level score", "percent", 100.0,
                                             f"mean of the task scores of {', '.join(members)}, in %"),
                    "score_details": entry})
    return out


def aggregate_record(run: Run, model_id: str | None = None) -> dict[str, Any]:
    """The aggregate EvaluationLog of a run (without the link to a samples file)."""
    model, developer, _ = model_identity(run, model_id)
    started = _epoch(run.manifest.started_at) or "0"
    results = [r for task, result in run.results.tasks.items() for r in _task_results(run, task, result)]
    results += _level_results(run)
    if not results:
        raise UserError(f"{run.path}: no task has a score yet; nothing to export")
    raw = run.manifest.raw
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "evaluation_id": f"{COLLECTION}/{model}/{started}",
        "retrieved_timestamp": str(int(time.time())),
        "source_metadata": {"source_name": "clue-client", "source_type": "evaluation_run",
                            "source_organization_name": "unknown", "evaluator_relationship": "third_party",
                            "additional_details": {"benchmark": "CLUE (Dada et al., arXiv 2404.04067)"}},
        "model_info": _model_info(run, model, developer),
        "eval_library": {"name": "clue-client", "version": str(raw.get("clue_client_version") or "unknown"),
                         "additional_details": _strings({"protocol": run.results.protocol,
                                                         "protocol_version": run.manifest.protocol_version,
                                                         "scorer": raw.get("scorer"),
                                                         "rejected_samples": raw.get("rejected_samples")})},
        "evaluation_results": results,
    }
    if (finished := _epoch(run.manifest.finished_at)) is not None:
        record["evaluation_timestamp"] = finished
    return record


def _score_expr(frame: pl.DataFrame, task: str) -> pl.Expr:
    """A sample's score: the mean of its metrics that make the task score (NaN: not applicable)."""
    columns = score_columns(frame, task)
    if not columns:
        return pl.lit(None, pl.Float64)
    return pl.mean_horizontal(pl.col(c).cast(pl.Float64).fill_nan(None) for c in columns)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def sample_records(run: Run, evaluation_id: str, model_id: str) -> Iterator[dict[str, Any]]:
    """One InstanceLevelEvaluationLog per scored sample of a public task; credentialed tasks yield nothing."""
    for task, frame in run.predictions.items():
        if not is_public(task):
            continue
        scored = frame.with_columns(_score_expr(frame, task).alias("_score")).filter(pl.col("_score").is_not_null())
        metrics = score_columns(frame, task)
        for row in scored.iter_rows(named=True):
            messages = row.get("messages") or []
            users = [m for m in messages if m.get("role") == "user"]
            prompt = _text(users[-1].get("content") if users else "")
            reference = [_text(row.get("reference"))]
            answer = _text(row.get("prediction"))
            record: dict[str, Any] = {
                "schema_version": SCHEMA_VERSION, "evaluation_id": evaluation_id, "model_id": model_id,
                "evaluation_name": f"clue.{task}", "evaluation_result_id": f"clue.{task}/score",
                "sample_id": _text(row["sample_id"]),
                "sample_hash": hashlib.sha256(json.dumps({"raw": prompt, "reference": reference}, sort_keys=True,
                                                         separators=(",", ":")).encode()).hexdigest(),
                "interaction_type": "single_turn",
                "input": {"raw": prompt, "reference": reference,
                          "formatted": json.dumps(messages, ensure_ascii=False)},
                "output": {"raw": [_text(row.get("raw_content") if row.get("raw_content") is not None else answer)]},
                "messages": None,
                "answer_attribution": [{
                    "turn_idx": 0, "source": "output.raw",
                    "extracted_value": _text(row.get("lh_answer")) if task == "longhealth" else answer,
                    "extraction_method": ("clue.longhealth_option (the option the answer names)"
                                          if task == "longhealth" else "clue.final_answer (content without reasoning)"),
                    "is_terminal": True}],
                # is_correct: right (LongHealth) or a perfect summary score (MeQSum)
                "evaluation": {"score": float(row["_score"]), "is_correct": bool(row["_score"] >= 1.0)},
                "metadata": _strings({"group_id": row.get("group_id"), "lh_task": row.get("lh_task"),
                                      "finish_reason": row.get("finish_reason"),
                                      **{m: row.get(m) for m in metrics if _finite(row.get(m))}}),
            }
            if row.get("reasoning"):
                record["output"]["reasoning_trace"] = [row["reasoning"]]
            if row.get("error"):
                record["error"] = row["error"]
            if row.get("prompt_tokens") is not None and row.get("completion_tokens") is not None:
                prompt_tokens, completion = int(row["prompt_tokens"]), int(row["completion_tokens"])
                record["token_usage"] = {"input_tokens": prompt_tokens, "output_tokens": completion,
                                         "total_tokens": prompt_tokens + completion,
                                         "reasoning_tokens": row.get("reasoning_tokens")}
            if _finite(row.get("latency_s")):
                record["performance"] = {"latency_ms": 1000.0 * float(row["latency_s"])}
            yield record


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _file_uuid(evaluation_id: str, run: Run) -> str:
    """A version-4-shaped uuid derived from the run, so the same run exports to the same file names."""
    digest = hashlib.sha256(f"{evaluation_id}\n{run.manifest.endpoint}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _dump(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, allow_nan=False)


def export_eee(run: Run, out: Path, *, model_id: str | None = None, include_samples: bool = False) -> EeeFiles:
    """Write the aggregate file (and the public tasks' samples file with ``include_samples``) under ``out``."""
    record = aggregate_record(run, model_id)
    model, developer, folder_name = model_identity(run, model_id)
    file_id = _file_uuid(record["evaluation_id"], run)
    relative = Path("data", COLLECTION, developer, folder_name)
    folder = Path(out) / relative
    samples_path, n_rows = None, 0
    if include_samples:
        lines = [_dump(r) for r in sample_records(run, record["evaluation_id"], model)]
        if lines:
            text = ("\n".join(lines) + "\n").encode("utf-8")
            samples_path, n_rows = folder / f"{file_id}_samples.jsonl", len(lines)
            replace_atomically(samples_path, lambda tmp: tmp.write_bytes(text))
            record["detailed_evaluation_results"] = {
                "format": "jsonl", "file_path": (relative / samples_path.name).as_posix(),
                "hash_algorithm": "sha256", "checksum": hashlib.sha256(text).hexdigest(), "total_rows": n_rows}
    stale = folder / f"{file_id}_samples.jsonl"
    if samples_path is None and stale.is_file():  # from an earlier export with samples: it would dangle
        stale.unlink()
    aggregate = folder / f"{file_id}.json"
    body = json.dumps(record, ensure_ascii=False, allow_nan=False, indent=2) + "\n"
    replace_atomically(aggregate, lambda tmp: tmp.write_text(body, encoding="utf-8"))
    return EeeFiles(aggregate, samples_path, n_rows)
