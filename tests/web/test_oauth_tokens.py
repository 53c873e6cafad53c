"""The token endpoints: code redemption (single use, 30 s, PKCE), Withings refresh rotation with
family revocation, revocation, introspection, ID tokens, userinfo and every malformed request."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.testclient import TestClient

from tests.conftest import Mailbox, code_in
from tests.web.conftest import ClientFactory, csrf_of
from tests.web.oauth_kit import (
    CALLBACK,
    Partner,
    authorize_url,
    code_for,
    pkce,
    query_of,
    register,
    signed_up,
    token,
    withings_token,
)
from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.notifications import Appli, Subscription, UserAction


def linked(
    make_client: ClientFactory, mailbox: Mailbox, clock: FrozenClock | None = None
) -> tuple[TestClient, Partner]:
    client = make_client(clock=clock) if clock else make_client()
    partner = register(client.app.state.container)  # type: ignore[attr-defined]
    signed_up(client, mailbox)
    return client, partner


def redeem(client: TestClient, partner: Partner, code: str, **extra: str) -> Any:
    return token(client, partner, grant_type="authorization_code", code=code, redirect_uri=CALLBACK, **extra)


def userinfo(client: TestClient, access_token: str) -> Any:
    return client.get("/oauth2/userinfo", headers={"authorization": f"Bearer {access_token}"})


def test_a_code_is_single_use_and_its_reuse_revokes_what_it_gave(make_client: ClientFactory, mailbox: Mailbox) -> None:
    client, partner = linked(make_client, mailbox)
    code = code_for(client, partner, scope="user.info openid")["code"]
    first = redeem(client, partner, code)
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    tokens = first.json()
    assert set(tokens) >= {"access_token", "refresh_token", "expires_in", "token_type", "scope", "id_token"}
    assert userinfo(client, tokens["access_token"]).status_code == 200
    second = redeem(client, partner, code)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    metrics = client.get("/metrics").text
    assert 'vitalkey_oauth_token_requests_total{grant="authorization_code",outcome="invalid_grant"}' in metrics
    assert userinfo(client, tokens["access_token"]).status_code == 401
    refreshed = token(client, partner, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.json()["error"] == "invalid_grant"


def test_a_code_lives_30_seconds(make_client: ClientFactory, mailbox: Mailbox, clock: FrozenClock) -> None:
    client, partner = linked(make_client, mailbox, clock)
    code = code_for(client, partner)["code"]
    clock.advance(seconds=31)
    assert redeem(client, partner, code).json()["error"] == "invalid_grant"
    fresh = code_for(client, partner)["code"]
    clock.advance(seconds=29)
    assert redeem(client, partner, fresh).status_code == 200


def test_withings_refresh_rotation_grace_and_family_revocation(
    make_client: ClientFactory, mailbox: Mailbox, clock: FrozenClock
) -> None:
    client, partner = linked(make_client, mailbox, clock)
    code = code_for(client, partner)["code"]
    first = withings_token(client, partner, grant_type="authorization_code", code=code, redirect_uri=CALLBACK)["body"]

    # withings-sync refreshes at once: the new pair comes with the scope as requested.
    second = withings_token(client, partner, grant_type="refresh_token", refresh_token=first["refresh_token"])["body"]
    assert second["refresh_token"] != first["refresh_token"] and second["scope"] == "user.info,user.metrics"
    # The old refresh token still works until the new access token is used ...
    third = withings_token(client, partner, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert third["status"] == 0
    assert userinfo(client, third["body"]["access_token"]).status_code == 403  # used (no openid scope)
    # ... after which presenting it is a replay: the whole family is revoked.
    replay = withings_token(client, partner, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert replay["status"] == 503 and "invalid_grant" in replay["error"]
    for pair in (second, third["body"]):
        assert (
            withings_token(client, partner, grant_type="refresh_token", refresh_token=pair["refresh_token"])["status"]
            == 503
        )

    # A new family: the old refresh token expires 8 hours after the rotation even unused.
    code = code_for(client, partner)["code"]
    start = withings_token(client, partner, grant_type="authorization_code", code=code, redirect_uri=CALLBACK)["body"]
    newer = withings_token(client, partner, grant_type="refresh_token", refresh_token=start["refresh_token"])["body"]
    clock.advance(hours=7, minutes=59)
    assert (
        withings_token(client, partner, grant_type="refresh_token", refresh_token=start["refresh_token"])["status"] == 0
    )
    clock.advance(minutes=2)
    late = withings_token(client, partner, grant_type="refresh_token", refresh_token=start["refresh_token"])
    assert late["status"] == 503
    assert (
        withings_token(client, partner, grant_type="refresh_token", refresh_token=newer["refresh_token"])["status"]
        == 503
    )


def test_access_tokens_last_3_hours(make_client: ClientFactory, mailbox: Mailbox, clock: FrozenClock) -> None:
    client, partner = linked(make_client, mailbox, clock)
    tokens = redeem(client, partner, code_for(client, partner, scope="openid")["code"]).json()
    assert tokens["expires_in"] == 3 * 3600
    clock.advance(hours=2, minutes=59)
    assert userinfo(client, tokens["access_token"]).status_code == 200
    clock.advance(minutes=2)
    expired = userinfo(client, tokens["access_token"])
    assert expired.status_code == 401 and 'error="invalid_token"' in expired.headers["www-authenticate"]


def test_pkce_rules(make_client: ClientFactory, mailbox: Mailbox) -> None:
    client = make_client()
    container = client.app.state.container  # type: ignore[attr-defined]
    public = register(container, public=True)
    confidential = register(container)
    signed_up(client, mailbox)
    verifier, challenge = pkce()

    def refused(partner: Partner, **params: str) -> dict[str, str]:
        answer = client.get(authorize_url(partner, **params), follow_redirects=False)
        assert answer.status_code == 302
        return query_of(answer.headers["location"])

    assert refused(public)["error"] == "invalid_request"  # a public client must use PKCE
    assert refused(public, code_challenge=verifier, code_challenge_method="plain")["error"] == "invalid_request"
    assert refused(public, code_challenge=verifier)["error"] == "invalid_request"  # no method means plain
    code = code_for(client, public, code_challenge=challenge, code_challenge_method="S256")["code"]
    wrong = token(
        client,
        public,
        grant_type="authorization_code",
        code=code,
        redirect_uri=public.redirect_uri,
        code_verifier=pkce()[0],
    )
    assert wrong.json()["error"] == "invalid_grant"
    code = code_for(client, public, code_challenge=challenge, code_challenge_method="S256")["code"]
    missing = token(client, public, grant_type="authorization_code", code=code, redirect_uri=public.redirect_uri)
    assert missing.json()["error"] == "invalid_request"
    code = code_for(client, public, code_challenge=challenge, code_challenge_method="S256")["code"]
    right = token(
        client,
        public,
        grant_type="authorization_code",
        code=code,
        redirect_uri=public.redirect_uri,
        code_verifier=verifier,
    )
    assert right.status_code == 200, right.text
    # A loopback redirect URI may change its port (RFC 8252 §7.3), nothing else.
    moved = client.get(
        authorize_url(
            public,
            code_challenge=challenge,
            code_challenge_method="S256",
            redirect_uri="http://127.0.0.1:51234/callback",
        ),
        follow_redirects=False,
    )
    assert moved.headers["location"].startswith("http://127.0.0.1:51234/callback?code=")
    # A verifier without a challenge is refused.
    code = code_for(client, confidential)["code"]
    assert redeem(client, confidential, code, code_verifier=verifier).json()["error"] == "invalid_request"


def test_malformed_requests_get_the_right_oauth_error(make_client: ClientFactory, mailbox: Mailbox) -> None:
    client, partner = linked(make_client, mailbox)
    assert (
        client.post("/oauth2/token", data={}).json()["error"] == "invalid_request"
    )  # RFC 6749 §5.2: grant_type missing
    for grant in ("password", "client_credentials", "implicit", "urn:ietf:params:oauth:grant-type:device_code"):
        answer = token(client, partner, grant_type=grant, username="ann@example.com", password="x")
        assert answer.status_code == 400 and answer.json()["error"] == "unsupported_grant_type"
    bad_secret = client.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": "x",
            "client_id": partner.client_id,
            "client_secret": "wrong",
        },
    )
    assert bad_secret.status_code in (400, 401) and bad_secret.json()["error"] == "invalid_client"
    assert redeem(client, partner, "").json()["error"] in ("invalid_request", "invalid_grant")
    assert redeem(client, partner, "not-a-code").json()["error"] == "invalid_grant"
    code = code_for(client, partner)["code"]
    other_uri = token(client, partner, grant_type="authorization_code", code=code, redirect_uri=CALLBACK + "x")
    assert other_uri.json()["error"] == "invalid_grant"
    as_json = client.post("/oauth2/token", json={"grant_type": "authorization_code"})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    not_utf8 = client.post(
        "/oauth2/token", content=b"grant_type=\xff", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert not_utf8.status_code == 400 and not_utf8.json()["error"] == "invalid_request"
    assert client.get("/oauth2/token").status_code == 405
    # Scopes are limited to the client's; no implicit grant.
    narrow = register(client.app.state.container, scopes=("user.info",))  # type: ignore[attr-defined]
    scope = query_of(
        client.get(authorize_url(narrow, scope="user.metrics"), follow_redirects=False).headers["location"]
    )
    assert scope["error"] == "invalid_scope" and scope["state"] == "xyz-state" and scope["iss"]
    unknown = query_of(client.get(authorize_url(partner, scope="admin"), follow_redirects=False).headers["location"])
    assert unknown["error"] == "invalid_scope"
    implicit = query_of(
        client.get(authorize_url(partner, response_type="token"), follow_redirects=False).headers["location"]
    )
    assert implicit["error"] == "unsupported_response_type"
    # Withings answers in its envelope, HTTP 200.
    wrong = withings_token(client, partner, grant_type="authorization_code", code="nope", redirect_uri=CALLBACK)
    assert wrong["status"] == 503 and wrong["error"].startswith("Invalid Params")
    bad_client = client.post(
        "/v2/oauth2",
        data={
            "action": "requesttoken",
            "grant_type": "authorization_code",
            "client_id": partner.client_id,
            "client_secret": "nope",
            "code": "x",
        },
    )
    assert bad_client.status_code == 200 and bad_client.json()["status"] == 401
    unknown_action = client.post("/v2/oauth2", data={"action": "explode"})
    assert unknown_action.json()["status"] == 2554


def test_prompt_and_max_age(make_client: ClientFactory, mailbox: Mailbox) -> None:
    client = make_client()
    partner = register(client.app.state.container)  # type: ignore[attr-defined]
    # prompt=none without a session: login_required, back to the client.
    none = client.get(authorize_url(partner, scope="openid", prompt="none"), follow_redirects=False)
    assert query_of(none.headers["location"])["error"] == "login_required"
    signed_up(client, mailbox)
    # prompt=none before consent: consent_required.
    consent = client.get(authorize_url(partner, scope="openid", prompt="none"), follow_redirects=False)
    assert query_of(consent.headers["location"])["error"] == "consent_required"
    assert code_for(client, partner, scope="openid")["code"]
    assert code_for(client, partner, scope="openid", prompt="none")["code"]
    # prompt=consent asks again; prompt=login and max_age=0 send a signed-in user to sign in again.
    assert client.get(authorize_url(partner, scope="openid", prompt="consent")).text.count("Allow this app") == 1
    for params in ({"prompt": "login"}, {"max_age": "0"}):
        again = client.get(authorize_url(partner, scope="openid", **params), follow_redirects=False)
        assert again.status_code == 303 and again.headers["location"].startswith("/login?continue=")
    assert code_for(client, partner, scope="openid", max_age="3600")["code"]


def test_id_tokens_jwks_and_key_rotation(make_client: ClientFactory, mailbox: Mailbox) -> None:
    client, partner = linked(make_client, mailbox)
    container = client.app.state.container  # type: ignore[attr-defined]
    meta = client.get("/.well-known/openid-configuration").json()
    assert meta["issuer"] == container.settings.public_url and meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert len(client.get("/oauth2/jwks").json()["keys"]) == 1  # there before the first ID token
    code = code_for(client, partner, scope="openid email", nonce="n-0S6_WzA2Mj")["code"]
    tokens = redeem(client, partner, code).json()
    keys = KeySet.import_key_set(client.get("/oauth2/jwks").json())
    decoded = jwt.decode(tokens["id_token"], keys, algorithms=["ES256"])
    claims = decoded.claims
    assert decoded.header["alg"] == "ES256" and decoded.header["kid"]
    assert claims["iss"] == meta["issuer"] and claims["aud"] == [partner.client_id]
    assert claims["nonce"] == "n-0S6_WzA2Mj" and claims["email"] == "ann@example.com" and claims["sub"]
    assert claims["exp"] - claims["iat"] == 3600
    info = userinfo(client, tokens["access_token"]).json()
    assert info["sub"] == claims["sub"] and info["email"] == "ann@example.com"

    old_kid = decoded.header["kid"]
    container.signing_keys.rotate()
    kids = [key["kid"] for key in client.get("/oauth2/jwks").json()["keys"]]
    assert old_kid in kids and len(kids) == 2  # the old key stays until its ID tokens expire
    code = code_for(client, partner, scope="openid")["code"]
    newer = jwt.decode(
        redeem(client, partner, code).json()["id_token"], KeySet.import_key_set(client.get("/oauth2/jwks").json())
    )
    assert newer.header["kid"] != old_kid


def test_revocation_and_introspection(make_client: ClientFactory, mailbox: Mailbox) -> None:
    client, partner = linked(make_client, mailbox)
    other = register(client.app.state.container)  # type: ignore[attr-defined]
    tokens = redeem(client, partner, code_for(client, partner)["code"]).json()
    auth = {"client_id": partner.client_id, "client_secret": partner.secret or ""}
    live = client.post("/oauth2/introspect", data={"token": tokens["access_token"], **auth}).json()
    assert (
        live["active"] is True and live["client_id"] == partner.client_id and live["scope"] == "user.info user.metrics"
    )
    foreign = client.post(
        "/oauth2/introspect",
        data={"token": tokens["access_token"], "client_id": other.client_id, "client_secret": other.secret or ""},
    ).json()
    assert foreign == {"active": False}
    assert client.post("/oauth2/introspect", data={"token": tokens["access_token"]}).status_code == 401
    revoked = client.post(
        "/oauth2/revoke", data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token", **auth}
    )
    assert revoked.status_code == 200
    assert client.post("/oauth2/introspect", data={"token": tokens["access_token"], **auth}).json() == {"active": False}
    assert client.post("/oauth2/revoke", data={"token": "unknown", **auth}).status_code == 200  # RFC 7009 §2.2


def test_withings_signed_requests_and_revoke(make_client: ClientFactory, mailbox: Mailbox, clock: FrozenClock) -> None:
    client, partner = linked(make_client, mailbox, clock)
    secret = (partner.secret or "").encode()

    def sign(*values: str) -> str:
        return hmac.new(secret, ",".join(values).encode(), hashlib.sha256).hexdigest()

    def nonce() -> str:
        timestamp = str(int(clock.now().timestamp()))
        answer = client.post(
            "/v2/signature",
            data={
                "action": "getnonce",
                "client_id": partner.client_id,
                "timestamp": timestamp,
                "signature": sign("getnonce", partner.client_id, timestamp),
            },
        )
        assert answer.json()["status"] == 0, answer.text
        value: str = answer.json()["body"]["nonce"]
        return value

    stale = str(int(clock.now().timestamp()) - 3600)
    late = client.post(
        "/v2/signature",
        data={
            "action": "getnonce",
            "client_id": partner.client_id,
            "timestamp": stale,
            "signature": sign("getnonce", partner.client_id, stale),
        },
    )
    assert late.json()["status"] == 503
    code = code_for(client, partner)["code"]
    first = nonce()
    signed = {
        "action": "requesttoken",
        "client_id": partner.client_id,
        "nonce": first,
        "signature": sign("requesttoken", partner.client_id, first),
    }
    answer = client.post(
        "/v2/oauth2", data={**signed, "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    )
    assert answer.json()["status"] == 0, answer.text
    userid = answer.json()["body"]["userid"]
    again = client.post(
        "/v2/oauth2",
        data={**signed, "grant_type": "refresh_token", "refresh_token": answer.json()["body"]["refresh_token"]},
    )
    assert again.json()["status"] == 401  # a nonce is used once
    forged = nonce()
    bad = client.post(
        "/v2/oauth2",
        data={
            "action": "requesttoken",
            "client_id": partner.client_id,
            "nonce": forged,
            "signature": sign("requesttoken", partner.client_id, "other"),
            "grant_type": "refresh_token",
            "refresh_token": answer.json()["body"]["refresh_token"],
        },
    )
    assert bad.json()["status"] == 401
    padded = nonce()  # a signature is compared whole: a right one with more after it is wrong
    longer = client.post(
        "/v2/oauth2",
        data={
            "action": "requesttoken",
            "client_id": partner.client_id,
            "nonce": padded,
            "signature": sign("requesttoken", partner.client_id, padded) + "00",
            "grant_type": "refresh_token",
            "refresh_token": answer.json()["body"]["refresh_token"],
        },
    )
    assert longer.json()["status"] == 401
    far = str(int(clock.now().timestamp())) + "000"  # milliseconds: too long, not cut to seconds
    assert (
        client.post(
            "/v2/signature",
            data={
                "action": "getnonce",
                "client_id": partner.client_id,
                "timestamp": far,
                "signature": sign("getnonce", partner.client_id, far),
            },
        ).json()["error"]
        == "Invalid Params: the timestamp is too long"
    )
    # A user id longer than any is refused, not cut to another user's.
    fourth = nonce()
    overlong = client.post(
        "/v2/oauth2",
        data={
            "action": "revoke",
            "client_id": partner.client_id,
            "nonce": fourth,
            "signature": sign("revoke", partner.client_id, fourth),
            "userid": str(userid).ljust(19, "0"),
        },
    )
    assert overlong.json()["status"] == 503
    # action=revoke: the partner unlinks the user; its tokens die, the consent is forgotten, and its
    # notification subscriptions go, the URL hearing appli 46 unlink.
    container: Container = client.app.state.container  # type: ignore[attr-defined]
    now = clock.now()
    with container.uow.begin() as tx:
        tx.subscriptions.add(
            Subscription(0, int(userid), partner.client_id, Appli.WEIGHT, "https://p.example/hook", "", now, now)
        )
    third = nonce()
    revoke = client.post(
        "/v2/oauth2",
        data={
            "action": "revoke",
            "client_id": partner.client_id,
            "nonce": third,
            "signature": sign("revoke", partner.client_id, third),
            "userid": str(userid),
        },
    )
    assert revoke.json() == {"status": 0, "body": {}}
    with container.uow.read() as tx:
        assert tx.subscriptions.of_app(int(userid), partner.client_id) == []
        (told,) = tx.deliveries.recent(5)
    assert (told.appli, told.action, told.callbackurl) == (Appli.USER, UserAction.UNLINK, "https://p.example/hook")
    # Due at once: the app's delivery worker may have tried it already (a claim needs it due; its
    # next try is then on the retry schedule), else it is due now.
    assert told.attempts >= 1 or now <= told.due <= clock.now()
    refresh = withings_token(
        client, partner, grant_type="refresh_token", refresh_token=answer.json()["body"]["refresh_token"]
    )
    assert refresh["status"] == 503
    assert client.get(authorize_url(partner)).text.count("Allow this app") == 1


def test_connected_apps_page_and_api(make_client: ClientFactory, mailbox: Mailbox) -> None:
    client, partner = linked(make_client, mailbox)
    tokens = redeem(client, partner, code_for(client, partner, scope="user.metrics openid")["code"]).json()
    page = client.get("/account/connected-apps")
    assert (
        "Acme Wellness Portal" in page.text and "Your body measurements" in page.text and "Remove access" in page.text
    )
    removed = client.post(
        "/account/connected-apps", data={"csrf_token": csrf_of(page.text), "client_id": partner.client_id}
    )
    assert "has been removed" in removed.text and "Acme Wellness Portal" not in removed.text
    assert userinfo(client, tokens["access_token"]).status_code == 401
    gone = client.post(
        "/account/connected-apps", data={"csrf_token": csrf_of(page.text), "client_id": partner.client_id}
    )
    assert gone.status_code == 400 and "no access to your account" in gone.text


def test_connected_apps_json_api(make_client: ClientFactory, mailbox: Mailbox) -> None:
    client, partner = linked(make_client, mailbox)
    tokens = redeem(client, partner, code_for(client, partner)["code"]).json()
    login = client.post("/api/v1/login", json={"email": "ann@example.com"}).json()
    code = code_in(mailbox.wait_for("ann@example.com", 2))
    session = client.post(f"/api/v1/login/{login['id']}/code", json={"code": code}).json()
    bearer = {"authorization": f"Bearer {session['session_token']}"}
    listed = client.get("/api/v1/account/connected-apps", headers=bearer).json()["connected_apps"]
    assert [(c["client_id"], c["scopes"]) for c in listed] == [(partner.client_id, ["user.info", "user.metrics"])]
    assert listed[0]["last_used_at"] and listed[0]["policy_url"] == "https://portal.example.com/privacy"
    assert client.delete(f"/api/v1/account/connected-apps/{partner.client_id}", headers=bearer).json() == {"ended": 1}
    assert client.get("/api/v1/account/connected-apps", headers=bearer).json() == {"connected_apps": []}
    again = client.delete(f"/api/v1/account/connected-apps/{partner.client_id}", headers=bearer)
    assert again.status_code == 404 and again.json()["error"] == "connected_app_not_found"
    gone = token(client, partner, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert gone.json()["error"] == "invalid_grant"
