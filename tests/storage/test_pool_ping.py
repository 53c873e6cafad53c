"""Pooled PostgreSQL connections after the server ended them (a restart, an idle time-out): one
that sat idle is pinged and replaced before it is lent; one lent at once fails its unit of work
(503), and the whole pool is dropped with it, so the next unit works."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine

from tests.conftest import PG_ADMIN_URL
from vitalkey.adapters.db import engine as engines
from vitalkey.adapters.db.engine import make_engine
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.ports import StorageUnavailable

POOLED = 3


@pytest.fixture
def engine(pg_database: str) -> Iterator[Engine]:
    made = make_engine(pg_database, pool_size=POOLED)
    yield made
    made.dispose()


def fill_pool(engine: Engine) -> set[int]:
    """``POOLED`` connections opened and returned to the pool; their server process ids."""
    connections = [engine.raw_connection() for _ in range(POOLED)]
    pids = {connection.dbapi_connection.info.backend_pid for connection in connections}  # type: ignore[union-attr]
    for connection in connections:
        connection.close()
    return pids


def end_backends(pids: set[int]) -> None:
    """The server processes ended (waiting until they are gone: the signal is asynchronous)."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


def backend_pid(uow: SqlUnitOfWork) -> int:
    def read() -> int:
        with uow.read() as tx:
            tx.db.cursor.execute("SELECT pg_backend_pid()")
            return int(tx.db.cursor.fetchone()[0])

    return asyncio.run(uow.run(read))


def test_an_idle_connection_is_pinged_and_replaced(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_S", 0.0)
    uow = SqlUnitOfWork(engine)
    ended = fill_pool(engine)
    end_backends(ended)
    assert backend_pid(uow) not in ended


def test_a_connection_lent_at_once_fails_one_unit_and_the_pool_is_dropped(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_S", 3600.0)  # never pinged
    uow = SqlUnitOfWork(engine)
    ended = fill_pool(engine)
    end_backends(ended)
    with pytest.raises(StorageUnavailable):
        backend_pid(uow)
    pids = {backend_pid(uow) for _ in range(POOLED)}  # without the drop, each stale one would fail too
    assert not pids & ended


def test_connections_in_use_are_not_pinged(engine: Engine) -> None:
    """A connection returned moments ago is lent without a ping (no extra round trip)."""
    uow = SqlUnitOfWork(engine)
    backend_pid(uow)
    pings = 0
    ping = engine.dialect.do_ping

    def counted(connection: object) -> bool:
        nonlocal pings
        pings += 1
        return ping(connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    try:
        for _ in range(5):
            backend_pid(uow)
    finally:
        engine.dialect.do_ping = ping  # type: ignore[method-assign]
    assert pings == 0
