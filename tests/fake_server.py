"""A real OpenAI-compatible HTTP server on 127.0.0.1 with switchable faults, for tests and benches.

It speaks the parts of vLLM, TGI and llama.cpp that clue-client uses: ``/v1/chat/completions``,
``/v1/models``, ``/tokenize``, ``/detokenize``, ``/health``, ``/info`` (TGI), ``/props`` (llama.cpp).
Its tokenizer is deterministic (a token is optional leading whitespace plus a word or one symbol), so
``"".join(pieces) == text`` and tests can check budgets against the server's own counts.

Faults are chosen per request by ``fault_for(prompt_id, attempt)``; the server counts requests and
answers per prompt, so tests can prove that nothing answered is ever sent again. Two server-wide modes:
``window_limit`` answers at most that many chat requests per fixed ``window_s`` window and 429s the rest
(telling the wait in ``limit_header``, as a gateway's per-minute limit does); ``idle_close_s`` plays a server
that closes keep-alive connections left idle that long: a request arriving on one is dropped unanswered.

``shape`` answers as a thinking model behind a given server does (``fake_shapes.py``, with the source of
each shape): the thoughts come first and count against the request's limit (``max_tokens`` or
``max_completion_tokens``), so a CLUE answer budget can end them before the answer. ``azure`` plays Azure
OpenAI's authentication (``api-key`` header, ``api-version`` query). ``calls`` records every chat request's
headers, query and body parameters (and ``api``: "chat" or "responses").

``/v1/responses`` answers as OpenAI's Responses API does (``fake_shapes.response``, errors in OpenAI's shape;
every fault above applies there too: ``length`` is an incomplete response, ``null`` one without a message);
``responses_only`` plays a model OpenAI serves there only: chat completions get its 404. ``sample_from`` plays a sampling model: at temperature > 0 the n-th
request of a prompt is answered with its n-th seeded draw from those choices (``sampled_choice``), so repeats
of a prompt get a known spread of answers.

Raw prompts (CLUE 2024's client-rendered text): ``/v1/completions`` as vLLM and llama.cpp answer it (a text or
a list of token ids; vLLM's ``truncate_prompt_tokens`` keeps the last T tokens; ``stop`` strings end the
answer) and TGI's ``/generate`` (``parameters.truncate``, ``parameters.stop``). A prompt longer than the
context (after truncation) is refused as each server refuses it. ``bos_token`` plays a tokenizer that adds a
BOS (``/tokenize`` with ``add_special(_tokens)``, and every raw prompt). ``chat_template`` is what ``/props``
tells (llama.cpp); ``hub_files`` serves ``/{repo}/resolve/{revision}/{file}`` as the Hugging Face Hub does.

Hostile modes (``fake_hostile.py`` for the bodies): faults ``html200``, ``error200``, ``deep``, ``bigint``,
``surrogate``, ``content-filter``, ``budget``, ... per request; ``huge`` (a 50 MB answer, chunked) and
``huge-length`` (the same with its length declared); ``refuse_after`` N answers a gateway's budget refusal to
everything once N requests were answered; ``redirect`` answers the routes in ``redirect_paths`` with a
``redirect_status`` to another address; ``silent_paths`` accept a request and never answer; ``trickle_paths``
answer a byte every ``trickle_s``; a GET on the chat route (what a 301/302 turns a POST into) is answered with
a completion that no prompt asked for, and counted in ``gets``.

Run standalone (benchmarks): ``python tests/fake_server.py --port 0 [--delay 0.0]`` prints the URL.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web

import fake_hostile
import fake_shapes
from fake_shapes import SHAPES, default_thought

TOKEN_RE = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")

FAULTS = ("429", "500", "503", "drop", "truncated", "slow", "400ctx", "422ctx", "llama400ctx", "echo400", "echo500",
          "length", "null", "quota", "litellm-model", "litellm-key", "huge", "huge-length", *fake_hostile.HOSTILE)
HUGE_BYTES = 50 * 1024 * 1024


def tokenize(text: str) -> list[str]:
    """Pieces whose concatenation is exactly ``text``."""
    return TOKEN_RE.findall(text)


def prompt_id(messages: list[dict[str, Any]]) -> str:
    """Identity of a conversation, independent of model and sampling."""
    raw = json.dumps([[m.get("role"), m.get("content")] for m in messages], ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def default_responder(body: dict[str, Any]) -> str:
    """A deterministic answer derived from the last user turn (a raw prompt's last 400 characters)."""
    last = body["messages"][-1]["content"] if "messages" in body else body["prompt"][-400:]
    digest = hashlib.sha256(last.encode()).hexdigest()[:6]
    return f"ENTAILMENT answer-{digest}"


def sampled_choice(pid: str, draw: int, choices: tuple[str, ...], seed: int = 0) -> str:
    """A sampling server's ``draw``-th answer (1-based) to a prompt: seeded, so a test can recompute every draw."""
    return random.Random(f"{seed}:{pid}:{draw}").choice(choices)


def random_first_attempt_faults(rate: float, kinds: tuple[str, ...], seed: int = 0) -> Callable[[str, int], str | None]:
    """Fault plan: a seeded share ``rate`` of prompts fail their first attempt with one of ``kinds``."""

    def plan(pid: str, attempt: int) -> str | None:
        if attempt != 1:
            return None
        rng = random.Random(f"{seed}:{pid}")
        return rng.choice(kinds) if rng.random() < rate else None

    return plan


@dataclass
class FakeServer:
    """Start with ``start()`` (returns the base URL), stop with ``stop()``; also a context manager."""

    model: str = "fake-model"
    context_length: int = 4096
    delay_s: float = 0.0
    slow_s: float = 2.0
    retry_after: str = "0"
    api_key: str | None = None
    auth_status: int = 401  # 400 plays a LiteLLM proxy without a database refusing a key
    responder: Callable[[dict[str, Any]], str] = default_responder
    fault_for: Callable[[str, int], str | None] = lambda pid, attempt: None
    host: str = "127.0.0.1"
    port: int = 0
    requests: Counter = field(default_factory=Counter)  # prompt id -> chat requests received
    answered: Counter = field(default_factory=Counter)  # prompt id -> 200 answers sent
    auth_headers: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    hidden_routes: tuple[str, ...] = ()  # paths answered 404, to play a server kind (e.g. vLLM: no /props)
    tokenize_calls: int = 0  # /tokenize requests received (tests of tokenizer caching)
    shape: str = "plain"  # one of fake_shapes.SHAPES
    thought: Callable[[dict[str, Any]], str] = default_thought
    azure: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)  # headers, query, params of each chat request
    window_limit: int = 0  # chat requests answered per window; 0: no limit
    window_s: float = 1.0
    limit_header: str = "retry-after"  # or retry-after-ms, x-ratelimit-reset-requests, llm_provider-retry-after
    rate_limited: int = 0  # 429s sent by the window limit
    idle_close_s: float | None = None  # keep-alive connections idle this long are treated as closed
    stale_closes: int = 0  # requests dropped because their connection had been idle too long
    echo_auth: bool = False  # error bodies quote the Authorization header, as some proxies do
    responses_only: bool = False  # chat completions answer OpenAI's 404 for a Responses-only model
    sample_from: tuple[str, ...] = ()  # sampling mode: each answer drawn from these (see sampled_choice)
    sample_seed: int = 0
    answer_times: list[float] = field(default_factory=list)  # time.monotonic() of every 200 answer
    bos_token: str | None = None  # a BOS the tokenizer adds to raw prompts (and /tokenize with add_special)
    chat_template: str | None = None  # the Jinja template /props tells (llama.cpp)
    hub_files: dict[str, str] = field(default_factory=dict)  # "OWNER/NAME/REV/FILE" -> text, Hub-style
    refuse_after: int | None = None  # after this many answers, every chat request gets a budget refusal
    redirect: str | None = None  # Location of the redirect answered on redirect_paths
    redirect_status: int = 307
    redirect_paths: tuple[str, ...] = ("/v1/chat/completions",)
    silent_paths: tuple[str, ...] = ()  # accepted, never answered
    trickle_paths: tuple[str, ...] = ()  # answered one byte every trickle_s
    trickle_s: float = 1.0
    gets: int = 0  # GET requests on the chat route (a redirected POST turned into a GET)

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; expected one of {SHAPES}")
        self._vocab: dict[str, int] = {}
        self._pieces: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._window: tuple[int, int] = (-1, 0)  # (window index, requests answered in it)
        self._idle_since: dict[object, float] = {}  # transport -> when its last answer was sent

    # ---- tokenizer -------------------------------------------------------------------------
    def token_ids(self, text: str) -> list[int]:
        ids = []
        for piece in tokenize(text):
            if piece not in self._vocab:
                self._vocab[piece] = len(self._pieces)
                self._pieces.append(piece)
            ids.append(self._vocab[piece])
        return ids

    def detokenize(self, ids: list[int]) -> str:
        return "".join(self._pieces[i] for i in ids)

    def count_prompt(self, messages: list[dict[str, Any]]) -> int:
        """Prompt tokens of a chat: the contents plus a small per-turn template overhead."""
        return sum(len(self.token_ids(m.get("content", ""))) + 4 for m in messages)

    # ---- app ---------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024**2, middlewares=[self._hide])
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_get("/v1/chat/completions", self._chat_get)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/tokenize", self._tokenize)
        app.router.add_post("/detokenize", self._detokenize)
        app.router.add_get("/health", self._health)
        app.router.add_get("/info", self._info)
        app.router.add_get("/props", self._props)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/generate", self._generate_tgi)
        app.router.add_get("/{owner}/{name}/resolve/{revision}/{file}", self._hub)
        app.router.add_get("/stats", self._stats)
        return app

    async def _stats(self, request: web.Request) -> web.Response:
        """What the server saw, for benchmarks that run it in a process of its own."""
        return web.json_response({"requests": sum(self.requests.values()) + self.rate_limited,
                                  "answered": sum(self.answered.values()), "rate_limited": self.rate_limited})

    @web.middleware
    async def _hide(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if request.path in self.hidden_routes:
            return web.json_response({"error": "Not Found"}, status=404)
        if self.redirect is not None and request.path in self.redirect_paths:
            self.auth_headers.append(request.headers.get("Authorization", ""))
            return web.Response(status=self.redirect_status, headers={"Location": self.redirect})
        if request.path in self.silent_paths:
            await self._stopping.wait()  # until the server stops
            return web.Response(status=503)
        if request.path in self.trickle_paths:
            return await self._trickle(request, await handler(request))
        if request.path == "/tokenize":
            self.tokenize_calls += 1
        return await handler(request)

    async def _trickle(self, request: web.Request, answer: web.StreamResponse) -> web.StreamResponse:
        """``answer``'s body one byte every ``trickle_s`` (a per-read timeout never fires)."""
        body = answer.body if isinstance(answer, web.Response) and isinstance(answer.body, bytes) else b"{}"
        response = web.StreamResponse(status=answer.status, headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            for byte in body:
                await response.write(bytes([byte]))
                await asyncio.sleep(self.trickle_s)
            await response.write_eof()
        except (ConnectionError, RuntimeError):  # the client gave up: as it should
            pass
        return response

    async def _chat_get(self, request: web.Request) -> web.Response:
        """A GET on the chat route, what a client following a 301/302 sends: a completion no prompt asked for."""
        self.gets += 1
        self.calls.append({"headers": dict(request.headers), "query": dict(request.query), "params": {}, "method": "GET"})
        message = {"role": "assistant", "content": "ENTAILMENT (a reply to a GET: no prompt was sent)"}
        return web.json_response({"id": "get", "object": "chat.completion", "model": self.model,
                                  "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _models(self, request: web.Request) -> web.Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        return web.json_response(
            {"object": "list", "data": [{"id": self.model, "object": "model", "max_model_len": self.context_length}]}
        )

    async def _info(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"model_id": self.model, "max_input_tokens": self.context_length - 1, "max_total_tokens": self.context_length}
        )

    async def _props(self, request: web.Request) -> web.Response:
        props: dict[str, Any] = {"default_generation_settings": {"n_ctx": self.context_length}, "total_slots": 4,
                                 "model_path": self.model}
        if self.chat_template is not None:
            props.update(chat_template=self.chat_template, bos_token=self.bos_token or "", eos_token="<eos>")
        return web.json_response(props)

    async def _hub(self, request: web.Request) -> web.Response:
        m = request.match_info
        text = self.hub_files.get(f"{m['owner']}/{m['name']}/{m['revision']}/{m['file']}")
        if text is None:
            return web.json_response({"error": "Entry not found"}, status=404)
        return web.Response(text=text, content_type="application/json")

    async def _tokenize(self, request: web.Request) -> web.Response:
        body = await request.json()
        if "inputs" in body:  # TGI: list of tokens with character offsets; it adds the special tokens
            out, pos = [{"id": i, "text": self.bos_token, "start": 0, "stop": 0} for i in self._bos(True)], 0
            for piece in tokenize(body["inputs"]):
                out.append({"id": self.token_ids(piece)[0], "text": piece, "start": pos, "stop": pos + len(piece)})
                pos += len(piece)
            return web.json_response(out)
        if "content" in body:  # llama.cpp
            ids = self._bos(body.get("add_special")) + self.token_ids(body["content"])
            if body.get("with_pieces"):
                return web.json_response({"tokens": [{"id": i, "piece": self._pieces[i]} for i in ids]})
            return web.json_response({"tokens": ids})
        text = body.get("prompt")
        if text is None and "messages" in body:
            return web.json_response({"count": self.count_prompt(body["messages"]), "max_model_len": self.context_length})
        ids = self._bos(body.get("add_special_tokens")) + self.token_ids(text or "")
        return web.json_response({"count": len(ids), "max_model_len": self.context_length, "tokens": ids})

    async def _detokenize(self, request: web.Request) -> web.Response:
        body = await request.json()
        text = self.detokenize(body["tokens"])
        return web.json_response({"prompt": text, "content": text})

    def _bos(self, add: Any) -> list[int]:
        return self.token_ids(self.bos_token) if add and self.bos_token else []

    def raw_prompt_ids(self, prompt: str | list[int]) -> list[int]:
        """The tokens a raw prompt becomes: given ids as they are, text tokenized with the BOS added."""
        return list(prompt) if isinstance(prompt, list) else self._bos(True) + self.token_ids(prompt)

    async def _raw(self, request: web.Request, route: str, prompt: Any, params: dict[str, Any], kept: int | None,
                   max_tokens: int, stops: list[str]) -> tuple[web.Response | None, str, str, int]:
        """Shared by /v1/completions and /generate: (refusal or None, answer, finish reason, prompt tokens)."""
        if (denied := self._check_auth(request)) is not None:
            return denied, "", "", 0
        ids = self.raw_prompt_ids(prompt)
        cut = ids[-kept:] if kept is not None and len(ids) > kept else ids
        text = self.detokenize(cut)
        self.calls.append({"route": route, "headers": dict(request.headers), "query": dict(request.query),
                           "params": params, "prompt": prompt, "prompt_tokens": len(cut), "cut": len(cut) < len(ids)})
        pid = hashlib.sha256(text.encode()).hexdigest()[:16]
        self.requests[pid] += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if len(cut) + max_tokens > self.context_length:
            return self._context_error("422ctx" if route == "/generate" else "400ctx", len(cut), max_tokens), "", "", 0
        answer = self.responder({"prompt": text, **params})
        for stop in stops:
            answer = answer.split(stop)[0]
        answer_ids = self.token_ids(answer)
        self.answered[pid] += 1
        finish = "length" if len(answer_ids) > max_tokens else "stop"
        return None, self.detokenize(answer_ids[:max_tokens]), finish, len(cut)

    async def _completions(self, request: web.Request) -> web.Response:
        body = await request.json()
        if "prompt" not in body:  # as vLLM refuses an incomplete request
            return web.json_response({"object": "error", "message": "prompt: Field required", "code": 400}, status=400)
        max_tokens = int(body.get("max_tokens") or 16)
        params = {k: v for k, v in body.items() if k != "prompt"}
        refused, answer, finish, n = await self._raw(request, "/v1/completions", body["prompt"], params,
                                                     body.get("truncate_prompt_tokens"), max_tokens, body.get("stop") or [])
        if refused is not None:
            return refused
        return web.json_response({"id": "cmpl-1", "object": "text_completion", "model": body.get("model", self.model),
                                  "choices": [{"index": 0, "text": answer, "finish_reason": finish}],
                                  "usage": {"prompt_tokens": n, "completion_tokens": len(self.token_ids(answer))}})

    async def _generate_tgi(self, request: web.Request) -> web.Response:
        body = await request.json()
        parameters = body.get("parameters") or {}
        refused, answer, _, _ = await self._raw(request, "/generate", body["inputs"], {**parameters, "stream": body.get("stream")},
                                                parameters.get("truncate"), int(parameters["max_new_tokens"]),
                                                parameters.get("stop") or [])
        return refused if refused is not None else web.json_response({"generated_text": answer})

    def _check_auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        self.auth_headers.append(header)
        if self.azure:
            if "api-version" not in request.query:
                return web.json_response(fake_shapes.AZURE_NOT_FOUND, status=404)
            if request.headers.get("api-key") != self.api_key:
                return web.json_response(fake_shapes.AZURE_BAD_KEY, status=401)
            return None
        if self.api_key is not None and header != f"Bearer {self.api_key}":
            message = "Incorrect API key provided" + (f": {header}" if self.echo_auth else "")
            return web.json_response(
                {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}},
                status=self.auth_status,
            )
        return None

    @staticmethod
    def _echo(request: web.Request, status: int) -> web.Response:
        """An error quoting the Authorization header across the 300-character mark clients cut messages at."""
        message = "upstream rejected the request " + "." * 220 + f" headers: Authorization: {request.headers.get('Authorization', '')}"
        return web.json_response({"error": {"message": message, "type": "proxy_error"}}, status=status)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if self.responses_only:
            return web.json_response(fake_shapes.RESPONSES_ONLY, status=404)
        return await self._serve(request, "chat")

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "responses")

    async def _serve(self, request: web.Request, api: str) -> web.StreamResponse:
        if self.idle_close_s is not None and self._stale(request):
            self.stale_closes += 1
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)  # never reaches the client
        try:
            return await self._chat_answer(request, api)
        finally:
            self._idle_since[request.transport] = time.monotonic()

    def _stale(self, request: web.Request) -> bool:
        since = self._idle_since.pop(request.transport, None)
        return since is not None and time.monotonic() - since >= (self.idle_close_s or 0.0)

    def _window_wait(self) -> float | None:
        """Seconds to the next window when this one's requests are used up, else None (and count one)."""
        if not self.window_limit:
            return None
        elapsed = time.monotonic() - self._started
        index = int(elapsed // self.window_s)
        seen = self._window[1] if self._window[0] == index else 0
        if seen >= self.window_limit:
            self.rate_limited += 1
            return (index + 1) * self.window_s - elapsed
        self._window = (index, seen + 1)
        return None

    def _limit_headers(self, wait_s: float) -> dict[str, str]:
        if self.limit_header == "retry-after-ms":
            return {"retry-after-ms": str(int(wait_s * 1000))}
        if self.limit_header == "x-ratelimit-reset-requests":  # OpenAI's Go-style duration
            return {"x-ratelimit-reset-requests": f"{int(wait_s * 1000)}ms", "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-remaining-tokens": "1000"}
        return {self.limit_header: str(math.ceil(wait_s))}  # retry-after, llm_provider-retry-after: whole seconds

    async def _chat_answer(self, request: web.Request, api: str = "chat") -> web.StreamResponse:
        if (denied := self._check_auth(request)) is not None:
            return denied
        if (wait_s := self._window_wait()) is not None:
            return web.json_response({"error": {"message": "Rate limit reached for requests", "type": "rate_limit_error"}},
                                     status=429, headers=self._limit_headers(wait_s))
        body = await request.json()
        turns = "input" if api == "responses" else "messages"
        self.calls.append({"headers": dict(request.headers), "query": dict(request.query), "api": api,
                           "params": {k: v for k, v in body.items() if k != turns}})
        body = {**body, "messages": body.get(turns) or []}  # responders read the chat either way
        pid = prompt_id(body["messages"])
        self.requests[pid] += 1
        fault = self.fault_for(pid, self.requests[pid])
        if self.refuse_after is not None and sum(self.answered.values()) >= self.refuse_after:
            fault = "budget"
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(request, body, pid, fault, api)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request, body: dict[str, Any], pid: str, fault: str | None,
                      api: str = "chat") -> web.StreamResponse:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if fault == "429":
            return web.json_response(
                {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
                status=429,
                headers={"Retry-After": self.retry_after},
            )
        if fault in ("echo400", "echo500"):
            return self._echo(request, int(fault[4:]))
        if fault in ("500", "503"):
            return web.json_response({"error": {"message": "server error", "type": "server_error"}}, status=int(fault))
        if fault == "quota":
            return web.json_response(fake_shapes.QUOTA, status=429)
        if fault in ("litellm-model", "litellm-key"):
            body_ = fake_shapes.LITELLM_MODEL if fault == "litellm-model" else fake_shapes.LITELLM_KEY
            text = json.dumps(body_).replace("MODEL", str(body.get("model")))
            return web.Response(text=text, status=400, content_type="application/json")
        if api == "chat" and self.shape == "openai-reasoning" and (rejection := fake_shapes.openai_rejection(body)):
            return web.json_response(rejection, status=400)
        if api == "responses" and (rejection := fake_shapes.responses_rejection(body, self.shape != "plain")):
            return web.json_response(rejection, status=400)
        if fault == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)  # never reaches the client
        if fault == "slow":
            await asyncio.sleep(self.slow_s)
        prompt_tokens = self.count_prompt(body["messages"])
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or body.get("max_output_tokens") or 16)
        if fault in ("400ctx", "422ctx", "llama400ctx") or prompt_tokens + max_tokens > self.context_length:
            if api == "responses":
                return web.json_response(fake_shapes.responses_overflow(), status=400)
            return self._context_error(fault or "400ctx", prompt_tokens, max_tokens)
        if fault in ("huge", "huge-length"):
            return await self._huge(request, fault == "huge-length")
        thought, answer, finish, thought_n, answer_n = self._draft(body, max_tokens, pid)
        if api == "responses":
            written = None if (thought and not answer) or fault == "null" else answer
            payload = fake_shapes.response(pid, body, thought, written, finish == "length" or fault == "length",
                                           prompt_tokens, thought_n, answer_n)
            return self._send(payload, pid, fault)
        message = fake_shapes.message(self.shape, thought, answer, bool(thought) and not answer)
        payload = {
            "id": f"chatcmpl-{pid}",
            "object": "chat.completion",
            "model": body.get("model", self.model),
            "choices": [{"index": 0, "message": {**message, **({"content": None} if fault == "null" else {})},
                         "finish_reason": "length" if fault == "length" else finish}],
            "usage": fake_shapes.usage(self.shape, prompt_tokens, thought_n, answer_n),
        }
        if fault in fake_hostile.HOSTILE:
            status, raw_bytes, content_type = fake_hostile.body(fault, payload, prompt_tokens)
            return web.Response(body=raw_bytes, status=status, content_type=content_type)
        return self._send(payload, pid, fault)

    def _send(self, payload: dict[str, Any], pid: str, fault: str | None) -> web.Response:
        raw = json.dumps(payload)
        if fault == "truncated":
            return web.Response(text=raw[: len(raw) // 2], content_type="application/json")
        self.answered[pid] += 1
        self.answer_times.append(time.monotonic())
        return web.Response(text=raw, content_type="application/json")

    async def _huge(self, request: web.Request, declared: bool) -> web.StreamResponse:
        """A 50 MB completion, streamed in 1 MB pieces (``declared``: with its Content-Length)."""
        head = b'{"object": "chat.completion", "choices": [{"index": 0, "finish_reason": "stop", "message": ' \
               b'{"role": "assistant", "content": "'
        tail = b'"}}]}'
        filler = HUGE_BYTES - len(head) - len(tail)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if declared:
            response.content_length = HUGE_BYTES
        await response.prepare(request)
        await response.write(head)
        piece = b"x" * (1 << 20)
        try:
            for start in range(0, filler, len(piece)):
                await response.write(piece[: min(len(piece), filler - start)])
            await response.write(tail)
            await response.write_eof()
        except (ConnectionError, RuntimeError):  # the client stopped reading: as it should
            pass
        return response

    def _respond(self, body: dict[str, Any], pid: str) -> str:
        """The answer text: the responder's, or in sampling mode the prompt's next draw (at temperature 0 always
        its first, as greedy decoding gives one answer)."""
        if not self.sample_from:
            return self.responder(body)
        draw = self.requests[pid] if float(body.get("temperature") or 0.0) > 0 else 1
        return sampled_choice(pid, draw, self.sample_from, self.sample_seed)

    def _draft(self, body: dict[str, Any], limit: int, pid: str) -> tuple[str, str, str, int, int]:
        """Thoughts (for a thinking shape; "" otherwise) then the answer, both inside ``limit`` tokens, the finish
        reason and their token counts. A thinking shape with an empty answer: the limit ended the thinking."""
        answer_ids = self.token_ids(self._respond(body, pid))
        thought_ids = [] if self.shape == "plain" else self.token_ids(self.thought(body))[:limit]
        ids = answer_ids[:max(0, limit - len(thought_ids))]
        finish = "length" if len(ids) < len(answer_ids) else "stop"
        return self.detokenize(thought_ids), self.detokenize(ids), finish, len(thought_ids), len(ids)

    def _context_error(self, kind: str, prompt_tokens: int, max_tokens: int) -> web.Response:
        if kind == "422ctx":  # TGI
            msg = f"Input validation error: `inputs` tokens + `max_new_tokens` must be <= {self.context_length}."
            return web.json_response({"error": msg, "error_type": "validation"}, status=422)
        if kind == "llama400ctx":
            return web.json_response(
                {"error": {"code": 400, "message": "the request exceeds the available context size",
                           "type": "exceed_context_size_error", "n_prompt_tokens": prompt_tokens,
                           "n_ctx": self.context_length}},
                status=400,
            )
        msg = (f"This model's maximum context length is {self.context_length} tokens. However, you requested "
               f"{prompt_tokens + max_tokens} tokens.")
        return web.json_response({"object": "error", "message": msg, "type": "BadRequestError", "code": 400}, status=400)

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> str:
        ready = threading.Event()
        self._started = time.monotonic()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._stopping = asyncio.Event()
            self._runner = web.AppRunner(self.app(), access_log=None)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
            self._loop.run_until_complete(site.start())
            sock = site._server.sockets[0]  # type: ignore[union-attr]
            self.port = sock.getsockname()[1]
            self.base_url = f"http://{self.host}:{self.port}/v1"
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="fake-openai-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake server did not start within 10 s")
        return self.base_url

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)  # silent handlers end, so cleanup need not wait
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self) -> "FakeServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--context-length", type=int, default=4096)
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of prompts whose first attempt fails")
    parser.add_argument("--faults", default="429,500,503,drop,truncated,slow", help="fault kinds drawn from")
    parser.add_argument("--retry-after", default="0", help="Retry-After header of a 429 fault")
    parser.add_argument("--slow", type=float, default=2.0, help="seconds a 'slow' fault stalls")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="fake-model", help="the model id /v1/models lists")
    parser.add_argument("--always", choices=FAULTS, help="every request gets this fault")
    parser.add_argument("--window-limit", type=int, default=0, help="chat requests answered per window (0: no limit)")
    parser.add_argument("--window-s", type=float, default=1.0)
    parser.add_argument("--silent", action="store_true", help="accept every request and never answer")
    args = parser.parse_args()
    server = FakeServer(port=args.port, delay_s=args.delay, context_length=args.context_length,
                        retry_after=args.retry_after, slow_s=args.slow, window_limit=args.window_limit,
                        window_s=args.window_s, model=args.model)
    if args.fault_rate:
        server.fault_for = random_first_attempt_faults(args.fault_rate, tuple(args.faults.split(",")), args.seed)
    if args.always:
        server.fault_for = lambda pid, attempt: args.always
    if args.silent:
        server.silent_paths = ("/v1/chat/completions", "/v1/models")
    server.start()
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
