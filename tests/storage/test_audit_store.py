"""AuditLog."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from tests.storage.conftest import NOW, an_account
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.uow import SqlUnitOfWork


def test_audit_records_events_with_their_details(store: SqlUnitOfWork) -> None:
    account = an_account(store)
    with store.begin() as tx:
        tx.audit.record("login.ok", NOW, account.id, method="email", at=NOW)
        tx.audit.record("code.sent", NOW + timedelta(seconds=1))
    with store.engine.connect() as conn:
        rows = conn.execute(select(t.audit).order_by(t.audit.c.id)).mappings().all()
    assert [(r["event"], r["account_id"], r["at"]) for r in rows] == [
        ("login.ok", account.id, NOW),
        ("code.sent", None, NOW + timedelta(seconds=1)),
    ]
    details = rows[0]["details"]
    assert (json.loads(details) if isinstance(details, str) else details) == {"method": "email", "at": str(NOW)}
