"""Authenticators: one table of an account's SMS numbers, recovery codes (and, next, TOTP and
passkeys), replacing ``two_factor``

Each ``two_factor`` row becomes an ``sms`` row (the number in ``data``, the default second
factor, created when 2FA was turned on) and a ``recovery_code`` row (``lookup`` is the keyed
digest, ``sealed`` the sealed code, created when the code was issued). The login and set-up
flows still open are moved to their new state names (steps, not methods; the method goes into
the flow's context). The downgrade does the reverse, and refuses while an account has an
authenticator that ``two_factor`` cannot hold.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_NOT_PASSKEY = "kind <> 'passkey'"

# (flow kind, old state) → (new state, method); the reverse for the downgrade.
_FLOW_STATES = {
    ("login", "code_sent"): ("first_factor", "email_code"),
    ("login", "password"): ("first_factor", "password"),
    ("login", "sms_sent"): ("second_factor", "sms"),
    ("login", "recovery_code"): ("second_factor", "recovery_code"),
    ("two_factor", "sms_sent"): ("enrolling", "sms"),
}
_OLD_STATES = {(kind, new, method): old for (kind, old), (new, method) in _FLOW_STATES.items()}


def upgrade() -> None:
    op.create_table(
        "authenticators",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), server_default="", nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_used_at", sa.BigInteger(), nullable=True),
        sa.Column("is_default", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("lookup", sa.String(length=1400), nullable=True),
        sa.Column("counter", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("sealed", sa.String(length=400), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_authenticators_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_authenticators"),
    )
    op.create_index("ix_authenticators_account_id", "authenticators", ["account_id"])
    op.create_index("uq_authenticators_lookup", "authenticators", ["kind", "lookup"], unique=True)
    op.create_index(
        "uq_authenticators_default",
        "authenticators",
        ["account_id"],
        unique=True,
        sqlite_where=sa.text("is_default"),
        postgresql_where=sa.text("is_default"),
    )
    op.create_index(
        "uq_authenticators_kind",
        "authenticators",
        ["account_id", "kind"],
        unique=True,
        sqlite_where=sa.text(_NOT_PASSKEY),
        postgresql_where=sa.text(_NOT_PASSKEY),
    )
    bind = op.get_bind()
    phone = "json_build_object('phone', phone)" if bind.dialect.name == "postgresql" else "json_object('phone', phone)"
    # Set-based, so that many accounts move in two statements. The SMS row keeps the id order of
    # the accounts, then each recovery code follows.
    op.execute(
        "INSERT INTO authenticators (account_id, kind, name, created_at, last_used_at, is_default, lookup, "  # noqa: S608 (fixed text)
        f"counter, data, sealed) SELECT account_id, 'sms', '', enabled_at, NULL, true, NULL, 0, {phone}, '' "
        "FROM two_factor ORDER BY account_id"
    )
    empty = "json_build_object()" if bind.dialect.name == "postgresql" else "json_object()"
    op.execute(
        "INSERT INTO authenticators (account_id, kind, name, created_at, last_used_at, is_default, lookup, "  # noqa: S608 (fixed text)
        "counter, data, sealed) SELECT account_id, 'recovery_code', '', recovery_issued_at, NULL, false, "
        f"recovery_digest, 0, {empty}, recovery_sealed FROM two_factor ORDER BY account_id"
    )
    _rename_flow_states(bind, upgrade=True)
    op.drop_table("two_factor")


def downgrade() -> None:
    bind = op.get_bind()
    newer = bind.execute(sa.text("SELECT COUNT(*) FROM authenticators WHERE kind NOT IN ('sms', 'recovery_code')"))
    if newer.scalar_one():
        raise RuntimeError(
            "Some accounts have authenticators (TOTP, passkeys) that revision 0014 cannot hold: "
            "remove them before downgrading."
        )
    op.create_table(
        "two_factor",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("enabled_at", sa.BigInteger(), nullable=False),
        sa.Column("recovery_digest", sa.String(length=64), nullable=False),
        sa.Column("recovery_sealed", sa.String(length=400), nullable=False),
        sa.Column("recovery_issued_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_two_factor_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", name="pk_two_factor"),
    )
    phone = "s.data ->> 'phone'" if bind.dialect.name == "postgresql" else "json_extract(s.data, '$.phone')"
    op.execute(
        "INSERT INTO two_factor (account_id, method, phone, enabled_at, recovery_digest, recovery_sealed, "  # noqa: S608
        f"recovery_issued_at) SELECT s.account_id, 'sms', {phone}, s.created_at, r.lookup, r.sealed, r.created_at "
        "FROM authenticators s JOIN authenticators r ON r.account_id = s.account_id AND r.kind = 'recovery_code' "
        "WHERE s.kind = 'sms'"
    )
    _rename_flow_states(bind, upgrade=False)
    op.drop_table("authenticators")


def _rename_flow_states(bind: sa.Connection, *, upgrade: bool) -> None:
    """Flows live minutes, so the open ones are few: read and rewrite them one by one (their
    context is JSON, which the two engines edit differently)."""
    states = {old for (_, old) in _FLOW_STATES} if upgrade else {new for (new, _) in _FLOW_STATES.values()}
    rows = bind.execute(
        sa.text(
            "SELECT id, kind, state, context FROM flows WHERE kind IN ('login', 'two_factor') AND state IN :states"
        ).bindparams(sa.bindparam("states", expanding=True)),
        {"states": sorted(states)},
    ).all()
    save = sa.text("UPDATE flows SET state = :state, context = :context WHERE id = :id AND state = :old")
    for flow_id, kind, state, raw in rows:
        context: dict[str, Any] = json.loads(raw) if isinstance(raw, str | bytes) else dict(raw)
        if upgrade:
            moved = _FLOW_STATES.get((kind, state))
            if moved is None:
                continue
            new_state, method = moved
            context["method"] = method
        else:
            old = _OLD_STATES.get((kind, state, str(context.get("method"))))
            if old is None:
                continue
            new_state = old
            context.pop("method", None)
        bind.execute(save, {"state": new_state, "context": json.dumps(context), "id": flow_id, "old": state})
