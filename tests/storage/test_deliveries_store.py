"""DeliveryRepository: queued callbacks read back exactly; bursts coalesced into the one untried
delivery of a subscription (and nothing else); claimed under leases, in due order; outcomes
recorded by the lease's owner only; kept when the subscription or the account goes, gone with
the app; on PostgreSQL two workers claiming at once never get the same delivery."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from tests.storage.conftest import COACH, NOW, an_account, an_app
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.apps import App
from vitalkey.domain.notifications import Appli, Change, Delivery, Notice, Subscription, UserAction

TRAINER = replace(COACH, client_id="trainer", name="Trainer")
HOOK = "https://coach.example/hook"
LEASE = timedelta(seconds=30)
SOON = NOW + timedelta(seconds=10)
HOUR = timedelta(hours=1)


def subscribed(store: SqlUnitOfWork, account_id: int, appli: Appli = Appli.WEIGHT, app: App = COACH) -> Subscription:
    with store.begin() as tx:
        return tx.subscriptions.add(Subscription(0, account_id, app.client_id, appli, HOOK, "", NOW, NOW))


def weight(account_id: int, start: float = 1, end: float = 0, **changes: object) -> Notice:
    """New weight data between ``start`` and ``end`` hours before NOW."""
    notice = Notice(account_id, Appli.WEIGHT, Change.NEW, NOW - start * HOUR, NOW - end * HOUR)
    return replace(notice, **changes)


def queue(store: SqlUnitOfWork, subscription: Subscription, notice: Notice, name: str, due: object = SOON) -> int:
    with store.begin() as tx:
        return tx.deliveries.queue(subscription, notice, name, NOW, due)  # type: ignore[arg-type]


def claim(store: SqlUnitOfWork, owner: str = "worker-a", at: object = SOON, limit: int = 10) -> list[Delivery]:
    with store.begin() as tx:
        return tx.deliveries.claim(at, owner, LEASE, limit)  # type: ignore[arg-type]


def recent(store: SqlUnitOfWork, limit: int = 100) -> list[Delivery]:
    with store.read() as tx:
        return tx.deliveries.recent(limit)


@pytest.fixture
def ann(store: SqlUnitOfWork) -> int:
    an_app(store)
    return an_account(store).id


def test_a_queued_delivery_reads_back_exactly(store: SqlUnitOfWork, ann: int) -> None:
    activity = subscribed(store, ann, Appli.ACTIVITY)
    notice = Notice(ann, Appli.ACTIVITY, Change.EDIT, NOW - HOUR, NOW, date="2026-11-20", backfill=True)
    row_id = queue(store, activity, notice, "d-activity")
    expected = Delivery(
        row_id, "d-activity", activity.id, ann, COACH.client_id, HOOK, Appli.ACTIVITY, Change.EDIT, NOW - HOUR, NOW,
        "2026-11-20", None, True, NOW, SOON,
    )  # fmt: skip
    assert recent(store) == [expected]
    assert claim(store, at=SOON - timedelta(microseconds=1)) == []  # not due yet
    assert claim(store) == [replace(expected, claimed_by="worker-a")]


def test_queue_to_is_due_at_once_never_coalesced_and_without_subscription(store: SqlUnitOfWork, ann: int) -> None:
    unlink = Notice(ann, Appli.USER, Change.DELETE, action=UserAction.UNLINK)
    with store.begin() as tx:
        first = tx.deliveries.queue_to(ann, COACH.client_id, HOOK, unlink, "d-1", NOW)
        second = tx.deliveries.queue_to(ann, COACH.client_id, HOOK, unlink, "d-2", NOW)
    assert first != second
    expected = Delivery(
        first, "d-1", None, ann, COACH.client_id, HOOK, Appli.USER, Change.DELETE, None, None, "", UserAction.UNLINK,
        False, NOW, NOW, claimed_by="worker-a",
    )  # fmt: skip
    assert claim(store, at=NOW) == [expected, replace(expected, id=second, delivery_id="d-2")]


def test_a_burst_is_coalesced_into_one_delivery_covering_every_period(store: SqlUnitOfWork, ann: int) -> None:
    sub = subscribed(store, ann)
    first = queue(store, sub, weight(ann, start=2, end=1), "d-1")
    assert queue(store, sub, weight(ann, start=1, end=-2), "d-2", due=SOON + HOUR) == first
    assert queue(store, sub, weight(ann, start=5, end=0), "d-3") == first
    [only] = recent(store)
    assert (only.id, only.delivery_id, only.due) == (first, "d-1", SOON)  # the first's name and due time
    assert (only.start, only.end) == (NOW - 5 * HOUR, NOW + 2 * HOUR)


def test_a_missing_bound_is_taken_from_the_other_and_stays_missing_only_if_both_are(
    store: SqlUnitOfWork, ann: int
) -> None:
    sub = subscribed(store, ann)
    first = queue(store, sub, replace(weight(ann), start=None), "d-1")
    assert queue(store, sub, replace(weight(ann, start=3), end=None), "d-2") == first
    [only] = recent(store)
    assert (only.start, only.end) == (NOW - 3 * HOUR, NOW)
    other = subscribed(store, ann, Appli.USER)
    update = Notice(ann, Appli.USER, Change.EDIT, action=UserAction.UPDATE)
    both_open = queue(store, other, update, "d-3")
    assert queue(store, other, update, "d-4") == both_open
    assert [(d.start, d.end) for d in recent(store) if d.id == both_open] == [(None, None)]


@pytest.mark.parametrize(
    "different",
    [
        {"change": Change.DELETE},
        {"backfill": True},
        {"appli": Appli.BLOOD_PRESSURE},
    ],
)
def test_no_coalescing_across_change_backfill_or_appli(
    store: SqlUnitOfWork, ann: int, different: dict[str, object]
) -> None:
    sub = subscribed(store, ann)
    first = queue(store, sub, weight(ann), "d-1")
    second = queue(store, sub, weight(ann, **different), "d-2")
    assert second != first
    assert [(d.id, d.start, d.end) for d in recent(store)] == [(second, NOW - HOUR, NOW), (first, NOW - HOUR, NOW)]


def test_no_coalescing_across_days_of_activity_or_subscriptions(store: SqlUnitOfWork, ann: int) -> None:
    activity, weights = subscribed(store, ann, Appli.ACTIVITY), subscribed(store, ann)
    an_app(store, TRAINER)
    trainers = subscribed(store, ann, app=TRAINER)
    day = Notice(ann, Appli.ACTIVITY, Change.NEW, date="2026-11-20")
    monday = queue(store, activity, day, "d-1")
    assert queue(store, activity, replace(day, date="2026-11-21"), "d-2") != monday
    assert queue(store, activity, day, "d-3") == monday
    mine = queue(store, weights, weight(ann), "d-4")
    assert queue(store, trainers, weight(ann), "d-5") != mine
    assert len(recent(store)) == 4


def test_no_coalescing_into_a_claimed_or_tried_delivery(store: SqlUnitOfWork, ann: int) -> None:
    sub = subscribed(store, ann)
    first = queue(store, sub, weight(ann), "d-1")
    [claimed] = claim(store)
    second = queue(store, sub, weight(ann, start=9), "d-2")  # the first is being sent
    assert second != first
    with store.begin() as tx:
        assert tx.deliveries.retry(claimed, SOON + HOUR, cycle=0, status=500, error="")
    assert queue(store, sub, weight(ann, start=7), "d-3") == second  # into the untried one
    [again] = claim(store, at=SOON)  # the second (the first is due in an hour)
    assert again.id == second
    with store.begin() as tx:
        assert tx.deliveries.retry(again, SOON + 2 * HOUR, cycle=0, status=500, error="")  # the other is tried
    third = queue(store, sub, weight(ann, start=8), "d-4")
    assert third not in (first, second)
    assert {d.id: d.start for d in recent(store)} == {first: NOW - HOUR, second: NOW - 9 * HOUR, third: NOW - 8 * HOUR}


def test_claim_takes_the_due_ones_oldest_first_up_to_the_limit(store: SqlUnitOfWork, ann: int) -> None:
    subs = [subscribed(store, ann, appli) for appli in (Appli.WEIGHT, Appli.TEMPERATURE, Appli.SLEEP, Appli.ECG)]
    late = queue(store, subs[0], weight(ann), "d-late", due=SOON + timedelta(seconds=5))
    early = queue(store, subs[1], replace(weight(ann), appli=Appli.TEMPERATURE), "d-early", due=SOON)
    same = queue(store, subs[2], replace(weight(ann), appli=Appli.SLEEP), "d-same", due=SOON)
    queue(store, subs[3], replace(weight(ann), appli=Appli.ECG), "d-future", due=SOON + HOUR)
    at = SOON + timedelta(seconds=5)
    assert [d.id for d in claim(store, at=at, limit=2)] == [early, same]
    assert [d.id for d in claim(store, "worker-b", at=at, limit=2)] == [late]  # the others are leased
    with store.read() as tx:
        assert tx.deliveries.waiting(at) == 4  # claimed or not yet due, they wait


def test_a_lease_keeps_others_off_until_it_runs_out(store: SqlUnitOfWork, ann: int) -> None:
    row_id = queue(store, subscribed(store, ann), weight(ann), "d-1")
    [mine] = claim(store, "worker-a")
    assert claim(store, "worker-b", at=SOON + LEASE) == []  # the lease is live to its end
    [theirs] = claim(store, "worker-b", at=SOON + LEASE + timedelta(microseconds=1))
    assert (theirs.id, theirs.claimed_by) == (row_id, "worker-b")
    with store.begin() as tx:  # the first worker, late: its lease was lost, nothing is recorded
        assert not tx.deliveries.delivered(mine, SOON + HOUR, 200)
        assert not tx.deliveries.retry(mine, SOON + HOUR, cycle=1, status=500, error="timeout")
        assert not tx.deliveries.give_up(mine, SOON + HOUR, status=None, error="connect")
    [row] = recent(store)
    assert row == theirs
    with store.begin() as tx:
        assert tx.deliveries.delivered(theirs, SOON + HOUR, 204)
        assert not tx.deliveries.delivered(theirs, SOON + HOUR, 204)  # once
    [row] = recent(store)
    assert (row.delivered, row.last_status, row.attempts, row.claimed_by) == (SOON + HOUR, 204, 1, "")
    assert claim(store, at=SOON + 2 * HOUR) == []
    with store.read() as tx:
        assert tx.deliveries.waiting(SOON + 2 * HOUR) == 0


def test_a_retry_is_due_later_and_a_give_up_is_never_claimed_again(store: SqlUnitOfWork, ann: int) -> None:
    row_id = queue(store, subscribed(store, ann), weight(ann), "d-1")
    [first] = claim(store)
    later = SOON + timedelta(minutes=1)
    with store.begin() as tx:
        assert tx.deliveries.retry(first, later, cycle=1, status=None, error="timeout" * 10)
    [row] = recent(store)
    assert (row.due, row.attempts, row.cycle, row.last_status, row.last_error, row.claimed_by) == (
        later, 1, 1, None, ("timeout" * 10)[:40], ""
    )  # fmt: skip
    assert claim(store, at=later - timedelta(microseconds=1)) == []
    [second] = claim(store, "worker-b", at=later)
    with store.begin() as tx:
        assert tx.deliveries.give_up(second, later, status=503, error="")
        assert tx.deliveries.waiting(later) == 0
    [row] = recent(store)
    assert (row.id, row.failed, row.delivered, row.attempts, row.cycle, row.last_status) == (
        row_id, later, None, 2, 1, 503
    )  # fmt: skip
    assert claim(store, at=later + 10 * HOUR) == []


def test_kept_when_the_subscription_or_account_goes_gone_with_the_app(store: SqlUnitOfWork, ann: int) -> None:
    an_app(store, TRAINER)
    coachs, trainers = subscribed(store, ann), subscribed(store, ann, app=TRAINER)
    kept = queue(store, coachs, weight(ann), "d-coach")
    queue(store, trainers, weight(ann), "d-trainer")
    with store.begin() as tx:
        assert tx.subscriptions.remove(ann, COACH.client_id) == [coachs]
    with store.engine.begin() as conn:  # the account's deletion is the dashboard's issue
        conn.execute(delete(t.accounts).where(t.accounts.c.id == ann))
    [row] = [d for d in recent(store) if d.id == kept]
    assert (row.subscription_id, row.account_id, row.delivery_id) == (None, ann, "d-coach")
    with store.begin() as tx:
        assert tx.apps.delete(TRAINER.client_id)
    assert [d.id for d in recent(store)] == [kept]


def test_recent_is_newest_first(store: SqlUnitOfWork, ann: int) -> None:
    unlink = Notice(ann, Appli.USER, Change.DELETE, action=UserAction.UNLINK)
    with store.begin() as tx:
        ids = [tx.deliveries.queue_to(ann, COACH.client_id, HOOK, unlink, f"d-{n}", NOW) for n in range(3)]
        assert tx.deliveries.waiting(NOW) == 3
    assert [d.id for d in recent(store, 2)] == [ids[2], ids[1]]


def test_two_workers_claiming_at_once_never_get_the_same_delivery(store: SqlUnitOfWork, ann: int) -> None:
    """PostgreSQL: the second claim skips the rows the first holds, without waiting for it."""
    if store.sqlite:
        pytest.skip("SQLite has one writer at a time")
    unlink = Notice(ann, Appli.USER, Change.DELETE, action=UserAction.UNLINK)
    with store.begin() as tx:
        ids = [tx.deliveries.queue_to(ann, COACH.client_id, HOOK, unlink, f"d-{n}", NOW) for n in range(6)]
    with ThreadPoolExecutor(1) as pool:
        with store.begin() as tx:
            first = tx.deliveries.claim(NOW, "worker-a", LEASE, 3)
            second = pool.submit(claim, store, "worker-b", NOW, 10)
            # with SKIP LOCKED the second answers while the first's transaction is still open
            done, _ = wait([second], timeout=10)
        assert done == {second}
    assert [d.id for d in first] == ids[:3]
    assert [d.id for d in second.result()] == ids[3:]
    with store.engine.connect() as conn:
        by = t.notify_deliveries.c.claimed_by
        owners = conn.execute(select(by, func.count()).group_by(by).order_by(by)).all()
    assert [tuple(row) for row in owners] == [("worker-a", 3), ("worker-b", 3)]


def test_many_workers_at_once_share_the_deliveries_out(store: SqlUnitOfWork, ann: int) -> None:
    if store.sqlite:
        pytest.skip("SQLite has one writer at a time")
    unlink = Notice(ann, Appli.USER, Change.DELETE, action=UserAction.UNLINK)
    with store.begin() as tx:
        ids = [tx.deliveries.queue_to(ann, COACH.client_id, HOOK, unlink, f"d-{n}", NOW) for n in range(40)]
    start = threading.Barrier(4, timeout=10)

    def worker(owner: str) -> list[int]:
        start.wait()
        return [d.id for d in claim(store, owner, NOW, 15)]

    with ThreadPoolExecutor(4) as pool:
        claimed = list(pool.map(worker, ["w1", "w2", "w3", "w4"]))
    claimed.append([d.id for d in claim(store, "sweeper", NOW, 40)])  # whatever a busy moment left
    every = [row_id for mine in claimed for row_id in mine]
    assert sorted(every) == ids  # each delivery claimed once, by one worker
    assert sum(1 for mine in claimed[:4] if mine) >= 2  # and the workers did share them


def test_prune_forgets_what_was_delivered_or_given_up_before(store: SqlUnitOfWork, ann: int) -> None:
    """Waiting ones are kept whatever their age; finished ones go once old enough."""
    subscription = subscribed(store, ann)
    for n, appli in enumerate((Appli.WEIGHT, Appli.SLEEP, Appli.ECG)):
        queue(store, subscription, replace(weight(ann), appli=appli), f"d{n}", NOW)
    done, failed, _waiting = sorted(claim(store, at=NOW), key=lambda d: d.id)
    with store.begin() as tx:
        assert tx.deliveries.delivered(done, NOW, 200)
        assert tx.deliveries.give_up(failed, NOW + HOUR, status=500, error="")
    with store.begin() as tx:
        assert tx.deliveries.prune(NOW) == 0  # not before NOW
        assert tx.deliveries.prune(NOW + HOUR / 2) == 1  # the delivered one
        assert tx.deliveries.prune(NOW + 24 * HOUR) == 1  # the given-up one
    assert [d.delivery_id for d in recent(store)] == ["d2"]
