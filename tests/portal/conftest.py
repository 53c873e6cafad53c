"""Fixtures of the portal's tests: its database on SQLite and PostgreSQL, its settings."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, text

from tests.conftest import LiveServer, Mailbox, free_port, live_environment, new_pg_database, start_server, stop_server
from tests.e2e.live_oauth import Partner, register
from vitalkey_portal.db import migrate
from vitalkey_portal.db import tables as t
from vitalkey_portal.db.engine import make_engine
from vitalkey_portal.db.store import Store

SECRET = "portal-test-secret-0123456789abcdef"
SCOPES = ("user.info", "user.metrics", "user.activity")


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


# A live VitalKey server per test module, the portal registered with it ------------------------
@pytest.fixture(scope="module")
def vitalkey_env() -> dict[str, str]:
    """More of the live VitalKey's settings (a module may override this fixture)."""
    return {}


@pytest.fixture(scope="module")
def portal_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def vitalkey(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    smtp_server: tuple[Mailbox, int],
    vitalkey_env: dict[str, str],
) -> Iterator[tuple[LiveServer, str]]:
    """``vitalkey serve`` with callbacks allowed to plain http on 127.0.0.1 (dev mode), and its
    database URL."""
    base = tmp_path_factory.mktemp("vitalkey")
    database = base / "vitalkey.sqlite3"
    shutil.copy(sqlite_template, database)
    url = f"sqlite:///{database}"
    env = live_environment(
        url,
        smtp_server[1],
        VITALKEY_NOTIFY_ALLOW_HTTP="true",
        VITALKEY_NOTIFY_ALLOW_LOCAL="true",
        VITALKEY_NOTIFY_COALESCE_S="0.2",
        **vitalkey_env,
    )
    server = start_server(base / "live", free_port(), env)
    yield server, url
    stop_server(server)


@pytest.fixture(scope="module")
def partner(vitalkey: tuple[LiveServer, str], portal_port: int) -> Partner:
    """The portal, registered at VitalKey as a confidential client with its callback."""
    server, url = vitalkey
    redirect = f"http://127.0.0.1:{portal_port}/link-device/vitalkey/callback"
    return register(server, url, name="Health2Go", redirect_uri=redirect, scopes=SCOPES)


@pytest.fixture
def make_account(vitalkey: tuple[LiveServer, str], smtp_server: tuple[Mailbox, int]) -> Iterator[Callable[[str], Any]]:
    """``make_account(tag)``: a new VitalKey account (tests/portal/live.py's VitalKeyUser), its
    browser closed afterwards."""
    from tests.portal.live import vitalkey_user

    made: list[Any] = []

    def make(tag: str) -> Any:
        account = vitalkey_user(vitalkey[0], smtp_server[0], tag)
        made.append(account)
        return account

    yield make
    for account in made:
        account.browser.close()
