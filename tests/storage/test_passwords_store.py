"""PasswordHashRepository, PasswordFailureRepository, PasswordResetRepository."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


def test_failures_count_block_and_clear(store: SqlUnitOfWork) -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    with store.begin() as tx:
        assert tx.password_failures.get("k") == (0, epoch)
        assert tx.password_failures.count("k") == (1, epoch)
        assert tx.password_failures.count("k") == (2, epoch)
        tx.password_failures.block("k", NOW)
        assert tx.password_failures.get("k") == (2, NOW)
        assert tx.password_failures.count("k") == (3, NOW)
        tx.password_failures.clear("k")
        assert tx.password_failures.get("k") == (0, epoch)


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
