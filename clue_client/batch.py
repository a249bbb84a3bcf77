"""Offline batch files: a run's requests out as OpenAI Batch API JSONL, the batch output back into its store.

Both the OpenAI Batch API and vLLM's ``run_batch`` read request lines
``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}`` and write output lines
``{"id", "custom_id", "response": {"status_code", "request_id", "body"} | null, "error": ... | null}``.
``custom_id`` is our request key, and the key hashes the model, the endpoint's URL set, the messages and the
sampling parameters: an output line can only land on the request it answers, and a line from another run
(another model, other prompts) is foreign here and skipped.

Export builds the run folder exactly as ``clue run`` does (``prepare_run``: same manifest, samples, keys)
and writes only the requests the store does not hold yet, so export → batch → import can repeat until
nothing is missing, and an online ``clue run`` on the same folder resumes what is left.

Import rebuilds each Request from ``samples/<task>.parquet`` (messages, ``key``) and the manifest's
request rules (sampling, max tokens field, reasoning budget, extra_body), so it needs nothing but the run
folder. Each line's HTTP outcome is classified by ``outcome.py`` like an online answer: transient errors
are stored as retryable (a resume re-sends them), request errors (HTTP 400: too long) as final.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import polars as pl

from .datasets.formats import sha256_file
from .errors import ServerUnreachable, UserError
from .engine.hosted_rules import RequestRules
from .engine.outcome import Action, Outcome, classify_status
from .engine.wire.chat import parse_completion
from .engine.request import Request, Result
from .files import replace_atomically
from .runner import RunOptions, RunSummary, offline_model, prepare_run, score_run_dir
from .run_lock import run_lock
from .store import STORED_KEY, Store, read_manifest, utc_now, write_manifest

__all__ = [
    "REQUESTS_FILE", "CHAT_URL", "BATCH_REPLICA", "ExportReport", "ImportReport", "LineProblem", "OutputLine",
    "request_line", "write_requests_file", "parse_output_line", "outcome_of", "result_from", "run_requests",
    "export_batch", "import_batch",
]

REQUESTS_FILE = "batch_requests.jsonl"
CHAT_URL = "/v1/chat/completions"
BATCH_REPLICA = "batch"  # the ``replica`` recorded for answers that came from a batch file


# ---- export ----------------------------------------------------------------------------------------
def request_line(request: Request, model: str) -> str:
    """One batch input line (no trailing newline)."""
    return json.dumps({"custom_id": request.key, "method": "POST", "url": CHAT_URL, "body": request.body(model)},
                      ensure_ascii=False)


def write_requests_file(path: Path, requests: Iterable[Request], model: str) -> int:
    """Write the JSONL atomically (temp file + rename); returns the number of lines."""
    n = 0

    def write(tmp: Path) -> None:
        nonlocal n
        with tmp.open("w", encoding="utf-8") as out:
            for request in requests:
                out.write(request_line(request, model) + "\n")
                n += 1

    replace_atomically(path, write)
    return n


@dataclass(frozen=True, slots=True)
class ExportReport:
    path: Path
    model: str
    written: int
    already_done: int
    offline: bool  # built without contacting the endpoint


async def export_batch(options: RunOptions) -> ExportReport:
    """Create (or refresh) the run folder and write ``RUN/batch_requests.jsonl`` with what is still missing."""
    with run_lock(options.out):
        return await _export_locked(options)


async def _export_locked(options: RunOptions) -> ExportReport:
    model = offline_model(options)
    if model is None and options.endpoint.embedded:
        raise UserError("batch export does not start the embedded server: pass --model (LongHealth is not "
                        "available for the embedded endpoint in batch mode)")
    try:
        prepared = await prepare_run(options, offline=model is not None)
    except ServerUnreachable as exc:
        raise ServerUnreachable(f"{exc} (batch export needs the server only to learn the model id or to count "
                                "LongHealth tokens: with --model and without longhealth it never calls it)") from None
    with Store(options.out / "store.sqlite", expected=prepared.manifest.get(STORED_KEY, 0)) as store:
        pending = store.missing(prepared.requests, options.retry_errors)
    path = options.out / REQUESTS_FILE
    written = write_requests_file(path, pending, prepared.model)
    manifest = prepared.manifest
    manifest["batch_export"] = {"requests_file": REQUESTS_FILE, "requests": written, "exported_at": utc_now()}
    write_manifest(options.out, manifest)
    return ExportReport(path, prepared.model, written, len(prepared.requests) - written, offline=model is not None)


# ---- parsing output lines --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OutputLine:
    custom_id: str
    outcome: Outcome


def _error_body(error: Any) -> bytes:
    """An output line's ``error`` (a string, ``{"code", "message"}`` or a server error body) as JSON bytes."""
    if isinstance(error, str):
        error = {"error": error}
    return json.dumps(error).encode("utf-8")


def outcome_of(record: dict[str, Any]) -> Outcome:
    """Classify one output record the way an online exchange is classified; ValueError when malformed."""
    response, error = record.get("response"), record.get("error")
    if isinstance(response, dict):
        status = response.get("status_code")
        if not isinstance(status, int) or isinstance(status, bool):
            raise ValueError("response.status_code is not an integer")
        body = response.get("body")
        if 200 <= status < 300:
            if not isinstance(body, dict):
                raise ValueError(f"HTTP {status} response without a JSON object body")
            return parse_completion(json.dumps(body).encode("utf-8"))
        return classify_status(status, {}, _error_body(body if body is not None else error))
    if response is not None:
        raise ValueError("response is neither an object nor null")
    if error is None:
        raise ValueError("neither response nor error")
    if isinstance(error, dict):  # OpenAI: the batch itself failed this request (expired, cancelled, ...)
        code, message = error.get("code"), error.get("message")
        return Outcome(Action.RETRY, f"batch error {code}: {message}")
    return Outcome(Action.RETRY, f"batch error: {str(error)[:300]}")


def parse_output_line(text: str) -> OutputLine:
    """One output line → its custom_id and classified outcome; ValueError (the reason) when malformed."""
    try:
        record = json.loads(text)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    custom_id = record.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise ValueError("no custom_id")
    return OutputLine(custom_id, outcome_of(record))


def result_from(key: str, outcome: Outcome) -> Result:
    """The Result an online run would store for this outcome (a batch line is one attempt)."""
    if outcome.action is Action.DONE:
        payload = outcome.payload or {}
        return Result(key, payload["text"], finish_reason=payload.get("finish_reason"),
                      prompt_tokens=payload.get("prompt_tokens"), completion_tokens=payload.get("completion_tokens"),
                      replica=BATCH_REPLICA, reasoning=payload.get("reasoning"),
                      reasoning_tokens=payload.get("reasoning_tokens"))
    final = outcome.action is Action.RECORD  # the request itself is at fault: resending cannot help
    return Result(key, None, error=outcome.error or "error", retryable=not final, replica=BATCH_REPLICA)


# ---- import ----------------------------------------------------------------------------------------
def run_requests(run_dir: Path, manifest: dict[str, Any]) -> dict[str, Request]:
    """The run's Requests by key, rebuilt from ``samples/*.parquet`` and the manifest's request rules."""
    requests: dict[str, Request] = {}
    rules = RequestRules.from_manifest(manifest)
    for task_id in manifest.get("tasks", []):
        path = run_dir / "samples" / f"{task_id}.parquet"
        if not path.is_file():
            raise UserError(f"{path}: missing; was {run_dir} written by `clue run` or `clue batch export`?")
        frame = pl.read_parquet(path, columns=["key", "messages", "max_tokens"])
        for key, messages, max_tokens in frame.iter_rows():
            requests[key] = Request(key, tuple(messages), rules.params(int(max_tokens)))
    return requests


@dataclass(frozen=True, slots=True)
class LineProblem:
    line: int  # 1-based line number in the output file
    reason: str


@dataclass
class ImportReport:
    path: Path
    lines: int = 0
    answered: int = 0
    errors: int = 0
    retryable_errors: int = 0
    duplicates: int = 0
    skipped: list[LineProblem] = field(default_factory=list)
    summary: RunSummary | None = None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    yield number, raw
    except FileNotFoundError:
        raise UserError(f"{path}: batch output file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a batch output file") from None


def import_batch(run_dir: Path, output: Path, scoring_options: Any = None) -> ImportReport:
    """Store every attributable output line, skip (and report) the rest, then score the run folder."""
    with run_lock(run_dir, create=False):
        return _import_locked(run_dir, output, scoring_options)


def _import_locked(run_dir: Path, output: Path, scoring_options: Any) -> ImportReport:
    manifest = read_manifest(run_dir)
    if not (run_dir / "store.sqlite").is_file():
        raise UserError(f"{run_dir}: no store.sqlite; create the run with `clue batch export` first")
    requests = run_requests(run_dir, manifest)
    report = ImportReport(output)
    parsed: list[OutputLine] = []
    seen: set[str] = set()
    for number, text in _lines(output):
        report.lines += 1
        try:
            line = parse_output_line(text)
        except ValueError as exc:
            report.skipped.append(LineProblem(number, f"malformed: {exc}"))
            continue
        if line.custom_id not in requests:
            report.skipped.append(LineProblem(number, f"custom_id {line.custom_id[:40]!r} is not a request of this run"))
            continue
        report.duplicates += line.custom_id in seen
        seen.add(line.custom_id)
        parsed.append(line)
    if not parsed:
        raise UserError(f"{output}: none of its {report.lines} line(s) answers a request of {run_dir} "
                        "(wrong file or wrong run folder?); nothing imported")
    model = manifest["model"]
    with Store(run_dir / "store.sqlite", expected=manifest.get(STORED_KEY, 0)) as store:
        for line in parsed:
            result = result_from(line.custom_id, line.outcome)
            store.put(requests[line.custom_id], result, model=model)
            report.answered += result.ok
            report.errors += not result.ok
            report.retryable_errors += result.retryable
        manifest[STORED_KEY] = store.count()
    manifest.setdefault("batch_imports", []).append({
        "file": output.name, "sha256": sha256_file(output), "imported_at": utc_now(), "lines": report.lines,
        "answered": report.answered, "errors": report.errors, "skipped": len(report.skipped),
    })
    manifest["finished_at"] = utc_now()
    write_manifest(run_dir, manifest)
    report.summary = score_run_dir(run_dir, scoring_options)
    return report
