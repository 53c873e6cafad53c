"""The migrations build exactly the schema in code, on both engines; repositories behave alike."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from vitalkey.adapters.db import migrate
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.engine import make_engine
from vitalkey.container import Container
from vitalkey.domain.accounts import Profile, Sex, Units
from vitalkey.domain.apps import ClientType
from vitalkey.flows.clients import NewClient

PROFILE = Profile("Ann", "Lee", date(1990, 5, 1), Sex.FEMALE, 168.0, Units.METRIC)


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


def test_an_apps_last_use_is_kept_to_the_minute(container: Container) -> None:
    """A partner refreshing often does not rewrite the consent on every grant."""
    registered = container.apps.register(
        NewClient("Portal", ClientType.CONFIDENTIAL, ("https://p.example/cb",), ("user.metrics",))
    )
    client_id, now = registered.app.client_id, container.clock.now()
    precision = timedelta(minutes=1)
    with container.uow.begin() as tx:
        account = tx.accounts.create("ann@example.org", "ann@example.org", "en", PROFILE, "2026-01", now)
        tx.consents.allow(account.id, client_id, ("user.metrics",), now)

    def last_used_after(moment: datetime) -> datetime | None:
        with container.uow.begin() as tx:
            tx.consents.used(account.id, client_id, moment, precision)
            consent = tx.consents.get(account.id, client_id)
        assert consent is not None
        return consent.last_used_at

    assert last_used_after(now) == now
    assert last_used_after(now + timedelta(seconds=59)) == now
    assert last_used_after(now + timedelta(seconds=60)) == now + timedelta(seconds=60)
