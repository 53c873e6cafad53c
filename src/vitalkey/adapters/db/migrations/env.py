"""Alembic environment: runs against the connection handed over by :func:`vitalkey.adapters.db.migrate.upgrade`."""

from __future__ import annotations

from alembic import context

from vitalkey.adapters.db.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
