"""The migrations build exactly the schema in code, on both engines; repositories behave alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from vitalkey.adapters.db import migrate
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.engine import make_engine
from vitalkey.adapters.ratelimit import SqlRateLimiter
from vitalkey.container import Container


def test_migrations_match_the_schema_in_code(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert migrate.current(engine) == migrate.head() == migrate.HEAD
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), t.metadata)
        assert diff == []
        migrate.upgrade(engine)  # idempotent
    finally:
        engine.dispose()


def test_timestamps_round_trip_exactly(container: Container) -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    with container.uow.begin() as tx:
        tx.audit.record("test.event", moment, None, note="x")
    with container.engine.connect() as conn:
        assert conn.execute(select(t.audit.c.at)).scalar_one() == moment


def test_counters_count_per_window(container: Container) -> None:
    limiter = SqlRateLimiter()
    now = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    with container.uow.begin() as tx:
        results = [limiter.hit(tx, "k", 2, 60, now) for _ in range(3)]
    assert results == [True, True, False]
    with container.uow.begin() as tx:
        assert limiter.hit(tx, "k", 2, 60, now + timedelta(seconds=30))  # a new window


def test_a_failed_transaction_leaves_nothing(container: Container) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        with container.uow.begin() as tx:
            tx.audit.record("never", now)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with container.engine.connect() as conn:
        assert conn.execute(select(t.audit)).first() is None
