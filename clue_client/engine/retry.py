"""Retry policy: how long to wait before the next attempt, and when a request has had enough.

Failures (5xx, drops, timeouts, bad bodies) count toward ``max_retries``. Rate limiting does not: a 429
means "later", not "no", so it is waited out on a time budget (``rate_limit_wait_s``, 10 minutes by default)
honouring the server's own reset time. What each HTTP outcome is stays decided in ``outcome.py``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from .outcome import Action, Outcome

__all__ = ["Backoff", "RetryBudget", "Slot"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter; ``Retry-After`` from the server wins when given (capped)."""

    initial_s: float = 0.5
    max_s: float = 30.0
    jitter_s: float = 0.5
    max_retry_after_s: float = 120.0


@dataclass(slots=True)
class RetryBudget:
    """One request's retries so far; ``record`` each attempt's outcome, then ask ``exhausted``."""

    max_retries: int
    rate_limit_wait_s: float
    attempts: int = 0
    failures: int = 0
    limited_since: float | None = None

    def record(self, outcome: Outcome) -> None:
        self.attempts += 1
        if outcome.action is Action.RATE_LIMITED:
            if self.limited_since is None:
                self.limited_since = time.monotonic()
        elif outcome.action is Action.RETRY:
            self.failures += 1

    def exhausted(self, last: Outcome) -> bool:
        """No further attempt for a request whose latest outcome was ``last``."""
        if last.action is Action.RATE_LIMITED:
            return self.limited_for_s() >= self.rate_limit_wait_s
        return self.failures > self.max_retries

    def limited_for_s(self) -> float:
        return 0.0 if self.limited_since is None else time.monotonic() - self.limited_since

    def give_up_message(self, last: Outcome) -> str:
        waited = f" over {self.limited_for_s():.0f} s of rate limiting" if last.action is Action.RATE_LIMITED else ""
        return f"gave up after {self.attempts} attempts{waited}: {last.error or 'retryable error'}"


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
