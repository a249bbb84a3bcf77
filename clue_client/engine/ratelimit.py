"""Rate control: an adaptive concurrency limit and a tokens-per-minute budget.

Requests per minute use ``asyncio_throttle.Throttler`` directly (sliding 60 s window, as providers count).
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["AdaptiveLimit", "TokenBudget", "estimate_tokens"]


class AdaptiveLimit:
    """A concurrency limit that halves on rate limiting and climbs back by one per calm stretch.

    Additive increase / multiplicative decrease, as TCP does: a 429 storm quickly reduces the load, and
    the limit returns to ``maximum`` after ``calm_after`` successes in a row at each step. It only
    decides the number; whoever owns the waiting (the replica pool) asks it.
    """

    def __init__(self, maximum: int, calm_after: int = 20, cooldown_s: float = 1.0) -> None:
        self.maximum = maximum
        self.limit = maximum
        self._calm_after = calm_after
        self._cooldown_s = cooldown_s
        self._successes = 0
        self._last_decrease = -float("inf")

    def on_rate_limited(self) -> None:
        now = time.monotonic()
        self._successes = 0
        if now - self._last_decrease >= self._cooldown_s:  # one decrease per burst of 429s
            self.limit = max(1, self.limit // 2)
            self._last_decrease = now

    def on_success(self) -> bool:
        """Count a success; True when the limit just grew (waiters may proceed)."""
        if self.limit >= self.maximum:
            return False
        self._successes += 1
        if self._successes < self._calm_after:
            return False
        self._successes = 0
        self.limit += 1
        return True


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
