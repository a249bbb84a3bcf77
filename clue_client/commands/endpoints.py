"""``clue endpoints list|check``: what is configured, and whether a server answers as expected (over the API a run
would use: chat completions or the Responses API)."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from ..config import Endpoint, default_config_path, load_endpoints, resolve_endpoint
from ..errors import UserError
from .common import stdout
from .run import _served

if TYPE_CHECKING:
    from ..engine.outcome import ServerError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("endpoints", help="list or check configured endpoints")
    sub = p.add_subparsers(dest="action", required=True)
    lister = sub.add_parser("list", help="show the endpoints in endpoints.toml")
    lister.add_argument("--config", type=Path)
    lister.set_defaults(func=list_command)
    checker = sub.add_parser("check", help="reachability, model ids, context length, one timed request")
    checker.add_argument("endpoint", help="endpoint name or URL")
    checker.add_argument("--config", type=Path)
    checker.add_argument("--model")
    checker.add_argument("--no-model-check", action="store_true",
                         help="take --model as given even when the server's /models does not list it")
    checker.set_defaults(func=check_command)


def list_command(args: argparse.Namespace) -> int:
    path = args.config or default_config_path()
    table = Table(title=f"endpoints ({path})")
    for column in ("name", "kind", "url(s)", "model", "key env", "hosted", "credentialed ok", "concurrency"):
        table.add_column(column)
    for name, ep in load_endpoints(path).items():
        urls = "embedded" if ep.embedded else ", ".join(ep.base_urls)
        table.add_row(name, ep.kind, urls, ep.model or "(server's first)", ep.api_key_env or "-",
                      "yes" if ep.hosted else "no", "yes" if ep.allow_credentialed_data else "no", str(ep.max_concurrency))
    stdout.print(table)
    return 0


async def _check(endpoint: Endpoint, model: str | None, model_check: bool = True) -> dict[str, Any]:
    from ..serving import introspect
    from ..runner import http_client, resolve_model

    async with http_client(endpoint, min(60.0, endpoint.request_timeout_s())) as client:
        model, ids = await resolve_model(client, endpoint, model, check=model_check)
        kind = endpoint.kind if endpoint.kind != "generic" else await introspect.detect_kind(client, endpoint.base_url)
        context = endpoint.context_length or await introspect.context_length(client, endpoint.base_url, kind)
    from ..engine.hosted_rules import request_rules

    api = request_rules(endpoint, model).api
    status, error, latency = await _timed_sdk_request(endpoint, model)
    info = {"url": ", ".join(endpoint.base_urls), "kind": kind, "model": model, "models": ids,
            "context_length": context, "api": api, f"{api}_status": status, "latency_s": latency}
    if error is not None:
        info[f"{api}_error"] = endpoint.redact(str(error))
    return info


async def _timed_sdk_request(endpoint: Endpoint, model: str) -> tuple[int, ServerError | None, float]:
    """One request through the official ``openai`` SDK (its retries off), over the API a run would use (chat
    completions, or the Responses API with ``store`` false): if the SDK can parse the answer into its types, the
    endpoint is OpenAI-compatible for users' own code too, not just for ours. It carries the run's headers,
    query and body rules (``max_completion_tokens`` for o-series models...). A refusal comes back as the
    server's own message and type, which say more than any guess of ours."""
    import openai
    from openai import Omit

    from ..engine.hosted_rules import request_rules
    from ..engine.outcome import parse_error_body

    headers = endpoint.headers()  # the endpoint's own auth (Bearer, or api_key_header) and extra_headers
    # a key in another header (Azure's api-key): no "Authorization: Bearer unused" beside it
    omit = {"Authorization": Omit()} if endpoint.api_key_header and "Authorization" not in headers else None
    client = openai.AsyncOpenAI(base_url=endpoint.base_url, api_key="unused", max_retries=0,
                                default_headers=headers, default_query=endpoint.query_params(),
                                timeout=min(120.0, endpoint.request_timeout_s()))
    rules, say_ok = request_rules(endpoint, model), [{"role": "user", "content": "Say OK."}]
    started = time.perf_counter()
    try:
        async with client:
            if rules.api == "responses":  # its max_output_tokens takes at least 16
                await client.responses.create(model=model, input=say_ok, store=False, extra_body=rules.params(16),
                                              extra_headers=omit)
            else:
                await client.chat.completions.create(model=model, messages=say_ok, extra_body=rules.params(4),
                                                     extra_headers=omit)
    except openai.APIStatusError as exc:
        return exc.status_code, parse_error_body(exc.status_code, exc.response.content), time.perf_counter() - started
    except openai.APIError as exc:
        raise UserError(f"{endpoint.base_url}: {rules.api} request failed ({type(exc).__name__})") from None
    return 200, None, time.perf_counter() - started


def check_command(args: argparse.Namespace) -> int:
    endpoint = resolve_endpoint(args.endpoint, args.config)
    with _served(endpoint, None) as served:
        info = asyncio.run(_check(served, args.model, not args.no_model_check))
    for name, value in info.items():
        shown = f"{value:.3f}" if isinstance(value, float) else (", ".join(value) if isinstance(value, list) else value)
        stdout.print(f"{name:15} {shown}", markup=False)
    return 0 if 200 <= info[f"{info['api']}_status"] < 300 else 3
