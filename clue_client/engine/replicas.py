"""Least-busy routing over one endpoint's replicas, with failover and probing back.

Every request goes to the healthy replica with the fewest requests in flight (ties: lower recent
latency), within that replica's own adaptive concurrency limit. A replica is taken out only when it
stops answering: every attempt of a whole window (``down_after`` or its concurrency limit, whichever is
more) failed to connect or got a 5xx with no answer in between. Scattered faults among answers never take
it out. A down replica is probed in the background until it answers again. With one URL this is simply
the endpoint's concurrency limit.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from ..errors import ServerUnreachable
from .ratelimit import AdaptiveLimit

__all__ = ["Replica", "ReplicaPool"]


@dataclass(eq=False)
class Replica:
    url: str
    limit: AdaptiveLimit
    in_flight: int = 0
    latency_ewma_s: float = 0.0
    consecutive_failures: int = 0
    down_since: float | None = None
    requests: int = 0
    errors: int = 0
    latency_total_s: float = 0.0
    answered: int = 0
    _probe: asyncio.Task | None = field(default=None, repr=False)

    @property
    def healthy(self) -> bool:
        return self.down_since is None

    def summary(self) -> dict[str, float | int]:
        mean = self.latency_total_s / self.answered if self.answered else None
        return {"requests": self.requests, "errors": self.errors, "answered": self.answered, "mean_latency_s": mean}


Probe = Callable[[str], Awaitable[bool]]


class ReplicaPool:
    """Hands out replica slots; callers must ``release`` every slot they ``acquire``."""

    def __init__(
        self,
        urls: tuple[str, ...],
        per_replica: int,
        probe: Probe,
        *,
        down_after: int = 3,
        probe_interval_s: float = 1.0,
        all_down_timeout_s: float = 30.0,
    ) -> None:
        self.replicas = [Replica(url, AdaptiveLimit(per_replica)) for url in urls]
        self._probe = probe
        self._down_after = down_after
        self._probe_interval_s = probe_interval_s
        self._all_down_timeout_s = all_down_timeout_s
        self._changed = asyncio.Condition()
        self._closed = False

    @property
    def capacity(self) -> int:
        return sum(r.limit.maximum for r in self.replicas)

    def _pick(self, avoid: str | None) -> Replica | None:
        # a retry waits for another healthy replica rather than go back to the one that just failed it
        others = avoid is not None and any(r.healthy and r.url != avoid for r in self.replicas)
        ready = [r for r in self.replicas
                 if r.healthy and r.in_flight < r.limit.limit and not (others and r.url == avoid)]
        return min(ready, key=lambda r: (r.in_flight, r.latency_ewma_s), default=None)

    async def acquire(self, avoid: str | None = None) -> Replica:
        """A slot on the least-busy healthy replica; ``avoid`` (a URL) is used only if no other is healthy.

        Raises ServerUnreachable once every replica has been down for ``all_down_timeout_s``.
        """
        async with self._changed:
            while (replica := self._pick(avoid)) is None:
                await self._wait_for_change()
            replica.in_flight += 1
            replica.requests += 1
            return replica

    async def _wait_for_change(self) -> None:
        """Wait (holding the condition's lock) for a release or a replica coming back.

        The all-down deadline uses ``asyncio.timeout``, not ``asyncio.wait_for``: on Python 3.11 ``wait_for``
        runs the wait in a task of its own and can swallow the cancellation that ends the run when the
        wait finishes at the same moment, leaving a worker that ``asyncio.run`` waits for forever.
        """
        if any(r.healthy for r in self.replicas):
            await self._changed.wait()
            return
        down_for = time.monotonic() - min(r.down_since or 0.0 for r in self.replicas)
        remaining = self._all_down_timeout_s - down_for
        if remaining <= 0:
            raise ServerUnreachable(
                "no replica of the endpoint answers ("
                + ", ".join(r.url for r in self.replicas)
                + "); finished answers are saved, rerun the same command to resume"
            )
        try:
            async with asyncio.timeout(remaining):
                await self._changed.wait()
        except TimeoutError:
            pass

    async def release(
        self,
        replica: Replica,
        *,
        latency_s: float | None = None,
        rate_limited: bool = False,
        connect_failed: bool = False,
        failed: bool = False,
        sent_at: float | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        """Return a slot with what became of its attempt (``sent_at``: monotonic time it was sent)."""
        async with self._changed:
            replica.in_flight -= 1
            if rate_limited:
                replica.limit.on_rate_limited(sent_at, retry_after_s)
            if connect_failed:
                replica.errors += 1
                replica.consecutive_failures += 1
                window = max(self._down_after, replica.limit.limit)
                if replica.consecutive_failures >= window and replica.healthy:
                    self._mark_down(replica)
            elif failed:
                replica.errors += 1
            if latency_s is not None:
                replica.consecutive_failures = 0
                replica.answered += 1
                replica.latency_total_s += latency_s
                replica.latency_ewma_s = latency_s if not replica.latency_ewma_s else 0.8 * replica.latency_ewma_s + 0.2 * latency_s
                replica.limit.on_success()
            self._changed.notify_all()

    async def take_out(self, url: str) -> None:
        """Mark the replica at ``url`` down at once: it accepts connections and answers nothing, not even
        its probe (``transport.StallWatch``), which is stronger evidence than a window of failures."""
        async with self._changed:
            for replica in self.replicas:
                if replica.url == url and replica.healthy:
                    self._mark_down(replica)
            self._changed.notify_all()

    def _mark_down(self, replica: Replica) -> None:
        replica.down_since = time.monotonic()
        if not self._closed:
            replica._probe = asyncio.create_task(self._probe_until_up(replica))

    async def _probe_until_up(self, replica: Replica) -> None:
        while not self._closed:
            await asyncio.sleep(self._probe_interval_s)
            if await self._probe(replica.url):
                async with self._changed:
                    replica.down_since = None
                    replica.consecutive_failures = 0
                    self._changed.notify_all()
                return

    async def close(self) -> None:
        self._closed = True
        for replica in self.replicas:
            if replica._probe is not None:
                replica._probe.cancel()

    def summary(self) -> dict[str, dict[str, float | int]]:
        return {r.url: r.summary() for r in self.replicas}
