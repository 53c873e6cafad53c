"""Transient PostgreSQL failures on demand: a trigger that raises a SQLSTATE (40001, 40P01) the
first N times a row is inserted into a table, in a database of its own."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Engine, create_engine, text

from tests.conftest import new_pg_database
from vitalkey.adapters.db import migrate
from vitalkey.adapters.db.engine import make_engine, normalize_url

# nextval() is not undone by the rollback that the failure causes, so the sequence counts every
# run of the trigger, failed or not, across the attempts of a retried transaction.
_FUNCTION = """
CREATE OR REPLACE FUNCTION vk_test_inject_failure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval(TG_ARGV[0]::regclass) <= TG_ARGV[1]::bigint THEN
    RAISE EXCEPTION 'injected failure %', TG_ARGV[2] USING ERRCODE = TG_ARGV[2];
  END IF;
  RETURN NEW;
END $$
"""


def migrated_database(prefix: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database with the injection function (a generator fixture body)."""
    for url in new_pg_database(prefix):
        engine = make_engine(url)
        migrate.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text(_FUNCTION))
        engine.dispose()
        yield url


class Faults:
    """Injects failures into the inserts of tables; :meth:`clear` removes every injection."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
        self.tables: dict[str, int] = {}

    def inject(self, table: str, sqlstate: str, times: int = 1) -> None:
        """The next ``times`` inserts into ``table`` fail with ``sqlstate``; then they work."""
        with self.engine.connect() as conn:
            conn.execute(text(f"CREATE SEQUENCE vk_inject_{table}"))
            conn.execute(
                text(
                    f"CREATE TRIGGER vk_inject BEFORE INSERT ON {table} FOR EACH ROW "
                    f"EXECUTE FUNCTION vk_test_inject_failure('vk_inject_{table}', '{times}', '{sqlstate}')"
                )
            )
        self.tables[table] = times

    def runs(self, table: str) -> int:
        """How often the trigger ran (each failed insert and each that went through)."""
        with self.engine.connect() as conn:
            last, called = conn.execute(text(f"SELECT last_value, is_called FROM vk_inject_{table}")).one()
        return int(last) if called else 0

    def raised(self, table: str) -> int:
        return min(self.runs(table), self.tables[table])

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())

    def clear(self) -> None:
        with self.engine.connect() as conn:
            for table in self.tables:
                conn.execute(text(f"DROP TRIGGER IF EXISTS vk_inject ON {table}"))
                conn.execute(text(f"DROP SEQUENCE IF EXISTS vk_inject_{table}"))
        self.tables.clear()

    def close(self) -> None:
        self.clear()
        self.engine.dispose()
