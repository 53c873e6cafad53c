"""The dashboard's kept choices: the range of days and the units, one row per account once chosen

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_prefs",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("units", sa.String(length=8), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_dashboard_prefs_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", name="pk_dashboard_prefs"),
    )


def downgrade() -> None:
    op.drop_table("dashboard_prefs")
