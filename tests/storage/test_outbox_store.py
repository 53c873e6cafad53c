"""Outbox: what it writes is what the relay reads."""

from __future__ import annotations

from sqlalchemy import select

from tests.storage.conftest import NOW
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.ports import OutgoingMail, QueuedSms


def test_outbox_rows_are_queued_once_per_key(store: SqlUnitOfWork) -> None:
    with store.begin() as tx:
        tx.outbox.enqueue(OutgoingMail("ann@example.org", "login_code", "en", {"code": "123456"}, "mail-1"), NOW)
        tx.outbox.enqueue_sms(QueuedSms("+33612345678", "sms_code", "fr", {"code": "654321"}, "sms-1"), NOW)
    with store.engine.connect() as conn:
        rows = conn.execute(select(t.outbox).order_by(t.outbox.c.id)).mappings().all()
    assert [(r["channel"], r["recipient"], r["template"], r["language"], r["idempotency_key"]) for r in rows] == [
        ("email", "ann@example.org", "login_code", "en", "mail-1"),
        ("sms", "+33612345678", "sms_code", "fr", "sms-1"),
    ]
    assert [r["payload"] for r in rows] == [{"code": "123456"}, {"code": "654321"}]
    assert all(
        (r["created_at"], r["next_attempt_at"], r["attempts"], r["sent_at"]) == (NOW, NOW, 0, None) for r in rows
    )
