"""PasswordResetRepository."""

from __future__ import annotations

from datetime import timedelta

from tests.storage.conftest import NOW, an_account
from vitalkey.adapters.db.uow import SqlUnitOfWork


def test_reset_links_newest_only_single_use_and_dead_with_a_new_password(store: SqlUnitOfWork) -> None:
    account = an_account(store)
    later = NOW + timedelta(minutes=1)
    with store.begin() as tx:
        tx.password_resets.add("d1", account.id, NOW, NOW + timedelta(hours=1))
        assert tx.password_resets.account("d1", NOW) == account.id
        tx.password_resets.add("d2", account.id, later, later + timedelta(hours=1))
        assert tx.password_resets.account("d1", later) is None  # only the newest works
        assert tx.password_resets.account("d2", later + timedelta(hours=1)) is None  # expired
        assert tx.password_resets.consume("d2", later) == account.id
        assert tx.password_resets.consume("d2", later) is None
        tx.password_resets.add("d3", account.id, later, later + timedelta(hours=1))
        tx.password_hashes.set(account.id, "h", later)
        assert tx.password_resets.account("d3", later) is None
        assert tx.password_resets.consume("unknown", later) is None
