"""Fixtures of the portal's tests: its database on SQLite and PostgreSQL, its settings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text

from tests.conftest import new_pg_database
from vitalkey_portal.db import migrate
from vitalkey_portal.db import tables as t
from vitalkey_portal.db.engine import make_engine
from vitalkey_portal.db.store import Store

SECRET = "portal-test-secret-0123456789abcdef"


@pytest.fixture(scope="session")
def portal_pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for the portal's tests, migrated once."""
    for url in new_pg_database("portal_test"):
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


def truncate(url: str) -> None:
    engine = make_engine(url)
    names = ", ".join(f'"{table.name}"' for table in t.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def portal_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated portal database on each engine."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        return url
    url = request.getfixturevalue("portal_pg_database")
    truncate(url)
    return url


@pytest.fixture
def portal_engine(portal_database_url: str) -> Iterator[Engine]:
    engine = make_engine(portal_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(portal_engine: Engine) -> Store:
    return Store(portal_engine, SECRET)


def add_user(engine: Engine, username: str = "ann", timezone: str = "Europe/Paris") -> int:
    """A portal user row (accounts.py is another module's: only the row is needed here)."""
    with engine.begin() as conn:
        new_id: int = conn.execute(
            insert(t.users).values(
                username=username,
                display_name=username.title(),
                password_hash="-",
                timezone=timezone,
                created=datetime.now(UTC),
            )
        ).inserted_primary_key[0]
    return new_id
