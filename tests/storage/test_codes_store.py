"""CodeRepository."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.storage.conftest import NOW, a_flow
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.codes import StoredCode


def test_attempts_consume_and_replace(store: SqlUnitOfWork) -> None:
    flow = a_flow(store)
    code = StoredCode(flow.id, "login", "hmac-1", NOW + timedelta(minutes=10), 0, 1, NOW, None)
    with store.begin() as tx:
        tx.codes.add(code)
        assert tx.codes.get(flow.id, "login") == code
        assert tx.codes.get(flow.id, "other") is None
        assert tx.codes.count_attempt(flow.id, "login") == replace(code, attempts=1)
        assert tx.codes.count_attempt(flow.id, "other") is None
        later = NOW + timedelta(minutes=1)
        assert tx.codes.replace(flow.id, "login", "hmac-2", later + timedelta(minutes=10), later, expected_sends=1)
        assert not tx.codes.replace(flow.id, "login", "hmac-3", later, later, expected_sends=1)  # a parallel resend won
        assert tx.codes.get(flow.id, "login") == replace(
            code, code_hmac="hmac-2", expires_at=later + timedelta(minutes=10), attempts=1, sends=2, last_sent_at=later
        )
        assert not tx.codes.consume(flow.id, "login", later, max_attempts=0)  # too many attempts
        assert tx.codes.consume(flow.id, "login", later, max_attempts=5)
        assert not tx.codes.consume(flow.id, "login", later, max_attempts=5)  # used once
        assert tx.codes.count_attempt(flow.id, "login") is None  # used codes count no attempts


def test_an_expired_code_is_not_consumed(store: SqlUnitOfWork) -> None:
    flow = a_flow(store)
    with store.begin() as tx:
        tx.codes.add(StoredCode(flow.id, "login", "h", NOW, 0, 1, NOW, None))
        assert not tx.codes.consume(flow.id, "login", NOW, max_attempts=5)
