"""A partner app's requests per minute, counted across server processes a share at a time.

Counting every request in the shared limiter costs a write transaction a request, and on
PostgreSQL every request of one app then waits for the same row's lock. So a process reserves a
share of the app's limit at once (``limit // 20``, at least 1: 6 of 120 a minute) and spends it
locally. The shared limiter counts a reservation like that many requests at the moment it is
made, so all processes together never get more than the limit; and a reservation is spent only
until the end of the limiter's bucket it was counted in (``RateLimiter.spend_by``: one second of
a minute's window), which keeps "never more than the limit in any minute" exact, as if each
request had been counted when it came. What is left unspent then is taken back (``forgive``) in
the transaction of the process's next reservation for the app, so a steady reader is counted
for what it read. Until then (and for good, when the app reads no more through this process) it
stays counted: the limit is stricter by at most a share per process, never looser. When a whole
share no longer fits, each request is counted alone again, so an app near its limit is refused
where it was before.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from vitalkey.domain.errors import wait_seconds
from vitalkey.flows.deps import FlowDeps

WINDOW_S = 60
SHARE_DIVISOR = 20  # a share is a twentieth of the limit


class TooManyRequests(Exception):
    """The partner app used up its requests of the last minute; ``seconds`` until the next one."""

    def __init__(self, seconds: int) -> None:
        super().__init__("too many requests")
        self.seconds = seconds


@dataclass(slots=True)
class Reservation:
    counted_at: datetime  # the moment the shared limiter counted it (its bucket)
    left: int
    until: datetime  # spent before this moment only


class AppQuota:
    """One process's reservations of the apps' shared limits. Thread-safe: on PostgreSQL the
    requests run in worker threads."""

    def __init__(self, deps: FlowDeps, requests_per_minute: int) -> None:
        self.deps = deps
        self.limit = requests_per_minute
        self.share = max(1, requests_per_minute // SHARE_DIVISOR)
        self._reserved: dict[str, Reservation] = {}
        self._lock = threading.Lock()

    def spend_reserved(self, key: str) -> bool:
        """Admit one request of ``key`` from this process's reservation, without any I/O; False
        when none is left (then :meth:`admit` asks the shared limiter)."""
        now = self.deps.clock.now()
        with self._lock:
            reservation = self._reserved.get(key)
            if reservation is None or reservation.left <= 0 or now >= reservation.until:
                return False
            reservation.left -= 1
            return True

    def admit(self, key: str) -> None:
        """Admit one request of ``key``: from the reservation, or by reserving a share in the
        shared limiter (one request alone when a share no longer fits), giving back what is left
        of the expired one; :class:`TooManyRequests` when not even one request fits."""
        if self.spend_reserved(key):
            return
        now = self.deps.clock.now()
        with self._lock:
            expired = self._reserved.pop(key, None)
        limiter = self.deps.limiter
        with self.deps.uow.begin() as tx:
            if expired is not None and expired.left > 0:
                limiter.forgive(tx, key, WINDOW_S, expired.counted_at, expired.left)  # never spent
            retry_at = limiter.hit(tx, key, self.limit, WINDOW_S, now, cost=self.share) if self.share > 1 else None
            reserved = self.share > 1 and retry_at is None
            if not reserved:
                retry_at = limiter.hit(tx, key, self.limit, WINDOW_S, now)
        if retry_at is not None:
            raise TooManyRequests(wait_seconds(retry_at, now))
        if reserved:  # one of the share is this request's
            self._keep(key, Reservation(now, self.share - 1, limiter.spend_by(WINDOW_S, now)))

    def _keep(self, key: str, reservation: Reservation) -> None:
        with self._lock:
            earlier = self._reserved.get(key)
            # Another thread reserved too: in the same bucket, both are spent; else the newer is
            # kept and the other stays counted, unspent (stricter, never looser).
            if earlier is not None and earlier.until == reservation.until:
                reservation.left += earlier.left
            elif earlier is not None and earlier.until > reservation.until:
                return
            self._reserved[key] = reservation


__all__ = ["SHARE_DIVISOR", "WINDOW_S", "AppQuota", "TooManyRequests"]
