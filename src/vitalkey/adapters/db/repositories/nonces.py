"""Withings signature nonces: single use, short-lived (Core)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, insert, update

from vitalkey.adapters.db.schema import oauth_nonces
from vitalkey.adapters.db.statements import Db, core, us

PURGE = core(delete(oauth_nonces).where(oauth_nonces.c.expires_at < bindparam("before")))
ADD = core(
    insert(oauth_nonces).values(
        nonce=bindparam("nonce"), client_id=bindparam("client_id"), expires_at=bindparam("expires_at")
    )
)
USE = core(
    update(oauth_nonces)
    .where(
        oauth_nonces.c.nonce == bindparam("nonce"),
        oauth_nonces.c.client_id == bindparam("client_id"),
        oauth_nonces.c.used_at.is_(None),
        oauth_nonces.c.expires_at > bindparam("now"),
    )
    .values(used_at=bindparam("now"))
)
_KEPT_US = 86_400_000_000  # expired nonces are purged a day after


class SqlNonces:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, nonce: str, client_id: str, expires_at: datetime) -> None:
        self.db.run(PURGE, {"before": us(expires_at) - _KEPT_US})
        self.db.run(ADD, {"nonce": nonce, "client_id": client_id, "expires_at": us(expires_at)})

    def use(self, nonce: str, client_id: str, now: datetime) -> bool:
        return self.db.run(USE, {"nonce": nonce, "client_id": client_id, "now": us(now)}) == 1
