"""The audit log. Hand-written SQL: sign-ins record events (see ``statements``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from vitalkey.adapters.db.statements import Db, Sql, us

INSERT = Sql("INSERT INTO audit (at, account_id, event, details) VALUES (:at, :account_id, :event, :details)")
FORGET = Sql("DELETE FROM audit WHERE account_id = :account_id")


class SqlAudit:
    def __init__(self, db: Db) -> None:
        self.db = db

    def record(self, event: str, now: datetime, account_id: int | None = None, **details: Any) -> None:
        params = {"at": us(now), "account_id": account_id, "event": event, "details": json.dumps(details, default=str)}
        self.db.run(INSERT, params)

    def forget_account(self, account_id: int) -> int:
        return self.db.run(FORGET, {"account_id": account_id})
