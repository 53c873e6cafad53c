"""PasswordHashRepository."""

from __future__ import annotations

from tests.storage.conftest import NOW, an_account
from vitalkey.adapters.db.uow import SqlUnitOfWork


def test_hashes_set_and_rehash(store: SqlUnitOfWork) -> None:
    account = an_account(store)
    with store.begin() as tx:
        assert tx.password_hashes.get(account.id) is None
        assert tx.password_hashes.get(account.id + 1) is None
        tx.password_hashes.set(account.id, "h1", NOW)
        tx.password_hashes.rehash(account.id, "other", "h2")  # changed meanwhile: kept
        assert tx.password_hashes.get(account.id) == "h1"
        tx.password_hashes.rehash(account.id, "h1", "h2")
        assert tx.password_hashes.get(account.id) == "h2"
        stored = tx.accounts.get(account.id)
        assert stored is not None
        assert stored.password_changed_at == NOW
