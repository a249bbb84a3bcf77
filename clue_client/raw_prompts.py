"""What a protocol whose client renders the prompts (CLUE 2024) adds to a run between the tasks and the engine:
the chat template that renders them, the HTTP API that carries them, and each sample's request as 2024 sent
it (the task's answer length, the Llama-3 stop strings, truncation to the last T prompt tokens), with the
truncated samples counted by the server's own tokenizer (CLUE_PROTOCOL_2024.md §2, §3, §5).

The template comes from, in order: ``--chat-template FILE``; the server, where it tells (llama.cpp
``/props``); the model's ``tokenizer_config.json`` on the Hugging Face Hub at ``--hf-revision``. A base model
(``--base-model``) needs none. Truncation keeps the last T = context - reserve tokens, as TGI's ``truncate``
did: vLLM's ``truncate_prompt_tokens``, TGI's ``truncate``; llama.cpp cannot, so the client cuts the token
ids its ``/tokenize`` gives and sends those. A server without a tokenizer route (``generic``) gets the prompt
whole: an over-long one is refused there, and the count of truncated samples is unknown (null).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import httpx
import polars as pl

from .config import Endpoint
from .engine.hosted_rules import RequestRules
from .engine.wire import CHAT, COMPLETIONS, TGI_GENERATE, VLLM_COMPLETIONS, Wire
from .engine.wire.completions import TRUNCATE
from .errors import UserError
from .protocols import Protocol

__all__ = ["RenderSettings", "refuse_chat_only", "check_options", "prepare", "protocol_wire", "chat_template", "annotate",
           "substitution_notes", "PER_SAMPLE_COLUMNS"]

#: Columns ``annotate`` adds to a task's frame (and the samples parquet): the request's extra body fields as
#: canonical JSON, the prompt's token count as the server sees it, whether truncation cut it, the cut ids.
PER_SAMPLE_COLUMNS = {"params": pl.Utf8, "input_tokens": pl.Int64, "input_truncated": pl.Boolean,
                      "prompt_ids": pl.List(pl.Int64)}
#: Server kinds whose tokenizer route counts a raw prompt's tokens.
_TOKENIZING = ("vllm", "tgi", "llamacpp")


@dataclass(frozen=True, slots=True)
class RenderSettings:
    """The run's choices for client-rendered prompts (flags of ``clue run`` and ``clue batch export``)."""

    base_model: bool = False
    chat_template: Path | None = None
    hf_revision: str | None = None


def refuse_chat_only(endpoint: Endpoint, protocol: Protocol) -> None:
    """A chat-only API cannot take a raw prompt: one line, before anything is started or sent. That is
    ``kind = "openai"``, and a hosted endpoint of no known server kind (a hosted API; a self-hosted server at a
    public address says its kind in endpoints.toml)."""
    if not protocol.client_renders:
        return
    if endpoint.kind == "openai" or (endpoint.hosted and endpoint.kind == "generic"):
        what = "kind = \"openai\"" if endpoint.kind == "openai" else "hosted, no server kind set"
        raise UserError(f"--protocol {protocol.name} sends raw prompts (the client renders the chat template, as CLUE "
                        f"{protocol.name} did), which endpoint '{endpoint.name}' ({what}: a chat-only API) cannot take; "
                        "use a vLLM, TGI, llama.cpp or SGLang server (kind = \"vllm\", \"tgi\", \"llamacpp\" in "
                        "endpoints.toml for one at a public address), or --protocol 2025")


def check_options(endpoint: Endpoint, protocol: Protocol, rules: RequestRules, settings: RenderSettings,
                  fold_system: bool) -> None:
    """What the protocol cannot do on this endpoint or with these flags: one line, before anything is sent."""
    refuse_chat_only(endpoint, protocol)
    if protocol.greedy and rules.stochastic:  # CLUE 2024 decoded greedily: a sampled run would not be it
        setting = "no sampling parameters (omit_sampling)" if rules.omit_sampling else \
            f"temperature {rules.sampling.get('temperature')}"
        raise UserError(f"--protocol {protocol.name} decodes greedily (temperature 0), as CLUE {protocol.name} did; "
                        f"this run would send {setting}")
    if not protocol.client_renders and (settings.base_model or settings.chat_template or settings.hf_revision):
        raise UserError(f"--base-model, --chat-template and --hf-revision shape prompts the client renders; under "
                        f"--protocol {protocol.name} the server renders them (use --protocol 2024)")
    if settings.base_model and fold_system:
        raise UserError("--base-model and --fold-system are two different prompt forms; choose one")


async def prepare(client: httpx.AsyncClient, endpoint: Endpoint, kind: str, model: str, settings: RenderSettings,
                  protocol: Protocol, notes: dict[str, Any], fold_system: bool = False) -> Any:
    """Check the server takes raw prompts and find the chat template (None: the base-model form); ``notes``
    gets what the manifest records: server kind, wire, prompt form, the template's checksum and origin."""
    refuse_chat_only(endpoint, protocol)
    if kind not in _TOKENIZING:
        from .serving.introspect import has_completions_route

        if not await has_completions_route(client, endpoint.base_url):
            raise UserError(f"{endpoint.base_url} has no /completions route (a chat-only server): --protocol "
                            f"{protocol.name} sends raw prompts; use a server that takes them, or --protocol 2025")
    template = await chat_template(client, endpoint, kind, model, settings)
    notes["server_kind"] = kind
    notes["wire"] = protocol_wire(protocol, kind).name
    notes["prompt_form"] = "base" if settings.base_model else "folded" if fold_system else "system"
    notes["chat_template"] = None if template is None else {"sha256": template.sha256, "origin": template.origin}
    return template


def protocol_wire(protocol: Protocol, kind: str) -> Wire | None:
    """The raw-prompt API a client-rendered protocol's requests travel over on a server of ``kind``; None for a
    protocol the server renders (its requests take the endpoint's own API: chat or Responses)."""
    if not protocol.client_renders:
        return None
    if kind == "tgi":
        return TGI_GENERATE
    return VLLM_COMPLETIONS if kind == "vllm" else COMPLETIONS


async def chat_template(client: httpx.AsyncClient, endpoint: Endpoint, kind: str, model: str,
                        settings: RenderSettings) -> Any:
    """The ``ChatTemplate`` that renders this run's prompts (None for a base model), in the documented order."""
    from .protocols.render import ChatTemplate

    if settings.base_model:
        return None
    if settings.chat_template is not None:
        path = settings.chat_template
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"--chat-template {path}: cannot read it ({exc.strerror or exc})") from None
        return ChatTemplate(text, _tokens_beside(path), origin=f"file {path}").check()
    builtin = ""
    if kind == "llamacpp":
        from .serving.introspect import server_chat_template
        from .serving.local_worker import is_jinja

        told = await server_chat_template(client, endpoint.base_url)
        if told is not None and is_jinja(told[0]):
            return ChatTemplate(told[0], told[1], origin="server /props").check()
        if told is not None:
            builtin = f" (its /props names llama.cpp's built-in template '{told[0][:40]}', not Jinja text)"
    if settings.hf_revision is not None:
        from .serving.hub import hub_chat_template, parse_hf_revision

        return await hub_chat_template(*parse_hf_revision(settings.hf_revision, model))
    raise UserError(f"the client renders the prompts under this protocol and needs '{model}''s chat template, which "
                    f"{endpoint.base_url} does not tell{builtin}: pass --hf-revision REV (its tokenizer_config.json on "
                    "the Hugging Face Hub), --chat-template FILE, or --base-model for the plain-text form")


def _tokens_beside(path: Path) -> dict[str, str]:
    """Special tokens of a ``tokenizer_config.json`` next to a template file (bos_token for ``{{ bos_token }}``)."""
    from .protocols.render import special_tokens_of

    config = path.with_name("tokenizer_config.json")
    if not config.is_file():
        return {}
    try:
        return special_tokens_of(json.loads(config.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        raise UserError(f"{config}: not a readable tokenizer_config.json (read for the template's special tokens)") from None


async def annotate(frames: Mapping[str, pl.DataFrame], protocol: Protocol, kind: str, model: str,
                   context_length: int | None, tokenizer: Any) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
    """Each sample's request fields as the protocol sends them, and the manifest's account of truncation."""
    counting = kind in _TOKENIZING and tokenizer is not None and hasattr(tokenizer, "prompt_ids")
    out, truncated = {}, {}
    for task_id, frame in frames.items():
        rules = protocol.prompt_rules(task_id)
        bare = frame["lh_task"].is_in(list(protocol.longhealth_bare_tasks)).to_list() if "lh_task" in frame.columns \
            else [False] * frame.height
        jobs = []
        for prompt, plain in zip(frame["prompt"].to_list(), bare):
            stops = () if plain or not rules.stops else protocol.stops_for(model)
            kept = None if plain or kind not in _TOKENIZING else _kept(rules, context_length, task_id)
            jobs.append(_sample(prompt, stops, kept, protocol, kind, counting, tokenizer))
        rows = await asyncio.gather(*jobs)  # the tokenizer bounds its own concurrency
        columns = [pl.Series(name, [r[i] for r in rows], dtype=dtype)
                   for i, (name, dtype) in enumerate(PER_SAMPLE_COLUMNS.items())]
        out[task_id] = frame.with_columns(columns)
        truncated[task_id] = int(out[task_id]["input_truncated"].sum()) if counting else None
    notes: dict[str, Any] = {"n_truncated_input": truncated, "notes": substitution_notes(out)}
    how = {"vllm": "the server keeps the last T tokens (vLLM truncate_prompt_tokens)",
           "tgi": "the server keeps the last T tokens (TGI truncate)",
           "llamacpp": "the client keeps the last T token ids of the server's /tokenize and sends them"}.get(
        kind, "not available on this server (no tokenizer route): over-long prompts are sent whole and refused")
    return out, {"truncation": {"context_length": context_length, "how": how}, **notes}


def substitution_notes(frames: Mapping[str, pl.DataFrame]) -> list[str]:
    """One line per task whose records lacked a field the protocol's template reads (MeDiSumQA 2024)."""
    from .tasks.medisumqa import SUBSTITUTED

    lines = []
    for task_id, frame in frames.items():
        if SUBSTITUTED in frame.columns and (n := int(frame[SUBSTITUTED].sum())):
            lines.append(f"{task_id}: {n} of {frame.height} prompt(s) show discharge_summary where CLUE 2024's template "
                         "reads without_discharge_summary, which the data file lacks (the closest field it has)")
    return lines


def _kept(rules: Any, context_length: int | None, task_id: str) -> int | None:
    if rules.truncate_reserve is None:
        return None
    if context_length is None:
        raise UserError(f"{task_id}: this protocol keeps the last (context - {rules.truncate_reserve}) prompt tokens, "
                        "but the server does not report its context length; set context_length for the endpoint in "
                        "endpoints.toml")
    return rules.truncate_to(context_length)


async def _sample(prompt: str, stops: tuple[str, ...], kept: int | None, protocol: Protocol, kind: str,
                  counting: bool, tokenizer: Any) -> tuple[Any, ...]:
    """(params JSON, input tokens, truncated, cut ids) of one sample."""
    params: dict[str, Any] = {}
    if stops:
        params["stop"] = list(stops)
        if kind == "vllm":  # vLLM matches stop strings on detokenized text, where special tokens are skipped
            params["stop_token_ids"] = list(protocol.stop_token_ids)
    if kept is not None:
        params[TRUNCATE] = kept
    n = cut = None
    if counting and kept is not None:
        ids = await tokenizer.prompt_ids(prompt)
        n = len(ids)
        if kind == "llamacpp" and n > kept:
            cut = ids[-kept:]
    over = None if n is None else n > kept
    return json.dumps(params, sort_keys=True, separators=(",", ":")), n, over, cut
