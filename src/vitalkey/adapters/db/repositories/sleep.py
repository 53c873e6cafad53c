"""Sleep sessions (Core): the stages, per-second series and summary as JSON text. ``find`` by the
local day a session ends on (``ix_sleep_sessions_account_date``, which ``nights`` also reads)
or by its end (``ix_sleep_sessions_account_end``, which ``overlapping`` also reads)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select

from vitalkey.adapters.db.repositories.health_rows import (
    Listing,
    day_of,
    day_param,
    device_of,
    device_param,
    dumps,
    first_int,
    json_keys,
    loads,
    numbers,
    tombstone,
)
from vitalkey.adapters.db.schema import sleep_sessions
from vitalkey.adapters.db.statements import Columns, Db, Row, at, at_or_none, core, us
from vitalkey.domain.health import Page, SleepNight, SleepSession, SleepStage, SleepState, Window

_c = sleep_sessions.c
_COLUMNS = (
    "account_id",
    "startdate",
    "enddate",
    "date",
    "timezone",
    "deviceid",
    "completed",
    "states",
    "series",
    "summary",
    "created",
    "modified",
)
ADD = core(insert(sleep_sessions).values({name: bindparam(name) for name in _COLUMNS}).returning(_c.id))
DELETE = tombstone(sleep_sessions, _c.id, states="[]", series="{}", summary="{}")
OVERLAPPING = core(
    select(sleep_sessions)
    .where(
        _c.account_id == bindparam("account_id"),
        _c.enddate >= bindparam("start"),
        _c.startdate <= bindparam("end"),
        _c.deleted.is_(None),
    )
    .order_by(_c.startdate, _c.id)
)
FIND = Listing(sleep_sessions, _c.id, moment=_c.enddate, day=_c.date)
NIGHTS = core(
    select(_c.date, _c.startdate, _c.summary)
    .where(
        _c.account_id == bindparam("account_id"),
        _c.date >= bindparam("first_day"),
        _c.date <= bindparam("last_day"),
        _c.deleted.is_(None),
    )
    .order_by(_c.startdate, _c.id)
)


class SqlSleep:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, session: SleepSession) -> int:
        params = {
            "account_id": session.account_id,
            "startdate": us(session.startdate),
            "enddate": us(session.enddate),
            "date": day_param(session.date),
            "timezone": session.timezone,
            "deviceid": device_param(session.deviceid),
            "completed": session.completed,
            "states": dumps([[us(s.startdate), us(s.enddate), s.state.value] for s in session.states]),
            "series": dumps(json_keys(session.series)),
            "summary": dumps(dict(session.summary)),
            "created": us(session.created),
            "modified": us(session.modified),
        }
        session_id = self.db.one(ADD, params, first_int)
        assert session_id is not None  # RETURNING always answers a row
        return session_id

    def delete(self, account_id: int, session_id: int, now: datetime) -> bool:
        return self.db.run(DELETE, {"account_id": account_id, "id": session_id, "now": us(now)}) == 1

    def overlapping(self, account_id: int, start: datetime, end: datetime) -> list[SleepSession]:
        return self.db.all(OVERLAPPING, {"account_id": account_id, "start": us(start), "end": us(end)}, _session)

    def find(self, account_id: int, window: Window, page: Page, *, include_deleted: bool = False) -> list[SleepSession]:
        statement = FIND.statement(FIND.variant(window, include_deleted))
        return self.db.all(statement, FIND.params(account_id, window, page), _session)

    def nights(self, account_id: int, first_day: date, last_day: date) -> list[SleepNight]:
        params = {"account_id": account_id, "first_day": day_param(first_day), "last_day": day_param(last_day)}
        return self.db.all(NIGHTS, params, _night)


def _night(row: Row, c: Columns) -> SleepNight:
    return SleepNight(
        date=day_of(row[c["date"]]), startdate=at(row[c["startdate"]]), summary=numbers(row[c["summary"]])
    )


def _series(text: Any) -> dict[str, dict[int, int]]:
    return {name: {int(second): value for second, value in values.items()} for name, values in loads(text).items()}


def _session(row: Row, c: Columns) -> SleepSession:
    return SleepSession(
        id=int(row[c["id"]]),
        account_id=int(row[c["account_id"]]),
        startdate=at(row[c["startdate"]]),
        enddate=at(row[c["enddate"]]),
        date=day_of(row[c["date"]]),
        timezone=row[c["timezone"]],
        states=tuple(
            SleepState(at(start), at(end), SleepStage(state)) for start, end, state in loads(row[c["states"]])
        ),
        series=_series(row[c["series"]]),
        summary=numbers(row[c["summary"]]),
        created=at(row[c["created"]]),
        modified=at(row[c["modified"]]),
        deviceid=device_of(row[c["deviceid"]]),
        completed=bool(row[c["completed"]]),
        deleted=at_or_none(row[c["deleted"]]),
    )
