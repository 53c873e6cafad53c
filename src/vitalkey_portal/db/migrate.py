"""Alembic driven from code (no alembic.ini): the same migrations on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0001"  # the newest revision in migrations/versions; a test keeps the two in step


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            found: Any = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None  # no alembic_version table: an empty database
    return None if found is None else str(found)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; one query when it is already there."""
    if revision == "head" and current(engine) == HEAD:
        return
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def revision(engine: Engine, message: str) -> None:
    """Write a new migration by comparing tables.py with the database (developers only)."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.revision(config, message=message, autogenerate=True)
