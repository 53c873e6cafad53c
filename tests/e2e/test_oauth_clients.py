"""Real third-party OAuth clients against a live ``vitalkey serve`` process: withings-api 2.4.0
and withings-sync 6.1.0 pointed at it as withings-api.md says (only their URLs, config folder and
prompt changed), and Authlib's OAuth2 client with discovery, PKCE, refresh, revocation and an
ID token checked against the published keys. The user signs in with the emailed code and
allows the app on the consent page (``WebUser``)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.errors import InvalidClaimError
from joserfc.jwk import KeySet
from sqlalchemy import create_engine, select
from withings_api import AbstractWithingsApi, WithingsApi, WithingsAuth
from withings_api.common import AuthScope, Credentials2
from withings_sync import withings2

from tests.conftest import LiveServer, Mailbox
from tests.e2e.live_oauth import Partner, WebUser, introspect, query_of, register, sign_up
from vitalkey.adapters.db import schema as t
from vitalkey.domain.oauth import split_token
from vitalkey.domain.tokens import token_digest

EMAIL = "ann@example.org"
PORTAL_CALLBACK = "https://portal.example.com/withings/callback"
NATIVE_CALLBACK = "http://127.0.0.1/callback"
WITHINGS_SCOPES = ("user.info", "user.metrics", "user.activity", "user.sleepevents")


@pytest.fixture
def user(live_server: LiveServer, mailbox: Mailbox) -> Iterator[WebUser]:
    """A signed-up user whose browser is not signed in yet."""
    sign_up(live_server, mailbox, EMAIL)
    browser = WebUser(live_server, mailbox, EMAIL)
    yield browser
    browser.close()


@pytest.fixture
def closer() -> Iterator[ExitStack]:
    """Closes the clients' HTTP sessions after the test."""
    with ExitStack() as stack:
        yield stack


@pytest.fixture
def oauthlib_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests-oauthlib refuses http:// unless told; the scope check stays strict."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.delenv("OAUTHLIB_RELAX_TOKEN_SCOPE", raising=False)


def portal(server: LiveServer, sqlite_url: str) -> Partner:
    return register(
        server, sqlite_url, name="Acme Wellness Portal", redirect_uri=PORTAL_CALLBACK, scopes=WITHINGS_SCOPES
    )


# withings-api -------------------------------------------------------------------------------
@pytest.mark.usefixtures("oauthlib_over_http")
def test_withings_api_links_a_user_then_refreshes(
    live_server: LiveServer,
    sqlite_url: str,
    user: WebUser,
    monkeypatch: pytest.MonkeyPatch,
    closer: ExitStack,
) -> None:
    monkeypatch.setattr(WithingsAuth, "URL", live_server.url)
    monkeypatch.setattr(AbstractWithingsApi, "URL", live_server.url)
    partner = portal(live_server, sqlite_url)
    assert partner.secret is not None
    auth = WithingsAuth(
        partner.client_id,
        partner.secret,
        callback_uri=partner.redirect_uri,
        scope=(AuthScope.USER_INFO, AuthScope.USER_METRICS, AuthScope.USER_ACTIVITY),
    )
    closer.callback(auth._session.close)  # its requests session keeps a socket open

    authorize_url = auth.get_authorize_url()
    assert authorize_url.startswith(live_server.url + "/oauth2_user/authorize2?")
    back = user.link(authorize_url)
    assert user.visits.signed_in and user.visits.consent_page is not None
    assert "Acme Wellness Portal" in user.visits.consent_page
    assert back.startswith(PORTAL_CALLBACK + "?")
    answer = query_of(back)
    assert answer["state"] == query_of(authorize_url)["state"]
    assert answer["iss"] == live_server.url

    # oauthlib raises "Scope has changed" unless the answer's scope is the comma string it sent
    # (it splits scopes on spaces only, so the string stays one item).
    credentials = auth.get_credentials(answer["code"])
    assert auth._session.token["scope"] == ["user.info,user.metrics,user.activity"]
    assert isinstance(credentials.userid, int) and credentials.userid > 0
    assert credentials.token_type == "Bearer" and credentials.expires_in == 10800
    assert credentials.client_id == partner.client_id
    found = introspect(live_server, partner, credentials.access_token)
    assert found["active"] is True and found["sub"] == str(credentials.userid)
    assert found["scope"].split() == ["user.info", "user.metrics", "user.activity"]

    saved: list[Credentials2] = []
    api = WithingsApi(credentials, refresh_cb=saved.append)
    closer.callback(api._client.close)
    api.refresh_token()
    assert len(saved) == 1
    refreshed = saved[0]
    assert api.get_credentials() == refreshed
    assert refreshed.refresh_token != credentials.refresh_token
    assert refreshed.access_token != credentials.access_token
    assert refreshed.userid == credentials.userid and refreshed.expires_in == 10800
    assert introspect(live_server, partner, refreshed.access_token)["active"] is True
    assert introspect(live_server, partner, refreshed.refresh_token)["active"] is True


# withings-sync ------------------------------------------------------------------------------
def test_withings_sync_exchanges_the_code_then_refreshes_at_once(
    live_server: LiveServer,
    sqlite_url: str,
    user: WebUser,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """withings-sync's own first run: it logs the authorize URL, asks for the code at its
    "Token : " prompt, exchanges it, refreshes straight away and saves the result."""
    partner = portal(live_server, sqlite_url)
    monkeypatch.setattr(withings2, "AUTHORIZE_URL", live_server.url + "/oauth2_user/authorize2")
    monkeypatch.setattr(withings2, "TOKEN_URL", live_server.url + "/v2/oauth2")
    folder = tmp_path / "withings-sync"
    folder.mkdir()
    app_config = {"client_id": partner.client_id, "consumer_secret": partner.secret, "callback_url": PORTAL_CALLBACK}
    (folder / "withings_app.json").write_text(json.dumps(app_config))

    prompts: list[str] = []

    def paste_the_code(prompt: str) -> str:
        """The user opens the logged URL, links, and pastes the code from the address bar."""
        prompts.append(prompt)
        logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith(withings2.AUTHORIZE_URL)]
        assert logged, "withings-sync logged no authorize URL"
        return query_of(user.link(logged[-1]))["code"]

    monkeypatch.setattr("builtins.input", paste_the_code)
    caplog.set_level(logging.INFO, logger="withings")

    oauth = withings2.WithingsOAuth2(config_folder=str(folder))

    assert prompts == ["Token : "]
    assert not [r for r in caplog.records if "Could not get access-token" in r.getMessage()]
    saved = json.loads((folder / ".withings_user.json").read_text())
    assert saved == oauth.user_config
    assert isinstance(saved["userid"], int)
    # Two generations of one grant: the code's tokens, then the refresh's; the saved ones are the
    # refresh's, and they work.
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        rows = conn.execute(select(t.oauth_tokens).where(t.oauth_tokens.c.client_id == partner.client_id)).all()
    engine.dispose()
    assert len(rows) == 2 and rows[0].family_id == rows[1].family_id
    first, second = sorted(rows, key=lambda row: row.parent_id is not None)
    assert second.parent_id == first.id and first.retire_at is not None
    assert split_token(saved["refresh_token"]) == (second.id, ANY)  # tokens carry their row id
    assert second.refresh_digest == token_digest(split_token(saved["refresh_token"])[1])
    assert second.access_digest == token_digest(split_token(saved["access_token"])[1])
    assert second.scope_text == "user.metrics"
    found = introspect(live_server, partner, saved["access_token"])
    assert found["active"] is True and found["sub"] == str(saved["userid"]) and found["scope"] == "user.metrics"


# Authlib --------------------------------------------------------------------------------------
def discover(server: LiveServer) -> dict[str, Any]:
    answer = httpx.get(server.url + "/.well-known/openid-configuration", timeout=10)
    assert answer.status_code == 200
    metadata: dict[str, Any] = answer.json()
    assert metadata["issuer"] == server.url
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert "ES256" in metadata["id_token_signing_alg_values_supported"]
    return metadata


def userinfo(metadata: dict[str, Any], access_token: str) -> httpx.Response:
    return httpx.get(metadata["userinfo_endpoint"], headers={"authorization": f"Bearer {access_token}"}, timeout=10)


def at_hash(access_token: str) -> str:
    """OpenID Connect Core §3.1.3.6: the left half of SHA-256, base64url without padding."""
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def test_authlib_public_client_with_pkce_refresh_revocation_and_id_token(
    live_server: LiveServer, sqlite_url: str, user: WebUser, closer: ExitStack
) -> None:
    metadata = discover(live_server)
    app = register(
        live_server,
        sqlite_url,
        name="Coach App",
        redirect_uri=NATIVE_CALLBACK,
        scopes=("openid", "profile", "email", "user.metrics"),
        public=True,
    )
    client = closer.enter_context(
        OAuth2Client(
            client_id=app.client_id,
            scope="openid profile email user.metrics",
            redirect_uri=NATIVE_CALLBACK,
            code_challenge_method="S256",
            token_endpoint_auth_method="none",
            timeout=10,
        )
    )
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    assert query_of(url)["code_challenge_method"] == "S256"

    back = user.link(url)
    assert back.startswith(NATIVE_CALLBACK + "?") and query_of(back)["iss"] == metadata["issuer"]
    token = client.fetch_token(
        metadata["token_endpoint"], authorization_response=back, state=state, code_verifier=verifier
    )
    assert token["token_type"] == "Bearer" and token["scope"] == "openid profile email user.metrics"
    assert token["access_token"] and token["refresh_token"] and token["id_token"]

    # The ID token: ES256 under a key of the published set, for this client, this nonce, now.
    keys = KeySet.import_key_set(httpx.get(metadata["jwks_uri"], timeout=10).json())
    id_token = jwt.decode(token["id_token"], keys, algorithms=["ES256"])
    assert id_token.header["alg"] == "ES256" and id_token.header["kid"] in {key.kid for key in keys}
    jwt.JWTClaimsRegistry(
        leeway=5,
        iss={"essential": True, "value": metadata["issuer"]},
        aud={"essential": True, "value": app.client_id},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
        at_hash={"essential": True, "value": at_hash(token["access_token"])},
    ).validate(id_token.claims)
    with pytest.raises(InvalidClaimError, match="nonce"):
        jwt.JWTClaimsRegistry(nonce={"essential": True, "value": "another-nonce"}).validate(id_token.claims)

    claims = userinfo(metadata, token["access_token"])
    assert claims.status_code == 200, claims.text
    assert claims.json()["sub"] == id_token.claims["sub"]
    assert claims.json()["email"] == EMAIL and claims.json()["given_name"] == "Ann"

    refreshed = client.refresh_token(metadata["token_endpoint"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert refreshed["access_token"] != token["access_token"]
    assert userinfo(metadata, refreshed["access_token"]).status_code == 200

    revoked = client.revoke_token(
        metadata["revocation_endpoint"], token=refreshed["refresh_token"], token_type_hint="refresh_token"
    )
    assert revoked.status_code == 200
    gone = userinfo(metadata, refreshed["access_token"])
    assert gone.status_code == 401 and 'error="invalid_token"' in gone.headers["www-authenticate"]
    with pytest.raises(OAuthError) as refused:
        client.refresh_token(metadata["token_endpoint"], refresh_token=refreshed["refresh_token"])
    assert refused.value.error == "invalid_grant"


def test_authlib_confidential_client_introspects_then_revokes(
    live_server: LiveServer, sqlite_url: str, user: WebUser, closer: ExitStack
) -> None:
    metadata = discover(live_server)
    partner = portal(live_server, sqlite_url)
    client = closer.enter_context(
        OAuth2Client(
            client_id=partner.client_id,
            client_secret=partner.secret,
            scope="user.info user.sleepevents",
            redirect_uri=PORTAL_CALLBACK,
            code_challenge_method="S256",
            timeout=10,
        )
    )
    assert client.token_endpoint_auth_method == "client_secret_basic"
    verifier = generate_token(48)
    url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)
    token = client.fetch_token(
        metadata["token_endpoint"], authorization_response=user.link(url), state=state, code_verifier=verifier
    )
    assert token["scope"] == "user.info user.sleepevents" and "id_token" not in token

    active = client.introspect_token(metadata["introspection_endpoint"], token=token["access_token"]).json()
    assert active["active"] is True and active["client_id"] == partner.client_id
    assert active["iss"] == metadata["issuer"] and active["scope"] == "user.info user.sleepevents"

    answer = client.revoke_token(metadata["revocation_endpoint"], token=token["access_token"])
    assert answer.status_code == 200
    for kind in ("access_token", "refresh_token"):
        after = client.introspect_token(metadata["introspection_endpoint"], token=token[kind]).json()
        assert after == {"active": False}, kind
