"""Partner apps' callback URLs: the subscriptions of the /notify API

One row per account, app, appli and callback URL, deleted with the account or the app.
``failing_since``: when its last delivery retry cycle failed (kept and listed as failing).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_subscriptions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("appli", sa.Integer(), nullable=False),
        sa.Column("callbackurl", sa.String(length=255), nullable=False),
        sa.Column("comment", sa.String(length=255), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
        sa.Column("failing_since", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_notify_subscriptions_account_id_accounts", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["apps.client_id"], name="fk_notify_subscriptions_client_id_apps", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notify_subscriptions"),
        sa.UniqueConstraint("account_id", "client_id", "appli", "callbackurl", name="uq_notify_subscriptions"),
    )
    op.create_index("ix_notify_subscriptions_account_appli", "notify_subscriptions", ["account_id", "appli"])
    op.create_index("ix_notify_subscriptions_client", "notify_subscriptions", ["client_id"])


def downgrade() -> None:
    op.drop_table("notify_subscriptions")
