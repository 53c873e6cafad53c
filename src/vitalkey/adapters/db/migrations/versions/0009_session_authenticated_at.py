"""A session remembers when it last proved its factors

``sessions.authenticated_at``: a second factor set up within a session proves it again, so a
change of that factor right after needs no new sign-in. NULL (every session before this
revision): at its sign-in, ``created_at``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("authenticated_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch_op:
        batch_op.drop_column("authenticated_at")
