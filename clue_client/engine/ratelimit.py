"""Rate control: an adaptive concurrency limit, the endpoint-wide pause after a 429, a tokens-per-minute budget.

Requests per minute use ``asyncio_throttle.Throttler`` directly (sliding 60 s window, as providers count).
"""

from __future__ import annotations

import asyncio
import math
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
    """The endpoint-wide hold a 429 puts on new attempts, and the paced release after it.

    No attempt starts before the reset time the latest 429 gave, unless a request sent after that
    rate-limited one (and before the 429 came back) has since been answered: then the limit was not
    endpoint-wide (one unlucky request, another replica, a per-request quota) and the pause is lifted.

    When the pause ends, the requests waiting for it do not all go at once (against a server that allows one
    request a second, all at once made 96.6% of requests 429s): they start one at a time, ``gap_s`` apart.
    The gap is the rate the server allowed: the requests it answered out of those sent between the previous
    429 and this one, over that stretch plus the wait it asked for (counted when the pause ends, so answers
    still in flight at the 429 count). It shrinks by ``_EASE`` with each answer, so a limit that was lifted
    costs a few hundred answers' worth of pacing, and drops to nothing below a millisecond.
    """

    _EASE = 0.995  # the gap after each answer, relative to the one before
    _MAX_GAP_S = 60.0  # one request a minute: the slowest limit a provider sets

    def __init__(self) -> None:
        self._until = 0.0
        self._limited_sent_at = -float("inf")
        self._paused_at = -float("inf")  # when the latest pause began
        self._lifted = asyncio.Event()
        self.gap_s = 0.0
        self._next = 0.0  # when the next paced attempt may start
        self._stretch_start = time.monotonic()  # requests sent since then have not met a 429 that taught a rate
        self._answers = 0  # answers to requests of this stretch
        self._taught: float | None = None  # start of the stretch the latest 429 closed, not yet learnt from
        self._taught_answers = 0
        self._limited_since: float | None = None  # rate limited with no answer in between, since

    def on_rate_limited(self, sent_at: float, wait_s: float) -> None:
        now = time.monotonic()
        if self._limited_since is None:
            self._limited_since = now
        if sent_at >= self._stretch_start:  # this 429 answers the current pace: the rate is learnt from it
            self._taught, self._taught_answers = self._stretch_start, self._answers
            self._stretch_start, self._answers = now + wait_s, 0
        if sent_at >= self._limited_sent_at:  # the newest request's answer is the server's latest word
            self._limited_sent_at, self._paused_at = sent_at, now
            self._until = now + wait_s
            self._next = max(self._next, self._until)
            self._lifted.clear()

    def on_answered(self, sent_at: float) -> None:
        self._limited_since = None
        if sent_at >= self._stretch_start:
            self._answers += 1
        elif self._taught is not None and sent_at >= self._taught:
            self._taught_answers += 1
        if self.gap_s:
            self.gap_s = self.gap_s * self._EASE if self.gap_s > 1e-3 else 0.0
        if self._limited_sent_at < sent_at < self._paused_at and self._until:
            # sent after the rate-limited request and still answered: not an endpoint-wide limit
            self._until, self._taught = 0.0, None
            self._lifted.set()

    def remaining_s(self) -> float:
        return max(0.0, self._until - time.monotonic())

    def spent(self, budget_s: float) -> bool:
        """Has every request been rate limited for ``budget_s`` (the endpoint's rate_limit_wait_s)?"""
        return self._limited_since is not None and time.monotonic() - self._limited_since >= budget_s

    def limited_for_s(self) -> float:
        """How long every request has been rate limited (no answer since the first of those 429s)."""
        return 0.0 if self._limited_since is None else time.monotonic() - self._limited_since

    def _learn(self) -> None:
        """The pause is over: the gap from the stretch the 429 closed."""
        if self._taught is not None:
            stretch = self._stretch_start - self._taught  # up to the end of the pause the 429 asked for
            self.gap_s = min(self._MAX_GAP_S, stretch / max(1, self._taught_answers))
            self._taught = None

    async def wait(self, budget_s: float = math.inf) -> None:
        """Return once the pause is over or lifted and this attempt's paced turn has come (at once when
        there is neither), or once every request has been rate limited for ``budget_s``."""
        if not (self._until or self.gap_s):
            return
        while not self.spent(budget_s):
            while (left := min(self.remaining_s(), self._budget_left(budget_s))) > 0:
                try:
                    async with asyncio.timeout(left):
                        await self._lifted.wait()
                except TimeoutError:
                    pass
            self._learn()
            if self._until and self.remaining_s() <= 0:
                self._until = 0.0  # the pause is over: later attempts take the fast path again
            if not self.gap_s:
                return
            now = time.monotonic()
            turn = max(now, self._next)
            self._next = turn + self.gap_s
            if turn > now:
                await asyncio.sleep(min(turn - now, self._budget_left(budget_s)))
            if self.remaining_s() <= 0:  # no new 429 while waiting for the turn
                return

    def _budget_left(self, budget_s: float) -> float:
        return math.inf if self._limited_since is None else max(0.0, budget_s - self.limited_for_s())


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
