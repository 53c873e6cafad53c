"""NonceRepository."""

from __future__ import annotations

from datetime import timedelta

from tests.storage.conftest import NOW
from vitalkey.adapters.db.uow import SqlUnitOfWork


def test_nonces_are_single_use_and_short_lived(store: SqlUnitOfWork) -> None:
    with store.begin() as tx:
        tx.nonces.add("n1", "coach", NOW + timedelta(minutes=5))
        tx.nonces.add("n2", "coach", NOW)
        assert not tx.nonces.use("n1", "other", NOW)
        assert tx.nonces.use("n1", "coach", NOW)
        assert not tx.nonces.use("n1", "coach", NOW)
        assert not tx.nonces.use("n2", "coach", NOW)  # expired
        tx.nonces.add("n3", "coach", NOW + timedelta(days=2))  # purges those a day past expiry
        tx.nonces.add("n2", "coach", NOW + timedelta(days=2))  # purged, so its name is free again
