"""Measure groups and their measures (Core). A group's measures are rows of ``measures`` (integer
value and unit, in the order sent); an edit rewrites them, a deletion removes them and keeps
the group as a tombstone.

The partner read (getmeas: an account's groups of a period, in grpid order) is one statement:
the page of groups found on ``ix_measure_groups_account_date`` (or ``…_modified`` for
``lastupdate``), joined to their measures by the primary key of ``measures``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, exists, insert, literal, or_, select, update

from vitalkey.adapters.db.repositories.health_rows import (
    Listing,
    Variant,
    device_of,
    device_param,
    first_int,
    tombstone,
)
from vitalkey.adapters.db.schema import measure_groups, measures
from vitalkey.adapters.db.statements import Columns, Db, Row, Sql, at, at_or_none, core, us
from vitalkey.domain.health import Attrib, Category, Measure, MeasureFilter, MeasureGroup, MeasureValue, Page, Window

_g = measure_groups.c
_m = measures.c
_GROUP_COLUMNS = ("account_id", "date", "timezone", "attrib", "category", "deviceid", "comment", "created", "modified")
ADD = core(insert(measure_groups).values({name: bindparam(name) for name in _GROUP_COLUMNS}).returning(_g.grpid))
ADD_MEASURE = core(
    insert(measures).values({name: bindparam(name) for name in ("grpid", "position", "type", "value", "unit")})
)
_live = (_g.grpid == bindparam("grpid"), _g.account_id == bindparam("account_id"), _g.deleted.is_(None))
REPLACE = core(
    update(measure_groups)
    .where(*_live)
    .values(
        date=bindparam("date"),
        timezone=bindparam("timezone"),
        comment=bindparam("comment"),
        modified=bindparam("modified"),
    )
)
DELETE = tombstone(measure_groups, _g.grpid, comment=None)
FORGET_MEASURES = core(delete(measures).where(_m.grpid == bindparam("grpid")))
# PostgreSQL: a batch's groups in one INSERT from arrays — one round trip and one small result, where
# a statement per group cost a round trip each (half of an ingested batch's time) and an
# executemany with RETURNING kept a result per group (the ingesting processes grew past 100 MB).
# Ids are drawn in the arrays' order, so the sorted ids are the groups' ids in order.
ADD_FROM_ARRAYS = Sql(
    f"INSERT INTO measure_groups ({', '.join(_GROUP_COLUMNS)}) SELECT * FROM unnest("
    "CAST(:account_id AS integer[]), CAST(:date AS bigint[]), CAST(:timezone AS text[]), "
    "CAST(:attrib AS integer[]), CAST(:category AS integer[]), CAST(:deviceid AS text[]), "
    "CAST(:comment AS text[]), CAST(:created AS bigint[]), CAST(:modified AS bigint[])) RETURNING grpid"
)
GET = core(
    select(measure_groups, _m.type, _m.value, _m.unit)
    .select_from(measure_groups.outerjoin(measures, _m.grpid == _g.grpid))
    .where(*_live)
    .order_by(_m.position)
)


def _type_params(count: int) -> list[Any]:
    return [bindparam(f"type{index}") for index in range(count)]


def _find(variant: Variant, terms: list[ColumnElement[bool]]) -> Sql:
    """The page of groups (its filters and limit applied to groups), then their measures."""
    include_deleted, type_count, by_category = variant[5], variant[6], variant[7]
    if by_category:
        terms.append(_g.category == bindparam("category"))
    if type_count:
        wanted = measures.alias("wanted")
        holds = exists(
            select(literal(1)).where(wanted.c.grpid == _g.grpid, wanted.c.type.in_(_type_params(type_count)))
        )
        terms.append(or_(_g.deleted.is_not(None), holds) if include_deleted else holds)
    page = select(measure_groups).where(*terms).order_by(_g.grpid).limit(bindparam("limit")).subquery("g")
    joined = [_m.grpid == page.c.grpid]
    if type_count:
        joined.append(_m.type.in_(_type_params(type_count)))
    return core(
        select(page, _m.type, _m.value, _m.unit)
        .select_from(page.outerjoin(measures, and_(*joined)))
        .order_by(page.c.grpid, _m.position)
    )


FIND = Listing(measure_groups, _g.grpid, moment=_g.date, build=_find)

# The dashboard's reads: (group, date, zone, type, value, unit) rows of live groups, on
# ix_measure_groups_account_date, joined to their measures by the primary key of ``measures``.
# A year's page read ~4,000 measure rows as 1,200 groups through ``find`` (13 ms of its 70 on
# SQLite: most of it building the groups); these rows are read into small values instead.
_dated = (
    _g.account_id == bindparam("account_id"),
    _g.deleted.is_(None),
    _g.category == bindparam("category"),
    _g.date >= bindparam("start"),
    _g.date <= bindparam("end"),
)
_value_columns = (_g.grpid, _g.date, _g.timezone, _m.type, _m.value, _m.unit)
_VALUES: dict[int, Sql] = {}  # by the number of types asked for
LATEST_VALUE = core(
    select(*_value_columns)
    .select_from(measure_groups.join(measures, _m.grpid == _g.grpid))
    .where(*_dated, _m.type == bindparam("type"))
    .order_by(_g.date.desc(), _g.grpid.desc())
    .limit(1)
)
LATEST_TIMEZONE = core(
    select(_g.timezone)
    .where(_g.account_id == bindparam("account_id"), _g.deleted.is_(None))
    .order_by(_g.date.desc(), _g.grpid.desc())
    .limit(1)
)


def values_statement(type_count: int) -> Sql:
    statement = _VALUES.get(type_count)
    if statement is None:
        statement = _VALUES[type_count] = core(
            select(*_value_columns)
            .select_from(measure_groups.join(measures, _m.grpid == _g.grpid))
            .where(*_dated, _m.type.in_(_type_params(type_count)))
            .order_by(_g.date, _g.grpid, _m.position)
        )
    return statement


class SqlMeasureGroups:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, group: MeasureGroup) -> int:
        return self.add_many([group])[0]

    def add_many(self, groups: Sequence[MeasureGroup]) -> list[int]:
        if not groups:
            return []
        new = [_new_group(group) for group in groups]
        if self.db.sqlite:
            grpids = [_stored(self.db.one(ADD, params, first_int)) for params in new]
        else:
            columns = {name: [params[name] for params in new] for name in _GROUP_COLUMNS}
            grpids = sorted(self.db.all(ADD_FROM_ARRAYS, columns, first_int))
        rows = [
            {"grpid": grpid, "position": position, "type": m.type, "value": m.value, "unit": m.unit}
            for grpid, group in zip(grpids, groups, strict=True)
            for position, m in enumerate(group.measures)
        ]
        self.db.run_many(ADD_MEASURE, rows)
        return grpids

    def get(self, account_id: int, grpid: int) -> MeasureGroup | None:
        groups = _groups(self.db.all(GET, {"account_id": account_id, "grpid": grpid}, _row))
        return groups[0] if groups else None

    def replace(self, group: MeasureGroup) -> bool:
        params = {
            "grpid": group.grpid,
            "account_id": group.account_id,
            "date": us(group.date),
            "timezone": group.timezone,
            "comment": group.comment,
            "modified": us(group.modified),
        }
        if self.db.run(REPLACE, params) != 1:
            return False
        self.db.run(FORGET_MEASURES, {"grpid": group.grpid})
        self._add_measures(group.grpid, group.measures)
        return True

    def delete(self, account_id: int, grpid: int, now: datetime) -> bool:
        if self.db.run(DELETE, {"account_id": account_id, "grpid": grpid, "now": us(now)}) != 1:
            return False
        self.db.run(FORGET_MEASURES, {"grpid": grpid})
        return True

    def find(
        self, account_id: int, window: Window, wanted: MeasureFilter, page: Page, *, include_deleted: bool = False
    ) -> list[MeasureGroup]:
        types = sorted(wanted.types)
        variant = FIND.variant(window, include_deleted, len(types), wanted.category is not None)
        params = FIND.params(account_id, window, page)
        params.update({f"type{index}": code for index, code in enumerate(types)})
        if wanted.category is not None:
            params["category"] = wanted.category.value
        return _groups(self.db.all(FIND.statement(variant), params, _row))

    def values(
        self, account_id: int, start: datetime, end: datetime, types: frozenset[int], category: Category
    ) -> list[MeasureValue]:
        if not types:
            return []
        params = _dated_params(account_id, start, end, category)
        params.update({f"type{index}": code for index, code in enumerate(sorted(types))})
        statement = values_statement(len(types))
        rows = self.db.all(statement, params, _as_is)
        if not rows:
            return []
        c = statement.columns
        grpid, date, timezone, kind, value, unit = (
            c[name] for name in ("grpid", "date", "timezone", "type", "value", "unit")
        )
        # A group's rows share its date, and values repeat (a pulse, a pressure): each date and
        # each value made once (a year's 3,100 rows: 5.7 → 3 ms).
        moments: dict[int, datetime] = {}
        reals: dict[tuple[int, int], Decimal] = {}
        found = []
        for row in rows:
            moment = moments.get(row[date])
            if moment is None:
                moment = moments[row[date]] = at(row[date])
            real = reals.get((row[value], row[unit]))
            if real is None:
                real = reals[row[value], row[unit]] = Decimal(row[value]).scaleb(row[unit])
            found.append(MeasureValue(row[grpid], moment, row[timezone], row[kind], real))
        return found

    def latest_values(
        self, account_id: int, start: datetime, end: datetime, types: frozenset[int], category: Category
    ) -> list[MeasureValue]:
        params = _dated_params(account_id, start, end, category)
        found = (self.db.one(LATEST_VALUE, {**params, "type": code}, _value) for code in sorted(types))
        return [value for value in found if value is not None]

    def latest_timezone(self, account_id: int) -> str | None:
        return self.db.one(LATEST_TIMEZONE, {"account_id": account_id}, lambda row, c: str(row[0]))

    def _add_measures(self, grpid: int, group_measures: tuple[Measure, ...]) -> None:
        rows = [
            {"grpid": grpid, "position": position, "type": m.type, "value": m.value, "unit": m.unit}
            for position, m in enumerate(group_measures)
        ]
        self.db.run_many(ADD_MEASURE, rows)


def _stored(grpid: int | None) -> int:
    assert grpid is not None  # INSERT … RETURNING always answers a row
    return grpid


def _new_group(group: MeasureGroup) -> dict[str, Any]:
    return {
        "account_id": group.account_id,
        "date": us(group.date),
        "timezone": group.timezone,
        "attrib": group.attrib.value,
        "category": group.category.value,
        "deviceid": device_param(group.deviceid),
        "comment": group.comment,
        "created": us(group.created),
        "modified": us(group.modified),
    }


def _row(row: Row, c: Columns) -> tuple[Row, Columns]:
    return row, c


def _groups(rows: list[tuple[Row, Columns]]) -> list[MeasureGroup]:
    """Rows of a group and one of its measures (none for a tombstone), a group's rows together,
    as groups holding their measures in order (each group made once: this is getmeas' loop)."""
    firsts: list[tuple[Row, Columns]] = []
    held: list[list[Measure]] = []
    last = None
    for row, c in rows:
        grpid = row[c["grpid"]]
        if grpid != last:
            last = grpid
            firsts.append((row, c))
            held.append([])
        kind = row[c["type"]]
        if kind is not None:
            held[-1].append(Measure(kind, row[c["value"]], row[c["unit"]]))
    return [_group(row, c, tuple(kept)) for (row, c), kept in zip(firsts, held, strict=True)]


def _group(row: Row, c: Columns, group_measures: tuple[Measure, ...]) -> MeasureGroup:
    return MeasureGroup(
        grpid=int(row[c["grpid"]]),
        account_id=int(row[c["account_id"]]),
        date=at(row[c["date"]]),
        timezone=row[c["timezone"]],
        attrib=Attrib(row[c["attrib"]]),
        category=Category(row[c["category"]]),
        measures=group_measures,
        created=at(row[c["created"]]),
        modified=at(row[c["modified"]]),
        deviceid=device_of(row[c["deviceid"]]),
        comment=row[c["comment"]],
        deleted=at_or_none(row[c["deleted"]]),
    )


def _dated_params(account_id: int, start: datetime, end: datetime, category: Category) -> dict[str, Any]:
    return {"account_id": account_id, "category": category.value, "start": us(start), "end": us(end)}


def _as_is(row: Row, c: Columns) -> Row:
    return row


def _value(row: Row, c: Columns) -> MeasureValue:
    return MeasureValue(
        row[c["grpid"]],
        at(row[c["date"]]),
        row[c["timezone"]],
        row[c["type"]],
        Decimal(row[c["value"]]).scaleb(row[c["unit"]]),
    )
