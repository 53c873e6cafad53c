"""Nothing a client sends is cut: an authorization or token request whose parameter is longer
than we keep is refused with ``invalid_request`` naming it — back to the client once its
redirect URI is known (RFC 6749 §4.1.2.1) — and what is accepted comes back whole."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.testclient import TestClient

from tests.conftest import Mailbox, code_in
from tests.web.conftest import ClientFactory, csrf_of
from tests.web.oauth_kit import CALLBACK, Partner, allow, authorize_url, code_for, query_of, register, signed_up, token
from vitalkey.domain.oauth import AUTHORIZE_PARAMETERS


def linked(make_client: ClientFactory, mailbox: Mailbox) -> tuple[TestClient, Partner]:
    client = make_client()
    partner = register(client.app.state.container)  # type: ignore[attr-defined]
    signed_up(client, mailbox)
    return client, partner


def id_token_claims(client: TestClient, partner: Partner, code: str) -> dict[str, Any]:
    tokens = token(client, partner, grant_type="authorization_code", code=code, redirect_uri=CALLBACK).json()
    keys = KeySet.import_key_set(client.get("/oauth2/jwks").json())
    claims: dict[str, Any] = jwt.decode(tokens["id_token"], keys).claims
    return claims


def refusal(client: TestClient, url: str) -> dict[str, str]:
    answer = client.get(url, follow_redirects=False)
    assert answer.status_code == 302 and answer.headers["location"].startswith(CALLBACK), answer.text
    return query_of(answer.headers["location"])


def test_an_over_long_nonce_or_state_is_refused_not_cut(make_client: ClientFactory, mailbox: Mailbox) -> None:
    client, partner = linked(make_client, mailbox)
    longest = "n" * AUTHORIZE_PARAMETERS["nonce"]
    claims = id_token_claims(client, partner, code_for(client, partner, scope="openid", nonce=longest)["code"])
    assert claims["nonce"] == longest

    nonce = refusal(client, authorize_url(partner, scope="openid", nonce="n" * 512))
    assert nonce["error"] == "invalid_request" and "'nonce'" in nonce["error_description"]
    assert nonce["state"] == "xyz-state" and nonce["iss"]
    state = "s" * (AUTHORIZE_PARAMETERS["state"] + 1)
    refused = refusal(client, authorize_url(partner, state=state))
    assert refused["error"] == "invalid_request" and "'state'" in refused["error_description"]
    assert refused["state"] == state  # echoed whole, as received (RFC 6749 §4.1.2.1)
    for name in (
        "login_hint",
        "ui_locales",
        "acr_values",
        "code_challenge",
        "prompt",
        "max_age",
        "mode",
        "id_token_hint",
    ):
        answer = refusal(client, authorize_url(partner, **{name: "x" * (AUTHORIZE_PARAMETERS[name] + 1)}))
        assert answer["error"] == "invalid_request" and f"'{name}'" in answer["error_description"], name
    twice = client.get(authorize_url(partner) + "&nonce=a&nonce=b", follow_redirects=False)
    assert query_of(twice.headers["location"])["error"] == "invalid_request"


def test_a_long_client_id_or_redirect_uri_gets_the_error_page(make_client: ClientFactory, mailbox: Mailbox) -> None:
    client, partner = linked(make_client, mailbox)
    for params in ({"client_id": partner.client_id + "x" * 64}, {"redirect_uri": CALLBACK + "/" + "x" * 600}):
        answer = client.get(authorize_url(partner, **params), follow_redirects=False)
        assert answer.status_code == 400 and "location" not in answer.headers


def test_a_kept_request_comes_back_whole_after_signing_in(make_client: ClientFactory, mailbox: Mailbox) -> None:
    """The request kept while the user signs in holds every parameter we read, uncut, whatever
    else came with it (unknown parameters are ignored, RFC 6749 §3.1, and not kept)."""
    client = make_client()
    partner = register(client.app.state.container)  # type: ignore[attr-defined]
    signed_up(client, mailbox)
    client.post("/account/logout", data={"csrf_token": csrf_of(client.get("/account").text)})
    client.cookies.clear()
    state, nonce = "s" * AUTHORIZE_PARAMETERS["state"], "n" * AUTHORIZE_PARAMETERS["nonce"]
    padding = [(f"extra{i}", "y" * 100) for i in range(40)] + [("extra", "z" * 3000)]
    query = [("response_type", "code"), ("client_id", partner.client_id), ("redirect_uri", CALLBACK), *padding]
    url = "/oauth2/authorize?" + urlencode([*query, ("scope", "openid"), ("state", state), ("nonce", nonce)])
    start = client.get(url, follow_redirects=False)
    assert start.status_code == 303 and start.headers["location"].startswith("/login?continue=")
    login = client.get(start.headers["location"])
    answer = client.post(
        "/login",
        data={"csrf_token": csrf_of(login.text), "email": "ann@example.com", "continue": login.url.params["continue"]},
    )
    code = code_in(mailbox.wait_for("ann@example.com", 2))
    consent = client.post(
        str(answer.url.path), data={"csrf_token": csrf_of(answer.text), "action": "code", "code": code}
    )
    params = query_of(allow(client, consent).headers["location"])
    assert params["state"] == state
    assert id_token_claims(client, partner, params["code"])["nonce"] == nonce


def test_a_refresh_scope_longer_than_kept_is_refused(make_client: ClientFactory, mailbox: Mailbox) -> None:
    client, partner = linked(make_client, mailbox)
    code = code_for(client, partner)["code"]
    tokens = token(client, partner, grant_type="authorization_code", code=code, redirect_uri=CALLBACK).json()
    answer = token(
        client,
        partner,
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        scope="user.info" + "," * 400,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert "'scope'" in answer.json()["error_description"]
    narrower = token(
        client, partner, grant_type="refresh_token", refresh_token=tokens["refresh_token"], scope="user.info"
    )
    assert narrower.status_code == 200 and narrower.json()["scope"] == "user.info"


def test_request_objects_are_refused_not_ignored(make_client: ClientFactory, mailbox: Mailbox) -> None:
    """OIDC Core §6: a server without request objects answers request_not_supported and
    request_uri_not_supported, back to the client, never a code that ignored them."""
    client, partner = linked(make_client, mailbox)
    by_value = refusal(client, authorize_url(partner, scope="openid", request="eyJhbGciOiJub25lIn0.e30."))
    assert by_value["error"] == "request_not_supported" and by_value["state"] == "xyz-state" and by_value["iss"]
    by_reference = refusal(client, authorize_url(partner, scope="openid", request_uri="https://x.example/r/1"))
    assert by_reference["error"] == "request_uri_not_supported" and by_reference["state"] == "xyz-state"
    discovery = client.get("/.well-known/openid-configuration").json()
    assert discovery["request_parameter_supported"] is False and discovery["request_uri_parameter_supported"] is False


def test_a_token_request_without_grant_type_is_invalid_request(make_client: ClientFactory, mailbox: Mailbox) -> None:
    """RFC 6749 §5.2: a missing parameter is invalid_request, an unknown grant unsupported_grant_type."""
    client, partner = linked(make_client, mailbox)
    code = code_for(client, partner)["code"]
    missing = token(client, partner, code=code, redirect_uri=CALLBACK)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    assert "grant_type" in missing.json()["error_description"]
    unknown = token(client, partner, grant_type="password", code=code, redirect_uri=CALLBACK)
    assert unknown.status_code == 400 and unknown.json()["error"] == "unsupported_grant_type"
    spent = token(client, partner, grant_type="authorization_code", code=code, redirect_uri=CALLBACK)
    assert spent.status_code == 200  # the refused requests did not spend the code
