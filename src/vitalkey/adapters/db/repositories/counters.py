"""Rate-limit counters (without Redis). Hand-written SQL: every sign-in step counts hits (see
``statements``)."""

from __future__ import annotations

from vitalkey.adapters.db.statements import Columns, Db, Row, Sql

# The per-key row (window_start 0, never in a window) that serializes the hits of one key.
LOCK = Sql(
    "INSERT INTO rate_counters (key, window_start, count) VALUES (:key, 0, 0) "
    "ON CONFLICT (key, window_start) DO UPDATE SET count = 0"
)
SINCE = Sql(
    "SELECT window_start, count FROM rate_counters WHERE key = :key AND window_start >= :start ORDER BY window_start"
)
ADD = Sql(
    "INSERT INTO rate_counters (key, window_start, count) VALUES (:key, :bucket, :hits) "
    "ON CONFLICT (key, window_start) DO UPDATE SET count = rate_counters.count + :hits"
)
TAKE_BACK = Sql(
    "UPDATE rate_counters SET count = CASE WHEN count > :hits THEN count - :hits ELSE 0 END "
    "WHERE key = :key AND window_start = :bucket AND count > 0"
)

FORGET = Sql("DELETE FROM rate_counters WHERE key = :key")


class SqlCounters:
    def __init__(self, db: Db) -> None:
        self.db = db

    def lock(self, key: str) -> None:
        self.db.run(LOCK, {"key": key})

    def since(self, key: str, start_us: int) -> list[tuple[int, int]]:
        return self.db.all(SINCE, {"key": key, "start": start_us}, _bucket)

    def add(self, key: str, bucket_us: int, hits: int = 1) -> None:
        self.db.run(ADD, {"key": key, "bucket": bucket_us, "hits": hits})

    def take_back(self, key: str, bucket_us: int, hits: int = 1) -> None:
        self.db.run(TAKE_BACK, {"key": key, "bucket": bucket_us, "hits": hits})

    def forget(self, key: str) -> None:
        self.db.run(FORGET, {"key": key})


def _bucket(row: Row, c: Columns) -> tuple[int, int]:
    return int(row[c["window_start"]]), int(row[c["count"]])
