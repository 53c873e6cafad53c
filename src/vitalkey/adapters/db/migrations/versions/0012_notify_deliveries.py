"""Partner apps' notification deliveries: the outbox of callbacks

One row per queued callback, written with the data it announces, claimed under a lease by a
worker, kept once delivered or given up. Deleted with the app; kept (``subscription_id`` NULL)
when the subscription goes, and kept when the account goes (no foreign key: an unlink or delete
notice outlives the account).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_PENDING = "delivered IS NULL AND failed IS NULL"


def upgrade() -> None:
    op.create_table(
        "notify_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("delivery_id", sa.String(length=32), nullable=False),
        sa.Column("subscription_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("callbackurl", sa.String(length=255), nullable=False),
        sa.Column("appli", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=8), nullable=False),
        sa.Column("startdate", sa.BigInteger(), nullable=True),
        sa.Column("enddate", sa.BigInteger(), nullable=True),
        sa.Column("date", sa.String(length=10), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=True),
        sa.Column("backfill", sa.Boolean(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("due", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sa.BigInteger(), nullable=True),
        sa.Column("claimed_by", sa.String(length=32), nullable=True),
        sa.Column("delivered", sa.BigInteger(), nullable=True),
        sa.Column("failed", sa.BigInteger(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=40), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["notify_subscriptions.id"],
            name="fk_notify_deliveries_subscription_id_notify_subscriptions",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["apps.client_id"], name="fk_notify_deliveries_client_id_apps", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notify_deliveries"),
        sa.UniqueConstraint("delivery_id", name="uq_notify_deliveries_delivery_id"),
    )
    op.create_index(
        "ix_notify_deliveries_due",
        "notify_deliveries",
        ["due", "id"],
        sqlite_where=sa.text(_PENDING),
        postgresql_where=sa.text(_PENDING),
    )
    op.create_index("ix_notify_deliveries_subscription", "notify_deliveries", ["subscription_id", "attempts"])
    op.create_index("ix_notify_deliveries_client", "notify_deliveries", ["client_id"])


def downgrade() -> None:
    op.drop_table("notify_deliveries")
