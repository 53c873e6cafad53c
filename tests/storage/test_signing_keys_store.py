"""SigningKeyRepository."""

from __future__ import annotations

from datetime import timedelta

from tests.storage.conftest import LATER, NOW
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.oauth import SigningKey


def test_signing_keys_newest_first_and_retired_by_algorithm(store: SqlUnitOfWork) -> None:
    older = SigningKey("k1", "ES256", {"kty": "EC", "kid": "k1"}, "sealed-1", NOW)
    newer = SigningKey("k2", "ES256", {"kty": "EC", "kid": "k2"}, "sealed-2", LATER)
    rsa = SigningKey("k3", "RS256", {"kty": "RSA", "kid": "k3"}, "sealed-3", NOW)
    with store.begin() as tx:
        assert tx.signing_keys.all() == []
        for key in (older, newer, rsa):
            tx.signing_keys.add(key)
        assert tx.signing_keys.retire("ES256", LATER, LATER + timedelta(days=1)) == 2
        assert tx.signing_keys.retire("ES256", LATER, LATER + timedelta(days=1)) == 0
        keys = tx.signing_keys.all()
    assert keys[0].kid == "k2"  # newest first
    assert {key.kid for key in keys[1:]} == {"k1", "k3"}
    retired = {key.kid: key for key in keys}
    assert retired["k1"].public_jwk == older.public_jwk
    assert (retired["k1"].retired_at, retired["k1"].publish_until) == (LATER, LATER + timedelta(days=1))
    assert (retired["k3"].retired_at, retired["k3"].private_sealed, retired["k3"].created_at) == (None, "sealed-3", NOW)
