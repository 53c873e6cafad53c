"""Sign in with Apple against an Apple-like oidc-provider: form_post, the scope "name email",
the client secret as a short-lived ES256 JWT (checked at the provider's token endpoint against
the team's public key by ``jose``: oidc-provider cannot check Apple's kind of secret itself),
the name posted once, on the first authorization, and Apple's "true"/"false" strings."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.upstream.conftest import APPLE_ACCOUNTS, authorize, finish, upstream_for
from tests.upstream_provider import REDIRECT_URI, AppleTeam, OidcServer
from vitalkey.adapters.upstream import apple
from vitalkey.domain.errors import UpstreamRefused


def test_the_authorization_asks_for_a_form_post_and_the_name_and_email(apple_server: OidcServer) -> None:
    start = asyncio.run(upstream_for(apple_server).start(REDIRECT_URI))
    query = {name: values[0] for name, values in parse_qs(urlsplit(start.url).query).items()}
    assert query["response_mode"] == "form_post"
    assert query["scope"] == "openid name email"
    assert (query["response_type"], query["code_challenge_method"]) == ("code", "S256")
    assert (query["state"], query["nonce"]) == (start.state, start.nonce)


def test_the_name_comes_on_the_first_authorization_only(apple_server: OidcServer) -> None:
    upstream = upstream_for(apple_server)
    before = apple_server.stats()["apple_secrets"]
    first = authorize(apple_server, upstream, "001234.tim")
    assert set(first.answer) >= {"code", "state", "user"}  # posted to the redirect URI
    assert first.answer["state"] == first.start.state
    claims = finish(upstream, first)
    assert (claims.provider, claims.issuer, claims.subject) == ("apple", apple_server.issuer, "001234.tim")
    assert (claims.given_name, claims.family_name) == ("Tim", "Cook")
    # A private relay address, its booleans sent as strings: verified.
    assert (claims.email, claims.email_verified) == ("x7d9k2@privaterelay.appleid.com", True)
    again = authorize(apple_server, upstream, "001234.tim")
    assert "user" not in again.answer
    claims = finish(upstream, again)
    assert (claims.subject, claims.given_name, claims.family_name) == ("001234.tim", None, None)
    # Each exchange's client secret JWT passed the provider's check, sent in the form.
    assert apple_server.stats()["apple_secrets"] - before == 2
    assert apple_server.stats()["token_auth"] == "client_secret_post"


def test_the_string_false_is_not_verified(apple_server: OidcServer) -> None:
    claims = finish(upstream_for(apple_server), authorize(apple_server, upstream_for(apple_server), "005678.eve"))
    assert APPLE_ACCOUNTS["005678.eve"]["email_verified"] == "false"
    assert (claims.email, claims.email_verified) == ("eve@example.org", False)


def test_a_client_secret_signed_with_another_key_is_refused_by_the_provider(apple_server: OidcServer) -> None:
    stranger = AppleTeam()
    upstream = upstream_for(apple_server, private_key=stranger.private_pem)
    with pytest.raises(UpstreamRefused) as refused:
        finish(upstream, authorize(apple_server, upstream, "001234.tim"))
    assert refused.value.reason == "token_exchange_failed"


def test_the_client_secret_jwt_says_what_apple_asks() -> None:
    team = AppleTeam()
    now = int(time.time())
    secret = apple.client_secret(
        team_id=team.team_id,
        client_id="com.example.vitalkey",
        key_id=team.key_id,
        private_key_pem=team.private_pem,
        audience="https://appleid.apple.com",
        now=now,
    )
    token = jwt.decode(secret, ECKey.import_key(team.key.as_dict(private=False)), algorithms=["ES256"])
    assert token.header == {"alg": "ES256", "kid": team.key_id, "typ": "JWT"}
    assert token.claims == {
        "iss": team.team_id,
        "sub": "com.example.vitalkey",
        "aud": "https://appleid.apple.com",
        "iat": now,
        "exp": now + 300,
    }


@pytest.mark.parametrize(
    ("posted", "names"),
    [
        ('{"name": {"firstName": "Tim", "lastName": "Cook"}, "email": "x@privaterelay.appleid.com"}', ("Tim", "Cook")),
        ('{"name": {"firstName": "  Tim  "}}', ("Tim", None)),
        ('{"email": "x@example.org"}', (None, None)),
        ("not json", (None, None)),
        ('["a list"]', (None, None)),
        ('{"name": {"firstName": 7}}', (None, None)),
        (None, (None, None)),
        ('{"name": {"firstName": "' + "x" * 5000 + '"}}', (None, None)),
    ],
)
def test_the_posted_user_is_read_leniently(posted: str | None, names: tuple[str | None, str | None]) -> None:
    assert apple.posted_name(posted) == names


@pytest.mark.parametrize(
    ("value", "flag"),
    [(True, True), ("true", True), ("TRUE", True), (False, False), ("false", False), (None, False), (1, False)],
)
def test_apples_booleans(value: object, flag: bool) -> None:
    assert apple.flag(value) is flag
