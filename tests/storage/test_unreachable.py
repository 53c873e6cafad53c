"""Which real driver failures count as "the database cannot be reached" (and which are bugs)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, exc, text

from tests.conftest import PG_ADMIN_URL
from vitalkey.adapters.db.unavailable import reason, unreachable


def failure(action: object) -> BaseException:
    with pytest.raises(Exception) as caught:
        action()  # type: ignore[operator]
    return caught.value


def test_postgresql_refused_and_ended_connections_are_unreachable_errors_are_not() -> None:
    refused = failure(lambda: psycopg.connect("postgresql://postgres@127.0.0.1:1/x", connect_timeout=5))
    assert unreachable(refused) and reason(refused) == "psycopg.OperationalError"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin, psycopg.connect(PG_ADMIN_URL) as doomed:
        pid = doomed.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        ended = failure(lambda: doomed.execute("SELECT 1"))
        assert unreachable(ended) and reason(ended) == "psycopg.errors.AdminShutdown 57P01"
        assert unreachable(failure(lambda: doomed.execute("SELECT 1")))  # "the connection is closed"
        assert not unreachable(failure(lambda: admin.execute("SELECT 1/0")))
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/x")
    wrapped = failure(engine.connect)
    assert isinstance(wrapped, exc.OperationalError) and unreachable(wrapped)


def test_sqlite_files_that_cannot_be_opened_are_unreachable_errors_are_not(tmp_path: Path) -> None:
    missing = failure(lambda: sqlite3.connect(tmp_path / "gone" / "x.db").execute("SELECT 1"))
    assert unreachable(missing) and reason(missing) == "sqlite3.OperationalError SQLITE_CANTOPEN"
    connection = sqlite3.connect(tmp_path / "x.db")
    assert not unreachable(failure(lambda: connection.execute("SELECT * FROM nothing")))
    connection.execute("CREATE TABLE t (a UNIQUE)")
    connection.execute("INSERT INTO t VALUES (1)")
    assert not unreachable(failure(lambda: connection.execute("INSERT INTO t VALUES (1)")))
    connection.close()
    engine = create_engine(f"sqlite:///{tmp_path / 'gone' / 'x.db'}")
    assert unreachable(failure(lambda: engine.connect().execute(text("SELECT 1"))))
