"""The unit of work on PostgreSQL runs work again whole when the database aborts its transaction
for a conflict (40001, 40P01): a real deadlock, injected failures, the bound, and what is never
retried (other errors, a unit that already committed a write)."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY

from tests.pg_faults import Faults, migrated_database
from vitalkey.adapters.db.engine import make_engine
from vitalkey.adapters.db.uow import SqlTransaction, SqlUnitOfWork
from vitalkey.ports import DatabaseBusy, Pending


@pytest.fixture(scope="module")
def retry_database() -> Iterator[str]:
    yield from migrated_database("vk_retry_uow")


@pytest.fixture
def faults(retry_database: str) -> Iterator[Faults]:
    injected = Faults(retry_database)
    with injected.engine.connect() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS probe, probe_first")
        conn.exec_driver_sql("CREATE TABLE probe (id int PRIMARY KEY, n int NOT NULL)")
        conn.exec_driver_sql("CREATE TABLE probe_first (id int PRIMARY KEY)")
    yield injected
    injected.close()


@pytest.fixture
def uow(retry_database: str) -> Iterator[SqlUnitOfWork]:
    engine = make_engine(retry_database)
    yield SqlUnitOfWork(engine)
    engine.dispose()


def execute(tx: SqlTransaction, statement: str, *params: Any) -> Any:
    return tx.db.cursor.execute(statement, params)


def retries(sqlstate: str) -> float:
    return REGISTRY.get_sample_value("vitalkey_db_retries_total", {"sqlstate": sqlstate}) or 0.0


def test_a_real_deadlock_is_run_again_and_both_units_complete(uow: SqlUnitOfWork, faults: Faults) -> None:
    with faults.engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO probe VALUES (1, 0), (2, 0)")
    both_hold_one_row = threading.Barrier(2, timeout=10)
    runs: Counter[int] = Counter()
    before = retries("40P01")

    def cross(first: int, second: int) -> None:
        runs[first] += 1
        with uow.begin() as tx:
            execute(tx, "SET LOCAL deadlock_timeout = '20ms'")  # detected at once, not after 1 s
            execute(tx, "UPDATE probe SET n = n + 1 WHERE id = %s", first)
            if runs[first] == 1:
                both_hold_one_row.wait()
            execute(tx, "UPDATE probe SET n = n + 1 WHERE id = %s", second)

    async def together() -> None:
        await asyncio.gather(uow.run(cross, 1, 2), uow.run(cross, 2, 1))

    asyncio.run(together())
    assert sorted(runs.values()) == [1, 2]  # PostgreSQL aborted one of them, which ran again
    with faults.engine.connect() as conn:
        assert dict(conn.exec_driver_sql("SELECT id, n FROM probe").all()) == {1: 2, 2: 2}
    assert retries("40P01") == before + 1


def test_optimistic_work_runs_again_from_its_read(uow: SqlUnitOfWork, faults: Faults) -> None:
    """On PostgreSQL the read and the write share the transaction: both run again."""
    reads: list[int] = []

    def prepare() -> Pending[int]:
        with uow.read() as tx:
            reads.append(execute(tx, "SELECT count(*) FROM probe").fetchone()[0])

        def write() -> int:
            with uow.begin() as tx:
                execute(tx, "INSERT INTO probe VALUES (%s, 0)", len(reads))
            return len(reads)

        return Pending(write)

    faults.inject("probe", "40001")
    assert asyncio.run(uow.run_optimistic(prepare)) == 2
    assert reads == [0, 0] and faults.raised("probe") == 1
    assert faults.count("probe") == 1


@pytest.mark.parametrize("optimistic", [False, True])
def test_a_conflict_that_persists_surfaces_after_five_attempts(
    uow: SqlUnitOfWork, faults: Faults, optimistic: bool
) -> None:
    def insert() -> None:
        with uow.begin() as tx:
            execute(tx, "INSERT INTO probe VALUES (1, 0)")

    faults.inject("probe", "40P01", times=100)
    before = retries("40P01")
    running = uow.run_optimistic(lambda: Pending(insert)) if optimistic else uow.run(insert)
    with pytest.raises(DatabaseBusy) as raised:
        asyncio.run(running)
    assert raised.value.sqlstate == "40P01"
    assert isinstance(raised.value.__cause__, psycopg.errors.DeadlockDetected)
    assert faults.runs("probe") == 5 and faults.count("probe") == 0
    assert retries("40P01") == before + 4


def test_a_conflict_behind_another_error_is_run_again(uow: SqlUnitOfWork, faults: Faults) -> None:
    """Work that turned the failure into an error of its own: the transaction was still aborted."""

    def wrapping() -> None:
        with uow.begin() as tx:
            try:
                execute(tx, "INSERT INTO probe VALUES (1, 0)")
            except psycopg.Error as error:
                raise RuntimeError("could not store the probe") from error

    faults.inject("probe", "40001")
    asyncio.run(uow.run(wrapping))
    assert faults.runs("probe") == 2 and faults.count("probe") == 1


def test_other_failures_are_not_retried(uow: SqlUnitOfWork, faults: Faults) -> None:
    runs: list[int] = []

    def duplicate() -> None:
        runs.append(1)
        with uow.begin() as tx:
            execute(tx, "INSERT INTO probe VALUES (1, 0), (1, 0)")

    with pytest.raises(psycopg.errors.UniqueViolation):
        asyncio.run(uow.run(duplicate))
    assert runs == [1]


def test_a_unit_that_committed_a_write_is_not_run_again(uow: SqlUnitOfWork, faults: Faults) -> None:
    """Running it again would store its first transaction's writes twice."""

    def two_writes() -> None:
        with uow.begin() as tx:
            execute(tx, "INSERT INTO probe_first VALUES ((SELECT count(*) FROM probe_first))")
        with uow.begin() as tx:
            execute(tx, "INSERT INTO probe VALUES (1, 0)")

    faults.inject("probe", "40001")
    with pytest.raises(DatabaseBusy):
        asyncio.run(uow.run(two_writes))
    assert faults.runs("probe") == 1 and faults.count("probe_first") == 1
