"""WorkoutRepository."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.storage.conftest import LATER, NOW, an_account
from tests.storage.health_records import DAY, a_workout
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.health import Attrib, Page, Window

FIRST_PAGE = Page()


def test_a_workout_reads_back_exactly(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    workout = a_workout(ann, deviceid=None, attrib=Attrib.DEVICE, data={"calories": 0.1, "steps": 0, "elevation": -3})
    with store.begin() as tx:
        workout_id = tx.workouts.add(workout)
        second = tx.workouts.add(a_workout(ann))
        found = tx.workouts.find(ann, Window(), Page())
    assert second > workout_id > 0
    assert found == [replace(workout, id=workout_id), replace(a_workout(ann), id=second)]
    assert type(found[0].data["calories"]) is float and type(found[0].data["steps"]) is int


def test_a_deletion_leaves_a_tombstone(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    with store.begin() as tx:
        workout_id = tx.workouts.add(a_workout(ann))
    with store.begin() as tx:
        assert not tx.workouts.delete(bob, workout_id, LATER)
        assert tx.workouts.delete(ann, workout_id, LATER)
        assert not tx.workouts.delete(ann, workout_id, LATER)
        assert tx.workouts.find(ann, Window(), Page()) == []
        assert tx.workouts.find(ann, Window(), Page(), include_deleted=True) == [
            replace(a_workout(ann), id=workout_id, data={}, modified=LATER, deleted=LATER)
        ]


def test_days_and_lastupdate_filter_pages_hold_and_accounts_stay_apart(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    with store.begin() as tx:
        ids = [tx.workouts.add(a_workout(ann, DAY + timedelta(days=n), modified=NOW + timedelta(n))) for n in range(5)]
        tx.workouts.add(a_workout(bob))

    def found(window: Window, page: Page = FIRST_PAGE) -> list[int]:
        with store.begin() as tx:
            return [w.id for w in tx.workouts.find(ann, window, page)]

    assert found(Window(first_day=DAY + timedelta(days=1), last_day=DAY + timedelta(days=3))) == ids[1:4]
    assert found(Window(last_day=DAY)) == ids[:1]
    assert found(Window(updated_since=NOW + timedelta(3))) == ids[4:]
    assert found(Window(first_day=DAY, updated_since=NOW + timedelta(2))) == ids[3:]
    assert found(Window(), Page(0, 3)) == ids[:3]
    with store.begin() as tx:
        earlier = tx.workouts.add(a_workout(ann, DAY - timedelta(days=9)))
    assert found(Window(), Page(ids[2], 3)) == [*ids[3:], earlier]
    with store.begin() as tx:
        assert [w.account_id for w in tx.workouts.find(bob, Window(), Page(), include_deleted=True)] == [bob]
