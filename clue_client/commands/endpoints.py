"""``clue endpoints list|check``: what is configured, and whether a server answers as expected (over the API a run
would use: chat completions or the Responses API)."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from ..config import Endpoint, default_config_path, load_endpoints, resolve_endpoint
from ..errors import UserError
from .common import stdout
from .run import _served


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
    from ..engine.hosted_rules import request_rules
    from ..serving import introspect
    from ..runner import http_client, resolve_model

    async with http_client(endpoint, min(60.0, endpoint.request_timeout_s())) as client:
        model, ids = await resolve_model(client, endpoint, model, check=model_check)
        kind = endpoint.kind if endpoint.kind != "generic" else await introspect.detect_kind(client, endpoint.base_url)
        context = endpoint.context_length or await introspect.context_length(client, endpoint.base_url, kind)
    api = request_rules(endpoint, model).api
    status, error, latency = await _timed_sdk_request(endpoint, model)
    info = {"url": ", ".join(endpoint.base_urls), "kind": kind, "model": model, "models": ids,
            "context_length": context, "api": api, f"{api}_status": status, "latency_s": latency}
    if error is not None:
        info[f"{api}_error"] = endpoint.redact(error)
    return info


async def _timed_sdk_request(endpoint: Endpoint, model: str) -> tuple[int, str | None, float]:
    """One request through the official ``openai`` SDK (its retries off), over the API a run would use (chat
    completions, or the Responses API with ``store`` false): if the SDK can parse the answer into its types, the
    endpoint is OpenAI-compatible for users' own code too, not just for ours; and the answer is read as
    ``clue run`` reads it, so a 200 with a login page or an error object is no "healthy". It carries the run's
    headers, query and body rules (``max_completion_tokens`` for o-series models...), follows no redirect
    (``outcome.redirect_problem``) and has one deadline for the whole call (the SDK's timeout is per read). A
    refusal comes back as the server's own message and type, which say more than any guess of ours."""
    import openai
    from openai import Omit

    from ..engine.causes import connection_problem
    from ..engine.hosted_rules import request_rules
    from ..engine.outcome import Action, parse_error_body, redirect_problem
    from ..engine.wire import wire_for
    from ..errors import ServerUnreachable

    headers = endpoint.headers()  # the endpoint's own auth (Bearer, or api_key_header) and extra_headers
    # a key in another header (Azure's api-key): no "Authorization: Bearer unused" beside it
    omit = {"Authorization": Omit()} if endpoint.api_key_header and "Authorization" not in headers else None
    deadline = min(120.0, endpoint.request_timeout_s())
    rules, say_ok = request_rules(endpoint, model), [{"role": "user", "content": "Say OK."}]
    wire = wire_for(rules.api)
    url = wire.url(endpoint.base_url)
    client = openai.AsyncOpenAI(base_url=endpoint.base_url, api_key="unused", max_retries=0,
                                default_headers=headers, default_query=endpoint.query_params(), timeout=deadline,
                                http_client=openai.DefaultAsyncHttpxClient(follow_redirects=False, timeout=deadline))
    started = time.perf_counter()
    try:
        async with asyncio.timeout(deadline), client:
            if rules.api == "responses":  # its max_output_tokens takes at least 16
                raw: Any = await client.responses.with_raw_response.create(
                    model=model, input=say_ok, store=False, extra_body=rules.params(16), extra_headers=omit)
            else:
                raw = await client.chat.completions.with_raw_response.create(
                    model=model, messages=say_ok, extra_body=rules.params(4), extra_headers=omit)
    except TimeoutError:
        raise ServerUnreachable(f"{url}: no answer to a one-line {rules.api} request within {deadline:g} s") from None
    except openai.APIStatusError as exc:
        status = exc.status_code
        if 300 <= status < 400:
            raise UserError(redirect_problem(url, status, exc.response.headers.get("location"), endpoint.base_url)) from None
        return status, str(parse_error_body(status, exc.response.content)), time.perf_counter() - started
    except openai.APIConnectionError as exc:
        raise ServerUnreachable(connection_problem(url, exc)) from None
    except openai.APIError as exc:
        raise UserError(f"{url}: {rules.api} request failed ({type(exc).__name__})") from None
    latency = time.perf_counter() - started
    outcome = wire.parse(raw.http_response.content)
    if outcome.action is not Action.DONE:
        return raw.http_response.status_code, outcome.error, latency
    try:
        raw.parse()  # the SDK's own types, as users' code reads them
    except Exception as exc:  # noqa: BLE001 - whatever the SDK raises, the answer is not for it
        return raw.http_response.status_code, f"the openai SDK cannot read the answer ({type(exc).__name__})", latency
    return raw.http_response.status_code, None, latency


def check_command(args: argparse.Namespace) -> int:
    endpoint = resolve_endpoint(args.endpoint, args.config)
    with _served(endpoint, None) as served:
        info = asyncio.run(_check(served, args.model, not args.no_model_check))
    for name, value in info.items():
        shown = f"{value:.3f}" if isinstance(value, float) else (", ".join(value) if isinstance(value, list) else value)
        stdout.print(f"{name:15} {shown}", markup=False)
    api = info["api"]
    return 0 if 200 <= info[f"{api}_status"] < 300 and f"{api}_error" not in info else 3
