"""One evaluation run, end to end: guard → build prompts → send what is missing → store → score → write.

The run folder holds everything needed to re-score or report without calling the API again:
``manifest.json``, ``store.sqlite``, ``samples/<task>.parquet`` (prompts + request keys),
``predictions/<task>.parquet`` (answers + per-sample metrics) and ``results.json``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

import httpx
import polars as pl

from . import __version__
from .config import Endpoint, identity_of
from .engine.engine import Backoff, Engine, EngineStats
from .engine.hosted_rules import RequestRules, request_rules
from .errors import DataError, ServerUnreachable, UserError
from .engine.outcome import clean_text, parse_error_body
from .engine.request import Request
from .engine.wire import wire_for
from .files import replace_atomically
from .protocols import get_protocol
from .redact import Redactor
from .run_lock import run_lock
from .shards import in_shard, shard_filter
from .store import STORED_KEY, Store, read_manifest, utc_now, write_manifest

__all__ = [
    "RunOptions", "RunSummary", "PreparedRun", "prepare_run", "run_evaluation", "check_credentialed",
    "score_run_dir", "resolve_model", "offline_model", "build_samples", "require_data", "requests_for", "check_rerun",
    "with_repeats", "send_missing", "keyed_requests",
]

log = logging.getLogger(__name__)

RESPONSE_SCHEMA = {
    "key": pl.Utf8,
    "prediction": pl.Utf8,
    "error": pl.Utf8,
    "finish_reason": pl.Utf8,
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "latency_s": pl.Float64,
    "attempts": pl.Int64,
    "reasoning": pl.Utf8,
    "reasoning_tokens": pl.Int64,
    "retryable": pl.Boolean,
    "replica": pl.Utf8,
}


@dataclass(frozen=True)
class RunOptions:
    endpoint: Endpoint
    tasks: Sequence[Any]  # clue_client.tasks.Task
    data_dir: Path
    out: Path
    model: str | None = None
    limit: int | None = None
    concurrency: int | None = None
    fold_system: bool = False
    max_cost: float | None = None
    seed: int = 1
    model_check: bool = True  # False: --model taken as given, /models not consulted for it
    scoring: Any = None  # clue_client.scoring.ScoringOptions
    backoff: Backoff = Backoff()
    longhealth_budget: int | str | None = None  # None: CLUE's 8k setting; N prompt tokens; "max": served context
    retry_errors: bool = False  # send stored errors again (refused and given-up alike), not only missing answers
    new_identity: bool = False  # a folder holding answers of another model or server may be run into anyway
    repeats: int = 1  # every prompt sent this many times (repeat i >= 1 is part of the request key)
    shard: tuple[int, int] | None = None  # (I, N): send only the requests of shard I of N (shards.py)
    protocol: str = "2025"  # CLUE protocol: "2025" (chat, the server's template) or "2024" (rendered on the client)
    base_model: bool = False  # client-rendered protocols: the plain-text form of a base model (no chat template)
    chat_template: Path | None = None  # client-rendered protocols: the chat template's Jinja file
    hf_revision: str | None = None  # client-rendered protocols: Hub revision of the model's tokenizer_config.json

    def render_settings(self) -> Any:
        from .raw_prompts import RenderSettings

        return RenderSettings(self.base_model, self.chat_template, self.hf_revision)


@dataclass
class RunSummary:
    results: dict[str, Any]
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # task, sample id, error (unscored)
    rejected: list[tuple[str, str, str]] = field(default_factory=list)  # refused for good (scored empty by default)
    n_missing: int = 0
    stopped_reason: str | None = None


def check_credentialed(endpoint: Endpoint, tasks: Sequence[Any]) -> None:
    """Refuse, before anything is sent, to put PhysioNet data on a hosted endpoint without consent."""
    if not endpoint.hosted or endpoint.allow_credentialed_data:
        return
    blocked = [t.id for t in tasks if t.credentialed]
    if blocked:
        raise UserError(
            f"refusing to send credentialed PhysioNet data ({', '.join(blocked)}) to hosted endpoint "
            f"'{endpoint.name}': its data use agreement forbids third-party services that may retain, train "
            "on or review it; run these tasks on a self-hosted endpoint, or set allow_credentialed_data = true "
            f"for '{endpoint.name}' in {endpoint.source} only if the provider guarantees none of that"
        )


def http_client(endpoint: Endpoint, timeout: float) -> httpx.AsyncClient:
    """The introspection client: the endpoint's headers (key, extra_headers) and query on every call."""
    return httpx.AsyncClient(headers=endpoint.headers(), params=endpoint.query_params(), timeout=timeout)


#: Where ``/models`` is known not to name everything requests may use, an unlisted model is only a warning:
#: Azure OpenAI lists base models, not the deployment names requests use; TGI and llama.cpp's server answer
#: any model name with the one model they serve (TGI's own docs send ``"model": "tgi"``).
UNLISTED_DEPLOYMENT_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")
ANY_NAME_KINDS = frozenset({"tgi", "llamacpp"})
#: ``/models`` answers that mean "no model list here", not "you are misconfigured".
NO_MODEL_LIST_STATUS = frozenset({404, 405, 501})


async def resolve_model(
    client: httpx.AsyncClient, endpoint: Endpoint, requested: str | None, *, check: bool = True
) -> tuple[str, list[str]]:
    """The model to request (given, configured, or the server's first) and the ids the server lists.

    With ``check``, a model the server's non-empty list does not name stops here (exit 2) instead of
    becoming one error per sample; so does a client error on ``/models`` itself (a gateway refusing the key).
    """
    from .serving.introspect import fetch, json_of

    url = f"{endpoint.base_url}/models"
    response = await fetch(client, url, deadline_s=min(30.0, endpoint.request_timeout_s()), base_url=endpoint.base_url)
    said = "" if response.is_success else endpoint.redact(str(parse_error_body(response.status_code, response.content)))
    if response.status_code in (401, 403):
        raise UserError(
            f"{endpoint.base_url} rejected the API key ({said}); "
            f"check the variable named by api_key_env ({endpoint.api_key_env or 'none set'})"
        )
    if check and 400 <= response.status_code < 500 and response.status_code not in NO_MODEL_LIST_STATUS:
        raise UserError(f"{url} answered {said}; fix the endpoint or key (or pass --no-model-check to send anyway)")
    ids: list[str] = []
    listed = json_of(response) if response.is_success else None
    if isinstance(listed, dict) and isinstance(listed.get("data"), list):
        ids = [clean_text(m["id"]) for m in listed["data"] if isinstance(m, dict) and isinstance(m.get("id"), str)]
    model = requested or endpoint.model or (ids[0] if ids else None)
    if model is None:
        raise UserError(f"{endpoint.base_url} lists no model at /models (HTTP {response.status_code}); pass --model ID")
    if check and ids and model not in ids:
        _unlisted_model(endpoint, model, ids)
    return model, ids


def _unlisted_model(endpoint: Endpoint, model: str, ids: list[str]) -> None:
    """A model the server does not list: a warning where lists are known to be incomplete, else exit 2."""
    listed = ", ".join(ids[:20]) + (f", ... ({len(ids)} in all)" if len(ids) > 20 else "")
    host = urlsplit(endpoint.base_url).hostname or ""
    if host.endswith(UNLISTED_DEPLOYMENT_HOSTS):
        why = "Azure lists base models, not deployment names"
    elif endpoint.kind in ANY_NAME_KINDS:
        why = f"a {endpoint.kind} server answers any model name with the one it serves"
    else:
        raise UserError(f"model '{model}' is not served by {endpoint.base_url}: it lists {listed}; "
                        "pass one of those with --model (or --no-model-check to send it as given)")
    log.warning("model '%s' is not among the ids %s lists (%s); %s, so it is sent as given",
                model, endpoint.base_url, listed, why)


def _data_checksums(data_dir: Path, tasks: Sequence[Any]) -> dict[str, str]:
    from .datasets.formats import sha256_file

    return {t.data_path: sha256_file(data_dir / t.data_path) for t in tasks}


def require_data(data_dir: Path, tasks: Sequence[Any]) -> None:
    for task in tasks:
        path = data_dir / task.data_path
        if not path.is_file():
            raise DataError(f"{path}: data file for task '{task.id}' not found (see `clue data status` / `clue data fetch`)")


async def build_samples(client: httpx.AsyncClient, endpoint: Endpoint, model: str,
                         options: RunOptions) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
    """Every task's hand-over frame, and what the manifest must say about how they were built."""
    from .serving import introspect
    from .tasks import BuildContext
    from .tasks.longhealth import budget

    protocol = get_protocol(options.protocol)
    needs_tokens = any(t.id == "longhealth" for t in options.tasks)
    tokenizer, context_length, notes, kind = None, endpoint.context_length, {}, endpoint.kind
    if needs_tokens or protocol.client_renders:
        kind = endpoint.kind if endpoint.kind != "generic" else await introspect.detect_kind(client, endpoint.base_url)
        if context_length is None:
            context_length = await introspect.context_length(client, endpoint.base_url, kind)
        tokenizer = introspect.make_tokenizer(client, endpoint.base_url, kind, model)
    if needs_tokens:
        chosen = await budget(tokenizer, context_length, options.longhealth_budget, protocol)
        notes["longhealth_budget"] = {**asdict(chosen), "tokens": introspect.describe_tokens(tokenizer, kind)}
    template = None
    if protocol.client_renders:
        from .raw_prompts import prepare

        template = await prepare(client, endpoint, kind, model, options.render_settings(), protocol, notes,
                                 options.fold_system)
    ctx = BuildContext(tokenizer=tokenizer, context_length=context_length, fold_system=options.fold_system,
                       seed=options.seed, limit=options.limit, longhealth_budget=options.longhealth_budget,
                       output_reserve=endpoint.reasoning_budget or 0, protocol=protocol,
                       base_model=options.base_model, chat_template=template)
    frames = {}
    for task in options.tasks:
        frame = await task.build(options.data_dir, ctx)
        if options.limit is not None and task.id != "longhealth":
            frame = frame.head(options.limit)
        frames[task.id] = frame
    if protocol.client_renders:
        from .raw_prompts import annotate

        frames, account = await annotate(frames, protocol, kind, model, context_length, tokenizer)
        notes.update(account)
    return frames, notes


def with_repeats(frame: pl.DataFrame, repeats: int) -> pl.DataFrame:
    """One row per (sample, repeat) with a ``repeat`` column, repeat-major; one repeat leaves the frame as is."""
    if repeats <= 1:
        return frame
    return pl.concat([frame.with_columns(pl.lit(r, pl.Int64).alias("repeat")) for r in range(repeats)])


def key_material(options: RunOptions, notes: dict[str, Any]) -> dict[str, Any]:
    """What the request keys take beyond messages and params: the protocol's version, the template's checksum."""
    template = notes.get("chat_template") or {}
    extra = {"chat_template_sha256": template["sha256"]} if template.get("sha256") else None
    return {"protocol": get_protocol(options.protocol).version, "extra": extra}


def requests_for(frame: pl.DataFrame, identity: str, rules: RequestRules, *, protocol: str | None = None,
                 extra: dict[str, Any] | None = None) -> tuple[pl.DataFrame, list[Request]]:
    """One Request per row. Greedy: identical prompts (LongHealth reshuffles can coincide) share a key and
    are sent once. Sampling (or the server's default, which may sample): each sample is its own draw.
    A ``repeat`` column (``with_repeats``) makes repeat i >= 1 a key of its own; repeat 0 keeps the plain key.
    A client-rendered protocol's frame adds the raw ``prompt`` and its per-sample body ``params`` (see
    ``raw_prompts``); ``protocol`` and ``extra`` are key material (``key_material``), as is the wire API."""
    repeats = frame["repeat"].to_list() if "repeat" in frame.columns else [0] * frame.height
    requests = []
    raw = sample_inputs(frame)
    for sample_id, messages, max_tokens, repeat, (prompt, params, ids) in zip(
            frame["sample_id"].to_list(), frame["messages"].to_list(), frame["max_tokens"].to_list(), repeats, raw):
        draw = f"{frame['task'][0]}/{sample_id}" if rules.stochastic else None
        material = {**(extra or {}), **(rules.key_extra() or {}), **({"repeat": repeat} if repeat else {})}
        request = Request.build(identity, messages, {**rules.params(int(max_tokens)), **params}, draw, prompt=prompt,
                                **({"protocol": protocol} if protocol else {}), extra=material or None)
        requests.append(replace(request, prompt_ids=tuple(ids)) if ids is not None else request)
    return frame.with_columns(pl.Series("key", [r.key for r in requests], dtype=pl.Utf8)), requests


def sample_inputs(frame: pl.DataFrame) -> list[tuple[str | None, dict[str, Any], list[int] | None]]:
    """(raw prompt, extra body params, client-cut token ids) per sample; (None, {}, None) for chat samples."""
    if "prompt" not in frame.columns:
        return [(None, {}, None)] * frame.height
    params = frame["params"].to_list() if "params" in frame.columns else [None] * frame.height
    ids = frame["prompt_ids"].to_list() if "prompt_ids" in frame.columns else [None] * frame.height
    return [(p, json.loads(q) if q else {}, i) for p, q, i in zip(frame["prompt"].to_list(), params, ids)]


def _manifest(options: RunOptions, endpoint: Endpoint, model: str, server_models: list[str]) -> dict[str, Any]:
    return {
        "clue_client_version": __version__,
        "protocol": options.protocol,
        "protocol_version": get_protocol(options.protocol).version,
        "endpoint": endpoint.name,
        "base_urls": list(endpoint.base_urls),
        "embedded": endpoint.embedded,
        "kind": endpoint.kind,
        "model": model,
        "server_models": server_models,
        "hosted": endpoint.hosted,
        **request_rules(endpoint, model).manifest(),  # sampling, max_tokens_field, reasoning budget/effort, extra_body
        "template_opens_think": endpoint.template_opens_think,
        "tasks": [t.id for t in options.tasks],
        "data_dir": str(options.data_dir),
        "data_files": _data_checksums(options.data_dir, options.tasks),
        "limit": options.limit,
        "fold_system": options.fold_system,
        "base_model": options.base_model,
        "seed": options.seed,
        "repeats": options.repeats,
        "shard": list(options.shard) if options.shard else None,
        "prices": endpoint.prices(),
        "max_cost": options.max_cost,
        "store": "store.sqlite",
        "started_at": utc_now(),
        "finished_at": None,
        "replicas": {},
    }


@dataclass
class PreparedRun:
    """A run folder with its manifest and prompts written, and the Requests they need."""

    endpoint: Endpoint
    model: str
    manifest: dict[str, Any]
    requests: list[Request]  # unique by key; only the run's shard
    wire: Any = None  # engine.wire.Wire the requests travel over (None: chat)


def offline_model(options: RunOptions) -> str | None:
    """The model id when prompts can be built without any server call: model known, no LongHealth budgets, and
    a protocol whose prompts the server renders (a client-rendered one asks the server for its kind, context
    and token counts)."""
    model = options.model or options.endpoint.model
    if model is None or any(t.id == "longhealth" for t in options.tasks) or get_protocol(options.protocol).client_renders:
        return None
    return model


async def prepare_run(options: RunOptions, *, offline: bool = False) -> PreparedRun:
    """Guard, resolve the model, build every task's prompts and keys; write manifest and samples.

    Shared by online runs and batch export, so both produce the same keys for the same prompts.
    ``offline`` skips the server (see ``offline_model``) for batch files built away from it.
    """
    endpoint = options.endpoint
    check_credentialed(endpoint, options.tasks)
    check_protocol(endpoint, options)
    require_data(options.data_dir, options.tasks)
    try:
        async with http_client(endpoint, endpoint.request_timeout_s()) as client:
            if offline:
                model, server_models = offline_model(options), []
                if model is None:
                    raise UserError("building prompts without the server needs --model and no longhealth task")
            else:
                model, server_models = await resolve_model(client, endpoint, options.model, check=options.model_check)
            frames, notes = await build_samples(client, endpoint, model, options)
    except UserError as exc:  # may quote the server (a tokenizer's error body): never its key
        raise type(exc)(Redactor.of(endpoint.secrets()).text(str(exc))) from None
    return write_prepared(options, endpoint, model, server_models, frames, notes)


def check_rerun(options: RunOptions, identity: str) -> dict[str, Any] | None:
    """The folder's earlier manifest (None for a new folder), once every check a rerun needs has passed: its
    store is not lost, and a folder holding answers is run into only by the same endpoint identity (another
    model, or the same server spelled ``localhost`` instead of ``127.0.0.1``, would reuse nothing and overwrite
    results.json) unless ``new_identity``. Called before anything in the folder is rewritten."""
    if not (options.out / "manifest.json").is_file():
        return None
    earlier = read_manifest(options.out)
    with Store(options.out / "store.sqlite", expected=earlier.get(STORED_KEY, 0)) as store:
        holds_answers = bool(store.done_keys(retry_errors=True))  # answers, not errors a fix will resend
    holds_answers = holds_answers or (options.out / "results.json").is_file()
    before = identity_of(earlier["model"], earlier.get("base_urls") or [], bool(earlier.get("embedded")))
    if holds_answers and before != identity and not options.new_identity:
        raise UserError(f"{options.out} holds answers of {before}, this run is {identity}: another model, server "
                        "spelling or set of base URLs reuses none of them and overwrites results.json; pass "
                        "--new-identity to run into this folder anyway, or choose another folder")
    return earlier


def check_protocol(endpoint: Endpoint, options: RunOptions) -> None:
    """What the protocol cannot do on this endpoint, refused before anything is started or sent."""
    from .raw_prompts import check_options

    check_options(endpoint, get_protocol(options.protocol), request_rules(endpoint, options.model or endpoint.model or ""),
                  options.render_settings(), options.fold_system)


def write_prepared(options: RunOptions, endpoint: Endpoint, model: str, server_models: list[str],
                   frames: dict[str, pl.DataFrame], notes: dict[str, Any] | None = None) -> PreparedRun:
    from .raw_prompts import protocol_wire

    identity = endpoint.identity(model)
    earlier = check_rerun(options, identity)
    notes = notes or {}
    manifest = {**_manifest(options, endpoint, model, server_models), **notes}
    if earlier is not None:  # a resumed run keeps its batch history and stored count
        manifest.update({k: v for k, v in earlier.items() if k.startswith("batch_") or k == STORED_KEY})
    write_manifest(options.out, manifest)
    unique: dict[str, Request] = {}
    rules = request_rules(endpoint, model)
    for task_id, (keyed, requests) in keyed_requests(options, identity, rules, frames, notes).items():
        replace_atomically(options.out / "samples" / f"{task_id}.parquet", keyed.write_parquet)
        unique.update((r.key, r) for r in requests)  # the same prompt twice is sent once
    wire = protocol_wire(get_protocol(options.protocol), notes.get("server_kind", endpoint.kind)) or wire_for(rules.api)
    return PreparedRun(endpoint, model, manifest, list(unique.values()), wire)


def keyed_requests(options: RunOptions, identity: str, rules: RequestRules, frames: dict[str, pl.DataFrame],
                 notes: dict[str, Any]) -> dict[str, tuple[pl.DataFrame, list[Request]]]:
    """Per task: every prompt keyed (× ``--repeats``; samples/ hold them all, whatever the shard: merge checks
    them) and the Requests of this run's shard. One place for online runs, batch export and the dry-run plan."""
    keys = key_material(options, notes)
    out = {}
    for task_id, frame in frames.items():
        keyed, requests = requests_for(with_repeats(frame, options.repeats), identity, rules, **keys)
        out[task_id] = keyed, [r for r in requests if in_shard(r.key, options.shard)]
    return out


async def run_evaluation(
    options: RunOptions, on_start: Callable[[EngineStats, Any], None] | None = None
) -> RunSummary:
    """Run (or resume) one evaluation into ``options.out``; see the module docstring for the layout.

    Holds the run folder's lock throughout: a second run on the same folder stops at once (exit 2)."""
    with run_lock(options.out):
        return await _run_locked(options, on_start)


async def _run_locked(options: RunOptions, on_start: Callable[[EngineStats, Any], None] | None) -> RunSummary:
    stopped_reason = await send_missing(options, on_start)
    summary = score_run_dir(options.out, options.scoring)
    summary.stopped_reason = stopped_reason
    return summary


async def send_missing(options: RunOptions, on_start: Callable[[EngineStats, Any], None] | None = None) -> str | None:
    """Prepare the run folder and send what its store lacks; why sending stopped early, if it did.

    The caller holds the run folder's lock (``run_evaluation``, or several endpoints' runs in one loop)."""
    prepared = await prepare_run(options)
    endpoint, model, manifest, out = prepared.endpoint, prepared.model, prepared.manifest, options.out
    with Store(out / "store.sqlite", expected=manifest.get(STORED_KEY, 0)) as store:
        pending = store.missing(prepared.requests, options.retry_errors)
        answered = store.done_keys(retry_errors=True)  # a request answered before: the breaker's control
        control = next((r for r in prepared.requests if r.key in answered), None)
        async with Engine(endpoint, model, concurrency=options.concurrency, max_cost=options.max_cost,
                          backoff=options.backoff, wire=prepared.wire) as engine:
            engine.stats.total = len(pending)
            if on_start is not None:
                on_start(engine.stats, engine.pool)
            by_key = {r.key: r for r in pending}
            completed = False
            try:
                async for result in engine.run(pending, total=len(pending), control=control):
                    store.put(by_key.pop(result.key), result, model=model)
                completed = True
            finally:  # also on Ctrl-C and SIGTERM: the manifest says how far the run got
                manifest["replicas"] = engine.pool.summary()
                manifest["finished_at" if completed else "stopped_at"] = utc_now()
                manifest[STORED_KEY] = store.count()
                write_manifest(out, manifest)
            return engine.stats.stopped_reason


def _joined_frames(run_dir: Path, manifest: dict[str, Any]) -> dict[str, pl.DataFrame]:
    """Prompts joined with stored responses: one frame per task in the scoring hand-over shape."""
    frames = {}
    with Store(run_dir / "store.sqlite", expected=manifest.get(STORED_KEY, 0)) as store:
        for task_id in manifest["tasks"]:
            path = run_dir / "samples" / f"{task_id}.parquet"
            if not path.is_file():
                raise UserError(f"{path}: missing; was this run folder written by `clue run`?")
            samples = pl.read_parquet(path)
            rows = [
                {"key": r["key"], "prediction": r["text"], "error": r["error"], "finish_reason": r["finish_reason"],
                 "prompt_tokens": r["prompt_tokens"], "completion_tokens": r["completion_tokens"],
                 "latency_s": r["latency_s"], "attempts": r["attempts"], "retryable": bool(r["retryable"]),
                 "replica": r["replica"], "reasoning": r["reasoning"], "reasoning_tokens": r["reasoning_tokens"]}
                for r in store.rows(samples["key"].unique().to_list())
            ]
            responses = pl.DataFrame(rows, schema=RESPONSE_SCHEMA)
            joined = samples.join(responses, on="key", how="left", maintain_order="left")
            frames[task_id] = _mark_rejected(joined)
    return frames


def decoding(manifest: dict[str, Any]) -> dict[str, Any]:
    """What shaped the answers beyond CLUE's protocol, as results.json and the results table state it."""
    rules = RequestRules.from_manifest(manifest)
    return {"sampling": rules.manifest()["sampling"], "reasoning_budget": rules.reasoning_budget,
            "reasoning_effort": rules.reasoning_effort}


def _mark_rejected(frame: pl.DataFrame) -> pl.DataFrame:
    """The ``rejected`` column scoring reads: the error of a sample refused for good (not retryable)."""
    from .scoring.rejected import REJECTED

    refused = pl.col("error").is_not_null() & ~pl.col("retryable")
    return frame.with_columns(pl.when(refused).then(pl.col("error")).alias(REJECTED)).drop("retryable")


def score_run_dir(run_dir: Path, scoring_options: Any = None) -> RunSummary:
    """Score a run folder from its stored answers only (no network) and write predictions + results."""
    with run_lock(run_dir, create=False):
        return _score_locked(run_dir, scoring_options)


def _score_locked(run_dir: Path, scoring_options: Any) -> RunSummary:
    from .scoring import ScoringOptions, score_run, write_results, write_scored
    from .protocols import DEFAULT_PROTOCOL
    from .scoring.aggregate import count_first_twice
    from .scoring.versions import scorer_versions

    manifest = read_manifest(run_dir)
    scoring_options = replace(scoring_options or ScoringOptions(),  # scored under the protocol it was run under
                              template_opens_think=bool(manifest.get("template_opens_think")),
                              protocol=manifest.get("protocol") or DEFAULT_PROTOCOL,
                              model=str(manifest.get("model") or ""))
    shard = manifest.get("shard")  # a shard's folder scores its own share of the prompts
    own = shard_filter(tuple(shard) if shard else None)
    # the doubled first sample is the task's first, whichever shard holds it
    frames = {t: count_first_twice(t, f, scoring_options).filter(own)
              for t, f in _joined_frames(run_dir, manifest).items()}
    answered = {t: f.filter(pl.col("prediction").is_not_null() | pl.col("error").is_not_null()) for t, f in frames.items()}
    scored, results = score_run(answered, scoring_options)
    n_missing = 0
    for task_id, frame in frames.items():
        missing = frame.height - answered[task_id].height
        n_missing += missing
        results["tasks"][task_id]["n_missing"] = missing
        if "input_truncated" in frame.columns:  # client-rendered prompts: cut to the last T tokens (None: unknown)
            counted = frame["input_truncated"].drop_nulls()
            results["tasks"][task_id]["n_truncated_input"] = int(counted.sum()) if counted.len() else None
    write_scored(scored, run_dir / "predictions")
    results = {"endpoint": manifest["endpoint"], "model": manifest["model"],
               "protocol": manifest.get("protocol", "2025"), "decoding": decoding(manifest), **results}
    write_results(results, run_dir / "results.json")
    manifest["n_rejected"] = {t: r["n_rejected"] for t, r in results["tasks"].items()}
    manifest["rejected_samples"] = "excluded" if scoring_options.exclude_rejected else "scored as empty answers"
    manifest["scorer"] = scorer_versions(scoring_options)
    write_manifest(run_dir, manifest)
    return RunSummary(results=results, errors=_listed(scored, pl.col("error")), n_missing=n_missing,
                      rejected=_listed(scored, pl.col("rejected")))


def _listed(frames: dict[str, pl.DataFrame], message: pl.Expr) -> list[tuple[str, str, str]]:
    """(task, sample id, message) of every row where ``message`` is set."""
    return [
        (task_id, sid, text)
        for task_id, frame in frames.items()
        for sid, text in frame.filter(message.is_not_null()).select("sample_id", message).iter_rows()
    ]
