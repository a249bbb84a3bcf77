"""Rate control: an adaptive concurrency limit, the endpoint-wide pause after a 429, a tokens-per-minute budget.

Requests per minute use ``asyncio_throttle.Throttler`` directly (sliding 60 s window, as providers count).
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["AdaptiveLimit", "RateLimitPause", "TokenBudget", "estimate_tokens"]


class AdaptiveLimit:
    """A concurrency limit that halves on rate limiting and climbs back by one per calm stretch.

    Additive increase / multiplicative decrease, as TCP does, with TCP's rule of one decrease per window:
    a 429 lowers the limit only if its request was sent after the last decrease (so it answers the lowered
    load, not the old one) and that decrease's back-off window has passed. Eight 429s from one burst halve
    once. 429s that do not lower the limit do not reset the climb back either: the limit grows by one per
    ``calm_after`` successes (default: one window, as many successes as the limit), so a few scattered 429s
    cost a moment of concurrency, not the run's. It only decides the number; the replica pool does the waiting.
    """

    def __init__(self, maximum: int, calm_after: int | None = None, cooldown_s: float = 1.0) -> None:
        self.maximum = maximum
        self.limit = maximum
        self._calm_after = calm_after
        self._cooldown_s = cooldown_s
        self._successes = 0
        self._last_decrease = -float("inf")
        self._window_s = 0.0

    def on_rate_limited(self, sent_at: float | None = None, wait_s: float | None = None) -> bool:
        """Count a 429 for a request sent at ``sent_at`` (monotonic); True when the limit was lowered.

        ``wait_s``: the server's Retry-After; the back-off window is at least that long.
        """
        now = time.monotonic()
        sent_at = now if sent_at is None else sent_at
        if sent_at < self._last_decrease or now - self._last_decrease < self._window_s:
            return False
        self.limit = max(1, self.limit // 2)
        self._last_decrease = now
        self._window_s = max(self._cooldown_s, wait_s or 0.0)
        self._successes = 0
        return True

    def on_success(self) -> bool:
        """Count a success; True when the limit just grew (waiters may proceed)."""
        if self.limit >= self.maximum:
            return False
        self._successes += 1
        if self._successes < (self._calm_after or self.limit):
            return False
        self._successes = 0
        self.limit += 1
        return True


class RateLimitPause:
    """The endpoint-wide hold a 429 puts on new attempts, so a rate-limited server is not hammered.

    No attempt starts before the reset time the latest 429 gave, unless a request sent after that
    rate-limited one has since been answered: then the limit was not endpoint-wide (one unlucky request,
    another replica, a per-request quota) and the pause is lifted.
    """

    def __init__(self) -> None:
        self._until = 0.0
        self._limited_sent_at = -float("inf")
        self._lifted = asyncio.Event()

    def on_rate_limited(self, sent_at: float, wait_s: float) -> None:
        if sent_at >= self._limited_sent_at:  # the newest request's answer is the server's latest word
            self._limited_sent_at = sent_at
            self._until = time.monotonic() + wait_s
            self._lifted.clear()

    def on_answered(self, sent_at: float) -> None:
        if sent_at > self._limited_sent_at and self._until:
            self._until = 0.0
            self._lifted.set()

    def remaining_s(self) -> float:
        return max(0.0, self._until - time.monotonic())

    async def wait(self) -> None:
        """Return once the pause is over or lifted (at once when there is none)."""
        while (left := self.remaining_s()) > 0:
            try:
                async with asyncio.timeout(left):
                    await self._lifted.wait()
            except TimeoutError:
                pass


def estimate_tokens(messages: object, max_tokens: int | None) -> int:
    """Tokens a request may use before we know: ~4 characters a token for the prompt, plus max_tokens."""
    chars = sum(len(m["content"]) for m in messages)  # type: ignore[index, union-attr, attr-defined]
    return chars // 4 + 8 * len(messages) + (max_tokens or 0)  # type: ignore[arg-type]


class TokenBudget:
    """Tokens-per-minute bucket: spend an estimate before sending, settle with ``usage`` afterwards.

    The bucket refills continuously at ``per_minute / 60`` per second up to ``per_minute``; settling can
    drive it negative (debt), which later requests wait out.
    """

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.available = float(per_minute)
        self._rate = per_minute / 60.0
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.available = min(self.capacity, self.available + (now - self._stamp) * self._rate)
        self._stamp = now

    async def spend(self, tokens: int) -> None:
        tokens = min(float(tokens), self.capacity)  # a request larger than the budget waits for a full bucket
        async with self._lock:  # first come, first served
            while True:
                self._refill()
                if self.available >= tokens:
                    self.available -= tokens
                    return
                await asyncio.sleep(min(5.0, (tokens - self.available) / self._rate))

    def settle(self, estimated: int, actual: int) -> None:
        self._refill()
        self.available -= actual - min(float(estimated), self.capacity)
