"""AuthorizationCodeRepository, TokenRepository, ConsentRepository, NonceRepository,
SigningKeyRepository."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.storage.conftest import NOW, an_account, an_app
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.oauth import AuthorizationCode, Consent, SigningKey, TokenRecord

LATER = NOW + timedelta(minutes=1)


def _code(account_id: int, digest: str = "c1") -> AuthorizationCode:
    return AuthorizationCode(
        digest, "coach", account_id, "https://coach.example/cb", ("openid", "user.metrics"), "openid user.metrics",
        "n-1", "challenge", "S256", NOW, ("email", "sms"), "family-1", NOW, NOW + timedelta(minutes=5),
    )  # fmt: skip


def _token(account_id: int, parent_id: int | None = None, family_id: str = "family-1") -> TokenRecord:
    return TokenRecord(
        0, family_id, parent_id, "coach", account_id, ("user.metrics",), "user.metrics", NOW,
        NOW + timedelta(hours=1), NOW + timedelta(days=30), access_digest="a", refresh_digest="r",
    )  # fmt: skip


def test_authorization_codes_are_used_once(store: SqlUnitOfWork) -> None:
    account = an_account(store)
    an_app(store)
    code = _code(account.id)
    with store.begin() as tx:
        tx.authorization_codes.add(code)
        tx.authorization_codes.add(_code(account.id, "expired"))
        assert tx.authorization_codes.get("c1") == code
        assert tx.authorization_codes.get("none") is None
        assert tx.authorization_codes.use("c1", LATER) == replace(code, used_at=LATER)
        assert tx.authorization_codes.use("c1", LATER) is None
        assert tx.authorization_codes.use("expired", NOW + timedelta(minutes=5)) is None
        assert tx.authorization_codes.get("c1") == replace(code, used_at=LATER)


def test_token_generations_first_use_rotate_and_revoke(store: SqlUnitOfWork) -> None:
    account = an_account(store)
    an_app(store)
    with store.begin() as tx:
        first_id = tx.oauth_tokens.add(_token(account.id))
        first = replace(_token(account.id), id=first_id)
        assert tx.oauth_tokens.get(first_id) == first
        assert tx.oauth_tokens.get(first_id + 100) is None
        assert tx.oauth_tokens.legacy_id("unknown") is None
        assert tx.oauth_tokens.rotate(first_id, NOW, retire_at=LATER + timedelta(minutes=1))
        assert tx.oauth_tokens.rotate(first_id, NOW, retire_at=LATER)  # earlier: moved
        assert not tx.oauth_tokens.rotate(first_id, LATER, retire_at=LATER)  # retired by then
        child_id = tx.oauth_tokens.add(_token(account.id, parent_id=first_id))
        child = replace(_token(account.id, parent_id=first_id), id=child_id)
        assert tx.oauth_tokens.first_use(child, NOW)
        assert not tx.oauth_tokens.first_use(child, LATER)  # once
        assert tx.oauth_tokens.get(first_id) == replace(first, retire_at=NOW)
        stored_child = tx.oauth_tokens.get(child_id)
        assert stored_child is not None
        assert stored_child.access_used_at == NOW
        other_id = tx.oauth_tokens.add(_token(account.id, family_id="family-2"))
        assert tx.oauth_tokens.revoke_family(account.id, "coach", "family-1", LATER) == 2
        assert tx.oauth_tokens.revoke_family(account.id, "coach", "family-1", LATER) == 0
        assert not tx.oauth_tokens.rotate(child_id, NOW, LATER)  # revoked
        tx.authorization_codes.add(_code(account.id))
        assert tx.oauth_tokens.revoke_app(account.id, "coach", LATER) == 1
        revoked = tx.oauth_tokens.get(other_id)
        assert revoked is not None
        assert revoked.revoked_at == LATER
        assert tx.authorization_codes.use("c1", LATER) is None  # spent with the app's tokens


def test_consents_widen_mark_use_list_and_forget(store: SqlUnitOfWork) -> None:
    account = an_account(store)
    an_app(store)
    precision = timedelta(hours=1)
    with store.begin() as tx:
        assert tx.consents.get(account.id, "coach") is None
        tx.consents.allow(account.id, "coach", ("user.info",), NOW)
        tx.consents.allow(account.id, "coach", ("user.info", "user.metrics"), LATER)
        assert tx.consents.get(account.id, "coach") == Consent(account.id, "coach", ("user.info", "user.metrics"), NOW)
        tx.consents.used(account.id, "coach", NOW, precision)
        tx.consents.used(account.id, "coach", LATER, precision)  # within the precision: not written
        consent = Consent(account.id, "coach", ("user.info", "user.metrics"), NOW, NOW)
        assert tx.consents.for_account(account.id) == [consent]
        assert tx.consents.for_account(account.id + 1) == []
        assert tx.consents.forget(account.id, "coach")
        assert not tx.consents.forget(account.id, "coach")
        assert tx.consents.get(account.id, "coach") is None


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
