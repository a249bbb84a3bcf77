"""Send chat-completion Requests concurrently and yield Results as they arrive.

Task-agnostic: Requests in, Results out. One pooled aiohttp session per endpoint: the hot path is plain
aiohttp because bench/client_overhead.py measured httpx (even over its aiohttp transport) at a fraction
of aiohttp's rate at concurrency 64; httpx serves the low-rate introspection calls. A replica pool for concurrency and
routing, requests/min via asyncio-throttle, a tokens/min budget, and tenacity retries that honour
``Retry-After``. What to do with each HTTP outcome is decided in ``outcome.py`` alone.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Iterable

import aiohttp
from asyncio_throttle import Throttler
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from ..config import Endpoint
from ..errors import UserError
from .alike import FirstWave
from .outcome import Action, Outcome, classify_status, parse_completion
from .ratelimit import TokenBudget, estimate_tokens
from .replicas import Replica, ReplicaPool
from .request import Request, Result

__all__ = ["Engine", "EngineStats", "RunAborted", "make_session", "Backoff"]


class RunAborted(UserError):
    """The server said no in a way no retry can fix (bad key, unknown model)."""


_RETRY_ACTIONS = (Action.RETRY, Action.RATE_LIMITED)


@dataclass(frozen=True, slots=True)
class _Failures:
    """The one field of tenacity's RetryCallState that its wait strategies read."""

    attempt_number: int


class _Retryable(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter; ``Retry-After`` from the server wins when given (capped)."""

    initial_s: float = 0.5
    max_s: float = 30.0
    jitter_s: float = 0.5
    max_retry_after_s: float = 120.0


@dataclass
class EngineStats:
    """Live counters for the progress display and the run summary."""

    total: int = 0
    done: int = 0
    errors: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    started: float = field(default_factory=time.monotonic)
    stopped_reason: str | None = None

    def tokens_per_s(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.completion_tokens / elapsed if elapsed > 0 else 0.0


def make_session(endpoint: Endpoint, connections: int) -> aiohttp.ClientSession:
    """The shared pooled session: keep-alive connections sized to the concurrency, no cookies kept."""
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=0, enable_cleanup_closed=True)
    timeout = aiohttp.ClientTimeout(total=endpoint.timeout_s, connect=min(10.0, endpoint.timeout_s))
    return aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar())


def _throttler(requests_per_minute: float | None) -> Throttler | None:
    """Requests/min as a window of about one second, so the rate is smooth rather than one burst a minute."""
    if not requests_per_minute:
        return None
    per_window = max(1, int(requests_per_minute // 60))
    return Throttler(rate_limit=per_window, period=60.0 * per_window / requests_per_minute)


class Engine:
    """Runs Requests against one endpoint; use as ``async with Engine(...) as engine``."""

    def __init__(
        self,
        endpoint: Endpoint,
        model: str,
        *,
        concurrency: int | None = None,
        backoff: Backoff = Backoff(),
        max_cost: float | None = None,
        base_urls: tuple[str, ...] | None = None,
        all_down_timeout_s: float = 30.0,
    ) -> None:
        self.endpoint = endpoint
        self.model = model
        self.backoff = backoff
        self.max_cost = max_cost
        self.stats = EngineStats()
        per_replica = concurrency or endpoint.max_concurrency
        urls = base_urls or endpoint.base_urls
        self.pool = ReplicaPool(urls, per_replica, self._probe, all_down_timeout_s=all_down_timeout_s)
        self._connections = self.pool.capacity + len(urls)
        self._session: aiohttp.ClientSession | None = None
        self._headers = {"Content-Type": "application/json", **endpoint.headers()}
        self._query = endpoint.query_params()
        self._throttler = _throttler(endpoint.requests_per_minute)
        self._budget = TokenBudget(endpoint.tokens_per_minute) if endpoint.tokens_per_minute else None
        self._stop_sending = False
        self._reserved_cost = 0.0
        self._backoff_wait = wait_exponential_jitter(multiplier=backoff.initial_s, max=backoff.max_s, jitter=backoff.jitter_s)

    async def __aenter__(self) -> "Engine":
        self._session = make_session(self.endpoint, self._connections)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.pool.close()
        if self._session is not None:
            await self._session.close()

    # ---- public ----------------------------------------------------------------------------
    async def run(self, requests: Iterable[Request], total: int | None = None) -> AsyncIterator[Result]:
        """Yield one Result per Request, in completion order. Streams: holds only what is in flight."""
        self.stats.total = total if total is not None else getattr(requests, "__len__", lambda: 0)()
        source = iter(requests)
        results: asyncio.Queue[Result | BaseException | None] = asyncio.Queue(maxsize=2 * self.pool.capacity)
        n_workers = self.pool.capacity
        # the first wave alone until one of it is not rejected like the others (a config error: alike.py)
        wave = FirstWave(self.endpoint, min(n_workers, self.stats.total)) if self.stats.total else None

        async def worker() -> None:
            try:
                while not self._stop_sending and (request := next(source, None)) is not None:
                    first = wave is not None and await wave.admit()
                    if self._stop_sending:
                        break
                    reserved = self._reserve_cost(request)
                    if reserved is None:
                        self._stop_sending = True
                        self.stats.stopped_reason = f"--max-cost {self.max_cost:g} would be passed by the next request"
                        break
                    try:
                        result = await self._send(request)
                    finally:
                        self._reserved_cost -= reserved
                    ready, stop = wave.settle(result) if first and wave is not None else ([result], None)
                    if stop is not None:
                        self._stop_sending = True
                        raise RunAborted(stop)
                    for item in ready:
                        await results.put(item)
            except BaseException as exc:  # surfaced to the consumer, which cancels the rest
                await results.put(exc)
                return
            await results.put(None)

        workers = [asyncio.create_task(worker()) for _ in range(n_workers)]
        finished = 0
        try:
            while finished < n_workers:
                item = await results.get()
                if item is None:
                    finished += 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    # ---- one request, with retries ---------------------------------------------------------
    def _reserve_cost(self, request: Request) -> float | None:
        """Reserve the request's worst-case cost; None when spent + in flight + it would pass --max-cost."""
        prices = self.endpoint.prices()
        if self.max_cost is None or prices is None:
            return 0.0
        max_tokens = request.max_tokens or 0
        prompt = estimate_tokens(request.messages, 0)
        worst = (prompt * prices["input_per_million"] + max_tokens * prices["output_per_million"]) / 1e6
        if self.stats.cost + self._reserved_cost + worst > self.max_cost:
            return None
        self._reserved_cost += worst
        return worst

    def _wait(self, state: RetryCallState) -> float:
        """Seconds before the next attempt: the server's Retry-After when given (capped), else backoff.

        Attempt 1 runs before tenacity takes over (``_send``), so tenacity's attempt n is our n + 1.
        """
        exc = state.outcome.exception() if state.outcome else None
        return self._wait_after(exc.outcome if isinstance(exc, _Retryable) else None, state.attempt_number + 1)

    def _wait_after(self, outcome: Outcome | None, failures: int) -> float:
        if outcome is not None and outcome.retry_after_s is not None:
            return min(outcome.retry_after_s, self.backoff.max_retry_after_s)
        return self._backoff_wait(_Failures(failures))

    async def _send(self, request: Request) -> Result:
        """First attempt directly (most requests need one; tenacity's per-call setup costs as much as the
        HTTP exchange on loopback), then tenacity's loop for the retries."""
        payload = json.dumps(request.body(self.model), ensure_ascii=False).encode("utf-8")
        outcome, latency, replica = await self._attempt(request, payload)
        attempts = 1
        if outcome.action in _RETRY_ACTIONS:
            outcome, latency, replica, attempts = await self._retry(request, payload, outcome, replica)
        if outcome.action in _RETRY_ACTIONS:
            error = f"gave up after {attempts} attempts: {outcome.error or 'retryable error'}"
            return self._finish(Result(request.key, None, attempts=attempts, error=error, retryable=True))
        if outcome.action is Action.ABORT:
            self._stop_sending = True
            raise RunAborted(f"{self.endpoint.name}: {outcome.error}")
        if outcome.action is Action.RECORD:
            return self._finish(Result(request.key, None, attempts=attempts, error=outcome.error, replica=replica,
                                       rejection=outcome.rejection))
        answer = outcome.payload or {}
        return self._finish(
            Result(
                request.key,
                answer["text"],
                finish_reason=answer.get("finish_reason"),
                prompt_tokens=answer.get("prompt_tokens"),
                completion_tokens=answer.get("completion_tokens"),
                latency_s=latency,
                attempts=attempts,
                replica=replica,
                reasoning=answer.get("reasoning"),
                reasoning_tokens=answer.get("reasoning_tokens"),
            )
        )

    async def _retry(
        self, request: Request, payload: bytes, first: Outcome, replica: str
    ) -> tuple[Outcome, float | None, str, int]:
        """Attempts 2..max_retries+1 after a retryable first outcome; returns the last outcome."""
        if self.endpoint.max_retries == 0:
            return first, None, replica, 1
        outcome, latency, attempts = first, None, 1
        await asyncio.sleep(self._wait_after(first, 1))
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.endpoint.max_retries),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    self.stats.retries += 1
                    outcome, latency, replica = await self._attempt(request, payload, avoid=replica)
                    if outcome.action in _RETRY_ACTIONS:
                        raise _Retryable(outcome)
        except _Retryable:
            pass
        return outcome, latency, replica, attempts

    def _finish(self, result: Result) -> Result:
        self.stats.done += 1
        if result.error is not None:
            self.stats.errors += 1
        self.stats.prompt_tokens += result.prompt_tokens or 0
        self.stats.completion_tokens += result.completion_tokens or 0
        if (prices := self.endpoint.prices()) is not None:
            self.stats.cost += ((result.prompt_tokens or 0) * prices["input_per_million"]
                                + (result.completion_tokens or 0) * prices["output_per_million"]) / 1e6
        return result

    async def _attempt(self, request: Request, payload: bytes, avoid: str | None = None) -> tuple[Outcome, float | None, str]:
        """One HTTP exchange, classified. Returns the outcome, latency when answered, and the replica URL.

        ``avoid``: the replica that failed the previous attempt; a retry goes elsewhere when it can.
        """
        if self._throttler is not None:
            await self._throttler.acquire()
        estimate = estimate_tokens(request.messages, request.max_tokens)
        if self._budget is not None:
            await self._budget.spend(estimate)
        replica = await self.pool.acquire(avoid)
        started = time.perf_counter()
        outcome: Outcome | None = None
        assert self._session is not None, "use Engine as an async context manager"
        try:
            async with self._session.post(f"{replica.url}/chat/completions", data=payload, headers=self._headers,
                                          params=self._query) as response:
                content = await response.read()
                if 200 <= response.status < 300:
                    outcome = parse_completion(content)
                else:
                    outcome = classify_status(response.status, response.headers, content)
        except aiohttp.ConnectionTimeoutError:  # the host never accepted: as good as down
            outcome = Outcome(Action.RETRY, "connection timed out", connection_failed=True)
        except TimeoutError:
            outcome = Outcome(Action.RETRY, f"timeout after {self.endpoint.timeout_s:g} s")
        except aiohttp.ClientConnectorError as exc:
            outcome = Outcome(Action.RETRY, f"connection refused ({exc.os_error})", connection_failed=True)
        except (aiohttp.ClientError, ConnectionError) as exc:
            # reset, server disconnected, truncated payload: counts toward marking the replica down
            outcome = Outcome(Action.RETRY, f"connection error ({type(exc).__name__})", connection_failed=True)
        finally:
            latency = time.perf_counter() - started
            await self._release(replica, outcome, latency)
        if self._budget is not None and outcome.payload and "text" in outcome.payload:
            used = (outcome.payload.get("prompt_tokens") or 0) + (outcome.payload.get("completion_tokens") or 0)
            self._budget.settle(estimate, used or estimate)
        return outcome, (latency if outcome.action is Action.DONE else None), replica.url

    async def _release(self, replica: Replica, outcome: Outcome | None, latency: float) -> None:
        if outcome is None:  # cancelled mid-request
            await self.pool.release(replica)
            return
        await self.pool.release(
            replica,
            latency_s=latency if outcome.action is Action.DONE else None,
            rate_limited=outcome.action is Action.RATE_LIMITED,
            connect_failed=outcome.connection_failed,
            failed=outcome.action in (Action.RETRY, Action.RECORD),
        )

    async def _probe(self, url: str) -> bool:
        """Is a down replica back? Any HTTP answer from its model list counts."""
        assert self._session is not None
        try:
            async with self._session.get(f"{url}/models", headers=self._headers, params=self._query,
                                         timeout=aiohttp.ClientTimeout(total=5.0)) as response:
                return response.status < 500
        except (aiohttp.ClientError, ConnectionError, TimeoutError):
            return False
