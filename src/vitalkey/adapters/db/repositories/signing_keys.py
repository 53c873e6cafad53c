"""ID-token signing keys (Core: read once per process and on rotation, not per request)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update

from vitalkey.adapters.db.schema import signing_keys
from vitalkey.adapters.db.statements import Columns, Db, Row, at, at_or_none, core, us
from vitalkey.domain.oauth import SigningKey

ALL = core(select(signing_keys).order_by(signing_keys.c.created_at.desc()))
ADD = core(
    insert(signing_keys).values(
        {name: bindparam(name) for name in ("kid", "alg", "public_jwk", "private_sealed", "created_at")}
    )
)
RETIRE = core(
    update(signing_keys)
    .where(signing_keys.c.alg == bindparam("alg"), signing_keys.c.retired_at.is_(None))
    .values(retired_at=bindparam("now"), publish_until=bindparam("publish_until"))
)


class SqlSigningKeys:
    def __init__(self, db: Db) -> None:
        self.db = db

    def all(self) -> list[SigningKey]:
        return self.db.all(ALL, {}, _signing_key)

    def add(self, key: SigningKey) -> None:
        params = {
            "kid": key.kid,
            "alg": key.alg,
            "public_jwk": json.dumps(key.public_jwk),
            "private_sealed": key.private_sealed,
            "created_at": us(key.created_at),
        }
        self.db.run(ADD, params)

    def retire(self, alg: str, now: datetime, publish_until: datetime) -> int:
        return self.db.run(RETIRE, {"alg": alg, "now": us(now), "publish_until": us(publish_until)})


def _signing_key(row: Row, c: Columns) -> SigningKey:
    return SigningKey(
        kid=row[c["kid"]],
        alg=row[c["alg"]],
        public_jwk=json.loads(row[c["public_jwk"]]),
        private_sealed=row[c["private_sealed"]],
        created_at=at(row[c["created_at"]]),
        retired_at=at_or_none(row[c["retired_at"]]),
        publish_until=at_or_none(row[c["publish_until"]]),
    )
