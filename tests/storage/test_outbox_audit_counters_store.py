"""Outbox, AuditLog and Counters: what they write is what the relay, the operator and the rate
limiter read."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from tests.storage.conftest import NOW, an_account
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.statements import us
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


def test_counters_add_take_back_and_read_since(store: SqlUnitOfWork) -> None:
    first, second = us(NOW), us(NOW + timedelta(minutes=1))
    with store.begin() as tx:
        tx.counters.lock("ip:1")
        tx.counters.add("ip:1", first)
        tx.counters.add("ip:1", first)
        tx.counters.add("ip:1", second)
        tx.counters.add("ip:2", second)
        tx.counters.take_back("ip:1", second)
        tx.counters.take_back("ip:1", second)  # never below zero
        assert tx.counters.since("ip:1", first) == [(first, 2), (second, 0)]
        assert tx.counters.since("ip:1", second) == [(second, 0)]
        assert tx.counters.since("ip:3", 0) == []
        tx.counters.lock("ip:1")  # the lock row is outside every window
        assert tx.counters.since("ip:1", 1) == [(first, 2), (second, 0)]
