"""Migrations that move data keep it: 0006 renumbers token generations and keeps their links."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from tests.conftest import new_pg_database
from vitalkey.adapters.db import migrate
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.engine import make_engine
from vitalkey.adapters.db.statements import us

NOW = us(datetime(2026, 11, 1, tzinfo=UTC))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of its own (the shared test databases are already at the head)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
        yield engine
        engine.dispose()
        return
    for url in new_pg_database("vk_migrate"):
        engine = make_engine(url)
        yield engine
        engine.dispose()


def old_token(token_id: str, family: str, parent: str, created: int) -> dict[str, object]:
    return {
        "id": token_id,
        "family_id": family,
        "parent_id": parent,
        "client_id": "portal",
        "account_id": 1,
        "scopes": "user.metrics",
        "scope_text": "user.metrics",
        "access_digest": f"a-{token_id}",
        "refresh_digest": f"r-{token_id}",
        "created_at": created,
        "access_expires_at": created + 10,
        "refresh_expires_at": created + 20,
    }


def downgrade(engine: Engine, revision: str) -> None:
    config = migrate.alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def test_0006_and_0007_renumber_token_generations_keep_their_parents_and_find_older_tokens(
    empty_engine: Engine,
) -> None:
    migrate.upgrade(empty_engine, "0005")
    columns = ", ".join(old_token("x", "", "", 0))
    with empty_engine.begin() as conn:
        conn.execute(
            t.accounts.insert(),
            {"email": "ann@example.org", "email_key": "ann@example.org", "language": "en", "first_name": "Ann",
             "last_name": "Lee", "birth_date": date(1990, 1, 1), "sex": "female", "height_cm": 170.0,
             "units": "metric", "policy_version": "2026-01", "policy_accepted_at": datetime.now(UTC),
             "created_at": datetime.now(UTC), "updated_at": datetime.now(UTC)},
        )  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO apps (client_id, name, first_party, supports_2fa, created_at, client_type, "
                "redirect_uris, scopes, logo_url, policy_url, secret_digest, secret_sealed) VALUES ('portal', "
                "'Portal', false, false, 0, 'confidential', 'https://p.example/cb', 'user.metrics', '', '', '', '')"
            )
        )
        rows = [  # inserted out of order: ids follow creation
            old_token("zz-child", "fam-a", "aa-first", NOW + 2),
            old_token("aa-first", "fam-a", "", NOW + 1),
            old_token("mm-other", "fam-b", "", NOW + 3),
        ]
        for row in rows:
            values = ", ".join(f":{name}" for name in row)
            conn.execute(text(f"INSERT INTO oauth_tokens ({columns}) VALUES ({values})"), row)

    migrate.upgrade(empty_engine)
    with empty_engine.begin() as conn:
        found = conn.execute(text("SELECT id, parent_id, family_id, access_digest FROM oauth_tokens ORDER BY id")).all()
        assert [tuple(row) for row in found] == [
            (1, None, "fam-a", "a-aa-first"),
            (2, 1, "fam-a", "a-zz-child"),
            (3, None, "fam-b", "a-mm-other"),
        ]
        new = old_token("ignored", "fam-c", "", NOW + 4)
        del new["id"]
        new["parent_id"] = None
        values = ", ".join(f":{name}" for name in new)
        inserted = conn.execute(
            text(f"INSERT INTO oauth_tokens ({', '.join(new)}) VALUES ({values}) RETURNING id"), new
        ).scalar_one()
        assert inserted == 4  # numbering goes on after the copied rows (PostgreSQL's sequence too)
        legacy = conn.execute(text("SELECT digest, token_id FROM oauth_legacy_tokens ORDER BY digest")).all()
        assert [tuple(row) for row in legacy] == [  # 0007: the tokens issued before, by digest
            ("a-aa-first", 1), ("a-mm-other", 3), ("a-zz-child", 2),
            ("r-aa-first", 1), ("r-mm-other", 3), ("r-zz-child", 2),
        ]  # fmt: skip

    downgrade(empty_engine, "0005")
    with empty_engine.connect() as conn:
        found = conn.execute(text("SELECT id, parent_id, family_id FROM oauth_tokens ORDER BY created_at")).all()
    assert [tuple(row) for row in found] == [
        ("1", "", "fam-a"),
        ("2", "1", "fam-a"),
        ("3", "", "fam-b"),
        ("4", "", "fam-c"),
    ]
    migrate.upgrade(empty_engine)
    assert migrate.current(empty_engine) == migrate.HEAD


def test_a_due_migration_is_seen_on_sqlite_without_sqlalchemy(tmp_path: Path) -> None:
    """``vitalkey serve`` asks ``due`` before it starts its workers (stdlib sqlite3 only)."""
    url = f"sqlite:///{tmp_path / 'vitalkey.sqlite3'}"
    assert migrate.due(url)  # no database yet
    engine = make_engine(url)
    try:
        migrate.upgrade(engine, "0006")
        assert migrate.due(url)  # an older revision
        migrate.upgrade(engine)
        assert not migrate.due(url)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
        assert migrate.due(url)  # unreadable revision: let upgrade decide
    finally:
        engine.dispose()
    assert migrate.due("postgresql://localhost/vitalkey")  # elsewhere upgrade checks with one query


def test_0010_downgrade_drops_the_health_data_and_upgrade_brings_it_back(empty_engine: Engine) -> None:
    health = {"devices", "measure_groups", "measures", "activity_days", "intraday_samples", "workouts",
              "sleep_sessions", "heart_recordings", "goals", "ingest_receipts"}  # fmt: skip
    migrate.upgrade(empty_engine)
    assert health <= set(inspect(empty_engine).get_table_names())
    downgrade(empty_engine, "0009")
    assert not health & set(inspect(empty_engine).get_table_names())
    assert migrate.current(empty_engine) == "0009"
    migrate.upgrade(empty_engine)
    assert health <= set(inspect(empty_engine).get_table_names())


def test_0012_downgrade_drops_the_deliveries_and_keeps_the_subscriptions(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    downgrade(empty_engine, "0011")
    tables = set(inspect(empty_engine).get_table_names())
    assert "notify_deliveries" not in tables and "notify_subscriptions" in tables
    migrate.upgrade(empty_engine)
    assert "notify_deliveries" in set(inspect(empty_engine).get_table_names())
