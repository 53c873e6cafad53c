"""The portal's migrations make exactly db/tables.py, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from vitalkey_portal.db import migrate
from vitalkey_portal.db import tables as t


def test_migrations_match_the_tables_in_code(portal_engine: Engine) -> None:
    assert migrate.current(portal_engine) == migrate.head() == migrate.HEAD
    with portal_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), t.metadata)
    assert diff == []
    migrate.upgrade(portal_engine)  # idempotent: already at the head
    assert migrate.current(portal_engine) == migrate.HEAD


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: object) -> None:
    from vitalkey_portal.db.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/x/portal.sqlite3")
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert "links" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
