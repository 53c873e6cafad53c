"""IntradayRepository."""

from __future__ import annotations

from datetime import timedelta

from tests.storage.conftest import NOW, an_account
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.health import IntradaySample

SECOND = timedelta(seconds=1)
START = NOW.replace(microsecond=0)


def test_samples_read_back_oldest_first_within_inclusive_bounds(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    samples = [IntradaySample(ann, "dev-1", START + n * SECOND, {"steps": n, "heart_rate": 60 + n, "calories": 0.25})
               for n in range(6)]  # fmt: skip
    with store.begin() as tx:
        tx.intraday.put(list(reversed(samples)))
        tx.intraday.put([IntradaySample(bob, "dev-1", START, {"steps": 99})])
    with store.begin() as tx:
        read = tx.intraday.between(ann, START + SECOND, START + 4 * SECOND, 100)
        assert read == samples[1:5]
        assert tx.intraday.between(ann, START, START + 5 * SECOND, 2) == samples[:2]
        assert tx.intraday.between(ann, START + 6 * SECOND, START + 9 * SECOND, 100) == []
        assert tx.intraday.between(bob, START, START + 5 * SECOND, 100) == [
            IntradaySample(bob, "dev-1", START, {"steps": 99})
        ]
    assert type(read[0].data["steps"]) is int and type(read[0].data["calories"]) is float


def test_a_later_sample_of_the_same_second_and_device_replaces_it(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    with store.begin() as tx:
        tx.intraday.put([IntradaySample(ann, "dev-1", START, {"steps": 5})])
        tx.intraday.put([
            IntradaySample(ann, "dev-1", START, {"steps": 7, "heart_rate": 80}),
            IntradaySample(ann, "dev-2", START, {"steps": 1}),
            IntradaySample(ann, "dev-1", START + timedelta(microseconds=400_000), {"steps": 8}),  # the same second
        ])  # fmt: skip
        tx.intraday.put([])
    with store.begin() as tx:
        assert tx.intraday.between(ann, START - SECOND, START + SECOND, 100) == [
            IntradaySample(ann, "dev-1", START, {"steps": 8}),
            IntradaySample(ann, "dev-2", START, {"steps": 1}),
        ]
