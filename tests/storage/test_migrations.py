"""Migrations that move data keep it: 0006 renumbers token generations and keeps their links;
0015 moves the second factors into authenticators; 0016 lets an account link several identities."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import IntegrityError

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


def _old_account(conn: Connection, email: str) -> int:
    conn.execute(
        t.accounts.insert(),
        {"email": email, "email_key": email, "language": "en", "first_name": "Ann", "last_name": "Lee",
         "birth_date": date(1990, 1, 1), "sex": "female", "height_cm": 170.0, "units": "metric",
         "policy_version": "2026-01", "policy_accepted_at": datetime.now(UTC), "created_at": datetime.now(UTC),
         "updated_at": datetime.now(UTC)},
    )  # fmt: skip
    return int(conn.execute(text("SELECT id FROM accounts WHERE email = :e"), {"e": email}).scalar_one())


OLD_FLOWS = [  # (id, kind, state, context) as revision 0014 stored them
    ("f-code", "login", "code_sent", {}),
    ("f-pass", "login", "password", {"app": "vitalkey-app"}),
    ("f-sms", "login", "sms_sent", {"account_id": 1, "first_factor": "email_code"}),
    ("f-rec", "login", "recovery_code", {"account_id": 1, "first_factor": "password"}),
    ("f-setup", "two_factor", "sms_sent", {"account_id": 1, "phone": "+33612345678", "mode": "enable"}),
    ("f-done", "login", "complete", {"account_id": 1}),
    ("f-signup", "signup", "code_sent", {}),
]


def _flows(conn: Connection) -> dict[str, tuple[str, dict[str, object]]]:
    rows = conn.execute(text("SELECT id, state, context FROM flows")).all()
    return {r[0]: (r[1], json.loads(r[2]) if isinstance(r[2], str) else r[2]) for r in rows}


def test_0015_moves_every_second_factor_into_authenticators_and_back(empty_engine: Engine) -> None:
    """Old-shape data (two accounts with SMS, one without, open flows in every renamed state)
    survives the upgrade and a downgrade round trip without loss."""
    migrate.upgrade(empty_engine, "0014")
    with empty_engine.begin() as conn:
        ann = _old_account(conn, "ann@example.org")
        bob = _old_account(conn, "bob@example.org")
        _old_account(conn, "cy@example.org")  # no second factor
        old = [
            {"account_id": ann, "method": "sms", "phone": "+33612345678", "enabled_at": NOW,
             "recovery_digest": "d" * 64, "recovery_sealed": "gAAAA-ann", "recovery_issued_at": NOW + 5},
            {"account_id": bob, "method": "sms", "phone": "+4915112345678", "enabled_at": NOW + 1,
             "recovery_digest": "e" * 64, "recovery_sealed": "gAAAA-bob", "recovery_issued_at": NOW + 9},
        ]  # fmt: skip
        for row in old:
            conn.execute(
                text(
                    "INSERT INTO two_factor (account_id, method, phone, enabled_at, recovery_digest, "
                    "recovery_sealed, recovery_issued_at) VALUES (:account_id, :method, :phone, :enabled_at, "
                    ":recovery_digest, :recovery_sealed, :recovery_issued_at)"
                ),
                row,
            )
        for flow_id, kind, state, context in OLD_FLOWS:
            conn.execute(
                text(
                    "INSERT INTO flows (id, kind, channel, state, email, language, browser_binding, context, "
                    "created_at, expires_at) VALUES (:id, :kind, 'browser', :state, 'ann@example.org', 'en', "
                    "'b', :context, :now, :later)"
                ),
                {"id": flow_id, "kind": kind, "state": state, "context": json.dumps(context), "now": NOW,
                 "later": NOW + 600_000_000},
            )  # fmt: skip

    migrate.upgrade(empty_engine)
    assert "two_factor" not in inspect(empty_engine).get_table_names()
    with empty_engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT account_id, kind, name, created_at, last_used_at, is_default, lookup, counter, data, sealed "
                "FROM authenticators ORDER BY account_id, kind"
            )
        ).all()
        found = [(*r[:8], json.loads(r[8]) if isinstance(r[8], str) else r[8], r[9]) for r in rows]
        assert found == [
            (ann, "recovery_code", "", NOW + 5, None, False, "d" * 64, 0, {}, "gAAAA-ann"),
            (ann, "sms", "", NOW, None, True, None, 0, {"phone": "+33612345678"}, ""),
            (bob, "recovery_code", "", NOW + 9, None, False, "e" * 64, 0, {}, "gAAAA-bob"),
            (bob, "sms", "", NOW + 1, None, True, None, 0, {"phone": "+4915112345678"}, ""),
        ]
        assert _flows(conn) == {
            "f-code": ("first_factor", {"method": "email_code"}),
            "f-pass": ("first_factor", {"app": "vitalkey-app", "method": "password"}),
            "f-sms": ("second_factor", {"account_id": 1, "first_factor": "email_code", "method": "sms"}),
            "f-rec": ("second_factor", {"account_id": 1, "first_factor": "password", "method": "recovery_code"}),
            "f-setup": ("enrolling", {"account_id": 1, "phone": "+33612345678", "mode": "enable", "method": "sms"}),
            "f-done": ("complete", {"account_id": 1}),
            "f-signup": ("code_sent", {}),
        }

    downgrade(empty_engine, "0014")
    with empty_engine.begin() as conn:
        back = conn.execute(
            text(
                "SELECT account_id, method, phone, enabled_at, recovery_digest, recovery_sealed, recovery_issued_at "
                "FROM two_factor ORDER BY account_id"
            )
        ).all()
        assert [dict(r._mapping) for r in back] == old
        assert _flows(conn) == {flow_id: (state, context) for flow_id, _, state, context in OLD_FLOWS}
    migrate.upgrade(empty_engine)
    assert migrate.current(empty_engine) == migrate.HEAD


def test_0015_downgrade_refuses_while_an_account_has_a_newer_authenticator(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    with empty_engine.begin() as conn:
        ann = _old_account(conn, "ann@example.org")
        conn.execute(
            t.authenticators.insert(),
            {"account_id": ann, "kind": "totp", "created_at": datetime.now(UTC), "data": {}, "sealed": "x"},
        )
    with pytest.raises(RuntimeError, match="TOTP, passkeys"):
        downgrade(empty_engine, "0014")
    assert migrate.current(empty_engine) == migrate.HEAD
    assert "authenticators" in inspect(empty_engine).get_table_names()


def _authenticator(conn: Connection, account_id: int, kind: str, lookup: str) -> None:
    conn.execute(
        t.authenticators.insert(),
        {"account_id": account_id, "kind": kind, "created_at": datetime.now(UTC), "lookup": lookup, "data": {}},
    )


def test_0016_lets_an_account_hold_several_federated_identities_and_one_of_the_other_kinds(
    empty_engine: Engine,
) -> None:
    migrate.upgrade(empty_engine, "0015")
    with empty_engine.begin() as conn:
        ann = _old_account(conn, "ann@example.org")
        _authenticator(conn, ann, "federated", "https://accounts.google.com#1")
    with pytest.raises(IntegrityError), empty_engine.begin() as conn:  # 0015: one row per kind
        _authenticator(conn, ann, "federated", "https://appleid.apple.com#2")

    migrate.upgrade(empty_engine)
    with empty_engine.begin() as conn:
        _authenticator(conn, ann, "federated", "https://appleid.apple.com#2")
        _authenticator(conn, ann, "passkey", "cred-1")
        _authenticator(conn, ann, "passkey", "cred-2")
        _authenticator(conn, ann, "totp", "")
    with pytest.raises(IntegrityError), empty_engine.begin() as conn:  # still one of every other kind
        _authenticator(conn, ann, "totp", "other")
    with pytest.raises(IntegrityError), empty_engine.begin() as conn:  # an identity is linked once
        bob = _old_account(conn, "bob@example.org")
        _authenticator(conn, bob, "federated", "https://appleid.apple.com#2")
    with empty_engine.connect() as conn:
        kinds = conn.execute(text("SELECT kind FROM authenticators WHERE account_id = :a ORDER BY id"), {"a": ann})
        assert [row[0] for row in kinds] == ["federated", "federated", "passkey", "passkey", "totp"]


def test_0016_downgrade_refuses_while_an_identity_is_linked_and_goes_back_once_unlinked(
    empty_engine: Engine,
) -> None:
    migrate.upgrade(empty_engine)
    with empty_engine.begin() as conn:
        ann = _old_account(conn, "ann@example.org")
        _authenticator(conn, ann, "federated", "https://accounts.google.com#1")
    with pytest.raises(RuntimeError, match="linked sign-ins"):
        downgrade(empty_engine, "0015")
    assert migrate.current(empty_engine) == migrate.HEAD == "0016"

    with empty_engine.begin() as conn:
        conn.execute(text("DELETE FROM authenticators WHERE kind = 'federated'"))
        _authenticator(conn, ann, "passkey", "cred-1")
        _authenticator(conn, ann, "passkey", "cred-2")  # passkeys stay several under 0015
    downgrade(empty_engine, "0015")
    assert migrate.current(empty_engine) == "0015"
    with pytest.raises(IntegrityError), empty_engine.begin() as conn:  # 0015's index again
        _authenticator(conn, ann, "federated", "https://accounts.google.com#1")
        _authenticator(conn, ann, "federated", "https://appleid.apple.com#2")
    migrate.upgrade(empty_engine)
    assert migrate.current(empty_engine) == migrate.HEAD
