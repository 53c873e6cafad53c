"""A refusal that keeps its count (``CountedRefusal``) commits what its transaction wrote, then
raises its error; any other exception rolls the transaction back. Whether the unit of work runs
alone, in SQLite's group commit, in one optimistic transaction, or on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from vitalkey.adapters.db.engine import make_engine
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.errors import WrongCode
from vitalkey.domain.flows import CountedRefusal
from vitalkey.ports import Pending

NOW = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.fixture
def uow(database_url: str) -> Iterator[SqlUnitOfWork]:
    engine = make_engine(database_url)
    yield SqlUnitOfWork(engine)
    engine.dispose()


def committed_events(uow: SqlUnitOfWork) -> list[str]:
    with uow.engine.connect() as connection:
        return sorted(row[0] for row in connection.execute(text("SELECT event FROM audit")))


def refuse(uow: SqlUnitOfWork, event: str) -> None:
    with uow.begin() as tx:
        tx.audit.record(event, NOW)
        raise CountedRefusal(WrongCode())


def fail(uow: SqlUnitOfWork, event: str) -> None:
    with uow.begin() as tx:
        tx.audit.record(event, NOW)
        raise ValueError("not a refusal")


def test_a_counted_refusal_keeps_its_writes_and_raises_its_error(uow: SqlUnitOfWork) -> None:
    with pytest.raises(WrongCode):
        refuse(uow, "counted")
    with pytest.raises(ValueError, match="not a refusal"):
        fail(uow, "lost")
    assert committed_events(uow) == ["counted"]


def test_through_run_in_a_group_commit_or_a_worker_thread(uow: SqlUnitOfWork) -> None:
    """On SQLite the units share one batch: the refusal's savepoint is released, the failure's
    rolled back, and the others stay."""

    async def scenario() -> list[object]:
        return await asyncio.gather(
            uow.run(refuse, uow, "counted"),
            uow.run(fail, uow, "lost"),
            uow.run(refuse, uow, "counted-too"),
            return_exceptions=True,
        )

    results = asyncio.run(scenario())
    assert isinstance(results[0], WrongCode) and isinstance(results[2], WrongCode)
    assert isinstance(results[1], ValueError)
    assert committed_events(uow) == ["counted", "counted-too"]


def test_in_the_write_of_optimistic_work(uow: SqlUnitOfWork) -> None:
    def prepare() -> Pending[None]:
        return Pending(lambda: refuse(uow, "counted"))

    with pytest.raises(WrongCode):
        asyncio.run(uow.run_optimistic(prepare))
    assert committed_events(uow) == ["counted"]
