"""Intraday samples (Core): one row per account, second and device (the primary key, without a
row id on SQLite), so a period's samples are one range of it; a sample sent again for the same
second (a sample's time is kept to the second) and device replaces the stored one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from vitalkey.adapters.db.repositories.health_rows import dumps, numbers
from vitalkey.adapters.db.schema import intraday_samples
from vitalkey.adapters.db.statements import Columns, Db, Row, at, core, us
from vitalkey.domain.health import IntradaySample

_c = intraday_samples.c


def _put(insert: Any) -> Any:
    statement = insert(intraday_samples).values(
        {name: bindparam(name) for name in ("account_id", "at", "deviceid", "data")}
    )
    return statement.on_conflict_do_update(
        index_elements=[_c.account_id, _c.at, _c.deviceid], set_={"data": statement.excluded.data}
    )


PUT = core(_put(sqlite.insert), _put(postgresql.insert))
BETWEEN = core(
    select(intraday_samples)
    .where(_c.account_id == bindparam("account_id"), _c.at >= bindparam("start"), _c.at <= bindparam("end"))
    .order_by(_c.at, _c.deviceid)
    .limit(bindparam("limit"))
)


class SqlIntraday:
    def __init__(self, db: Db) -> None:
        self.db = db

    def put(self, samples: list[IntradaySample]) -> None:
        rows = [
            {
                "account_id": s.account_id,
                "at": us(s.at.replace(microsecond=0)),
                "deviceid": s.deviceid,
                "data": dumps(dict(s.data)),
            }
            for s in samples
        ]
        self.db.run_many(PUT, rows)

    def between(self, account_id: int, start: datetime, end: datetime, limit: int) -> list[IntradaySample]:
        params = {"account_id": account_id, "start": us(start), "end": us(end), "limit": limit}
        return self.db.all(BETWEEN, params, _sample)


def _sample(row: Row, c: Columns) -> IntradaySample:
    return IntradaySample(
        account_id=int(row[c["account_id"]]),
        deviceid=row[c["deviceid"]],
        at=at(row[c["at"]]),
        data=numbers(row[c["data"]]),
    )
