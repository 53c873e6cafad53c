"""SubscriptionRepository: one row per (account, app, appli, URL); found per user and appli and
per app; updated, removed one, per appli or all; marked failing and working again; gone with
the account or the app."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import delete, text

from tests.storage.conftest import COACH, LATER, NOW, an_account, an_app
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.apps import App
from vitalkey.domain.notifications import Appli, Subscription

TRAINER = replace(COACH, client_id="trainer", name="Trainer")
HOOK, OTHER_HOOK = "https://coach.example/hook", "https://coach.example/other"


def subscription(account_id: int, appli: Appli = Appli.WEIGHT, url: str = HOOK, app: App = COACH) -> Subscription:
    return Subscription(0, account_id, app.client_id, appli, url, "my comment", NOW, NOW)


def test_subscribing_again_keeps_the_one_there_with_the_new_comment(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    an_app(store)
    with store.begin() as tx:
        first = tx.subscriptions.add(subscription(ann))
        assert first.id > 0 and replace(first, id=0) == subscription(ann)
        tx.subscriptions.mark_failing(first.id, NOW)
        again = tx.subscriptions.add(replace(subscription(ann), comment="new", created=LATER, modified=LATER))
    assert (again.id, again.comment, again.created, again.modified) == (first.id, "new", NOW, LATER)
    assert again.failing_since is None
    with store.read() as tx:
        assert tx.subscriptions.get(ann, COACH.client_id, Appli.WEIGHT, HOOK) == again
        assert tx.subscriptions.get(ann, COACH.client_id, Appli.SLEEP, HOOK) is None


def test_found_per_user_and_appli_across_apps_and_per_app(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    an_app(store)
    an_app(store, TRAINER)
    with store.begin() as tx:
        weight = tx.subscriptions.add(subscription(ann))
        sleep = tx.subscriptions.add(subscription(ann, Appli.SLEEP))
        other = tx.subscriptions.add(subscription(ann, url=OTHER_HOOK))
        trainer = tx.subscriptions.add(subscription(ann, app=TRAINER))
        bobs = tx.subscriptions.add(subscription(bob))
    with store.read() as tx:
        assert tx.subscriptions.matching(ann, Appli.WEIGHT) == [weight, other, trainer]
        assert tx.subscriptions.matching(bob, Appli.WEIGHT) == [bobs]
        assert tx.subscriptions.matching(ann, Appli.ECG) == []
        assert tx.subscriptions.of_app(ann, COACH.client_id) == [weight, other, sleep]
        assert tx.subscriptions.of_app(ann, COACH.client_id, Appli.SLEEP) == [sleep]
        assert tx.subscriptions.of_app(ann, TRAINER.client_id) == [trainer]


def test_update_moves_it_unless_another_has_that_place(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    an_app(store)
    with store.begin() as tx:
        weight = tx.subscriptions.add(subscription(ann))
        other = tx.subscriptions.add(subscription(ann, url=OTHER_HOOK))
        tx.subscriptions.mark_failing(weight.id, NOW)
        moved = tx.subscriptions.update(weight.id, callbackurl=HOOK, appli=Appli.SLEEP, comment="c", now=LATER)
        assert moved == replace(weight, appli=Appli.SLEEP, comment="c", modified=LATER, failing_since=None)
        clash = tx.subscriptions.update(moved.id, callbackurl=OTHER_HOOK, appli=Appli.WEIGHT, comment="", now=LATER)
        assert clash is None
        assert tx.subscriptions.update(10_000, callbackurl=HOOK, appli=Appli.WEIGHT, comment="", now=LATER) is None
        assert tx.subscriptions.of_app(ann, COACH.client_id) == [other, moved]


def test_remove_one_an_applis_or_all_of_an_app(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    an_app(store)
    an_app(store, TRAINER)
    with store.begin() as tx:
        weight = tx.subscriptions.add(subscription(ann))
        other = tx.subscriptions.add(subscription(ann, url=OTHER_HOOK))
        sleep = tx.subscriptions.add(subscription(ann, Appli.SLEEP))
        trainer = tx.subscriptions.add(subscription(ann, app=TRAINER))
        assert tx.subscriptions.remove(ann, COACH.client_id, Appli.WEIGHT, OTHER_HOOK) == [other]
        assert tx.subscriptions.remove(ann, COACH.client_id, Appli.WEIGHT, OTHER_HOOK) == []
        assert tx.subscriptions.remove(ann, COACH.client_id, Appli.WEIGHT) == [weight]
        tx.subscriptions.add(subscription(ann))
        assert sorted(s.appli for s in tx.subscriptions.remove(ann, COACH.client_id)) == [Appli.WEIGHT, Appli.SLEEP]
        assert sleep not in tx.subscriptions.of_app(ann, COACH.client_id)
        assert tx.subscriptions.of_app(ann, TRAINER.client_id) == [trainer]


def test_failing_ones_come_first_for_the_app_and_a_delivery_clears_it(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    an_app(store)
    with store.begin() as tx:
        anns = tx.subscriptions.add(subscription(ann))
        bobs = tx.subscriptions.add(subscription(bob))
        tx.subscriptions.mark_failing(bobs.id, NOW)
        tx.subscriptions.mark_failing(bobs.id, LATER)  # the first failure is kept
        assert tx.subscriptions.of_client(COACH.client_id) == [replace(bobs, failing_since=NOW), anns]
        tx.subscriptions.mark_working(bobs.id)
        assert tx.subscriptions.of_client(COACH.client_id) == [anns, bobs]


def test_gone_with_the_account_or_the_app(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    an_app(store)
    an_app(store, TRAINER)
    with store.begin() as tx:
        tx.subscriptions.add(subscription(ann))
        kept = tx.subscriptions.add(subscription(bob))
        tx.subscriptions.add(subscription(bob, app=TRAINER))
    with store.engine.begin() as conn:  # the account's deletion is the dashboard's issue
        conn.execute(delete(t.accounts).where(t.accounts.c.id == ann))
    with store.begin() as tx:
        assert tx.apps.delete(TRAINER.client_id)
    with store.read() as tx:
        assert tx.subscriptions.of_client(COACH.client_id) == [kept]
        assert tx.subscriptions.of_client(TRAINER.client_id) == []


def test_a_delivery_to_a_working_subscription_leaves_its_row_alone(store: SqlUnitOfWork) -> None:
    """On PostgreSQL an UPDATE writes a new row version even when nothing changes: a delivery to
    a subscription that is not failing must not write one (a new ``xmin`` would show it)."""
    if store.sqlite:
        pytest.skip("SQLite keeps no row versions to count")
    ann = an_account(store).id
    an_app(store)
    with store.begin() as tx:
        working = tx.subscriptions.add(subscription(ann))

    def version() -> str:
        with store.engine.connect() as connection:
            query = text("SELECT xmin::text FROM notify_subscriptions WHERE id = :id")
            return str(connection.execute(query, {"id": working.id}).scalar_one())

    before = version()
    with store.begin() as tx:
        tx.subscriptions.mark_working(working.id)
    assert version() == before
    with store.begin() as tx:
        tx.subscriptions.mark_failing(working.id, NOW)
    with store.begin() as tx:
        tx.subscriptions.mark_working(working.id)
    with store.read() as tx:
        assert tx.subscriptions.get(ann, COACH.client_id, Appli.WEIGHT, HOOK).failing_since is None  # type: ignore[union-attr]
