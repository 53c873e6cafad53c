"""SleepRepository."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.health_records import DAY, HOUR, a_session
from tests.storage.conftest import LATER, NOW, an_account
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.health import Page, SleepNight, Window

FIRST_PAGE = Page()


def test_a_session_reads_back_exactly_with_its_states_series_and_summary(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    session = a_session(ann, deviceid=None, completed=True)
    with store.begin() as tx:
        session_id = tx.sleep.add(session)
        found = tx.sleep.find(ann, Window(), Page())
    assert session_id > 0
    assert found == [replace(session, id=session_id)]
    assert list(found[0].series["hr"]) == [1763700000, 1763700060]  # seconds stay integers
    assert type(found[0].summary["sleep_efficiency"]) is float and type(found[0].summary["sleep_score"]) is int


def test_overlapping_sessions_are_the_live_ones_oldest_first(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    with store.begin() as tx:
        night = tx.sleep.add(a_session(ann, NOW))  # NOW - 8h .. NOW
        nap = tx.sleep.add(a_session(ann, NOW + 4 * HOUR, startdate=NOW + 3 * HOUR))
        earlier = tx.sleep.add(a_session(ann, NOW - 9 * HOUR))  # NOW - 17h .. NOW - 9h
        gone = tx.sleep.add(a_session(ann, NOW))
        tx.sleep.delete(ann, gone, LATER)
        tx.sleep.add(a_session(bob, NOW))

    def overlapping(start_h: float, end_h: float) -> list[int]:
        with store.begin() as tx:
            sessions = tx.sleep.overlapping(ann, NOW + start_h * HOUR, NOW + end_h * HOUR)
        return [s.id for s in sessions]

    assert overlapping(-20, 10) == [earlier, night, nap]
    assert overlapping(-1, 3) == [night, nap]  # touching ends overlap
    assert overlapping(0.5, 2) == []
    assert overlapping(-9, -8) == [earlier, night]
    assert overlapping(-30, -18) == []


def test_days_the_end_window_and_lastupdate_filter(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    with store.begin() as tx:
        ids = [
            tx.sleep.add(a_session(ann, NOW + timedelta(days=n), DAY + timedelta(days=n), modified=NOW + timedelta(n)))
            for n in range(4)
        ]

    def found(window: Window, page: Page = FIRST_PAGE) -> list[int]:
        with store.begin() as tx:
            return [s.id for s in tx.sleep.find(ann, window, page)]

    assert found(Window(first_day=DAY + timedelta(days=1), last_day=DAY + timedelta(days=2))) == ids[1:3]
    assert found(Window(start=NOW + timedelta(days=1), end=NOW + timedelta(days=2))) == ids[1:3]  # by its end
    assert (
        found(Window(start=NOW + timedelta(days=1) - HOUR, end=NOW + timedelta(days=1) - timedelta(microseconds=1)))
        == []
    )
    assert found(Window(updated_since=NOW + timedelta(2))) == ids[3:]
    assert found(Window(), Page(ids[0], 2)) == ids[1:3]


def test_a_deletion_leaves_a_tombstone_and_pages_hold(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    with store.begin() as tx:
        ids = [tx.sleep.add(a_session(ann, NOW - timedelta(days=n))) for n in range(3)]
    with store.begin() as tx:
        assert not tx.sleep.delete(bob, ids[0], LATER)
        assert tx.sleep.delete(ann, ids[0], LATER)
        assert not tx.sleep.delete(ann, ids[0], LATER)
        live = tx.sleep.find(ann, Window(), Page())
        every = tx.sleep.find(ann, Window(), Page(0, 1), include_deleted=True)
        later = tx.sleep.add(a_session(ann, NOW - timedelta(days=30)))
        after_first = tx.sleep.find(ann, Window(), Page(ids[1], 5))
        assert tx.sleep.find(bob, Window(), Page(), include_deleted=True) == []
    assert [s.id for s in live] == ids[1:]
    assert every == [replace(a_session(ann, NOW), id=ids[0], states=(), series={}, summary={}, modified=LATER,
                             deleted=LATER)]  # fmt: skip
    assert [s.id for s in after_first] == [ids[2], later]


def test_nights_are_the_live_summaries_of_the_days_by_start(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    day = timedelta(days=1)
    with store.begin() as tx:
        tx.sleep.add(a_session(ann, NOW + day, DAY + day, summary={"deepsleepduration": 3600}))
        tx.sleep.add(a_session(ann, NOW, DAY, summary={"deepsleepduration": 4500, "sleep_efficiency": 0.9}))
        nap = a_session(ann, NOW + 4 * HOUR, DAY, startdate=NOW + 3 * HOUR, summary={"lightsleepduration": 900})
        tx.sleep.add(nap)
        gone = tx.sleep.add(a_session(ann, NOW, DAY))
        tx.sleep.delete(ann, gone, LATER)
        tx.sleep.add(a_session(ann, NOW + 2 * day, DAY + 2 * day))  # after the last day
        tx.sleep.add(a_session(bob, NOW, DAY))
    with store.read() as tx:
        nights = tx.sleep.nights(ann, DAY, DAY + day)
    assert nights == [
        SleepNight(DAY, NOW - 8 * HOUR, {"deepsleepduration": 4500, "sleep_efficiency": 0.9}),
        SleepNight(DAY, NOW + 3 * HOUR, {"lightsleepduration": 900}),
        SleepNight(DAY + day, NOW + day - 8 * HOUR, {"deepsleepduration": 3600}),
    ]
    assert type(nights[0].summary["sleep_efficiency"]) is float
