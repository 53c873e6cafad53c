"""The ID token checks on their own (the real provider's tests are in tests/upstream): what is
malformed, and the claim rules a provider cannot easily be made to break."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from vitalkey.adapters.upstream.id_token import Refusal, check_claims, key_for, signing_keys, token_header

NOW = int(time.time())
GOOD = {"iss": "https://idp.example", "sub": "u1", "aud": "client", "exp": NOW + 600, "iat": NOW, "nonce": "n"}


def reason(claims: dict[str, Any]) -> str:
    with pytest.raises(Refusal) as refused:
        check_claims(claims, issuer="https://idp.example", client_id="client", nonce="n", now=NOW, leeway_s=300)
    return refused.value.reason


def test_good_claims_pass() -> None:
    check_claims(GOOD, issuer="https://idp.example", client_id="client", nonce="n", now=NOW, leeway_s=300)
    several = {**GOOD, "aud": ["client", "other"], "azp": "client"}
    check_claims(several, issuer="https://idp.example", client_id="client", nonce="n", now=NOW, leeway_s=300)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"nonce": None}, "wrong_nonce"),
        ({"nonce": "m"}, "wrong_nonce"),
        ({"nonce": 7}, "wrong_nonce"),
        ({"sub": None}, "malformed"),
        ({"sub": ""}, "malformed"),
        ({"iat": "yesterday"}, "malformed"),
        ({"exp": None}, "malformed"),
        ({"iat": NOW + 301}, "issued_in_future"),
        ({"exp": NOW - 301}, "expired"),
        ({"aud": ["other"]}, "wrong_audience"),
        ({"aud": ["client", "other"]}, "wrong_audience"),  # several audiences need azp
        ({"azp": "other"}, "wrong_audience"),
        ({"iss": "https://idp.example/"}, "wrong_issuer"),
    ],
)
def test_each_wrong_claim_has_its_reason(changes: dict[str, Any], expected: str) -> None:
    claims = {name: value for name, value in {**GOOD, **changes}.items() if value is not None}
    assert reason(claims) == expected


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b.c", "a.b.c.d.e", "é.b.c", "eyJhbGciOjF9.e30.", "x" * 20_000],
)
def test_what_is_no_signed_jwt_is_malformed(token: str) -> None:
    with pytest.raises(Refusal, match="malformed"):
        token_header(token)


def test_keys_by_kid_leaving_out_what_cannot_sign() -> None:
    rsa = RSAKey.generate_key(2048, private=False)
    public = rsa.as_dict(private=False)
    keys = signing_keys(
        {"keys": [{**public, "kid": "a"}, {**public, "kid": "enc", "use": "enc"}, {"kty": "XYZ", "kid": "b"}, "x"]}
    )
    assert list(keys) == ["a"]
    assert key_for({"alg": "RS256", "kid": "a"}, keys) is keys["a"]
    assert key_for({"alg": "RS256", "kid": "c"}, keys) is None
    assert key_for({"alg": "RS256"}, keys) is keys["a"]  # no kid: the only key
    assert key_for({"alg": "RS256"}, {**keys, "d": keys["a"]}) is None  # no kid, several keys: none
    for document in ({"keys": "x"}, [], None):
        with pytest.raises(Refusal, match="malformed"):
            signing_keys(document)


def test_the_header_is_read_before_anything_is_trusted() -> None:
    key = RSAKey.generate_key(2048, private=True)
    token = jwt.encode({"alg": "RS256", "kid": "k"}, GOOD, key)
    assert token_header(token) == {"alg": "RS256", "kid": "k", "typ": "JWT"}
