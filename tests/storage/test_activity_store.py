"""ActivityRepository."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.health_records import DAY, a_day
from tests.storage.conftest import LATER, NOW, an_account
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.health import Brand, Page, Window

FIRST_PAGE = Page()


def test_a_day_reads_back_exactly_with_its_json_numbers(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    day = a_day(ann, brand=Brand.EXTERNAL, is_tracker=False, deviceid=None)
    with store.begin() as tx:
        stored = tx.activity.put(day)
        found = tx.activity.find(ann, Window(), Page())
    assert stored.id > 0
    assert stored == replace(day, id=stored.id)
    assert found == [stored]
    assert type(found[0].data["steps"]) is int and type(found[0].data["distance"]) is float
    assert found[0].data["distance"] == 7012.35


def test_a_day_sent_again_replaces_the_same_date_and_device(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    with store.begin() as tx:
        first = tx.activity.put(a_day(ann))
        other_device = tx.activity.put(a_day(ann, deviceid="dev-2"))
        no_device = tx.activity.put(a_day(ann, deviceid=None))
        next_day = tx.activity.put(a_day(ann, DAY + timedelta(days=1)))
    again = a_day(ann, data={"steps": 12000}, timezone="Europe/Paris", created=LATER, modified=LATER)
    with store.begin() as tx:
        replaced = tx.activity.put(again)
        no_device_again = tx.activity.put(a_day(ann, deviceid=None, data={"steps": 1}, modified=LATER))
        found = tx.activity.find(ann, Window(), Page())
    assert replaced == replace(again, id=first.id, created=NOW)  # id and created kept, modified bumped
    assert no_device_again.id == no_device.id
    assert [d.id for d in found] == [first.id, other_device.id, no_device.id, next_day.id]
    assert found[0] == replaced and found[2].data == {"steps": 1}


def test_a_deletion_leaves_a_tombstone_and_the_day_can_come_again(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    with store.begin() as tx:
        day = tx.activity.put(a_day(ann))
    with store.begin() as tx:
        assert not tx.activity.delete(bob, day.id, LATER)
        assert tx.activity.delete(ann, day.id, LATER)
        assert not tx.activity.delete(ann, day.id, LATER)
        assert tx.activity.find(ann, Window(), Page()) == []
        assert tx.activity.find(ann, Window(), Page(), include_deleted=True) == [
            replace(day, data={}, modified=LATER, deleted=LATER)
        ]
        sent_again = tx.activity.put(a_day(ann, modified=LATER))  # a new record: the tombstone stays
    assert sent_again.id > day.id and sent_again.deleted is None
    with store.begin() as tx:
        assert [d.id for d in tx.activity.find(ann, Window(), Page(), include_deleted=True)] == [day.id, sent_again.id]


def test_days_and_lastupdate_filter_and_pages_hold(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    with store.begin() as tx:
        days = [tx.activity.put(a_day(ann, DAY + timedelta(days=n), modified=NOW + timedelta(n))) for n in range(5)]
        tx.activity.put(a_day(bob))
    ids = [d.id for d in days]

    def found(window: Window, page: Page = FIRST_PAGE) -> list[int]:
        with store.begin() as tx:
            return [d.id for d in tx.activity.find(ann, window, page)]

    assert found(Window(first_day=DAY + timedelta(days=1), last_day=DAY + timedelta(days=3))) == ids[1:4]
    assert found(Window(first_day=DAY + timedelta(days=4))) == ids[4:]
    assert found(Window(last_day=DAY)) == ids[:1]
    assert found(Window(updated_since=NOW + timedelta(3))) == ids[4:]
    assert found(Window(start=NOW + timedelta(days=30))) == ids  # no moment bound for days
    assert found(Window(), Page(0, 2)) == ids[:2]
    with store.begin() as tx:
        earlier = tx.activity.put(a_day(ann, DAY - timedelta(days=9)))
    assert found(Window(), Page(ids[1], 2)) == ids[2:4]
    assert found(Window(), Page(ids[3], 2)) == [ids[4], earlier.id]
    with store.begin() as tx:
        assert all(d.account_id == bob for d in tx.activity.find(bob, Window(), Page()))
        assert len(tx.activity.find(bob, Window(), Page())) == 1


def test_steps_are_each_live_days_count_per_source_in_the_days(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    day = timedelta(days=1)
    with store.begin() as tx:
        tx.activity.put(a_day(ann, DAY, data={"steps": 6_200, "distance": 4_000.5}))
        tx.activity.put(a_day(ann, DAY, data={"steps": 7_450.0}, deviceid=None))  # a second source
        tx.activity.put(a_day(ann, DAY - day, data={"calories": 1_900.0}))  # no steps: 0
        gone = tx.activity.put(a_day(ann, DAY + day, data={"steps": 9_000}))
        tx.activity.delete(ann, gone.id, LATER)
        tx.activity.put(a_day(ann, DAY - 2 * day, data={"steps": 1}))  # before the days
        tx.activity.put(a_day(bob, DAY, data={"steps": 5}))
    with store.begin() as tx:
        found = tx.activity.steps(ann, DAY - day, DAY + day)
    assert found == [(DAY - day, 0), (DAY, 6_200), (DAY, 7_450)]
