"""Federated identities: an account may hold several ``federated`` rows in ``authenticators``

One row per identity an upstream provider vouches for (Google, Apple, an employer's OpenID
Connect provider), keyed by ``lookup`` = "issuer#subject": the partial unique index on
(account_id, kind) now excludes federated rows as it excludes passkeys. The downgrade refuses
while such rows exist (revision 0015's index would not hold them), as 0015's does for TOTP and
passkeys.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_ONE_PER_ACCOUNT_BEFORE = "kind <> 'passkey'"
_ONE_PER_ACCOUNT = "kind NOT IN ('passkey', 'federated')"


def _one_per_account(where: str) -> None:
    op.create_index(
        "uq_authenticators_kind",
        "authenticators",
        ["account_id", "kind"],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    op.drop_index("uq_authenticators_kind", table_name="authenticators")
    _one_per_account(_ONE_PER_ACCOUNT)


def downgrade() -> None:
    federated = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM authenticators WHERE kind = 'federated'"))
    if federated.scalar_one():
        raise RuntimeError(
            "Some accounts have linked sign-ins (federated identities) that revision 0015 cannot hold: "
            "unlink them before downgrading."
        )
    op.drop_index("uq_authenticators_kind", table_name="authenticators")
    _one_per_account(_ONE_PER_ACCOUNT_BEFORE)
