"""Retry policy: how long to wait before the next attempt, and when a request has had enough.

Failures (5xx, drops, timeouts, bad bodies) count toward ``max_retries``. Rate limiting does not: a 429
means "later", not "no", so it is waited out on a time budget (``rate_limit_wait_s``, 10 minutes by default)
honouring the server's own reset time. A wait the server gives is bounded below by our own backoff (a
``Retry-After: 0`` or a date in the past is no licence to hammer) and above by what is left of that budget
(an absurd one ends the request at the budget, not at a fixed cap). What each HTTP outcome is stays decided
in ``outcome.py``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from .outcome import Action, Outcome

__all__ = ["Backoff", "RetryBudget", "Slot", "bounded_wait"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: the least a retry waits, whatever the server says."""

    initial_s: float = 0.5
    max_s: float = 30.0
    jitter_s: float = 0.5


def bounded_wait(server_s: float | None, backoff_s: float, ceiling_s: float) -> float:
    """The server's wait between our backoff and ``ceiling_s``; our backoff when it gives none."""
    if server_s is None:
        return backoff_s
    return max(backoff_s, min(server_s, ceiling_s))


@dataclass(slots=True)
class RetryBudget:
    """One request's retries so far; ``record`` each attempt's outcome, then ask ``exhausted``."""

    max_retries: int
    rate_limit_wait_s: float
    attempts: int = 0
    failures: int = 0
    limited_since: float | None = None
    said: str | None = None  # the last thing a server said (an attempt not sent says nothing)
    same_twice: bool = False  # the same non-answer twice in a row: this request gets no other

    def record(self, outcome: Outcome) -> None:
        if outcome.sent:
            self.attempts += 1
            previous, self.said = self.said, outcome.error
            self.same_twice = outcome.rejection is not None and outcome.error == previous
        if outcome.action is Action.RATE_LIMITED:
            if self.limited_since is None:
                self.limited_since = time.monotonic()
        elif outcome.action is Action.RETRY:
            self.failures += 1

    def exhausted(self, last: Outcome, endpoint_limited_s: float = 0.0) -> bool:
        """No further attempt for a request whose latest outcome was ``last`` (``endpoint_limited_s``: how
        long every request to the endpoint has been rate limited; that budget is the endpoint's too)."""
        if last.action is Action.RATE_LIMITED:
            return max(self.limited_for_s(), endpoint_limited_s) >= self.rate_limit_wait_s
        return self.failures > self.max_retries or self.same_twice

    def limited_for_s(self) -> float:
        return 0.0 if self.limited_since is None else time.monotonic() - self.limited_since

    def left_s(self) -> float:
        """Seconds of the rate-limit budget this request has left."""
        return max(0.0, self.rate_limit_wait_s - self.limited_for_s())

    def give_up_message(self, last: Outcome) -> str:
        if not self.attempts:
            return last.error or "not sent"
        waited = f" over {self.limited_for_s():.0f} s of rate limiting" if last.action is Action.RATE_LIMITED else ""
        return f"gave up after {self.attempts} attempts{waited}: {self.said or last.error or 'retryable error'}"


class Slot:
    """A request's place among those being attempted, given to another while it waits out a backoff.

    Without this a request sleeping through a 1 s Retry-After held one of the concurrency slots, and a
    few of them left the server idle.
    """

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots = slots
        self.held = True  # the caller acquired it

    async def sleep(self, seconds: float) -> None:
        self.release()
        await asyncio.sleep(seconds)
        await self._slots.acquire()
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._slots.release()
