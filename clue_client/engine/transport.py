"""The HTTP plumbing under one request: the pooled aiohttp session, the answer-size cap, the silent-server watch.

Every call is made with ``allow_redirects=False`` (``outcome.redirect_problem`` says why none is followed).

An answer body may hold at most ``body_cap(max_tokens)`` bytes: 1 MiB for the JSON around the answer plus
2 KiB per token the request allows (a token is a few characters; JSON escaping, reasoning text and log
probabilities fit in that). Reading stops there, so a server sending 50 MB for a 20-token answer costs a
megabyte, not 300 MB; a compressed body is counted after decompression.
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

import aiohttp

__all__ = ["make_session", "client_timeout", "body_cap", "read_capped", "BodyTooLarge", "StallWatch"]

BODY_BASE = 1 << 20
BODY_PER_TOKEN = 2 << 10
UNLIMITED_TOKENS = 32_768  # what the cap assumes for a request that sets no max_tokens


def body_cap(max_tokens: int | None) -> int:
    """Bytes an answer to a request allowing ``max_tokens`` tokens may take."""
    return BODY_BASE + BODY_PER_TOKEN * (max_tokens if max_tokens is not None else UNLIMITED_TOKENS)


class BodyTooLarge(Exception):
    def __init__(self, cap: int) -> None:
        super().__init__(f"the answer body is larger than {cap:,} bytes, the most max_tokens allows "
                         "(1 MiB + 2 KiB a token)")
        self.cap = cap


async def read_capped(response: aiohttp.ClientResponse, cap: int) -> bytes:
    """The body, or BodyTooLarge once it passes ``cap`` bytes (the rest is never read: the connection closes)."""
    length = response.content_length
    if length is not None and "Content-Encoding" not in response.headers:
        if length > cap:
            raise BodyTooLarge(cap)
        return await response.read()  # the usual answer: one read of a declared, small length
    body = bytearray()
    async for chunk in response.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > cap:
            raise BodyTooLarge(cap)
    return bytes(body)


def client_timeout(total_s: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total_s, connect=min(10.0, total_s))


def make_session(total_timeout_s: float, connections: int, *, fresh: bool = False) -> aiohttp.ClientSession:
    """The shared pooled session: keep-alive connections sized to the concurrency, no cookies kept.

    ``fresh``: a new connection for every request (the re-send after a stale keep-alive connection).
    A trace hook marks each request that reused a pooled connection (``trace_request_ctx["reused"]``).
    """
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=0, enable_cleanup_closed=True, force_close=fresh)
    return aiohttp.ClientSession(connector=connector, timeout=client_timeout(total_timeout_s),
                                 cookie_jar=aiohttp.DummyCookieJar(), trace_configs=[] if fresh else [_REUSE_TRACE])


async def _on_reuse(session: aiohttp.ClientSession, context: object, params: object) -> None:
    request_ctx = getattr(context, "trace_request_ctx", None)
    if isinstance(request_ctx, dict):
        request_ctx["reused"] = True


_REUSE_TRACE = aiohttp.TraceConfig()
_REUSE_TRACE.on_connection_reuseconn.append(_on_reuse)
_REUSE_TRACE.freeze()


class StallWatch:
    """A server that accepts connections and answers nothing is down, like one that refuses them.

    A chat answer comes whole or not at all, so a long wait alone says nothing (a long generation). When an
    attempt has waited ``stall_s`` with nothing heard from its server meanwhile, the server is asked something
    cheap (``probe``: any HTTP answer to ``GET /models`` within ``probe_s``). No answer to that either, and
    the server is silent: its waiting attempts are cancelled (``silenced`` tells them apart from a run being
    stopped) and ``on_silent`` takes the replica out. Before, each attempt waited its full timeout (65 s or
    more), seven times, and the replica was never taken out.
    """

    def __init__(self, probe: Callable[[str, float], Awaitable[bool]], on_silent: Callable[[str], Awaitable[None]],
                 stall_s: float = 15.0, probe_s: float = 5.0) -> None:
        self.stall_s, self.probe_s = stall_s, min(probe_s, stall_s)
        self._probe, self._on_silent = probe, on_silent
        self._waiting: dict[asyncio.Task, tuple[str, float]] = {}
        self._heard: dict[str, float] = {}  # url -> when it last answered anything
        self._silenced: set[asyncio.Task] = set()
        self._alive_until: dict[str, float] = {}  # url -> a probe answered: no new probe before then
        self._loop: asyncio.Task | None = None

    def start(self) -> None:
        self._loop = asyncio.create_task(self._watch())

    async def close(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)

    def begin(self, url: str) -> asyncio.Task | None:
        """The current task starts waiting on ``url``."""
        task = asyncio.current_task()
        if task is not None:
            self._waiting[task] = (url, time.monotonic())
        return task

    def end(self, task: asyncio.Task | None, url: str, heard: bool) -> None:
        """The wait is over (``heard``: the server sent an HTTP answer)."""
        self._waiting.pop(task, None)  # type: ignore[arg-type]
        if heard:
            self._heard[url] = time.monotonic()

    def silenced(self, task: asyncio.Task | None) -> bool:
        """Was ``task`` cancelled by this watch alone? Then the cancellation is undone (a run being stopped
        at the same moment keeps its own)."""
        if task is None or task not in self._silenced:
            return False
        self._silenced.discard(task)
        return task.uncancel() == 0

    async def _watch(self) -> None:
        tick = min(1.0, self.stall_s / 2)
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            stalled: dict[str, list[asyncio.Task]] = {}
            for task, (url, since) in self._waiting.items():
                if min(now - since, now - self._heard.get(url, since)) >= self.stall_s:
                    stalled.setdefault(url, []).append(task)
            for url, tasks in stalled.items():
                if self._alive_until.get(url, 0.0) > now:
                    continue
                if await self._probe(url, self.probe_s):
                    self._alive_until[url] = time.monotonic() + self.stall_s
                    continue
                for task in tasks:
                    if task in self._waiting and not task.done():
                        self._silenced.add(task)
                        task.cancel()
                await self._on_silent(url)
