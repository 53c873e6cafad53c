"""How the repositories talk to the database: statements run on the DBAPI cursor of the unit's
connection (the one SQLAlchemy's pool lends), rows read by column name.

Two kinds of statement, both :class:`Sql`, both run the same way on the same cursor (so inside
the unit's transaction, and inside its savepoint of a group commit):

- hand-written SQL (:meth:`Sql.__init__`), for the measured hot paths: SQLAlchemy Core's
  per-statement work cost more than the statements themselves, and the SQLite writer lock is
  held meanwhile. Written once for both engines (``:name`` parameters; SQLite and PostgreSQL
  both have RETURNING and ON CONFLICT);
- SQLAlchemy Core statements on the tables of :mod:`vitalkey.adapters.db.schema`
  (:func:`core`), for everything else, compiled once per dialect on first use.

Values go in and come out as the columns store them: timestamps are integer microseconds (the
schema's ``UtcTimestamp``, see :func:`us` and :func:`at`), JSON is text in, dates are ISO text
in; the repositories convert.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ClauseElement
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.compiler import SQLCompiler

T = TypeVar("T")
Row = Sequence[Any]
Columns = dict[str, int]  # a statement's column names → their position in its rows
Read = Callable[[Row, Columns], T]  # makes a value from one row

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAMED = re.compile(r"(?<![:\w]):(\w+)")


def us(moment: datetime) -> int:
    """A UTC timestamp as integer microseconds (exact; the same on both engines)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def at(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, UTC)


def at_or_none(value: int | None) -> datetime | None:
    return None if value is None else at(value)


class Sql:
    """One statement, in the parameter style of each driver (SQLite's takes ``:name``,
    psycopg's ``%(name)s``), and the positions of its columns by name, learnt from the cursor
    the first time it runs (so reading a row by name costs one dict look-up per column)."""

    __slots__ = ("columns", "defaults", "named", "pyformat")

    def __init__(self, text: str) -> None:
        self.named = text
        self.pyformat = _NAMED.sub(r"%(\1)s", text.replace("%", "%%"))
        self.defaults: dict[str, Any] = {}  # the values of a Core statement's literals
        self.columns: Columns = {}


class _CoreSql(Sql):
    """A Core statement: compiled for each dialect the first time it runs (``named`` and
    ``pyformat`` are then set; until then reading them lands in ``__getattr__``), so that
    importing the repositories compiles nothing."""

    __slots__ = ("for_postgresql", "for_sqlite")

    def __init__(self, for_sqlite: ClauseElement, for_postgresql: ClauseElement) -> None:
        # not Sql.__init__: the texts are set on first use
        self.for_sqlite = for_sqlite
        self.for_postgresql = for_postgresql
        self.columns = {}

    def __getattr__(self, name: str) -> Any:
        if name not in ("named", "pyformat", "defaults"):
            raise AttributeError(name)
        named = self.for_sqlite.compile(dialect=_SQLITE)
        pyformat = self.for_postgresql.compile(dialect=_POSTGRESQL)
        assert isinstance(named, SQLCompiler) and isinstance(pyformat, SQLCompiler)  # statements, not DDL
        self.named, self.pyformat = str(named), str(pyformat)
        self.defaults = {**_literals(named), **_literals(pyformat)}
        return getattr(self, name)


_SQLITE = sqlite.dialect(paramstyle="named")
_POSTGRESQL = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]


def _literals(compiled: SQLCompiler) -> dict[str, Any]:
    """The values Core bound for the literals of a statement (its ``bindparam`` are the caller's)."""
    return {name: value for name, value in compiled.params.items() if not compiled.binds[name].required}


def core(statement: ClauseElement, postgresql: ClauseElement | None = None) -> Sql:
    """A SQLAlchemy Core statement to run like hand-written SQL (its parameters are its
    ``bindparam`` names); ``postgresql``: its PostgreSQL form, where they differ (ON CONFLICT
    is built with each dialect's ``insert``)."""
    return _CoreSql(statement, statement if postgresql is None else postgresql)


class Db:
    """Runs statements on one DBAPI cursor of the unit's connection. ``memo`` holds what the
    transaction read and may read again (the apps: every token request looks its client up),
    shared by the units of a group commit; repositories forget what they change. ``enqueued``:
    the unit queued mail, a text or a notification (their senders are woken once it commits)."""

    __slots__ = ("cursor", "enqueued", "memo", "sqlite")

    def __init__(self, connection: Any, *, sqlite: bool, memo: dict[str, Any] | None = None) -> None:
        self.cursor = connection.cursor()
        self.sqlite = sqlite
        self.memo: dict[str, Any] = {} if memo is None else memo
        self.enqueued = False

    def _execute(self, sql: Sql, params: dict[str, Any]) -> None:
        if sql.defaults:
            params = {**sql.defaults, **params}
        self.cursor.execute(sql.named if self.sqlite else sql.pyformat, params)

    def _columns(self, sql: Sql) -> Columns:
        sql.columns = {column[0]: position for position, column in enumerate(self.cursor.description)}
        return sql.columns

    def one(self, sql: Sql, params: dict[str, Any], read: Read[T]) -> T | None:
        """``read`` of the first row, or None when there is none."""
        self._execute(sql, params)
        row = self.cursor.fetchone()
        return None if row is None else read(row, sql.columns or self._columns(sql))

    def all(self, sql: Sql, params: dict[str, Any], read: Read[T]) -> list[T]:
        self._execute(sql, params)
        rows = self.cursor.fetchall()
        columns = sql.columns or self._columns(sql)
        return [read(row, columns) for row in rows]

    def run(self, sql: Sql, params: dict[str, Any]) -> int:
        """The number of rows the statement changed."""
        self._execute(sql, params)
        return int(self.cursor.rowcount)

    def one_each(self, sql: Sql, rows: Sequence[dict[str, Any]], read: Read[T]) -> list[T]:
        """``read`` of the one row a statement with RETURNING answers, for each parameter set, in
        order. PostgreSQL: one ``executemany`` (psycopg pipelines it: one round trip for a whole
        ingested batch, where a statement per group cost a round trip each, half of the batch's
        time); SQLite: one statement per set (no round trips to save)."""
        if not rows:
            return []
        if sql.defaults:
            rows = [{**sql.defaults, **params} for params in rows]
        if self.sqlite:
            return [self._read_one(sql, params, read) for params in rows]
        self.cursor.executemany(sql.pyformat, rows, returning=True)
        found: list[T] = []
        while True:
            row = self.cursor.fetchone()
            assert row is not None  # RETURNING answers a row per set
            found.append(read(row, sql.columns or self._columns(sql)))
            if not self.cursor.nextset():
                return found

    def _read_one(self, sql: Sql, params: dict[str, Any], read: Read[T]) -> T:
        self.cursor.execute(sql.named, params)
        row = self.cursor.fetchone()
        assert row is not None  # RETURNING answers a row per set
        return read(row, sql.columns or self._columns(sql))

    def run_many(self, sql: Sql, rows: Sequence[dict[str, Any]]) -> None:
        """The statement once per parameter set, in one call (the drivers batch it: an ingested
        batch's measures are one round trip, not one per measure)."""
        if not rows:
            return
        if sql.defaults:
            rows = [{**sql.defaults, **params} for params in rows]
        self.cursor.executemany(sql.named if self.sqlite else sql.pyformat, rows)
