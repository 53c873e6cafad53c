"""The health data's read paths use the indexes made for them, on both engines: each ``find``,
``overlapping`` and ``between`` statement, as the repositories run it, is explained on a database
holding a year of data of many accounts; a read must search an index, never scan a table.

SQLite is explained as it runs in production (no ANALYZE: the planner's own estimates);
PostgreSQL after ANALYZE, as autovacuum leaves it."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, Table, text

from tests.conftest import new_pg_database
from tests.storage.conftest import NOW
from vitalkey.adapters.db import migrate
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.engine import is_sqlite, make_engine
from vitalkey.adapters.db.repositories import activity, devices, heart, intraday, measures, receipts, sleep, workouts
from vitalkey.adapters.db.repositories.health_rows import Listing, day_param
from vitalkey.adapters.db.statements import Sql, us
from vitalkey.domain.health import Page, Window

ACCOUNTS = 60
DAYS = 365
ACCOUNT = 7  # the account whose data is read
FIRST_DAY = date(2026, 1, 1)
START = NOW - timedelta(days=DAYS)
SIXTY_DAYS = Window(start=NOW - timedelta(days=90), end=NOW - timedelta(days=30))
SIXTY_LOCAL_DAYS = Window(first_day=FIRST_DAY + timedelta(days=60), last_day=FIRST_DAY + timedelta(days=120))
SINCE = Window(updated_since=NOW - timedelta(days=2))
PAGE = Page(0, 200)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A database of its own, filled once for the module (the shared ones are emptied per test)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("indexes") / "vitalkey.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        urls: Iterator[str] = iter([f"sqlite:///{path}"])
    else:
        urls = new_pg_database("vk_indexes")
    for url in urls:
        engine = make_engine(url)
        migrate.upgrade(engine)
        fill(engine)
        yield engine
        engine.dispose()


def fill(engine: Engine) -> None:
    """Every kind of record, per account and day, written in time order across accounts (as
    they arrive), so that an account's rows are spread over each table."""
    ids = range(1, ACCOUNTS + 1)
    lifetime = {"created": NOW, "modified": NOW, "deleted": None}
    rows: dict[Table, list[dict[str, Any]]] = {table: [] for table in (
        t.accounts, t.devices, t.measure_groups, t.measures, t.activity_days, t.workouts, t.sleep_sessions,
        t.heart_recordings, t.intraday_samples, t.ingest_receipts)}  # fmt: skip
    for a in ids:
        rows[t.accounts].append({"id": a, "email": f"u{a}@example.org", "email_key": f"u{a}@example.org",
                                 "language": "en", "created_at": NOW, "updated_at": NOW})  # fmt: skip
        rows[t.devices] += [{"account_id": a, "deviceid": f"d{a}-{n}", "hash_deviceid": f"h{a}-{n}", "type": "Scale",
                             "model": "Body", "model_id": 5, "battery": "high", "timezone": "UTC",
                             "first_session": None, "last_session": None, **lifetime} for n in range(20)]  # fmt: skip
    grpid = 0
    for day in range(DAYS):
        moment, local_day = START + timedelta(days=day), FIRST_DAY + timedelta(days=day)
        changed = {**lifetime, "modified": moment}
        dated = {"date": local_day, "timezone": "UTC", "deviceid": "", **changed}
        for a in ids:
            grpid += 1
            rows[t.measure_groups].append({"grpid": grpid, "account_id": a, "date": moment, "timezone": "UTC",
                                           "attrib": 0, "category": 1, "deviceid": "", "comment": None, **changed})  # fmt: skip
            rows[t.measures] += [{"grpid": grpid, "position": p, "type": kind, "value": 7000 + p, "unit": -2}
                                 for p, kind in enumerate((1, 5, 6, 8, 76))]  # fmt: skip
            rows[t.activity_days].append({"account_id": a, "brand": 1, "is_tracker": True, "data": "{}", **dated})
            rows[t.workouts].append({"account_id": a, "category": 1, "startdate": moment, "enddate": moment,
                                     "attrib": 0, "data": "{}", **dated})  # fmt: skip
            rows[t.sleep_sessions].append({"account_id": a, "startdate": moment - timedelta(hours=8), "enddate": moment,
                                           "completed": True, "states": "[]", "series": "{}", "summary": "{}", **dated})  # fmt: skip
            rows[t.heart_recordings].append({"account_id": a, "at": moment, "timezone": "UTC", "deviceid": "",
                                             "heart_rate": 60, "afib": 0, "sampling_frequency": 300, "wearposition": 1,
                                             "systole": None, "diastole": None, "signal": "[]", **changed})  # fmt: skip
            rows[t.intraday_samples] += [{"account_id": a, "at": moment + timedelta(minutes=m), "deviceid": "d",
                                          "data": "{}"} for m in (0, 30)]  # fmt: skip
            rows[t.ingest_receipts].append({"account_id": a, "key": f"k{day}", "digest": "d", "answer": "{}",
                                            "created": moment})  # fmt: skip
    with engine.begin() as conn:
        for table, values in rows.items():
            conn.execute(table.insert(), values)
        if not is_sqlite(engine):
            conn.execute(text("ANALYZE"))


@dataclass(frozen=True)
class ReadPath:
    name: str
    sql: Sql
    params: dict[str, Any]
    table: str
    indexes: tuple[str, ...]  # one of them must be searched


def listing(name: str, of: Listing, window: Window, index: str, *, include_deleted: bool = False) -> ReadPath:
    sql = of.statement(of.variant(window, include_deleted))
    return ReadPath(name, sql, of.params(ACCOUNT, window, PAGE), of.table.name, (index,))


def measure_find(name: str, window: Window, index: str, types: tuple[int, ...] = (), **flags: bool) -> ReadPath:
    of = measures.FIND
    sql = of.statement(
        of.variant(window, flags.get("include_deleted", False), len(types), flags.get("category", False))
    )
    params = {**of.params(ACCOUNT, window, PAGE), "category": 1, **{f"type{n}": kind for n, kind in enumerate(types)}}
    return ReadPath(name, sql, params, "measure_groups", (index,))


ACCOUNT_DAY = ("account_id", "date")
DASHBOARD_SPAN = {"account_id": ACCOUNT, "category": 1, "start": us(NOW - timedelta(days=60)), "end": us(NOW)}
READ_PATHS = [
    measure_find("getmeas, 60 days", SIXTY_DAYS, "ix_measure_groups_account_date"),
    measure_find("getmeas, 60 days, types", SIXTY_DAYS, "ix_measure_groups_account_date", (1, 8), category=True),
    measure_find("getmeas, everything", Window(), "ix_measure_groups_account_"),
    measure_find("getmeas, lastupdate", SINCE, "ix_measure_groups_account_modified", include_deleted=True),
    measure_find("getmeas, lastupdate, types", SINCE, "ix_measure_groups_account_modified", (6,), include_deleted=True),
    ReadPath(
        "measure group",
        measures.GET,
        {"account_id": ACCOUNT, "grpid": 100},
        "measure_groups",
        ("pk_measure_groups", "measure_groups USING INTEGER PRIMARY KEY"),
    ),
    ReadPath(
        "the dashboard's values",
        measures.values_statement(3),
        {**DASHBOARD_SPAN, "type0": 1, "type1": 6, "type2": 9},
        "measure_groups",
        ("ix_measure_groups_account_date",),
    ),
    ReadPath(
        "the dashboard's latest value",
        measures.LATEST_VALUE,
        {**DASHBOARD_SPAN, "type": 8},
        "measure_groups",
        ("ix_measure_groups_account_date",),
    ),
    ReadPath(
        "the dashboard's time zone",
        measures.LATEST_TIMEZONE,
        {"account_id": ACCOUNT},
        "measure_groups",
        ("ix_measure_groups_account_date",),
    ),
    ReadPath(
        "activity, the dashboard's steps",
        activity.STEPS,
        {
            "account_id": ACCOUNT,
            "first_day": day_param(SIXTY_LOCAL_DAYS.first_day),
            "last_day": day_param(SIXTY_LOCAL_DAYS.last_day),
        },
        "activity_days",
        ("ix_activity_days_account_date", "uq_activity_days_live_day"),
    ),
    listing(
        "activity, 60 days", activity.FIND, SIXTY_LOCAL_DAYS, "ix_activity_days_account_date", include_deleted=True
    ),
    ReadPath(
        "activity, 60 live days",
        activity.FIND.statement(activity.FIND.variant(SIXTY_LOCAL_DAYS, False)),
        activity.FIND.params(ACCOUNT, SIXTY_LOCAL_DAYS, PAGE),
        "activity_days",
        ("ix_activity_days_account_date", "uq_activity_days_live_day"),
    ),
    listing("activity, lastupdate", activity.FIND, SINCE, "ix_activity_days_account_modified", include_deleted=True),
    listing("workouts, 60 days", workouts.FIND, SIXTY_LOCAL_DAYS, "ix_workouts_account_date"),
    listing("workouts, lastupdate", workouts.FIND, SINCE, "ix_workouts_account_modified", include_deleted=True),
    listing("sleep, 60 days", sleep.FIND, SIXTY_LOCAL_DAYS, "ix_sleep_sessions_account_date"),
    listing("sleep, by end", sleep.FIND, SIXTY_DAYS, "ix_sleep_sessions_account_end"),
    listing("sleep, lastupdate", sleep.FIND, SINCE, "ix_sleep_sessions_account_modified", include_deleted=True),
    ReadPath(
        "sleep, overlapping",
        sleep.OVERLAPPING,
        {"account_id": ACCOUNT, "start": us(NOW - timedelta(days=40)), "end": us(NOW - timedelta(days=39))},
        "sleep_sessions",
        ("ix_sleep_sessions_account_end",),
    ),
    ReadPath(
        "sleep, the dashboard's nights",
        sleep.NIGHTS,
        {
            "account_id": ACCOUNT,
            "first_day": day_param(SIXTY_LOCAL_DAYS.first_day),
            "last_day": day_param(SIXTY_LOCAL_DAYS.last_day),
        },
        "sleep_sessions",
        ("ix_sleep_sessions_account_date",),
    ),
    listing("heart, 60 days", heart.FIND, SIXTY_DAYS, "ix_heart_recordings_account_at"),
    listing("heart, lastupdate", heart.FIND, SINCE, "ix_heart_recordings_account_modified", include_deleted=True),
    ReadPath(
        "intraday",
        intraday.BETWEEN,
        {
            "account_id": ACCOUNT,
            "start": us(NOW - timedelta(days=40)),
            "end": us(NOW - timedelta(days=39)),
            "limit": 500,
        },
        "intraday_samples",
        ("pk_intraday_samples", "intraday_samples USING PRIMARY KEY"),
    ),
    ReadPath("devices", devices.FOR_ACCOUNT, {"account_id": ACCOUNT}, "devices", ("ix_devices_account",)),
    ReadPath(
        "device",
        devices.GET,
        {"account_id": ACCOUNT, "deviceid": "d7"},
        "devices",
        ("uq_devices_deviceid", "sqlite_autoindex_devices_1"),
    ),
    ReadPath(
        "receipts, prune",
        receipts.PRUNE,
        {"before": us(START + timedelta(days=3))},
        "ingest_receipts",
        ("ix_ingest_receipts_created",),
    ),
]


def explain(engine: Engine, path: ReadPath) -> str:
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        params = {**path.sql.defaults, **path.params}
        if is_sqlite(engine):
            cursor.execute(f"EXPLAIN QUERY PLAN {path.sql.named}", params)
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute(f"EXPLAIN {path.sql.pyformat}", params)
        return "\n".join(str(row[0]) for row in cursor.fetchall())
    finally:
        connection.rollback()
        connection.close()


def scans(engine: Engine, plan: str, table: str) -> list[str]:
    """The plan's lines that read a whole table (or a whole index of it)."""
    pattern = rf"^\s*SCAN {table}\b" if is_sqlite(engine) else rf"Seq Scan on {table}\b"
    return [line for line in plan.splitlines() if re.search(pattern, line.strip() if is_sqlite(engine) else line)]


@pytest.mark.parametrize("path", READ_PATHS, ids=[path.name for path in READ_PATHS])
def test_each_read_path_searches_its_index(engine: Engine, path: ReadPath) -> None:
    plan = explain(engine, path)
    assert not scans(engine, plan, path.table), plan
    assert not scans(engine, plan, "measures"), plan  # a group's measures: by the primary key
    assert any(index in plan for index in path.indexes), plan


def test_the_measures_of_a_page_are_read_by_their_primary_key(engine: Engine) -> None:
    plan = explain(engine, measure_find("getmeas", SIXTY_DAYS, "ix_measure_groups_account_date"))
    assert ("SEARCH measures USING PRIMARY KEY" if is_sqlite(engine) else "pk_measures") in plan, plan
