"""Workouts (Core)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert

from vitalkey.adapters.db.repositories.health_rows import (
    Listing,
    day_of,
    day_param,
    device_of,
    device_param,
    dumps,
    first_int,
    numbers,
    tombstone,
)
from vitalkey.adapters.db.schema import workouts
from vitalkey.adapters.db.statements import Columns, Db, Row, at, at_or_none, core, us
from vitalkey.domain.health import Attrib, Page, Window, Workout

_c = workouts.c
_COLUMNS = (
    "account_id",
    "category",
    "startdate",
    "enddate",
    "date",
    "timezone",
    "deviceid",
    "attrib",
    "data",
    "created",
    "modified",
)
ADD = core(insert(workouts).values({name: bindparam(name) for name in _COLUMNS}).returning(_c.id))
DELETE = tombstone(workouts, _c.id, data="{}")
FIND = Listing(workouts, _c.id, day=_c.date)


class SqlWorkouts:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, workout: Workout) -> int:
        params = {
            "account_id": workout.account_id,
            "category": workout.category,
            "startdate": us(workout.startdate),
            "enddate": us(workout.enddate),
            "date": day_param(workout.date),
            "timezone": workout.timezone,
            "deviceid": device_param(workout.deviceid),
            "attrib": workout.attrib.value,
            "data": dumps(dict(workout.data)),
            "created": us(workout.created),
            "modified": us(workout.modified),
        }
        workout_id = self.db.one(ADD, params, first_int)
        assert workout_id is not None  # RETURNING always answers a row
        return workout_id

    def delete(self, account_id: int, workout_id: int, now: datetime) -> bool:
        return self.db.run(DELETE, {"account_id": account_id, "id": workout_id, "now": us(now)}) == 1

    def find(self, account_id: int, window: Window, page: Page, *, include_deleted: bool = False) -> list[Workout]:
        statement = FIND.statement(FIND.variant(window, include_deleted))
        return self.db.all(statement, FIND.params(account_id, window, page), _workout)


def _workout(row: Row, c: Columns) -> Workout:
    return Workout(
        id=int(row[c["id"]]),
        account_id=int(row[c["account_id"]]),
        category=int(row[c["category"]]),
        startdate=at(row[c["startdate"]]),
        enddate=at(row[c["enddate"]]),
        date=day_of(row[c["date"]]),
        timezone=row[c["timezone"]],
        data=numbers(row[c["data"]]),
        created=at(row[c["created"]]),
        modified=at(row[c["modified"]]),
        deviceid=device_of(row[c["deviceid"]]),
        attrib=Attrib(row[c["attrib"]]),
        deleted=at_or_none(row[c["deleted"]]),
    )
