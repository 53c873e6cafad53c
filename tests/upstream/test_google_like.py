"""Sign-in through a Google-like provider (node's oidc-provider: code flow, client_secret_post,
email_verified true): what the authorization asks for, the claims, discovery and refusals of
the exchange itself."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.upstream.conftest import GOOGLE_ACCOUNTS, authorize, finish, refusals, serve, sign_in, upstream_for
from tests.upstream_provider import REDIRECT_URI, OidcServer, rsa_jwk
from vitalkey.domain.errors import UpstreamRefused
from vitalkey.ports import UpstreamClaims, UpstreamStart


def test_a_sign_in_gives_the_id_tokens_claims(google_server: OidcServer) -> None:
    upstream = upstream_for(google_server, display_name="Google")
    claims = sign_in(google_server, upstream, "ada")
    assert google_server.stats()["token_auth"] == "client_secret_post"  # listed first, as Google does
    assert claims == UpstreamClaims(
        provider="google",
        issuer=google_server.issuer,
        subject="ada",
        email="ada@example.com",
        email_verified=True,
        given_name="Ada",
        family_name="Lovelace",
    )
    assert (upstream.id, upstream.display_name, upstream.trusted_for_second_factor) == ("google", "Google", False)


def test_an_address_the_provider_has_not_verified_is_said_so(google_server: OidcServer) -> None:
    claims = sign_in(google_server, upstream_for(google_server), "bob")
    assert (claims.email, claims.email_verified) == ("bob@example.com", False)


def test_the_authorization_asks_for_a_code_with_pkce_state_nonce_and_the_scopes(google_server: OidcServer) -> None:
    upstream = upstream_for(google_server, scopes=["openid", "email"])
    first = asyncio.run(upstream.start(REDIRECT_URI))
    second = asyncio.run(upstream.start(REDIRECT_URI))
    url = urlsplit(first.url)
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{google_server.issuer}/auth"
    challenge = base64.urlsafe_b64encode(hashlib.sha256(first.code_verifier.encode()).digest()).rstrip(b"=").decode()
    assert query == {
        "response_type": "code",
        "client_id": google_server.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email",
        "state": first.state,
        "nonce": first.nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    assert 43 <= len(first.code_verifier) <= 128
    for secret in ("state", "nonce", "code_verifier"):  # fresh each time, and long
        assert getattr(first, secret) != getattr(second, secret)
        assert len(getattr(first, secret)) >= 43


def test_discovery_is_fetched_once(google_server: OidcServer) -> None:
    upstream = upstream_for(google_server)
    before = google_server.stats()["discovery"]
    sign_in(google_server, upstream, "ada")
    sign_in(google_server, upstream, "ada")
    assert google_server.stats()["discovery"] - before == 1


def test_a_discovered_issuer_other_than_the_configured_one_is_refused(google_server: OidcServer) -> None:
    upstream = upstream_for(google_server, id="slash", issuer=google_server.issuer + "/")
    before = refusals("slash", "wrong_issuer")
    with pytest.raises(UpstreamRefused) as refused:
        asyncio.run(upstream.start(REDIRECT_URI))
    assert refused.value.reason == "wrong_issuer"
    assert refusals("slash", "wrong_issuer") == before + 1


def test_an_unreachable_provider_is_a_refusal_not_a_crash(google_server: OidcServer) -> None:
    upstream = upstream_for(google_server, id="gone", issuer="http://127.0.0.1:9")
    with pytest.raises(UpstreamRefused) as refused:
        asyncio.run(upstream.start(REDIRECT_URI))
    assert refused.value.reason == "unavailable"
    assert refused.value.params["provider"] == "Google"


def test_a_code_is_exchanged_once(google_server: OidcServer) -> None:
    upstream = upstream_for(google_server)
    attempt = authorize(google_server, upstream, "ada")
    assert finish(upstream, attempt).subject == "ada"
    before = refusals("google", "token_exchange_failed")
    with pytest.raises(UpstreamRefused) as refused:
        finish(upstream, attempt)
    assert refused.value.reason == "token_exchange_failed"
    assert refusals("google", "token_exchange_failed") == before + 1


def test_the_code_needs_its_pkce_verifier(google_server: OidcServer) -> None:
    upstream = upstream_for(google_server)
    attempt = authorize(google_server, upstream, "ada")
    other = UpstreamStart(attempt.start.url, attempt.start.state, attempt.start.nonce, "x" * 64)
    with pytest.raises(UpstreamRefused) as refused:
        finish(upstream, attempt, expected=other)
    assert refused.value.reason == "token_exchange_failed"


def test_a_wrong_client_secret_is_refused_by_the_provider(google_server: OidcServer) -> None:
    upstream = upstream_for(google_server, client_secret="not-the-secret")
    with pytest.raises(UpstreamRefused) as refused:
        sign_in(google_server, upstream, "ada")
    assert refused.value.reason == "token_exchange_failed"


def test_an_openid_connect_provider_that_takes_basic_authentication(
    oidc_provider_installed: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A generic provider whose discovery lists client_secret_basic only: the client authenticates
    with it (oidc-provider would take either, so the test reads which one came)."""
    for server in serve(
        tmp_path_factory.mktemp("acme"),
        "google",
        keys=[rsa_jwk("acme-1")],
        accounts=GOOGLE_ACCOUNTS,
        auth_method="client_secret_basic",
    ):
        discovery = httpx.get(f"{server.issuer}/.well-known/openid-configuration").json()
        assert discovery["token_endpoint_auth_methods_supported"] == ["client_secret_basic"]
        upstream = upstream_for(server, id="acme", kind="oidc", display_name="Acme SSO")
        claims = sign_in(server, upstream, "ada")
        assert server.stats()["token_auth"] == "client_secret_basic"
        assert (claims.provider, claims.subject, claims.email_verified) == ("acme", "ada", True)
        assert upstream.display_name == "Acme SSO"
