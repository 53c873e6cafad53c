""" "Download my data" (Core): the exports and their ZIP files.

A pending export is claimed by one worker with a lease in its name, as notification deliveries
are: one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`` on PostgreSQL;
SQLite serialises writers anyway. Only the lease's owner stores the ZIP. The partial unique
index ``uq_data_exports_pending`` keeps one pending export per account: adding a second is an
``ON CONFLICT DO NOTHING`` that changes no row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, bindparam, delete, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from vitalkey.adapters.db.schema import data_exports
from vitalkey.adapters.db.statements import Columns, Db, Row, at, at_or_none, core, us
from vitalkey.domain.data_exports import DataExport, ExportStatus

_c = data_exports.c
_PENDING = ExportStatus.PENDING.value
_FIELDS = tuple(column for column in data_exports.c if column.name != "content")  # the ZIP is read alone
_NEW = ("id", "account_id", "status", "created", "ready_at", "expires", "records", "size", "content")


def _add(insert: Any) -> Any:
    statement = insert(data_exports).values({**{name: bindparam(name) for name in _NEW}, "attempts": 0})
    return statement.on_conflict_do_nothing(index_elements=[_c.account_id], index_where=text("status = 'pending'"))


ADD = core(_add(sqlite.insert), _add(postgresql.insert))
GET = core(select(*_FIELDS).where(_c.id == bindparam("id")))
LATEST = core(
    select(*_FIELDS).where(_c.account_id == bindparam("account_id")).order_by(_c.created.desc(), _c.id).limit(1)
)
CONTENT = core(select(_c.content).where(_c.id == bindparam("id")))
DROP_SETTLED = core(delete(data_exports).where(_c.account_id == bindparam("account_id"), _c.status != _PENDING))

_free = (
    select(_c.id)
    .where(_c.status == _PENDING, or_(_c.claimed_until.is_(None), _c.claimed_until < bindparam("now")))
    .order_by(_c.created, _c.id)
    .limit(1)
)


def _claim(free: Any) -> Any:
    return (
        update(data_exports)
        .where(_c.id.in_(free))
        .values(claimed_by=bindparam("owner"), claimed_until=bindparam("until"))
        .returning(*_FIELDS)
    )


CLAIMABLE = core(_free)
CLAIM = core(_claim(_free), _claim(_free.with_for_update(skip_locked=True)))
_ours = and_(_c.id == bindparam("id"), _c.claimed_by == bindparam("owner"), _c.status == _PENDING)
RENEW = core(update(data_exports).where(_ours).values(claimed_until=bindparam("until")))
FINISH = core(
    update(data_exports)
    .where(_ours)
    .values(
        status=bindparam("status"),
        ready_at=bindparam("ready_at"),
        expires=bindparam("expires"),
        records=bindparam("records", type_=Integer),
        size=bindparam("size", type_=Integer),
        content=bindparam("content"),
        claimed_by=None,
        claimed_until=None,
    )
)
FAIL = core(update(data_exports).where(_ours).values(attempts=_c.attempts + 1, claimed_by=None, claimed_until=None))
GIVE_UP = core(
    update(data_exports)
    .where(_ours)
    .values(
        status=ExportStatus.FAILED.value,
        attempts=_c.attempts + 1,
        expires=bindparam("expires"),
        claimed_by=None,
        claimed_until=None,
    )
)
EMPTY_EXPIRED = core(
    update(data_exports).where(_c.expires <= bindparam("now"), _c.content.is_not(None)).values(content=None)
)
FORGET_EXPIRED = core(delete(data_exports).where(_c.expires <= bindparam("before")))


class SqlDataExports:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, export: DataExport, content: bytes | None) -> bool:
        params = {
            "id": export.id,
            "account_id": export.account_id,
            "status": export.status.value,
            "created": us(export.created),
            "ready_at": None if export.ready_at is None else us(export.ready_at),
            "expires": None if export.expires is None else us(export.expires),
            "records": export.records,
            "size": export.size,
            "content": content,
        }
        return self.db.run(ADD, params) == 1

    def get(self, export_id: str) -> DataExport | None:
        return self.db.one(GET, {"id": export_id}, _export)

    def latest(self, account_id: int) -> DataExport | None:
        return self.db.one(LATEST, {"account_id": account_id}, _export)

    def content(self, export_id: str) -> bytes | None:
        return self.db.one(CONTENT, {"id": export_id}, _content)

    def drop_settled(self, account_id: int) -> int:
        return self.db.run(DROP_SETTLED, {"account_id": account_id})

    def claimable(self, now: datetime) -> bool:
        return self.db.one(CLAIMABLE, {"now": us(now)}, _found) is not None

    def claim(self, now: datetime, owner: str, lease: timedelta) -> DataExport | None:
        return self.db.one(CLAIM, {"now": us(now), "owner": owner, "until": us(now + lease)}, _export)

    def renew(self, export_id: str, owner: str, until: datetime) -> bool:
        return self.db.run(RENEW, {"id": export_id, "owner": owner, "until": us(until)}) == 1

    def finish(self, export: DataExport, owner: str, content: bytes) -> bool:
        params = {
            "id": export.id,
            "owner": owner,
            "status": export.status.value,
            "ready_at": None if export.ready_at is None else us(export.ready_at),
            "expires": None if export.expires is None else us(export.expires),
            "records": export.records,
            "size": export.size,
            "content": content,
        }
        return self.db.run(FINISH, params) == 1

    def fail(self, export_id: str, owner: str, now: datetime, *, give_up_expires: datetime | None) -> bool:
        if give_up_expires is None:
            return self.db.run(FAIL, {"id": export_id, "owner": owner}) == 1
        return self.db.run(GIVE_UP, {"id": export_id, "owner": owner, "expires": us(give_up_expires)}) == 1

    def prune(self, now: datetime, kept: timedelta) -> int:
        emptied = self.db.run(EMPTY_EXPIRED, {"now": us(now)})
        return emptied + self.db.run(FORGET_EXPIRED, {"before": us(now - kept)})


def _export(row: Row, c: Columns) -> DataExport:
    return DataExport(
        id=row[c["id"]],
        account_id=int(row[c["account_id"]]),
        status=ExportStatus(row[c["status"]]),
        created=at(row[c["created"]]),
        ready_at=at_or_none(row[c["ready_at"]]),
        expires=at_or_none(row[c["expires"]]),
        records=int(row[c["records"]]),
        size=int(row[c["size"]]),
        attempts=int(row[c["attempts"]]),
    )


def _found(row: Row, c: Columns) -> bool:
    return True


def _content(row: Row, c: Columns) -> bytes | None:
    value = row[c["content"]]
    return None if value is None else bytes(value)  # psycopg may hand a memoryview
