"""HeartRepository."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.storage.conftest import LATER, NOW, an_account
from tests.storage.health_records import a_recording
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.health import AfibResult, Page, Window

FIRST_PAGE = Page()


def test_a_recording_reads_back_exactly(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    ecg = a_recording(ann)
    plain = a_recording(
        ann, bloodpressure=None, deviceid=None, afib=AfibResult.NEGATIVE, signal=tuple(range(-4500, 4500))
    )
    with store.begin() as tx:
        ecg_id = tx.heart.add(ecg)
        plain_id = tx.heart.add(plain)
    assert plain_id > ecg_id > 0
    with store.begin() as tx:
        assert tx.heart.get(ann, ecg_id) == replace(ecg, signalid=ecg_id)
        assert tx.heart.get(ann, plain_id) == replace(plain, signalid=plain_id)
        assert tx.heart.get(bob, ecg_id) is None
        assert tx.heart.find(ann, Window(), Page()) == [
            replace(ecg, signalid=ecg_id),
            replace(plain, signalid=plain_id),
        ]
        assert tx.heart.find(bob, Window(), Page(), include_deleted=True) == []


def test_a_deletion_leaves_a_tombstone_without_the_signal(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    with store.begin() as tx:
        signalid = tx.heart.add(a_recording(ann))
    with store.begin() as tx:
        assert not tx.heart.delete(bob, signalid, LATER)
        assert tx.heart.delete(ann, signalid, LATER)
        assert not tx.heart.delete(ann, signalid, LATER)
        assert tx.heart.get(ann, signalid) is None
        assert tx.heart.find(ann, Window(), Page()) == []
        assert tx.heart.find(ann, Window(), Page(), include_deleted=True) == [
            replace(a_recording(ann), signalid=signalid, signal=(), bloodpressure=None, modified=LATER, deleted=LATER)
        ]


def test_the_window_lastupdate_and_pages(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    hour = timedelta(hours=1)
    with store.begin() as tx:
        ids = [tx.heart.add(a_recording(ann, NOW + n * hour, modified=NOW + n * hour)) for n in range(5)]

    def found(window: Window, page: Page = FIRST_PAGE) -> list[int]:
        with store.begin() as tx:
            return [r.signalid for r in tx.heart.find(ann, window, page)]

    assert found(Window(start=NOW + hour, end=NOW + 3 * hour)) == ids[1:4]
    assert found(Window(end=NOW)) == ids[:1]
    assert found(Window(updated_since=NOW + 3 * hour)) == ids[4:]
    assert found(Window(first_day=NOW.date() + timedelta(days=9))) == ids  # no day bound for recordings
    assert found(Window(), Page(ids[1], 2)) == ids[2:4]
    with store.begin() as tx:
        earlier = tx.heart.add(a_recording(ann, NOW - 9 * hour))
    assert found(Window(), Page(ids[3], 2)) == [ids[4], earlier]
