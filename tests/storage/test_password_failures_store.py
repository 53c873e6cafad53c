"""PasswordFailureRepository."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.storage.conftest import NOW
from vitalkey.adapters.db.uow import SqlUnitOfWork


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
