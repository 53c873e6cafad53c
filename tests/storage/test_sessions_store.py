"""SessionRepository."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.storage.conftest import NOW, an_account
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.sessions import Session, SessionKind


def _session(account_id: int, session_id: str, seen_minutes: int) -> Session:
    seen = NOW + timedelta(minutes=seen_minutes)
    return Session(
        session_id, account_id, SessionKind.WEB, NOW, seen, NOW + timedelta(days=1), "UA", "127.0.0.1", ("email",)
    )


def test_round_trip_touch_factor_listing_and_revocation(store: SqlUnitOfWork) -> None:
    account = an_account(store)
    first, second, third = (_session(account.id, f"s{i}", i) for i in range(3))
    with store.begin() as tx:
        for session in (first, second, third):
            tx.sessions.add(session)
    later = NOW + timedelta(hours=1)
    with store.begin() as tx:
        assert tx.sessions.get("s0") == first
        assert tx.sessions.get("none") is None
        tx.sessions.touch("s0", later)
        tx.sessions.add_factor(first, "sms", later, expires_by=later + timedelta(hours=2))
        assert tx.sessions.get("s0") == replace(
            first,
            last_seen_at=later,
            methods=("email", "sms"),
            authenticated_at=later,
            expires_at=later + timedelta(hours=2),
        )
        listed = tx.sessions.for_account(account.id, later)
        assert [s.id for s in listed] == ["s0", "s2", "s1"]  # last seen first
        assert tx.sessions.for_account(account.id, NOW + timedelta(days=2)) == []  # expired
        assert tx.sessions.revoke(account.id, "s1", later)
        assert not tx.sessions.revoke(account.id, "s1", later)  # already
        assert not tx.sessions.revoke(account.id + 1, "s2", later)  # not the account's
        assert tx.sessions.get("s1") is None
        assert tx.sessions.revoke_all_except(account.id, "s0", later) == 1
        assert [s.id for s in tx.sessions.for_account(account.id, later)] == ["s0"]
        assert tx.sessions.revoke_all_except(account.id, None, later) == 1
