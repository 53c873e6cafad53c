"""``id_token_hint`` (OIDC Core §3.1.2.1): an ID token we issued to this client, signed by a key we
still publish (its expiry may have passed), names the user the client expects. Someone else
signed in: ``prompt=none`` gets ``login_required``, otherwise the sign-in; signing in for the
request as someone else still gets ``login_required``, never a code for the wrong user. Any other
hint is ``invalid_request``, back to the client."""

from __future__ import annotations

import base64
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from starlette.testclient import TestClient

from tests.conftest import Mailbox, code_in
from tests.web.conftest import ClientFactory, csrf_of, web_sign_up
from tests.web.oauth_kit import CALLBACK, Partner, allow, authorize_url, code_for, query_of, register, token
from vitalkey.adapters.clock import FrozenClock

ANN, BOB = "ann@example.com", "bob@example.com"


def id_token(client: TestClient, partner: Partner) -> str:
    code = code_for(client, partner, scope="openid")["code"]
    answer = token(client, partner, grant_type="authorization_code", code=code, redirect_uri=CALLBACK)
    value: str = answer.json()["id_token"]
    return value


def subject_of(client: TestClient, value: str) -> str:
    subject: str = jwt.decode(value, KeySet.import_key_set(client.get("/oauth2/jwks").json())).claims["sub"]
    return subject


def ask(client: TestClient, partner: Partner, hint: str, **params: str) -> Any:
    return client.get(authorize_url(partner, scope="openid", id_token_hint=hint, **params), follow_redirects=False)


def answer_of(response: Any) -> dict[str, str]:
    assert response.status_code == 302 and response.headers["location"].startswith(CALLBACK), response.text
    return query_of(response.headers["location"])


def sign_out(client: TestClient) -> None:
    client.post("/account/logout", data={"csrf_token": csrf_of(client.get("/account").text)})
    client.cookies.clear()


def sign_in_for_request(client: TestClient, mailbox: Mailbox, waiting: Any, email: str, mail_number: int) -> Any:
    """Sign in from the login page an authorization request sent us to; the request's answer."""
    assert waiting.status_code == 303 and waiting.headers["location"].startswith("/login?continue=")
    login = client.get(waiting.headers["location"])
    started = client.post(
        "/login", data={"csrf_token": csrf_of(login.text), "email": email, "continue": login.url.params["continue"]}
    )
    code = code_in(mailbox.wait_for(email, mail_number))
    back = client.post(
        str(started.url.path),
        data={"csrf_token": csrf_of(started.text), "action": "code", "code": code},
        follow_redirects=False,
    )
    answer = client.get(back.headers["location"], follow_redirects=False)
    return allow(client, answer) if answer.status_code == 200 else answer


def test_a_hint_naming_someone_else(make_client: ClientFactory, mailbox: Mailbox) -> None:
    client = make_client()
    partner = register(client.app.state.container)  # type: ignore[attr-defined]
    web_sign_up(client, mailbox, ANN)
    ann_hint = id_token(client, partner)
    ann = subject_of(client, ann_hint)
    assert answer_of(ask(client, partner, ann_hint, prompt="none"))["code"]  # Ann herself
    sign_out(client)
    web_sign_up(client, mailbox, BOB)
    id_token(client, partner)  # Bob allows the app too: only the hint stands in the way

    refused = answer_of(ask(client, partner, ann_hint, prompt="none"))
    assert refused["error"] == "login_required" and refused["state"] == "xyz-state" and refused["iss"]
    # Without prompt=none: the sign-in. Signing in as Bob again does not make him Ann.
    again_bob = answer_of(sign_in_for_request(client, mailbox, ask(client, partner, ann_hint), BOB, 2))
    assert again_bob["error"] == "login_required" and "code" not in again_bob
    # Signing in as Ann answers with Ann's code.
    as_ann = answer_of(sign_in_for_request(client, mailbox, ask(client, partner, ann_hint), ANN, 2))
    tokens = token(client, partner, grant_type="authorization_code", code=as_ann["code"], redirect_uri=CALLBACK)
    assert subject_of(client, tokens.json()["id_token"]) == ann


def test_hints_that_are_not_ours_for_this_client(make_client: ClientFactory, mailbox: Mailbox) -> None:
    client = make_client()
    container = client.app.state.container  # type: ignore[attr-defined]
    partner, other = register(container), register(container)
    web_sign_up(client, mailbox, ANN)
    good = id_token(client, partner)
    decoded = jwt.decode(good, KeySet.import_key_set(client.get("/oauth2/jwks").json()))
    header, claims = decoded.header, decoded.claims
    ours = container.signing_keys.signing_key()[2]
    assert answer_of(ask(client, partner, jwt.encode(header, claims, ours), prompt="none"))["code"]
    foreign = jwt.encode(header, claims, ECKey.generate_key("P-256", private=True))  # same kid, another key
    elsewhere = jwt.encode(header, {**claims, "iss": "https://other.example"}, ours)
    none_alg = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    unsigned = f"{none_alg}.{good.split('.')[1]}."
    for hint in (id_token(client, other), foreign, elsewhere, unsigned, good[:-2], "garbage", "a.b.c"):
        for params in ({"prompt": "none"}, {}):
            refused = answer_of(ask(client, partner, hint, **params))
            assert refused["error"] == "invalid_request" and "id_token_hint" in refused["error_description"]
            assert refused["state"] == "xyz-state"


def test_an_expired_hint_counts_until_its_key_is_no_longer_published(
    make_client: ClientFactory, mailbox: Mailbox, clock: FrozenClock
) -> None:
    client = make_client(clock=clock)
    container = client.app.state.container  # type: ignore[attr-defined]
    partner = register(container)
    web_sign_up(client, mailbox, ANN)
    hint = id_token(client, partner)

    def an_hour_later() -> None:  # the ID token's lifetime; the session stays alive meanwhile
        for _ in range(2):
            clock.advance(minutes=31)
            assert client.get("/account", follow_redirects=False).status_code == 200

    an_hour_later()
    assert (
        jwt.decode(hint, KeySet.import_key_set(client.get("/oauth2/jwks").json())).claims["exp"]
        < clock.now().timestamp()
    )
    assert answer_of(ask(client, partner, hint, prompt="none"))["code"]
    container.signing_keys.rotate()  # the old key stays published for an ID token's lifetime
    assert answer_of(ask(client, partner, hint, prompt="none"))["code"]
    an_hour_later()
    refused = answer_of(ask(client, partner, hint, prompt="none"))
    assert refused["error"] == "invalid_request"
    assert answer_of(ask(client, partner, id_token(client, partner), prompt="none"))["code"]
