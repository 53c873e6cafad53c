"""Counters (the rate limiter without Redis)."""

from __future__ import annotations

from datetime import timedelta

from tests.storage.conftest import NOW
from vitalkey.adapters.db.statements import us
from vitalkey.adapters.db.uow import SqlUnitOfWork


def test_counters_add_take_back_and_read_since(store: SqlUnitOfWork) -> None:
    first, second = us(NOW), us(NOW + timedelta(minutes=1))
    with store.begin() as tx:
        tx.counters.lock("ip:1")
        tx.counters.add("ip:1", first)
        tx.counters.add("ip:1", first)
        tx.counters.add("ip:1", second)
        tx.counters.add("ip:2", second)
        tx.counters.add("ip:2", second, hits=5)  # a reservation: five at once
        tx.counters.take_back("ip:2", second, hits=4)  # what was left of it
        assert tx.counters.since("ip:2", first) == [(second, 2)]
        tx.counters.take_back("ip:2", second, hits=4)  # never below zero
        assert tx.counters.since("ip:2", first) == [(second, 0)]
        tx.counters.take_back("ip:1", second)
        tx.counters.take_back("ip:1", second)  # never below zero
        assert tx.counters.since("ip:1", first) == [(first, 2), (second, 0)]
        assert tx.counters.since("ip:1", second) == [(second, 0)]
        assert tx.counters.since("ip:3", 0) == []
        tx.counters.lock("ip:1")  # the lock row is outside every window
        assert tx.counters.since("ip:1", 1) == [(first, 2), (second, 0)]
