"""Send chat-completion Requests concurrently and yield Results as they arrive.

Task-agnostic: Requests in, Results out. One pooled aiohttp session per endpoint: the hot path is plain
aiohttp because bench/client_overhead.py measured httpx (even over its aiohttp transport) at a fraction
of aiohttp's rate at concurrency 64; httpx serves the low-rate introspection calls. A replica pool for concurrency and
routing, requests/min via asyncio-throttle, a tokens/min budget, an endpoint-wide pause after a 429 with a
paced release, and tenacity retries that honour the server's wait within bounds (policy in ``retry.py``).
What to do with each HTTP outcome is decided in ``outcome.py`` alone; refusals alike are judged in
``alike.py``; the session, the answer-size cap and the silent-server watch live in ``transport.py``.

A request waiting out a backoff gives its concurrency slot to another (``retry.Slot``); up to
``_WAITING_PER_SLOT`` times the concurrency may be waiting at once, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Iterable

import aiohttp
from asyncio_throttle import Throttler
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from ..config import Endpoint
from ..errors import UserError
from ..redact import Redactor
from .alike import Alike
from .causes import connection_problem, tls_mismatch
from .outcome import Action, Outcome, ServerError, classify_status
from .ratelimit import RateLimitPause, TokenBudget, estimate_tokens
from .replicas import Replica, ReplicaPool
from .request import Request, Result
from .retry import Backoff, RetryBudget, Slot, bounded_wait
from .transport import BodyTooLarge, StallWatch, body_cap, client_timeout, make_session, read_capped
from .wire import CHAT, Wire

__all__ = ["Engine", "EngineStats", "RunAborted", "Backoff"]


class RunAborted(UserError):
    """The server said no in a way no retry can fix (bad key, unknown model)."""


_RETRY_ACTIONS = (Action.RETRY, Action.RATE_LIMITED)
_WAITING_PER_SLOT = 3  # requests that may wait out a backoff per concurrency slot
_STALE = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)  # what reusing a connection the server closed raises


@dataclass(frozen=True, slots=True)
class _Failures:
    """The one field of tenacity's RetryCallState that its wait strategies read."""

    attempt_number: int


class _Retryable(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


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
        wire: Wire = CHAT,
        stall_s: float = 15.0,
    ) -> None:
        self.endpoint = endpoint
        self.wire = wire  # the HTTP API requests travel over (engine/wire)
        self.model = model
        self.backoff = backoff
        self.max_cost = max_cost
        self.stats = EngineStats()
        per_replica = concurrency or endpoint.max_concurrency
        urls = base_urls or endpoint.base_urls
        self.pool = ReplicaPool(urls, per_replica, self._probe, all_down_timeout_s=all_down_timeout_s)
        self._connections = self.pool.capacity + len(urls)
        self._session: aiohttp.ClientSession | None = None
        self._fresh: aiohttp.ClientSession | None = None  # made on the first stale connection
        self._headers = {"Content-Type": "application/json", **endpoint.headers()}
        self._query = endpoint.query_params()
        self._redact = Redactor.of(endpoint.secrets())  # a server may echo the key: scrub every body
        self._throttler = _throttler(endpoint.requests_per_minute)
        self._budget = TokenBudget(endpoint.tokens_per_minute) if endpoint.tokens_per_minute else None
        self._pause = RateLimitPause()
        self._watch = StallWatch(self._alive, self.pool.take_out, stall_s=stall_s)
        self._alike: Alike | None = None
        self._control: Request | None = None  # a request the endpoint answered: the breaker's control
        self._asking = False
        self._stop_sending = False
        self._reserved_cost = 0.0
        self._backoff_wait = wait_exponential_jitter(multiplier=backoff.initial_s, max=backoff.max_s, jitter=backoff.jitter_s)

    async def __aenter__(self) -> "Engine":
        self._session = make_session(self.endpoint.request_timeout_s(), self._connections)
        self._watch.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._watch.close()
        await self.pool.close()
        for session in (self._session, self._fresh):
            if session is not None:
                await session.close()

    # ---- public ----------------------------------------------------------------------------
    async def run(self, requests: Iterable[Request], total: int | None = None,
                  control: Request | None = None) -> AsyncIterator[Result]:
        """Yield one Result per Request, in completion order. Streams: holds only what is in flight or waiting.

        ``control``: a request the endpoint answered before (a resumed run's), so refusals alike can be
        judged from the start (``alike.py``); requests answered in this run serve as well.
        """
        self.stats.total = total if total is not None else getattr(requests, "__len__", lambda: 0)()
        self._control = self._control or control
        source = iter(requests)
        capacity = self.pool.capacity
        results: asyncio.Queue[list[Result | BaseException] | BaseException | None] = asyncio.Queue(maxsize=2 * capacity)
        attempting = asyncio.Semaphore(capacity)  # requests being attempted (not waiting out a backoff)
        live = asyncio.Semaphore(capacity * (1 + _WAITING_PER_SLOT))  # attempted + waiting
        tasks: set[asyncio.Task[None]] = set()
        started = 0
        # the first wave alone until judged, refusals alike held back until judged (alike.py)
        alike = self._alike = Alike(self.endpoint, capacity, self.stats.total, self.wire.name)

        async def one(request: Request, reserved: float) -> None:
            slot = Slot(attempting)
            try:
                try:
                    item: Result | BaseException = await self._send(request, slot)
                except Exception as exc:  # surfaced to the consumer, which cancels the rest
                    item = exc
                finally:
                    self._reserved_cost -= reserved
                await results.put(alike.settle(item) if isinstance(item, Result) else [item])
            finally:
                slot.release()
                live.release()

        async def feed() -> None:
            nonlocal started
            try:
                while not self._stop_sending:
                    await live.acquire()
                    await attempting.acquire()
                    request = None if self._stop_sending else next(source, None)
                    if request is not None:
                        await alike.admit()
                    if self._stop_sending:
                        request = None
                    reserved = None if request is None else self._reserve_cost(request)
                    if request is None or reserved is None:
                        attempting.release()
                        live.release()
                        if request is not None:
                            self._stop_sending = True
                            self.stats.stopped_reason = f"--max-cost {self.max_cost:g} would be passed by the next request"
                        break
                    started += 1
                    task = asyncio.create_task(one(request, reserved))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            except Exception as exc:  # the request source failed
                await results.put(exc)
                return
            await results.put(None)

        feeder = asyncio.create_task(feed())
        feeding, received = True, 0
        try:
            while feeding or received < started:
                batch = await results.get()
                if batch is None:
                    feeding = False
                    continue
                if isinstance(batch, BaseException):
                    raise batch
                received += 1
                for item in batch:
                    if isinstance(item, BaseException):
                        raise item
                    yield item
            for item in alike.flush():
                yield item
        finally:
            pending = [feeder, *tasks]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # ---- one request, with retries ---------------------------------------------------------
    def _reserve_cost(self, request: Request) -> float | None:
        """Reserve the request's worst-case cost; None when spent + in flight + it would pass --max-cost."""
        prices = self.endpoint.prices()
        if self.max_cost is None or prices is None:
            return 0.0
        max_tokens = request.max_tokens or 0
        prompt = estimate_tokens(request.turns(), 0)
        worst = (prompt * prices["input_per_million"] + max_tokens * prices["output_per_million"]) / 1e6
        if self.stats.cost + self._reserved_cost + worst > self.max_cost:
            return None
        self._reserved_cost += worst
        return worst

    def _wait_after(self, outcome: Outcome, attempts: int, ceiling_s: float) -> float:
        """Seconds before the next attempt: our backoff, or the server's wait when it gives a longer one, up to
        ``ceiling_s`` (what is left of the request's rate-limit budget)."""
        return bounded_wait(outcome.retry_after_s, self._backoff_wait(_Failures(attempts)), ceiling_s)

    def _payload(self, request: Request) -> bytes:
        return json.dumps(self.wire.body(request, self.model), ensure_ascii=False).encode("utf-8")

    async def _send(self, request: Request, slot: Slot) -> Result:
        """First attempt directly (most requests need one; tenacity's per-call setup costs as much as the
        HTTP exchange on loopback), then tenacity's loop for the retries."""
        payload = self._payload(request)
        outcome, latency, replica = await self._attempt(request, payload)
        attempts = 1
        if outcome.action in _RETRY_ACTIONS:
            outcome, latency, replica, budget = await self._retry(request, payload, outcome, replica, slot)
            attempts = budget.attempts
            if outcome.action in _RETRY_ACTIONS:
                error = budget.give_up_message(outcome)
                return self._finish(Result(request.key, None, attempts=attempts, error=error, retryable=True))
        if outcome.action is Action.ABORT:
            self._stop_sending = True
            raise RunAborted(self._redact.text(f"{self.endpoint.name}: {outcome.error}"))
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
        self, request: Request, payload: bytes, first: Outcome, replica: str, slot: Slot
    ) -> tuple[Outcome, float | None, str, RetryBudget]:
        """Attempts after a retryable first outcome, until one is not retryable or the budget is spent.

        Waits give up the request's slot (``slot.sleep``), so other requests keep the server busy.
        """
        budget = RetryBudget(self.endpoint.max_retries, self.endpoint.rate_limit_wait_s)
        budget.record(first)
        outcome, latency = first, None

        def stop(state: RetryCallState | None) -> bool:
            return budget.exhausted(outcome, self._pause.limited_for_s())

        def wait(state: RetryCallState | None) -> float:
            limited = outcome.action is Action.RATE_LIMITED
            return self._wait_after(outcome, budget.attempts, budget.left_s() if limited else budget.rate_limit_wait_s)

        if stop(None):
            return first, None, replica, budget
        await slot.sleep(wait(None))
        retrying = AsyncRetrying(stop=stop, wait=wait, sleep=slot.sleep, retry=retry_if_exception_type(_Retryable), reraise=True)
        try:
            async for attempt in retrying:
                with attempt:
                    self.stats.retries += 1
                    outcome, latency, replica = await self._attempt(request, payload, avoid=replica)
                    budget.record(outcome)
                    if outcome.action in _RETRY_ACTIONS:
                        raise _Retryable(outcome)
        except _Retryable:
            pass
        return outcome, latency, replica, budget

    def _finish(self, result: Result) -> Result:
        self.stats.done += 1
        if result.error is not None:
            self.stats.errors += 1
        self._charge(result.prompt_tokens, result.completion_tokens)
        return result

    def _charge(self, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        self.stats.prompt_tokens += prompt_tokens or 0
        self.stats.completion_tokens += completion_tokens or 0
        if (prices := self.endpoint.prices()) is not None:
            self.stats.cost += ((prompt_tokens or 0) * prices["input_per_million"]
                                + (completion_tokens or 0) * prices["output_per_million"]) / 1e6

    async def _attempt(self, request: Request, payload: bytes, avoid: str | None = None,
                       observe: bool = True) -> tuple[Outcome, float | None, str]:
        """One HTTP exchange, classified. Returns the outcome, latency when answered, and the replica URL.

        ``avoid``: the replica that failed the previous attempt; a retry goes elsewhere when it can.
        ``observe``: let the breaker see the outcome (not for the control request it asked for itself).
        """
        await self._pause.wait(self.endpoint.rate_limit_wait_s)
        if self._pause.spent(self.endpoint.rate_limit_wait_s):
            return self._limited_out(), None, ""
        if self._throttler is not None:
            await self._throttler.acquire()
        max_tokens = request.max_tokens
        estimate = estimate_tokens(request.turns(), max_tokens)
        if self._budget is not None:
            await self._budget.spend(estimate)
        timeout_s = self.endpoint.request_timeout_s(max_tokens, estimate - (max_tokens or 0))
        replica = await self.pool.acquire(avoid)
        sent_at = time.monotonic()
        started = time.perf_counter()
        outcome: Outcome | None = None
        task = self._watch.begin(replica.url)
        try:
            outcome = await self._exchange(replica.url, payload, timeout_s, body_cap(max_tokens))
        except asyncio.CancelledError:
            if not self._watch.silenced(task):
                raise
            outcome = Outcome(Action.RETRY, f"no answer: {replica.url} accepted the connection but answered nothing for "
                                            f"{self._watch.stall_s:g} s, not even GET /models", connection_failed=True)
        except aiohttp.ConnectionTimeoutError:  # the host never accepted: as good as down
            outcome = Outcome(Action.RETRY, "connection timed out", connection_failed=True)
        except TimeoutError:
            outcome = Outcome(Action.RETRY, f"timeout after {timeout_s:g} s")
        except (aiohttp.ClientError, ConnectionError) as exc:
            # refused, reset, server disconnected, truncated payload: counts toward marking the replica down;
            # TLS spoken to the wrong kind of port (or an untrusted certificate) is no fault a retry fixes
            if (problem := tls_mismatch(replica.url, exc)) is not None:
                outcome = Outcome(Action.ABORT, problem)
            else:
                outcome = Outcome(Action.RETRY, f"connection error ({connection_problem(replica.url, exc)})",
                                  connection_failed=True)
        finally:
            latency = time.perf_counter() - started
            self._watch.end(task, replica.url, heard=outcome is not None and not outcome.connection_failed)
            await self._release(replica, outcome, latency, sent_at)
        if self._budget is not None and outcome.payload and "text" in outcome.payload:
            used = (outcome.payload.get("prompt_tokens") or 0) + (outcome.payload.get("completion_tokens") or 0)
            self._budget.settle(estimate, used or estimate)
        if observe:
            await self._observe(request, outcome)
        return outcome, (latency if outcome.action is Action.DONE else None), replica.url

    def _limited_out(self) -> Outcome:
        """An attempt not sent: every request has been rate limited for the whole budget, so the run stops
        sending (the requests not answered stay unscored; a rerun sends them)."""
        waited = self.endpoint.rate_limit_wait_s
        reason = (f"the endpoint has answered nothing but HTTP 429 (rate limited) for {waited:g} s, "
                  "rate_limit_wait_s")
        self._stop_sending = True
        self.stats.stopped_reason = self.stats.stopped_reason or reason
        return Outcome(Action.RATE_LIMITED, f"not sent: {reason}", sent=False)

    async def _observe(self, request: Request, outcome: Outcome) -> None:
        """Show the breaker an attempt's outcome; ask the control when it wants; stop when it says so."""
        alike = self._alike
        if outcome.action is Action.DONE:
            self._control = request
        if alike is None:
            return
        if alike.observe(request.key, outcome, self._control is not None) and not self._asking:
            self._asking = True
            try:
                control = self._control
                assert control is not None
                verdict, _, _ = await self._attempt(control, self._payload(control), observe=False)
                if verdict.payload:
                    self._charge(verdict.payload.get("prompt_tokens"), verdict.payload.get("completion_tokens"))
            finally:
                self._asking = False
            alike.judge(verdict)
        if alike.stop is not None and outcome.action is not Action.DONE:
            self._stop_sending = True
            raise RunAborted(self._redact.text(alike.stop))

    async def _exchange(self, url: str, payload: bytes, timeout_s: float, cap: int) -> Outcome:
        """POST the request and classify the answer. A keep-alive connection the server closed while it sat
        idle in the pool fails on reuse before the server saw anything: that is sent again at once on a new
        connection and is not an attempt (a failure on the new connection is)."""
        assert self._session is not None, "use Engine as an async context manager"
        trace: dict[str, bool] = {"reused": False}
        try:
            return await self._post(self._session, url, payload, timeout_s, trace, cap)
        except _STALE as exc:
            if not trace["reused"] or isinstance(exc, aiohttp.ClientConnectorError):
                raise
        if self._fresh is None:
            self._fresh = make_session(self.endpoint.request_timeout_s(), self._connections, fresh=True)
        self.stats.retries += 1
        return await self._post(self._fresh, url, payload, timeout_s, None, cap)

    async def _post(self, session: aiohttp.ClientSession, url: str, payload: bytes, timeout_s: float,
                    trace: dict[str, bool] | None, cap: int) -> Outcome:
        target = self.wire.url(url)
        async with session.post(target, data=payload, headers=self._headers, params=self._query,
                                timeout=client_timeout(timeout_s), trace_request_ctx=trace,
                                allow_redirects=False) as response:
            status = response.status
            try:
                content = self._redact.body(await read_capped(response, cap))
            except BodyTooLarge as exc:  # the server's fault for this request: retried, then a retryable error
                said = ServerError(status, str(exc))
                return Outcome(Action.RETRY, str(said), rejection=said if 200 <= status < 300 else None)
            if 200 <= status < 300:
                return self.wire.parse(content)
            return classify_status(status, response.headers, content, target, url)

    async def _release(self, replica: Replica, outcome: Outcome | None, latency: float, sent_at: float) -> None:
        if outcome is None:  # cancelled mid-request
            await self.pool.release(replica)
            return
        rate_limited = outcome.action is Action.RATE_LIMITED
        if rate_limited:
            self._pause.on_rate_limited(sent_at, self._wait_after(outcome, 1, self.endpoint.rate_limit_wait_s))
        elif outcome.action is Action.DONE:
            self._pause.on_answered(sent_at)
        await self.pool.release(
            replica,
            latency_s=latency if outcome.action is Action.DONE else None,
            rate_limited=rate_limited,
            connect_failed=outcome.connection_failed,
            failed=outcome.action in (Action.RETRY, Action.RECORD),
            sent_at=sent_at,
            retry_after_s=outcome.retry_after_s,
        )

    async def _status(self, url: str, timeout_s: float) -> int | None:
        """The HTTP status of the replica's model list, or None when it gives none within ``timeout_s``."""
        assert self._session is not None
        try:
            async with self._session.get(f"{url}/models", headers=self._headers, params=self._query,
                                         timeout=aiohttp.ClientTimeout(total=timeout_s), allow_redirects=False) as response:
                return response.status
        except (aiohttp.ClientError, ConnectionError, TimeoutError, ValueError):
            return None

    async def _probe(self, url: str) -> bool:
        """Is a down replica back? Any answer below 500 from its model list counts."""
        status = await self._status(url, 5.0)
        return status is not None and status < 500

    async def _alive(self, url: str, timeout_s: float) -> bool:
        """Does the replica answer HTTP at all (the silent-server watch's question)?"""
        return await self._status(url, timeout_s) is not None
