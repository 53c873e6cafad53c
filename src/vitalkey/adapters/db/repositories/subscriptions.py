"""Partner apps' notification subscriptions (Core): one row per account, app, appli and
callback URL (``uq_notify_subscriptions``); found per account and appli when data changes
(``ix_notify_subscriptions_account_appli``) and per app for the admin API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from vitalkey.adapters.db.schema import notify_subscriptions
from vitalkey.adapters.db.statements import Columns, Db, Row, at, at_or_none, core, us
from vitalkey.domain.notifications import Appli, Subscription

_c = notify_subscriptions.c
_KEY = (_c.account_id, _c.client_id, _c.appli, _c.callbackurl)
_NEW = ("account_id", "client_id", "appli", "callbackurl", "comment", "created", "modified")


def _add(insert_of: Any) -> Any:
    statement = insert_of(notify_subscriptions).values({name: bindparam(name) for name in _NEW})
    return statement.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={"comment": statement.excluded.comment, "modified": statement.excluded.modified, "failing_since": None},
    ).returning(*notify_subscriptions.c)


ADD = core(_add(sqlite.insert), _add(postgresql.insert))
_by_key = (
    _c.account_id == bindparam("account_id"),
    _c.client_id == bindparam("client_id"),
    _c.appli == bindparam("appli"),
    _c.callbackurl == bindparam("callbackurl"),
)
GET = core(select(notify_subscriptions).where(*_by_key))
_of_app = (_c.account_id == bindparam("account_id"), _c.client_id == bindparam("client_id"))
OF_APP = core(select(notify_subscriptions).where(*_of_app).order_by(_c.appli, _c.callbackurl))
OF_APP_APPLI = core(
    select(notify_subscriptions).where(*_of_app, _c.appli == bindparam("appli")).order_by(_c.callbackurl)
)
OF_ACCOUNT = core(
    select(notify_subscriptions)
    .where(_c.account_id == bindparam("account_id"))
    .order_by(_c.client_id, _c.appli, _c.callbackurl)
)
MATCHING = core(
    select(notify_subscriptions)
    .where(_c.account_id == bindparam("account_id"), _c.appli == bindparam("appli"))
    .order_by(_c.id)
)
UPDATE = core(
    update(notify_subscriptions)
    .where(_c.id == bindparam("id"))
    .values(
        callbackurl=bindparam("callbackurl"),
        appli=bindparam("appli"),
        comment=bindparam("comment"),
        modified=bindparam("modified"),
        failing_since=None,
    )
    .returning(*notify_subscriptions.c)
)
_OWNER = core(select(_c.account_id, _c.client_id).where(_c.id == bindparam("id")))
REMOVE_ONE = core(delete(notify_subscriptions).where(*_by_key).returning(*notify_subscriptions.c))
REMOVE_APPLI = core(
    delete(notify_subscriptions).where(*_of_app, _c.appli == bindparam("appli")).returning(*notify_subscriptions.c)
)
REMOVE_APP = core(delete(notify_subscriptions).where(*_of_app).returning(*notify_subscriptions.c))
MARK_FAILING = core(
    update(notify_subscriptions)
    .where(_c.id == bindparam("id"), _c.failing_since.is_(None))
    .values(failing_since=bindparam("since"))
)
# Only a failing one is written: most deliveries go to working subscriptions, and an unconditional
# UPDATE wrote a new row version (on PostgreSQL) for every delivery.
MARK_WORKING = core(
    update(notify_subscriptions)
    .where(_c.id == bindparam("id"), _c.failing_since.is_not(None))
    .values(failing_since=None)
)
OF_CLIENT = core(
    select(notify_subscriptions)
    .where(_c.client_id == bindparam("client_id"))
    .order_by(case((_c.failing_since.is_(None), 1), else_=0), _c.id)
)


class SqlSubscriptions:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, subscription: Subscription) -> Subscription:
        params = {
            "account_id": subscription.account_id,
            "client_id": subscription.client_id,
            "appli": int(subscription.appli),
            "callbackurl": subscription.callbackurl,
            "comment": subscription.comment,
            "created": us(subscription.created),
            "modified": us(subscription.modified),
        }
        stored = self.db.one(ADD, params, _subscription)
        assert stored is not None  # an upsert … RETURNING answers its row
        return stored

    def get(self, account_id: int, client_id: str, appli: Appli, callbackurl: str) -> Subscription | None:
        params = {"account_id": account_id, "client_id": client_id, "appli": int(appli), "callbackurl": callbackurl}
        return self.db.one(GET, params, _subscription)

    def of_app(self, account_id: int, client_id: str, appli: Appli | None = None) -> list[Subscription]:
        params: dict[str, Any] = {"account_id": account_id, "client_id": client_id}
        if appli is None:
            return self.db.all(OF_APP, params, _subscription)
        return self.db.all(OF_APP_APPLI, {**params, "appli": int(appli)}, _subscription)

    def of_account(self, account_id: int) -> list[Subscription]:
        return self.db.all(OF_ACCOUNT, {"account_id": account_id}, _subscription)

    def matching(self, account_id: int, appli: Appli) -> list[Subscription]:
        return self.db.all(MATCHING, {"account_id": account_id, "appli": int(appli)}, _subscription)

    def update(
        self, subscription_id: int, *, callbackurl: str, appli: Appli, comment: str, now: datetime
    ) -> Subscription | None:
        owner = self.db.one(_OWNER, {"id": subscription_id}, lambda row, c: (row[0], row[1]))
        if owner is None:
            return None
        taken = self.get(owner[0], owner[1], appli, callbackurl)
        if taken is not None and taken.id != subscription_id:
            return None
        params = {
            "id": subscription_id,
            "callbackurl": callbackurl,
            "appli": int(appli),
            "comment": comment,
            "modified": us(now),
        }
        return self.db.one(UPDATE, params, _subscription)

    def remove(
        self, account_id: int, client_id: str, appli: Appli | None = None, callbackurl: str | None = None
    ) -> list[Subscription]:
        params: dict[str, Any] = {"account_id": account_id, "client_id": client_id}
        if appli is None:
            return self.db.all(REMOVE_APP, params, _subscription)
        params["appli"] = int(appli)
        if callbackurl is None:
            return self.db.all(REMOVE_APPLI, params, _subscription)
        return self.db.all(REMOVE_ONE, {**params, "callbackurl": callbackurl}, _subscription)

    def mark_failing(self, subscription_id: int, since: datetime) -> None:
        self.db.run(MARK_FAILING, {"id": subscription_id, "since": us(since)})

    def mark_working(self, subscription_id: int) -> None:
        self.db.run(MARK_WORKING, {"id": subscription_id})

    def of_client(self, client_id: str) -> list[Subscription]:
        return self.db.all(OF_CLIENT, {"client_id": client_id}, _subscription)


def _subscription(row: Row, c: Columns) -> Subscription:
    return Subscription(
        id=int(row[c["id"]]),
        account_id=int(row[c["account_id"]]),
        client_id=row[c["client_id"]],
        appli=Appli(row[c["appli"]]),
        callbackurl=row[c["callbackurl"]],
        comment=row[c["comment"]],
        created=at(row[c["created"]]),
        modified=at(row[c["modified"]]),
        failing_since=at_or_none(row[c["failing_since"]]),
    )
