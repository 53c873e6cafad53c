"""OAuth grants: codes, token generations, consents, Withings nonces, ID-token signing keys;
apps keep a sealed secret for Withings request signatures

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secret_sealed", sa.Text(), server_default="", nullable=False))
    op.create_table(
        "oauth_codes",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("redirect_uri", sa.String(length=500), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("scope_text", sa.String(length=300), nullable=False),
        sa.Column("nonce", sa.String(length=300), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("code_challenge_method", sa.String(length=8), nullable=False),
        sa.Column("auth_time", sa.BigInteger(), nullable=False),
        sa.Column("methods", sa.String(length=100), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_oauth_codes_account_id_accounts", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["apps.client_id"], name="fk_oauth_codes_client_id_apps", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("digest", name="pk_oauth_codes"),
    )
    op.create_index("ix_oauth_codes_account_id", "oauth_codes", ["account_id", "client_id"], unique=False)
    op.create_table(
        "oauth_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=False),
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
    op.create_index("ix_oauth_tokens_family_id", "oauth_tokens", ["family_id"], unique=False)
    op.create_index("ix_oauth_tokens_account_id", "oauth_tokens", ["account_id", "client_id"], unique=False)
    op.create_table(
        "oauth_consents",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("first_allowed_at", sa.BigInteger(), nullable=False),
        sa.Column("last_used_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_oauth_consents_account_id_accounts", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["apps.client_id"], name="fk_oauth_consents_client_id_apps", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", "client_id", name="pk_oauth_consents"),
    )
    op.create_table(
        "oauth_nonces",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("nonce", name="pk_oauth_nonces"),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=8), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        sa.Column("private_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("retired_at", sa.BigInteger(), nullable=True),
        sa.Column("publish_until", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_keys"),
    )


def downgrade() -> None:
    op.drop_table("signing_keys")
    op.drop_table("oauth_nonces")
    op.drop_table("oauth_consents")
    op.drop_index("ix_oauth_tokens_account_id", table_name="oauth_tokens")
    op.drop_index("ix_oauth_tokens_family_id", table_name="oauth_tokens")
    op.drop_table("oauth_tokens")
    op.drop_index("ix_oauth_codes_account_id", table_name="oauth_codes")
    op.drop_table("oauth_codes")
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_column("secret_sealed")
