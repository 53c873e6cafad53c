"""Daily activity (Core). A day sent again for the same date and device replaces the live one in
a single upsert on ``uq_activity_days_live_day`` (its id and ``created`` kept)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, bindparam, cast, func, select
from sqlalchemy.dialects import postgresql, sqlite

from vitalkey.adapters.db.repositories.health_rows import (
    Listing,
    day_of,
    day_param,
    device_of,
    device_param,
    dumps,
    numbers,
    tombstone,
)
from vitalkey.adapters.db.schema import activity_days
from vitalkey.adapters.db.statements import Columns, Db, Row, at, at_or_none, core, us
from vitalkey.domain.health import ActivityDay, Brand, Page, Window

_c = activity_days.c
_COLUMNS = ("account_id", "date", "timezone", "deviceid", "brand", "is_tracker", "data", "created", "modified")
_REPLACED = ("timezone", "brand", "is_tracker", "data", "modified")


def _put(insert: Any) -> Any:
    statement = insert(activity_days).values({name: bindparam(name) for name in _COLUMNS})
    return statement.on_conflict_do_update(
        index_elements=[_c.account_id, _c.date, _c.deviceid],
        index_where=_c.deleted.is_(None),
        set_={name: statement.excluded[name] for name in _REPLACED},
    ).returning(_c.id, _c.created)


PUT = core(_put(sqlite.insert), _put(postgresql.insert))
DELETE = tombstone(activity_days, _c.id, data="{}")
FIND = Listing(activity_days, _c.id, day=_c.date)


def _steps(count: Any) -> Any:
    return (
        select(_c.date, count.label("steps"))
        .where(
            _c.account_id == bindparam("account_id"),
            _c.deleted.is_(None),
            _c.date >= bindparam("first_day"),
            _c.date <= bindparam("last_day"),
        )
        .order_by(_c.date, _c.id)
    )


# The dashboard's steps: the count alone, taken out of the day's JSON by the database (reading
# the year's 365 whole days cost 2.2 ms of its page: their JSON and records made in Python).
STEPS = core(
    _steps(func.json_extract(_c.data, "$.steps")),
    _steps(cast(_c.data, JSON)["steps"].as_float()),
)


class SqlActivity:
    def __init__(self, db: Db) -> None:
        self.db = db

    def put(self, day: ActivityDay) -> ActivityDay:
        params = {
            "account_id": day.account_id,
            "date": day_param(day.date),
            "timezone": day.timezone,
            "deviceid": device_param(day.deviceid),
            "brand": day.brand.value,
            "is_tracker": day.is_tracker,
            "data": dumps(dict(day.data)),
            "created": us(day.created),
            "modified": us(day.modified),
        }
        stored = self.db.one(PUT, params, _id_and_created)
        assert stored is not None  # RETURNING always answers a row
        return replace(day, id=stored[0], created=stored[1], deleted=None)

    def delete(self, account_id: int, day_id: int, now: datetime) -> bool:
        return self.db.run(DELETE, {"account_id": account_id, "id": day_id, "now": us(now)}) == 1

    def steps(self, account_id: int, first_day: date, last_day: date) -> list[tuple[date, int]]:
        params = {"account_id": account_id, "first_day": day_param(first_day), "last_day": day_param(last_day)}
        return self.db.all(STEPS, params, _day_steps)

    def find(self, account_id: int, window: Window, page: Page, *, include_deleted: bool = False) -> list[ActivityDay]:
        statement = FIND.statement(FIND.variant(window, include_deleted))
        return self.db.all(statement, FIND.params(account_id, window, page), _day)


def _day_steps(row: Row, c: Columns) -> tuple[date, int]:
    return day_of(row[0]), int(row[1] or 0)


def _id_and_created(row: Row, c: Columns) -> tuple[int, datetime]:
    return int(row[0]), at(row[1])


def _day(row: Row, c: Columns) -> ActivityDay:
    return ActivityDay(
        id=int(row[c["id"]]),
        account_id=int(row[c["account_id"]]),
        date=day_of(row[c["date"]]),
        timezone=row[c["timezone"]],
        data=numbers(row[c["data"]]),
        created=at(row[c["created"]]),
        modified=at(row[c["modified"]]),
        deviceid=device_of(row[c["deviceid"]]),
        brand=Brand(row[c["brand"]]),
        is_tracker=bool(row[c["is_tracker"]]),
        deleted=at_or_none(row[c["deleted"]]),
    )
