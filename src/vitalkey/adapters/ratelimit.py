"""Rate limiters that hold across processes: in the database (embedded default) or in Redis."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vitalkey.ports import Transaction


class SqlRateLimiter:
    """Fixed windows counted in the ``rate_counters`` table, inside the caller's transaction,
    so a refused request (rolled back) does not count and a sent mail always does."""

    def hit(self, tx: Transaction, key: str, limit: int, window_s: int, now: datetime) -> bool:
        return tx.counters.hit(key, _window_start(now, window_s)) <= limit

    def exceeded(self, tx: Transaction, key: str, limit: int, window_s: int, now: datetime) -> bool:
        return tx.counters.count(key, _window_start(now, window_s)) >= limit


def _window_start(now: datetime, window_s: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_s, UTC)


class RedisRateLimiter:
    """The same limits in Redis (``limits``' fixed window), for many hosts at scale."""

    def __init__(self, url: str) -> None:
        from limits import RateLimitItemPerSecond  # imported only when Redis is configured
        from limits.storage import RedisStorage
        from limits.strategies import FixedWindowRateLimiter

        self.item: Any = RateLimitItemPerSecond
        self.limiter = FixedWindowRateLimiter(RedisStorage(url))

    def hit(self, tx: Transaction, key: str, limit: int, window_s: int, now: datetime) -> bool:
        return bool(self.limiter.hit(self.item(limit, window_s), "vitalkey", key))

    def exceeded(self, tx: Transaction, key: str, limit: int, window_s: int, now: datetime) -> bool:
        return not self.limiter.test(self.item(limit, window_s), "vitalkey", key)
