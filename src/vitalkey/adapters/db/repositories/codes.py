"""The one-time codes of flows. Hand-written SQL: every sign-in sends and checks one (see
``statements``)."""

from __future__ import annotations

from datetime import datetime

from vitalkey.adapters.db.statements import Columns, Db, Row, Sql, at, at_or_none, us
from vitalkey.domain.codes import StoredCode

_COLUMNS = "flow_id, purpose, code_hmac, expires_at, attempts, sends, last_sent_at, used_at"
INSERT = Sql(
    f"INSERT INTO codes ({_COLUMNS}) VALUES (:flow_id, :purpose, :code_hmac, :expires_at, :attempts, :sends, "
    ":last_sent_at, :used_at)"
)
GET = Sql(f"SELECT {_COLUMNS} FROM codes WHERE flow_id = :flow_id AND purpose = :purpose")
COUNT_ATTEMPT = Sql(
    "UPDATE codes SET attempts = attempts + 1 WHERE flow_id = :flow_id AND purpose = :purpose AND used_at IS NULL "
    f"RETURNING {_COLUMNS}"
)
CONSUME = Sql(
    "UPDATE codes SET used_at = :now WHERE flow_id = :flow_id AND purpose = :purpose AND used_at IS NULL "
    "AND expires_at > :now AND attempts <= :max_attempts"
)
REPLACE = Sql(
    "UPDATE codes SET code_hmac = :code_hmac, expires_at = :expires_at, sends = sends + 1, last_sent_at = :now "
    "WHERE flow_id = :flow_id AND purpose = :purpose AND used_at IS NULL AND sends = :expected_sends"
)


class SqlCodes:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, code: StoredCode) -> None:
        self.db.run(
            INSERT,
            {
                "flow_id": code.flow_id,
                "purpose": code.purpose,
                "code_hmac": code.code_hmac,
                "expires_at": us(code.expires_at),
                "attempts": code.attempts,
                "sends": code.sends,
                "last_sent_at": us(code.last_sent_at),
                "used_at": us(code.used_at) if code.used_at else None,
            },
        )

    def get(self, flow_id: str, purpose: str) -> StoredCode | None:
        return self.db.one(GET, {"flow_id": flow_id, "purpose": purpose}, _code)

    def count_attempt(self, flow_id: str, purpose: str) -> StoredCode | None:
        return self.db.one(COUNT_ATTEMPT, {"flow_id": flow_id, "purpose": purpose}, _code)

    def consume(self, flow_id: str, purpose: str, now: datetime, max_attempts: int) -> bool:
        params = {"flow_id": flow_id, "purpose": purpose, "now": us(now), "max_attempts": max_attempts}
        return self.db.run(CONSUME, params) == 1

    def replace(
        self, flow_id: str, purpose: str, code_hmac: str, expires_at: datetime, now: datetime, expected_sends: int
    ) -> bool:
        params = {
            "expected_sends": expected_sends,
            "flow_id": flow_id,
            "purpose": purpose,
            "code_hmac": code_hmac,
            "expires_at": us(expires_at),
            "now": us(now),
        }
        return self.db.run(REPLACE, params) == 1


def _code(row: Row, c: Columns) -> StoredCode:
    return StoredCode(
        flow_id=row[c["flow_id"]],
        purpose=row[c["purpose"]],
        code_hmac=row[c["code_hmac"]],
        expires_at=at(row[c["expires_at"]]),
        attempts=row[c["attempts"]],
        sends=row[c["sends"]],
        last_sent_at=at(row[c["last_sent_at"]]),
        used_at=at_or_none(row[c["used_at"]]),
    )
