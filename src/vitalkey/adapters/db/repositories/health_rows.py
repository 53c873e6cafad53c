"""What the health-data repositories share: how their values are kept in columns (no device:
'', local days: ISO dates, JSON: compact text) and their listings — ``find`` statements built
per combination of the filters present, each compiled once, so that every one is a plain range
on an index (no ``:x IS NULL OR …`` predicates, which no planner can use an index for)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, bindparam, select, update

from vitalkey.adapters.db.statements import Columns, Row, Sql, core, us
from vitalkey.domain.health import Number, Page, Window

NO_DEVICE = ""  # a record without a device


def device_param(deviceid: str | None) -> str:
    return NO_DEVICE if deviceid is None else deviceid


def device_of(value: str) -> str | None:
    return None if value == NO_DEVICE else value


def day_param(day: date) -> str:
    return day.isoformat()


def day_of(value: Any) -> date:
    """A ``Date`` column's value: a ``date`` from psycopg, ISO text from SQLite."""
    return value if isinstance(value, date) else date.fromisoformat(value)


def first_int(row: Row, c: Columns) -> int:
    """The id an INSERT … RETURNING answered."""
    return int(row[0])


def tombstone(table: Table, record_id: Column[Any], **emptied: Any) -> Sql:
    """Delete an account's live record (bound by the id column's name), leaving its tombstone:
    its contents ``emptied``, ``deleted`` and ``modified`` set to ``now``."""
    c = table.c
    return core(
        update(table)
        .where(record_id == bindparam(record_id.name), c.account_id == bindparam("account_id"), c.deleted.is_(None))
        .values(**emptied, deleted=bindparam("now"), modified=bindparam("now"))
    )


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def loads(text: Any) -> Any:
    return json.loads(text)


def numbers(text: Any) -> dict[str, Number]:
    return dict(loads(text))


Variant = tuple[int, ...]  # which optional filters a statement holds (flags; counts for lists)


class Listing:
    """The ``find`` statements of one table: an account's records in id order after ``page.after``
    (at most ``page.limit``), within the window's bounds that this table knows (``moment``: the
    column ``window.start``..``window.end`` bound; ``day``: the one ``first_day``..``last_day``
    bound), modified after ``updated_since``, live only unless asked for tombstones."""

    def __init__(
        self,
        table: Table,
        record_id: Column[Any],
        *,
        moment: Column[Any] | None = None,
        day: Column[Any] | None = None,
        build: Callable[[Variant, list[ColumnElement[bool]]], Sql] | None = None,
    ) -> None:
        self.table = table
        self.record_id = record_id
        self.moment = moment
        self.day = day
        self.build = build or self._select
        self.statements: dict[Variant, Sql] = {}

    def variant(self, window: Window, include_deleted: bool, *extra: int) -> Variant:
        known_moment, known_day = self.moment is not None, self.day is not None
        return (
            known_moment and window.start is not None,
            known_moment and window.end is not None,
            known_day and window.first_day is not None,
            known_day and window.last_day is not None,
            window.updated_since is not None,
            include_deleted,
            *extra,
        )

    def params(self, account_id: int, window: Window, page: Page) -> dict[str, Any]:
        params: dict[str, Any] = {"account_id": account_id, "after": page.after, "limit": page.limit}
        if window.start is not None:
            params["start"] = us(window.start)
        if window.end is not None:
            params["end"] = us(window.end)
        if window.first_day is not None:
            params["first_day"] = day_param(window.first_day)
        if window.last_day is not None:
            params["last_day"] = day_param(window.last_day)
        if window.updated_since is not None:
            params["updated_since"] = us(window.updated_since)
        return params

    def statement(self, variant: Variant) -> Sql:
        sql = self.statements.get(variant)
        if sql is None:
            sql = self.statements[variant] = self.build(variant, self.terms(variant))
        return sql

    def terms(self, variant: Variant) -> list[ColumnElement[bool]]:
        start, end, first_day, last_day, updated_since, include_deleted = variant[:6]
        c = self.table.c
        terms: list[ColumnElement[bool]] = [
            c.account_id == bindparam("account_id"),
            self.record_id > bindparam("after"),
        ]
        if start and self.moment is not None:
            terms.append(self.moment >= bindparam("start"))
        if end and self.moment is not None:
            terms.append(self.moment <= bindparam("end"))
        if first_day and self.day is not None:
            terms.append(self.day >= bindparam("first_day"))
        if last_day and self.day is not None:
            terms.append(self.day <= bindparam("last_day"))
        if updated_since:
            terms.append(c.modified > bindparam("updated_since"))
        if not include_deleted:
            terms.append(c.deleted.is_(None))
        return terms

    def _select(self, variant: Variant, terms: list[ColumnElement[bool]]) -> Sql:
        return core(select(self.table).where(*terms).order_by(self.record_id).limit(bindparam("limit")))


def json_keys(series: Mapping[str, Mapping[int, int]]) -> dict[str, dict[str, int]]:
    return {name: {str(second): value for second, value in values.items()} for name, values in series.items()}
