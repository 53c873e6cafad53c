"""Rate limiters that hold across processes: in the database (embedded default) or in Redis.

Both count sliding windows the same way: the hits of a key are kept in buckets of 1/60 of the
window, and a hit is allowed while the buckets that overlap the last ``window_s`` seconds hold
fewer than ``limit`` hits. The oldest of those buckets counts whole although only its end may
still be in the window, so no interval of ``window_s`` seconds ever holds more than ``limit``
hits; the price is that a refusal may last up to one bucket longer than an exact log would make
it. (The "sliding window counter" that weights the previous fixed window lets nearly twice the
limit through around a boundary; a fixed window restarts on a calendar boundary.) A refused hit
counts nothing, and its answer is the moment the next hit can succeed: when enough of the oldest
buckets have left the window.

A hit of ``cost`` n counts like n hits at once (a reservation, spent later by its caller). The
argument above holds for a hit spent at any moment of the bucket it is counted in, not before it
is counted: so a reservation may be spent until its bucket ends (``spend_by``), and no later;
what is left of it then is taken back (``forgive`` with its cost), which is exact: those hits
were never spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vitalkey.ports import Transaction

BUCKETS_PER_WINDOW = 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _moment(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class Buckets:
    """The bucket arithmetic of one window, in integer microseconds since the epoch."""

    window_us: int
    width_us: int

    @classmethod
    def of(cls, window_s: int) -> Buckets:
        width_s = max(1, -(-window_s // BUCKETS_PER_WINDOW))  # whole seconds, rounded up
        return cls(window_s * 1_000_000, width_s * 1_000_000)

    def index(self, at_us: int) -> int:
        return at_us // self.width_us

    def oldest(self, now_us: int) -> int:
        """The oldest bucket that still overlaps the window (now - window, now]."""
        return (now_us - self.window_us) // self.width_us

    def end(self, at_us: int) -> int:
        """When the bucket of ``at_us`` ends."""
        return (self.index(at_us) + 1) * self.width_us

    def retry_at(self, counts: list[tuple[int, int]], limit: int, cost: int = 1) -> int | None:
        """None when the window's buckets (index, hits; oldest first) hold at most ``limit -
        cost`` hits; else when enough of the oldest will have left for ``cost`` more hits."""
        excess = sum(hits for _, hits in counts) - limit + cost
        if excess <= 0:
            return None
        for index, hits in counts:
            excess -= hits
            if excess <= 0:
                return (index + 1) * self.width_us + self.window_us  # the bucket has left then
        raise AssertionError("unreachable: the buckets hold the excess")


def _check_cost(cost: int, limit: int) -> None:
    if not 1 <= cost <= limit:
        raise ValueError(f"a hit costs 1 to the limit ({limit}), not {cost}")


class SqlRateLimiter:
    """Buckets in the ``rate_counters`` table (the bucket's start as ``window_start``), inside
    the caller's transaction: a hit of a request that is rolled back does not count. A per-key
    row is taken first, so that concurrent hits of one key on PostgreSQL are counted one after
    another (without it, two hits in different buckets could both see room for one)."""

    def hit(
        self, tx: Transaction, key: str, limit: int, window_s: int, now: datetime, cost: int = 1
    ) -> datetime | None:
        _check_cost(cost, limit)
        buckets, now_us = Buckets.of(window_s), _us(now)
        tx.counters.lock(key)
        counts = [
            (start // buckets.width_us, hits)
            for start, hits in tx.counters.since(key, buckets.oldest(now_us) * buckets.width_us)
        ]
        retry_at = buckets.retry_at(counts, limit, cost)
        if retry_at is not None:
            return _moment(retry_at)
        tx.counters.add(key, buckets.index(now_us) * buckets.width_us, cost)
        return None

    def spend_by(self, window_s: int, now: datetime) -> datetime:
        return _moment(Buckets.of(window_s).end(_us(now)))

    def forgive(self, tx: Transaction, key: str, window_s: int, at: datetime, cost: int = 1) -> None:
        buckets = Buckets.of(window_s)
        tx.counters.lock(key)  # the key's row before its buckets', as in hit: no two wait on each other
        tx.counters.take_back(key, buckets.index(_us(at)) * buckets.width_us, cost)


# Allowed: count the hit in the current bucket and keep the key a window longer. Refused: count
# nothing and answer the buckets still in the window. Buckets that left it are dropped either way.
_HIT = """
local oldest, limit, cost = tonumber(ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[5])
local fields = redis.call('HGETALL', KEYS[1])
local kept, total = {}, 0
for i = 1, #fields, 2 do
  local index, hits = tonumber(fields[i]), tonumber(fields[i + 1])
  if index < oldest then
    redis.call('HDEL', KEYS[1], fields[i])
  else
    total = total + hits
    table.insert(kept, {index, hits})
  end
end
if total + cost <= limit then
  redis.call('HINCRBY', KEYS[1], ARGV[2], cost)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return {}
end
return kept
"""

# Hits taken back: only where they still are (the bucket may have left the window meanwhile).
_FORGIVE = """
local held = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if held > 0 then
  redis.call('HINCRBY', KEYS[1], ARGV[1], -math.min(held, tonumber(ARGV[2])))
end
return 0
"""


class RedisRateLimiter:
    """The same buckets in Redis (a hash per key, bucket index → hits), for many hosts at scale.
    Each call is one atomic script, so concurrent hits are counted one after another. A hit
    counts at once, whether or not the transaction that asked commits. The time is the caller's
    (the app's clock), as in SQL, not the Redis server's."""

    def __init__(self, url: str, prefix: str = "vitalkey:rate:") -> None:
        import redis  # imported only when Redis is configured

        self.redis: Any = redis.Redis.from_url(url)
        self.prefix = prefix
        self._hit = self.redis.register_script(_HIT)
        self._forgive = self.redis.register_script(_FORGIVE)

    def hit(
        self, tx: Transaction, key: str, limit: int, window_s: int, now: datetime, cost: int = 1
    ) -> datetime | None:
        _check_cost(cost, limit)
        buckets, now_us = Buckets.of(window_s), _us(now)
        ttl_ms = (buckets.window_us + buckets.width_us) // 1000
        args = [buckets.oldest(now_us), buckets.index(now_us), limit, ttl_ms, cost]
        kept = self._hit(keys=[self.prefix + key], args=args)
        if not kept:
            return None
        counts = sorted((int(index), int(hits)) for index, hits in kept)
        retry_at = buckets.retry_at(counts, limit, cost)
        assert retry_at is not None  # the script refused: the buckets hold more than limit - cost
        return _moment(retry_at)

    def spend_by(self, window_s: int, now: datetime) -> datetime:
        return _moment(Buckets.of(window_s).end(_us(now)))

    def forgive(self, tx: Transaction, key: str, window_s: int, at: datetime, cost: int = 1) -> None:
        self._forgive(keys=[self.prefix + key], args=[Buckets.of(window_s).index(_us(at)), cost])
