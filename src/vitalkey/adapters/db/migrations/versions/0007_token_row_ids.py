"""Tokens carry their row id: no index over token digests

An access or refresh token is now ``<row id>.<secret>``: it is found by the row id and checked
against the digest of its secret. The two unique indexes over the digests go: each refresh
added an entry at a random place in both, which in a table of a year of refreshes meant two
random pages to read and write per grant. Tokens issued before keep working through
``oauth_legacy_tokens`` (digest → row), filled once here and never again; it can be dropped
when they have expired (a year). On a downgrade, tokens issued after this revision stop working.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DIGEST_CONSTRAINTS = {
    "uq_oauth_tokens_access_digest": "access_digest",
    "uq_oauth_tokens_refresh_digest": "refresh_digest",
}


def upgrade() -> None:
    with op.batch_alter_table("oauth_tokens") as batch_op:
        for name in DIGEST_CONSTRAINTS:
            batch_op.drop_constraint(name, type_="unique")
    op.create_table(
        "oauth_legacy_tokens",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"], ["oauth_tokens.id"], name="fk_oauth_legacy_tokens_token_id_oauth_tokens", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("digest", name="pk_oauth_legacy_tokens"),
    )
    op.create_index("ix_oauth_legacy_tokens_token_id", "oauth_legacy_tokens", ["token_id"], unique=False)
    op.execute(
        "INSERT INTO oauth_legacy_tokens (digest, token_id) SELECT access_digest, id FROM oauth_tokens "
        "UNION ALL SELECT refresh_digest, id FROM oauth_tokens"
    )


def downgrade() -> None:
    op.drop_index("ix_oauth_legacy_tokens_token_id", table_name="oauth_legacy_tokens")
    op.drop_table("oauth_legacy_tokens")
    with op.batch_alter_table("oauth_tokens") as batch_op:
        for name, column in DIGEST_CONSTRAINTS.items():
            batch_op.create_unique_constraint(name, [column])
