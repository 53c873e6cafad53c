"""Leaner token generations: an integer row id instead of a random text key, and one
(account_id, client_id, family_id) index instead of two

Every refresh grant inserts a row into oauth_tokens. With a random text key and four indexes,
an insert touched five B-trees, three of them at random places; now the row id grows (rows of
one grant sit together), the two digest indexes remain, and one index serves both the connected
apps (account, client) and family revocation (account, client, family). Rows keep their order
and their parent links.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _token_table(id_type: sa.types.TypeEngine, parent: sa.Column) -> None:  # type: ignore[type-arg]
    op.create_table(
        "oauth_tokens",
        sa.Column("id", id_type, nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        parent,
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("scope_text", sa.String(length=300), nullable=False),
        sa.Column("access_digest", sa.String(length=64), nullable=False),
        sa.Column("refresh_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("access_expires_at", sa.BigInteger(), nullable=False),
        sa.Column("refresh_expires_at", sa.BigInteger(), nullable=False),
        sa.Column("access_used_at", sa.BigInteger(), nullable=True),
        sa.Column("retire_at", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_oauth_tokens_account_id_accounts", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["apps.client_id"], name="fk_oauth_tokens_client_id_apps", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_oauth_tokens"),
        sa.UniqueConstraint("access_digest", name="uq_oauth_tokens_access_digest"),
        sa.UniqueConstraint("refresh_digest", name="uq_oauth_tokens_refresh_digest"),
    )


def _set_aside() -> None:
    """The old table leaves its name and its constraint names (PostgreSQL's are schema-wide)."""
    for index in ("ix_oauth_tokens_family_id", "ix_oauth_tokens_account_id", "ix_oauth_tokens_account_family"):
        if index in {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("oauth_tokens")}:
            op.drop_index(index, table_name="oauth_tokens")
    if op.get_bind().dialect.name == "postgresql":
        for constraint in ("uq_oauth_tokens_access_digest", "uq_oauth_tokens_refresh_digest"):
            op.drop_constraint(constraint, "oauth_tokens", type_="unique")
        op.drop_constraint("pk_oauth_tokens", "oauth_tokens", type_="primary")
        for constraint in ("fk_oauth_tokens_account_id_accounts", "fk_oauth_tokens_client_id_apps"):
            op.drop_constraint(constraint, "oauth_tokens", type_="foreignkey")
    op.rename_table("oauth_tokens", "oauth_tokens_old")


def upgrade() -> None:
    _set_aside()
    # INTEGER PRIMARY KEY is SQLite's row id; BIGINT on PostgreSQL (a token per refresh adds up).
    _token_table(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
    )
    op.execute(
        "CREATE TABLE oauth_token_ids AS SELECT id AS old_id, "
        "ROW_NUMBER() OVER (ORDER BY created_at, id) AS new_id FROM oauth_tokens_old"
    )
    op.execute(
        "INSERT INTO oauth_tokens (id, parent_id, family_id, client_id, account_id, scopes, scope_text, "
        "access_digest, refresh_digest, created_at, access_expires_at, refresh_expires_at, access_used_at, "
        "retire_at, revoked_at) "
        "SELECT ids.new_id, parents.new_id, old.family_id, old.client_id, old.account_id, old.scopes, "
        "old.scope_text, old.access_digest, old.refresh_digest, old.created_at, old.access_expires_at, "
        "old.refresh_expires_at, old.access_used_at, old.retire_at, old.revoked_at "
        "FROM oauth_tokens_old old JOIN oauth_token_ids ids ON ids.old_id = old.id "
        "LEFT JOIN oauth_token_ids parents ON parents.old_id = old.parent_id"
    )
    op.drop_table("oauth_token_ids")
    op.drop_table("oauth_tokens_old")
    op.create_index(
        "ix_oauth_tokens_account_family", "oauth_tokens", ["account_id", "client_id", "family_id"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('oauth_tokens', 'id'), COALESCE(MAX(id), 0) + 1, false) "
            "FROM oauth_tokens"
        )


def downgrade() -> None:
    _set_aside()
    _token_table(
        sa.String(length=32),
        sa.Column("parent_id", sa.String(length=32), nullable=False),
    )
    op.execute(
        "INSERT INTO oauth_tokens (id, parent_id, family_id, client_id, account_id, scopes, scope_text, "
        "access_digest, refresh_digest, created_at, access_expires_at, refresh_expires_at, access_used_at, "
        "retire_at, revoked_at) "
        "SELECT CAST(id AS VARCHAR(32)), COALESCE(CAST(parent_id AS VARCHAR(32)), ''), family_id, client_id, "
        "account_id, scopes, scope_text, access_digest, refresh_digest, created_at, access_expires_at, "
        "refresh_expires_at, access_used_at, retire_at, revoked_at FROM oauth_tokens_old"
    )
    op.drop_table("oauth_tokens_old")
    op.create_index("ix_oauth_tokens_family_id", "oauth_tokens", ["family_id"], unique=False)
    op.create_index("ix_oauth_tokens_account_id", "oauth_tokens", ["account_id", "client_id"], unique=False)
