"""AppPasswordRepository."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.storage.conftest import NOW, an_account, an_app
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.two_factor import AppPassword


def test_app_passwords_use_and_revoke(store: SqlUnitOfWork) -> None:
    account = an_account(store)
    an_app(store)
    first = AppPassword("p1", account.id, "coach", "Watch", NOW, None)
    second = AppPassword("p2", account.id, "coach", "Scale", NOW + timedelta(seconds=1), None)
    later = NOW + timedelta(hours=1)
    with store.begin() as tx:
        tx.app_passwords.add(first, "d1")
        tx.app_passwords.add(second, "d2")
        assert tx.app_passwords.for_account(account.id) == [first, second]
        assert tx.app_passwords.use(account.id, "coach", "d1", later) == replace(first, last_used_at=later)
        assert tx.app_passwords.use(account.id, "coach", "unknown", later) is None
        assert tx.app_passwords.use(account.id, "other", "d1", later) is None
        assert tx.app_passwords.revoke(account.id, "p1", later)
        assert not tx.app_passwords.revoke(account.id, "p1", later)
        assert tx.app_passwords.use(account.id, "coach", "d1", later) is None
        assert tx.app_passwords.revoke_all(account.id, later) == 1
        assert tx.app_passwords.for_account(account.id) == []
