"""Key rotation for sealed values: re-encrypt every recovery code and TOTP secret, Withings client secret and
ID-token private key under the newest encryption key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Engine, Table, select, update

from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.engine import writing
from vitalkey.adapters.sealing import FernetSealer

SEALED: tuple[tuple[Table, Column[Any], Column[str]], ...] = (
    (t.authenticators, t.authenticators.c.id, t.authenticators.c.sealed),  # recovery codes, TOTP secrets
    (t.apps, t.apps.c.client_id, t.apps.c.secret_sealed),
    (t.signing_keys, t.signing_keys.c.kid, t.signing_keys.c.private_sealed),
)


def reseal_all(engine: Engine, sealer: FernetSealer) -> dict[str, int]:
    """How many values of each table were re-encrypted."""
    return {table.name: _reseal(engine, sealer, table, key, column) for table, key, column in SEALED}


def reseal_recovery_codes(engine: Engine, sealer: FernetSealer) -> int:
    return _reseal(engine, sealer, *SEALED[0])


def _reseal(engine: Engine, sealer: FernetSealer, table: Table, key: Column[Any], column: Column[str]) -> int:
    """Each row is updated only if it did not change meanwhile."""
    with engine.connect() as conn:
        rows = conn.execute(select(key, column).where(column != "")).all()
    count = 0
    for identity, sealed in rows:
        fresh = sealer.reseal(sealed)
        with writing(engine), engine.begin() as conn:
            changed = conn.execute(
                update(table).where(key == identity, column == sealed).values({column.name: fresh})
            ).rowcount
        count += changed
    return count
