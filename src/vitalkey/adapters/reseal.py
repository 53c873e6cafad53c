"""Key rotation for sealed values: re-encrypt every recovery code under the newest key."""

from __future__ import annotations

from sqlalchemy import Engine, select, update

from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.engine import writing
from vitalkey.adapters.sealing import FernetSealer


def reseal_recovery_codes(engine: Engine, sealer: FernetSealer) -> int:
    """The number of codes re-encrypted. Each row is updated only if it did not change meanwhile."""
    with engine.connect() as conn:
        rows = conn.execute(select(t.two_factor.c.account_id, t.two_factor.c.recovery_sealed)).all()
    count = 0
    for account_id, sealed in rows:
        fresh = sealer.reseal(sealed)
        with writing(engine), engine.begin() as conn:
            changed = conn.execute(
                update(t.two_factor)
                .where(t.two_factor.c.account_id == account_id, t.two_factor.c.recovery_sealed == sealed)
                .values(recovery_sealed=fresh)
            ).rowcount
        count += changed
    return count
