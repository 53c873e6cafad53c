"""The outbox relay's claims are short leases in a relay's name

``outbox.claimed_by`` names the relay whose lease ``claimed_until`` is: a relay renews (and
releases) only its own claims, so a row taken over from a relay whose lease ran out is not
handed back or released by it. Rows claimed before this revision have no owner: their claim
simply runs out.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("claimed_by", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("claimed_by")
