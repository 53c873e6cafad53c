"""Partner apps' notification deliveries (Core): the outbox of callbacks.

Queued in the transaction that changes the data; a burst for one subscription is coalesced into
the one row still untried (``ix_notify_deliveries_subscription``). Workers claim due rows
(``ix_notify_deliveries_due``, partial on the pending ones) with a lease in their name, as the
mail relay does: one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`` on
PostgreSQL, so that several workers never claim the same row; SQLite serialises writers anyway
(the unit of work begins with ``BEGIN IMMEDIATE``). An outcome is recorded only by the lease's
owner: a worker whose lease ran out and was taken over learns it (False) and records nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from vitalkey.adapters.db.schema import notify_deliveries
from vitalkey.adapters.db.statements import Columns, Db, Row, Sql, at, at_or_none, core, us
from vitalkey.domain.notifications import Appli, Change, Delivery, Notice, Subscription, UserAction

_c = notify_deliveries.c
MAX_ERROR = 40  # the width of last_error

_NEW = (
    "delivery_id", "subscription_id", "account_id", "client_id", "callbackurl", "appli", "change", "startdate",
    "enddate", "date", "action", "backfill", "created", "due",
)  # fmt: skip
INSERT = core(
    insert(notify_deliveries)
    .values({**{name: bindparam(name) for name in _NEW}, "attempts": 0, "cycle": 0, "last_error": ""})
    .returning(_c.id)
)


def _widened(column: Any, name: str, earliest: bool) -> ColumnElement[Any]:
    """The bound covering both periods: the earlier start (later end); NULL only if both are."""
    given = bindparam(name, type_=BigInteger)
    beyond = given < column if earliest else given > column
    return case((column.is_(None), given), (given.is_(None), column), (beyond, given), else_=column)


# The untried (never tried, unclaimed) delivery of the same subscription and content. Every
# condition is in the UPDATE's own WHERE: on PostgreSQL a row claimed by a worker meanwhile is
# checked again once its lock is released, and is then no longer widened.
_untried_twin = and_(
    _c.subscription_id == bindparam("subscription_id"),
    _c.callbackurl == bindparam("callbackurl"),
    _c.appli == bindparam("appli"),
    _c.change == bindparam("change"),
    _c.backfill == bindparam("backfill"),
    _c.date == bindparam("date"),
    _c.action.is_not_distinct_from(bindparam("action", type_=notify_deliveries.c.action.type)),
    _c.attempts == 0,
    _c.claimed_until.is_(None),
    _c.delivered.is_(None),
    _c.failed.is_(None),
)
COALESCE = core(
    update(notify_deliveries)
    .where(_untried_twin, _c.id == select(func.min(_c.id)).where(_untried_twin).scalar_subquery())
    .values(startdate=_widened(_c.startdate, "startdate", True), enddate=_widened(_c.enddate, "enddate", False))
    .returning(_c.id)
)

_pending = and_(_c.delivered.is_(None), _c.failed.is_(None))
_due = (
    select(_c.id)
    .where(_pending, _c.due <= bindparam("now"), or_(_c.claimed_until.is_(None), _c.claimed_until < bindparam("now")))
    .order_by(_c.due, _c.id)
    .limit(bindparam("limit", type_=Integer))
)


def _claim(due: Any) -> Any:
    return (
        update(notify_deliveries)
        .where(_c.id.in_(due))
        .values(claimed_until=bindparam("until"), claimed_by=bindparam("owner"))
        .returning(*notify_deliveries.c)
    )


CLAIM = core(_claim(_due), _claim(_due.with_for_update(skip_locked=True)))

# An outcome, recorded only while the lease is the caller's; the lease is released.
_ours = and_(_c.id == bindparam("id"), _c.claimed_by == bindparam("owner"), _pending)
_outcome = {
    "attempts": _c.attempts + 1,
    "last_status": bindparam("status", type_=Integer),
    "last_error": bindparam("error"),
    "claimed_until": None,
    "claimed_by": None,
}
# A settled ``action=delete`` notice keeps no trace of the deleted user: its userid goes once the
# partner has it (or never will).
_forgotten = {"account_id": case((_c.action == str(UserAction.DELETE), 0), else_=_c.account_id)}
DELIVERED = core(update(notify_deliveries).where(_ours).values(delivered=bindparam("now"), **_outcome, **_forgotten))
RETRY = core(update(notify_deliveries).where(_ours).values(due=bindparam("due"), cycle=bindparam("cycle"), **_outcome))
GIVE_UP = core(update(notify_deliveries).where(_ours).values(failed=bindparam("now"), **_outcome, **_forgotten))
FORGET_ACCOUNT = core(delete(notify_deliveries).where(_c.account_id == bindparam("account_id")))

RECENT = core(select(notify_deliveries).order_by(_c.id.desc()).limit(bindparam("limit", type_=Integer)))
WAITING = core(select(func.count()).select_from(notify_deliveries).where(_pending))
PRUNE = core(delete(notify_deliveries).where(or_(_c.delivered < bindparam("before"), _c.failed < bindparam("before"))))


class SqlDeliveries:
    def __init__(self, db: Db) -> None:
        self.db = db

    def queue(self, subscription: Subscription, notice: Notice, delivery_id: str, now: datetime, due: datetime) -> int:
        params = _content(notice)
        params.update(subscription_id=subscription.id, callbackurl=subscription.callbackurl)
        widened = self.db.one(COALESCE, params, _id)
        if widened is not None:
            return widened
        params.update(delivery_id=delivery_id, client_id=subscription.client_id, created=us(now), due=us(due))
        return self._insert(params)

    def queue_to(
        self, account_id: int, client_id: str, callbackurl: str, notice: Notice, delivery_id: str, now: datetime
    ) -> int:
        params = _content(notice)
        params.update(
            subscription_id=None,
            account_id=account_id,
            client_id=client_id,
            callbackurl=callbackurl,
            delivery_id=delivery_id,
            created=us(now),
            due=us(now),
        )
        return self._insert(params)

    def _insert(self, params: dict[str, Any]) -> int:
        inserted = self.db.one(INSERT, params, _id)
        assert inserted is not None  # INSERT … RETURNING answers its row
        self.db.enqueued = True  # the unit of work wakes the senders once this commits
        return inserted

    def claim(self, now: datetime, owner: str, lease: timedelta, limit: int) -> list[Delivery]:
        params = {"now": us(now), "until": us(now + lease), "owner": owner, "limit": limit}
        claimed = self.db.all(CLAIM, params, _delivery)
        return sorted(claimed, key=lambda delivery: (delivery.due, delivery.id))  # RETURNING keeps no order

    def delivered(self, delivery: Delivery, now: datetime, status: int) -> bool:
        return self._outcome(DELIVERED, delivery, {"now": us(now), "status": status, "error": ""})

    def retry(self, delivery: Delivery, due: datetime, *, cycle: int, status: int | None, error: str) -> bool:
        params = {"due": us(due), "cycle": cycle, "status": status, "error": error[:MAX_ERROR]}
        return self._outcome(RETRY, delivery, params)

    def give_up(self, delivery: Delivery, now: datetime, *, status: int | None, error: str) -> bool:
        return self._outcome(GIVE_UP, delivery, {"now": us(now), "status": status, "error": error[:MAX_ERROR]})

    def _outcome(self, statement: Sql, delivery: Delivery, params: dict[str, Any]) -> bool:
        if not delivery.claimed_by:
            return False  # never claimed: nobody's lease to record it under
        return self.db.run(statement, {**params, "id": delivery.id, "owner": delivery.claimed_by}) == 1

    def forget_account(self, account_id: int) -> int:
        return self.db.run(FORGET_ACCOUNT, {"account_id": account_id})

    def recent(self, limit: int) -> list[Delivery]:
        return self.db.all(RECENT, {"limit": limit}, _delivery)

    def prune(self, before: datetime) -> int:
        return self.db.run(PRUNE, {"before": us(before)})

    def waiting(self, now: datetime) -> int:  # every pending row, due or not: ``now`` is not needed
        return self.db.one(WAITING, {}, lambda row, c: int(row[0])) or 0


def _content(notice: Notice) -> dict[str, Any]:
    """What a notice announces, as the columns store it."""
    return {
        "account_id": notice.account_id,
        "appli": int(notice.appli),
        "change": str(notice.change),
        "startdate": None if notice.start is None else us(notice.start),
        "enddate": None if notice.end is None else us(notice.end),
        "date": notice.date,
        "action": None if notice.action is None else str(notice.action),
        "backfill": notice.backfill,
    }


def _id(row: Row, c: Columns) -> int:
    return int(row[0])


def _delivery(row: Row, c: Columns) -> Delivery:
    action = row[c["action"]]
    return Delivery(
        id=int(row[c["id"]]),
        delivery_id=row[c["delivery_id"]],
        subscription_id=None if row[c["subscription_id"]] is None else int(row[c["subscription_id"]]),
        account_id=int(row[c["account_id"]]),
        client_id=row[c["client_id"]],
        callbackurl=row[c["callbackurl"]],
        appli=Appli(row[c["appli"]]),
        change=Change(row[c["change"]]),
        start=at_or_none(row[c["startdate"]]),
        end=at_or_none(row[c["enddate"]]),
        date=row[c["date"]],
        action=None if action is None else UserAction(action),
        backfill=bool(row[c["backfill"]]),
        created=at(row[c["created"]]),
        due=at(row[c["due"]]),
        attempts=int(row[c["attempts"]]),
        cycle=int(row[c["cycle"]]),
        delivered=at_or_none(row[c["delivered"]]),
        failed=at_or_none(row[c["failed"]]),
        last_status=row[c["last_status"]],
        last_error=row[c["last_error"]],
        claimed_by=row[c["claimed_by"]] or "",
    )
