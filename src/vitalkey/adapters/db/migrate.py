"""Alembic, driven from code: no alembic.ini, the same migrations on SQLite and PostgreSQL.

Starting a server only reads the stored revision with one query; Alembic itself (a quarter of a
second to import) is loaded only when there is something to migrate.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0016"  # the newest revision in migrations/versions; a test keeps the two in step


def alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def due(url: str) -> bool:
    """Whether the database at ``url`` may need migrating. On SQLite the stored revision is read
    with the standard library, so that ``vitalkey serve`` starts its worker processes without
    importing SQLAlchemy first when nothing is due; elsewhere :func:`upgrade` checks."""
    if not url.startswith("sqlite:///") or url.endswith(":memory:"):
        return True
    path = Path(url.removeprefix("sqlite:///"))
    if not path.exists():
        return True
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return True
    return row is None or row[0] != HEAD


def current(engine: Engine) -> str | None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None  # no alembic_version table yet: an empty database


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; a single query when it is already there."""
    if revision == "head" and current(engine) == HEAD:
        return
    from alembic import command

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def revision(engine: Engine, message: str) -> None:
    """Write a new migration by comparing the schema in code with the database (developers only)."""
    from alembic import command

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.revision(config, message=message, autogenerate=True)
