"""Second factors. Hand-written SQL for reading one (every sign-in asks; see ``statements``);
Core for setting them up, changing and removing them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, update
from sqlalchemy.dialects import postgresql, sqlite

from vitalkey.adapters.db.schema import two_factor
from vitalkey.adapters.db.statements import Columns, Db, Row, Sql, at, core, us
from vitalkey.domain.two_factor import TwoFactor

_COLUMNS = ("account_id", "method", "phone", "enabled_at", "recovery_digest", "recovery_sealed", "recovery_issued_at")
GET = Sql(f"SELECT {', '.join(_COLUMNS)} FROM two_factor WHERE account_id = :account_id")

_account = two_factor.c.account_id == bindparam("account_id")
_new: dict[str, Any] = {name: bindparam(name) for name in _COLUMNS}
ENABLE = core(
    sqlite.insert(two_factor).values(_new).on_conflict_do_nothing(index_elements=["account_id"]),
    postgresql.insert(two_factor).values(_new).on_conflict_do_nothing(index_elements=["account_id"]),
)
SET_PHONE = core(update(two_factor).where(_account).values(phone=bindparam("phone")))
REPLACE_RECOVERY = core(
    update(two_factor)
    .where(_account, two_factor.c.recovery_digest == bindparam("old_digest"))
    .values(
        recovery_digest=bindparam("digest"), recovery_sealed=bindparam("sealed"), recovery_issued_at=bindparam("now")
    )
)
DISABLE = core(delete(two_factor).where(_account))


class SqlTwoFactor:
    def __init__(self, db: Db) -> None:
        self.db = db

    def get(self, account_id: int) -> TwoFactor | None:
        return self.db.one(GET, {"account_id": account_id}, _two_factor)

    def enable(self, factor: TwoFactor) -> bool:
        params = {
            "account_id": factor.account_id,
            "method": factor.method,
            "phone": factor.phone,
            "enabled_at": us(factor.enabled_at),
            "recovery_digest": factor.recovery_digest,
            "recovery_sealed": factor.recovery_sealed,
            "recovery_issued_at": us(factor.recovery_issued_at),
        }
        return self.db.run(ENABLE, params) == 1

    def set_phone(self, account_id: int, phone: str) -> bool:
        return self.db.run(SET_PHONE, {"account_id": account_id, "phone": phone}) == 1

    def replace_recovery(self, account_id: int, old_digest: str, digest: str, sealed: str, now: datetime) -> bool:
        params = {
            "account_id": account_id,
            "old_digest": old_digest,
            "digest": digest,
            "sealed": sealed,
            "now": us(now),
        }
        return self.db.run(REPLACE_RECOVERY, params) == 1

    def disable(self, account_id: int) -> bool:
        return self.db.run(DISABLE, {"account_id": account_id}) == 1


def _two_factor(row: Row, c: Columns) -> TwoFactor:
    return TwoFactor(
        account_id=int(row[c["account_id"]]),
        method=row[c["method"]],
        phone=row[c["phone"]],
        enabled_at=at(row[c["enabled_at"]]),
        recovery_digest=row[c["recovery_digest"]],
        recovery_sealed=row[c["recovery_sealed"]],
        recovery_issued_at=at(row[c["recovery_issued_at"]]),
    )
