"""Ask a served model's HTTP server about itself: what it is, its context length, its tokenizer.

``base_url`` is the OpenAI base (``http://host:port/v1``); vLLM, TGI and llama.cpp answer their own
introspection routes at the server root (the base without ``/v1``). The caller passes one
``httpx.AsyncClient`` that already carries any ``Authorization`` header.

Kinds: ``vllm`` (``/tokenize`` + ``/detokenize``, ``/v1/models`` max_model_len), ``tgi`` (``/tokenize``
with character offsets, ``/info`` max_input_tokens), ``llamacpp`` (``/tokenize`` + ``/detokenize``,
``/props`` n_ctx, chat template and BOS/EOS text), ``openai`` and ``generic`` (no tokenizer:
``EstimateTokenizer``, no context length: take it from the endpoint config).

For client-rendered prompts (CLUE 2024): ``server_chat_template`` (llama.cpp ``/props``),
``HttpTokenizer.prompt_ids`` (a raw prompt's tokens as the server's completions route makes them: special
tokens added and parsed) and ``has_completions_route``.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, Sequence

import httpx

from ..engine.causes import connection_problem
from ..engine.outcome import clean_text, loads, parse_error_body, redirect_problem
from ..errors import ServerUnreachable, UserError
from ..tasks.tokens import ESTIMATE_NOTE, EstimateTokenizer, Tokenizer

__all__ = [
    "KINDS",
    "Tokenizer",
    "EstimateTokenizer",
    "HttpTokenizer",
    "server_root",
    "fetch",
    "list_models",
    "detect_kind",
    "context_length",
    "make_tokenizer",
    "describe_tokens",
    "server_chat_template",
    "has_completions_route",
]

KINDS = ("vllm", "tgi", "llamacpp", "openai", "generic")
#: Seconds a probe of a route (``/props``, ``/info``, ``/v1/models``) may take in all, trickled bytes included.
PROBE_DEADLINE_S = 15.0
#: Seconds one tokenize call may take in all (a LongHealth record is long; a busy server queues it).
TOKENIZE_DEADLINE_S = 120.0
#: Bytes an introspection answer may take (OpenRouter's model list is about 1 MB; token lists far less).
MAX_BODY = 32 << 20
#: Concurrent tokenize calls per tokenizer: enough to hide latency, few enough not to crowd the server.
TOKENIZE_CONCURRENCY = 8
#: No context length a model reports is taken above this (a server's typo, or 1e999, would size budgets).
MAX_CONTEXT = 100_000_000


def server_root(base_url: str) -> str:
    """``http://h:p/v1`` -> ``http://h:p``: where vLLM, TGI and llama.cpp serve their own routes."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


async def fetch(client: httpx.AsyncClient, url: str, *, json: Any = None, deadline_s: float = PROBE_DEADLINE_S,
                probe: bool = False, base_url: str | None = None) -> httpx.Response:
    """One introspection call (GET, or POST with ``json``) with a total deadline and a size cap, the body read.

    httpx's timeouts are per read, so a server trickling a byte a second would hold ``clue run`` forever;
    the deadline covers the whole call. A redirect is not followed (``redirect_problem``); a failure to
    connect names its cause; both, and an answer past the deadline or the cap, are one line (exit 2).
    ``probe``: the route may not exist (``/props`` behind a gateway that only forwards ``/v1``): a redirect is
    returned as it is, an answer to read as "not here".
    """
    method = "GET" if json is None else "POST"
    try:
        async with asyncio.timeout(deadline_s):
            async with client.stream(method, url, json=json) as response:
                if response.is_redirect and not probe:
                    location = response.headers.get("location")
                    raise UserError(redirect_problem(url, response.status_code, location, base_url))
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise UserError(f"{url} sent more than {MAX_BODY >> 20} MB; that is no answer to this request")
                response._content = bytes(body)  # what .content, .text and .json() read
                return response
    except TimeoutError:
        raise ServerUnreachable(f"{url} did not answer within {deadline_s:g} s (a total deadline: "
                                "a slow trickle counts)") from None
    except httpx.TransportError as exc:
        raise ServerUnreachable(connection_problem(url, exc)) from None


def json_of(response: httpx.Response) -> Any | None:
    """The JSON of an answer, or None for one that is not (too deep, too long a number, not JSON at all)."""
    try:
        return loads(response.content)
    except ValueError:
        return None


async def _get_json(client: httpx.AsyncClient, url: str) -> Any | None:
    """JSON of a 200 answer; None for any other status or a body that is not JSON."""
    response = await fetch(client, url, probe=True)
    return json_of(response) if response.status_code == 200 else None


async def list_models(client: httpx.AsyncClient, base_url: str) -> list[dict]:
    """The ``data`` list of ``GET {base_url}/models``."""
    url = f"{base_url.rstrip('/')}/models"
    response = await fetch(client, url, base_url=base_url.rstrip("/"))
    if response.status_code != 200:
        said = parse_error_body(response.status_code, response.content)
        if response.status_code in (401, 403):
            raise UserError(f"{url} refused the API key ({said})")
        hint = "; is this an OpenAI-compatible base URL?" if response.status_code in (404, 405) else ""
        raise UserError(f"{url} answered {said}{hint}")
    data = json_of(response)
    data = data.get("data") if isinstance(data, dict) else None
    if not isinstance(data, list) or not all(isinstance(m, dict) for m in data):
        raise UserError(f"{url} did not return an OpenAI model list")
    return data


async def detect_kind(client: httpx.AsyncClient, base_url: str) -> str:
    """``/props`` => llamacpp, ``/info`` => tgi, ``/v1/models`` with max_model_len => vllm, else generic."""
    root = server_root(base_url)
    props = await _get_json(client, f"{root}/props")
    if isinstance(props, dict) and ("default_generation_settings" in props or "n_ctx" in props):
        return "llamacpp"
    info = await _get_json(client, f"{root}/info")
    if isinstance(info, dict) and ("max_input_tokens" in info or "max_input_length" in info):
        return "tgi"
    models = await list_models(client, base_url)
    if any("max_model_len" in m for m in models):
        return "vllm"
    return "generic"


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_CONTEXT else None


async def context_length(
    client: httpx.AsyncClient, base_url: str, kind: str, model: str | None = None
) -> int | None:
    """Tokens the server accepts for one request, as it reports them; None when it does not say."""
    root = server_root(base_url)
    if kind == "vllm":
        models = await list_models(client, base_url)
        chosen = [m for m in models if m.get("id") == model] or models
        return _positive_int(chosen[0].get("max_model_len")) if chosen else None
    if kind == "tgi":
        info = await _get_json(client, f"{root}/info")
        if isinstance(info, dict):
            return _positive_int(info.get("max_input_tokens", info.get("max_input_length")))
        return None
    if kind == "llamacpp":
        props = await _get_json(client, f"{root}/props")
        if isinstance(props, dict):
            settings = props.get("default_generation_settings")
            settings = settings if isinstance(settings, dict) else {}
            return _positive_int(settings.get("n_ctx", props.get("n_ctx")))
        return None
    if kind in ("openai", "generic"):
        return None
    raise UserError(f"unknown server kind '{kind}'; choose from {', '.join(KINDS)}")


class HttpTokenizer:
    """The served model's tokenizer over HTTP: concurrent, cached by text digest, no special tokens."""

    exact = True

    def __init__(self, client: httpx.AsyncClient, base_url: str, kind: str, model: str) -> None:
        if kind not in ("vllm", "tgi", "llamacpp"):
            raise UserError(f"server kind '{kind}' has no tokenize endpoint")
        self._client, self._root, self._kind, self._model = client, server_root(base_url), kind, model
        self._counts: dict[bytes, int] = {}
        self._limit = asyncio.Semaphore(TOKENIZE_CONCURRENCY)

    async def _post(self, route: str, body: dict[str, Any]) -> Any:
        url = f"{self._root}{route}"
        async with self._limit:
            response = await fetch(self._client, url, json=body, deadline_s=TOKENIZE_DEADLINE_S)
        if response.status_code != 200:
            raise UserError(f"{url} answered {parse_error_body(response.status_code, response.content)}")
        if (data := json_of(response)) is None:
            raise UserError(f"{url} did not return JSON")
        return data

    async def _tokens(self, text: str) -> list[Any]:
        """Token ids (vLLM, llama.cpp) or offset records (TGI) of ``text``."""
        if self._kind == "vllm":
            data = await self._post(
                "/tokenize", {"model": self._model, "prompt": text, "add_special_tokens": False}
            )
            tokens = data.get("tokens") if isinstance(data, dict) else None
        elif self._kind == "llamacpp":
            data = await self._post("/tokenize", {"content": text, "add_special": False})
            tokens = data.get("tokens") if isinstance(data, dict) else None
        else:
            tokens = await self._post("/tokenize", {"inputs": text})
        if not isinstance(tokens, list):
            raise UserError(
                f"{self._root}/tokenize returned an unexpected shape for server kind '{self._kind}'"
            )
        return tokens

    async def prompt_ids(self, text: str) -> list[int]:
        """The tokens the server feeds the model for ``text`` sent as a raw prompt: its special tokens added
        (BOS) and special-token text parsed, as its completions route (and TGI's ``truncate``) sees them."""
        if self._kind == "vllm":
            data = await self._post("/tokenize", {"model": self._model, "prompt": text, "add_special_tokens": True})
            tokens = data.get("tokens") if isinstance(data, dict) else None
        elif self._kind == "llamacpp":
            data = await self._post("/tokenize", {"content": text, "add_special": True, "parse_special": True})
            tokens = data.get("tokens") if isinstance(data, dict) else None
        else:
            records = await self._post("/tokenize", {"inputs": text})
            tokens = [r.get("id") for r in records] if isinstance(records, list) and all(
                isinstance(r, dict) for r in records) else None
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            raise UserError(f"{self._root}/tokenize returned an unexpected shape for server kind '{self._kind}'")
        return tokens

    async def _count_one(self, key: bytes, text: str) -> int:
        if key not in self._counts:
            self._counts[key] = len(await self._tokens(text))
        return self._counts[key]

    async def count(self, texts: Sequence[str]) -> list[int]:
        keys = [hashlib.blake2b(t.encode("utf-8"), digest_size=16).digest() for t in texts]
        return list(await asyncio.gather(*(self._count_one(k, t) for k, t in zip(keys, texts))))

    async def truncate(self, text: str, n_tokens: int) -> str:
        if n_tokens <= 0:
            return ""
        tokens = await self._tokens(text)
        if len(tokens) <= n_tokens:
            return text
        if self._kind == "tgi":
            stop = tokens[n_tokens - 1].get("stop") if isinstance(tokens[n_tokens - 1], dict) else None
            if not isinstance(stop, int) or isinstance(stop, bool) or not 0 <= stop <= len(text):
                raise UserError(f"{self._root}/tokenize returned token offsets that do not fit the text")
            return text[:stop]
        body: dict[str, Any] = {"tokens": tokens[:n_tokens]}
        if self._kind == "vllm":
            body["model"] = self._model
        data = await self._post("/detokenize", body)
        piece = data.get("prompt" if self._kind == "vllm" else "content") if isinstance(data, dict) else None
        if not isinstance(piece, str):
            raise UserError(
                f"{self._root}/detokenize returned an unexpected shape for server kind '{self._kind}'"
            )
        return clean_text(piece)


def make_tokenizer(client: httpx.AsyncClient, base_url: str, kind: str, model: str) -> Tokenizer:
    """The server's own tokenizer when it has one; otherwise the conservative character estimate."""
    if kind in ("vllm", "tgi", "llamacpp"):
        return HttpTokenizer(client, base_url, kind, model)
    if kind in ("openai", "generic"):
        return EstimateTokenizer()
    raise UserError(f"unknown server kind '{kind}'; choose from {', '.join(KINDS)}")


async def server_chat_template(client: httpx.AsyncClient, base_url: str) -> tuple[str, dict[str, str]] | None:
    """(template, special tokens) the server applies, where it tells (llama.cpp ``/props``: ``chat_template``,
    ``bos_token``, ``eos_token``); None where it does not. The template may be the *name* of a llama.cpp
    built-in (``gemma``, ``chatml``, ...) rather than Jinja text (``local_worker.is_jinja`` tells them apart)."""
    props = await _get_json(client, f"{server_root(base_url)}/props")
    template = props.get("chat_template") if isinstance(props, dict) else None
    if not isinstance(template, str) or not template:
        return None
    tokens = {name: props[name] for name in ("bos_token", "eos_token") if isinstance(props.get(name), str)}
    return template, tokens


async def has_completions_route(client: httpx.AsyncClient, base_url: str) -> bool:
    """Does the server serve ``/v1/completions`` (raw prompts)? Asked with an empty body, which carries no
    prompt: a server with the route refuses it as incomplete (400/422), one without answers 404 or 405."""
    url = f"{base_url.rstrip('/')}/completions"
    response = await fetch(client, url, json={}, base_url=base_url)
    return response.status_code not in (404, 405)


def describe_tokens(tokenizer: Tokenizer, kind: str) -> str:
    """How LongHealth's tokens were counted, for the manifest and the report."""
    if getattr(tokenizer, "exact", False):
        return f"counted by the server's own tokenizer ({kind} /tokenize)"
    return ESTIMATE_NOTE
