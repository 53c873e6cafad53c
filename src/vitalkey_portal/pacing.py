"""Keeps each provider's requests under its ``requests_per_minute``: a token bucket per provider
that lets a short burst through (a user waiting on the link's callback) and then spreads the
requests evenly, a margin below the limit; a 601 pauses the provider for the time it asked.

In any minute at most ``burst + rate × 60`` requests leave: ``limit // 10 + 0.85 × limit``.
The bucket is per process: run the sync worker in one process per provider app (``run_worker``),
or lower ``requests_per_minute`` to each process's share.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

MARGIN = 0.85  # the even rate uses at most this share of the provider's limit
MAX_WAIT_S = 20.0  # a request that would wait longer is given back (Paused): its job waits instead


class Paused(Exception):
    """The provider cannot be asked for ``retry_after_s`` seconds (after a 601, or behind a long
    queue of requests): put the work back, due then."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"paused for {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


@dataclass
class _Bucket:
    rate_per_s: float
    burst: float
    tokens: float
    refilled_at: float
    paused_until: float = 0.0

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.refilled_at) * self.rate_per_s)
        self.refilled_at = now


class Pacer:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.buckets: dict[str, _Bucket] = {}

    def _bucket(self, slug: str, requests_per_minute: int) -> _Bucket:
        bucket = self.buckets.get(slug)
        if bucket is None:
            burst = float(max(1, requests_per_minute // 10))
            rate = requests_per_minute * MARGIN / 60.0
            bucket = self.buckets[slug] = _Bucket(rate, burst, burst, self.clock())
        return bucket

    def pace(self, slug: str, requests_per_minute: int) -> Callable[[], Awaitable[None]]:
        """What a client awaits before each request to this provider."""

        async def wait() -> None:
            await self.wait(slug, requests_per_minute)

        return wait

    async def wait(self, slug: str, requests_per_minute: int) -> None:
        """Take this provider's next request slot, sleeping until it comes; Paused when that is
        more than MAX_WAIT_S away (the slot is not taken then)."""
        bucket = self._bucket(slug, requests_per_minute)
        now = self.clock()
        if bucket.paused_until > now:
            wait_s = bucket.paused_until - now
            if wait_s > MAX_WAIT_S:
                raise Paused(wait_s)
            await anyio.sleep(wait_s)
            now = self.clock()
        bucket.refill(now)
        wait_s = 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / bucket.rate_per_s
        if wait_s > MAX_WAIT_S:
            raise Paused(wait_s)
        bucket.tokens -= 1  # taken before sleeping: the next caller queues behind
        if wait_s > 0:
            await anyio.sleep(wait_s)

    def pause(self, slug: str, seconds: float) -> None:
        """The provider answered 601: no request to it for ``seconds``, then no burst."""
        bucket = self.buckets.get(slug)
        now = self.clock()
        if bucket is None:
            bucket = self.buckets[slug] = _Bucket(1.0, 1.0, 0.0, now)
        bucket.paused_until = max(bucket.paused_until, now + seconds)
        bucket.tokens = min(bucket.tokens, 0.0)
        bucket.refilled_at = max(bucket.refilled_at, bucket.paused_until)

    def paused_for(self, slug: str) -> float:
        bucket = self.buckets.get(slug)
        return 0.0 if bucket is None else max(0.0, bucket.paused_until - self.clock())
