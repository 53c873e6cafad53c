"""Sign-in with an upstream provider from a mobile app (web/federation_api.py), against a real
Google-like oidc-provider: the app starts, the system browser goes through the provider and our
callback to the app's return URI with an exchange code, the app trades it for a session, a sign-up
or "an account exists" (then links the identity once signed in to that account)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pyotp
import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from tests.conftest import Mailbox, code_in
from tests.upstream.conftest import provider_settings, serve
from tests.upstream_provider import OidcServer, rsa_jwk
from tests.web.conftest import ClientFactory
from tests.web.test_api import DETAILS, api_sign_in, api_sign_up, bearer
from tests.web.test_federation_pages import ACCOUNTS, CALLBACK, PUBLIC_URL, at_provider, back, leave
from vitalkey.domain.apps import ClientType
from vitalkey.domain.authenticators import FEDERATED
from vitalkey.domain.emails import account_key
from vitalkey.flows.clients import NewClient

APP_RETURN = "com.example.vitalkey:/federated"
PEOPLE = {**ACCOUNTS, "nemo": {"given_name": "Nemo", "family_name": "Noaddress"}}  # gives no address


@pytest.fixture(scope="module")
def google(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    yield from serve(
        tmp_path_factory.mktemp("google"), "google", keys=[rsa_jwk("g-api")], accounts=PEOPLE, callback=CALLBACK
    )


@pytest.fixture
def client(make_client: ClientFactory, google: OidcServer) -> TestClient:
    return make_client(public_url=PUBLIC_URL, federation_providers=json.dumps([provider_settings(google)]))


def register_app(client: TestClient, **options: Any) -> str:
    container = client.app.state.container  # type: ignore[attr-defined]
    app = NewClient("VitalKey for iOS", ClientType.PUBLIC, (APP_RETURN,), ("openid",), first_party=True, **options)
    return str(container.apps.register(app).app.client_id)


@pytest.fixture
def app_id(client: TestClient) -> str:
    return register_app(client)


def start(client: TestClient, app_id: str, provider: str = "google") -> dict[str, Any]:
    answer = client.post(f"/api/v1/login/with/{provider}", json={"app": app_id, "return_to": APP_RETURN})
    assert answer.status_code == 201, answer.text
    started = dict(answer.json())
    assert started["id"] not in started["url"]  # the flow's id, the app's bearer, is in no URL
    return started


def callback_answer(client: TestClient, started: dict[str, Any], login: str) -> str:
    """The system browser through the provider and our callback: where it is sent at last."""
    target = at_provider(started["url"], login)
    parts = urlsplit(target)
    answer = client.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    assert answer.status_code == 303, answer.text[:500]
    location = str(answer.headers["location"])
    assert started["id"] not in location
    return location


def to_app(client: TestClient, started: dict[str, Any], login: str) -> dict[str, str]:
    """The query the app's return URI receives."""
    location = callback_answer(client, started, login)
    assert location.startswith(APP_RETURN + "?")
    return dict(parse_qsl(urlsplit(location).query))


def exchange(client: TestClient, flow_id: str, code: str) -> Any:
    return client.post(f"/api/v1/login/{flow_id}/federated", json={"code": code})


def sign_up_through_google(client: TestClient, app_id: str, login: str = "ada") -> str:
    """A mobile sign-up with the provider: the new account's session token."""
    started = start(client, app_id)
    answer = exchange(client, started["id"], to_app(client, started, login)["code"])
    assert answer.status_code == 201, answer.text
    flow = answer.json()
    assert (flow["kind"], flow["state"]) == ("signup", "policy")  # the provider verified the address: no code
    signup = f"/api/v1/signup/{flow['id']}"
    accepted = client.post(f"{signup}/policy", json={"accept": True, "policy_version": flow["policy_version"]})
    assert accepted.json()["state"] == "details"
    assert client.post(f"{signup}/details", json=DETAILS).json()["state"] == "two_factor_offer"
    done = client.post(f"{signup}/two-factor", json={"choice": "skip"})
    assert done.status_code == 200, done.text
    return str(done.json()["session_token"])


def federated_rows(client: TestClient, email: str) -> list[Any]:
    container = client.app.state.container  # type: ignore[attr-defined]
    with container.uow.read() as tx:
        account = tx.accounts.by_email(account_key(email))
        assert account is not None
        return [row for row in tx.authenticators.for_account(account.id) if row.kind == FEDERATED]


def test_providers_in_the_configured_order_and_none_without_configuration(
    make_client: ClientFactory, google: OidcServer
) -> None:
    providers = [
        provider_settings(google, id="acme", kind="oidc", display_name="Acme SSO"),
        provider_settings(google, logo_url="https://cdn.example.com/g.png"),
    ]
    client = make_client(public_url=PUBLIC_URL, federation_providers=json.dumps(providers))
    answer = client.get("/api/v1/login/providers")
    assert answer.status_code == 200
    assert answer.json() == {
        "providers": [
            {"id": "acme", "kind": "oidc", "name": "Acme SSO", "logo_url": None},
            {"id": "google", "kind": "google", "name": "Google", "logo_url": "https://cdn.example.com/g.png"},
        ]
    }
    bare = make_client(public_url=PUBLIC_URL)
    assert bare.get("/api/v1/login/providers").json() == {"providers": []}
    refused = bare.post("/api/v1/login/with/google", json={"app": "x", "return_to": APP_RETURN})
    assert (refused.status_code, refused.json()["error"]) == (404, "unknown_provider")


def test_mobile_sign_up_then_sign_in_again(client: TestClient, app_id: str) -> None:
    token = sign_up_through_google(client, app_id)
    me = client.get("/api/v1/account", headers=bearer(token))
    assert me.status_code == 200
    assert (me.json()["email"], me.json()["first_name"]) == ("ada@example.com", "Ann")
    (row,) = federated_rows(client, "ada@example.com")  # the sign-up linked the identity
    assert row.data["provider"] == "google" and row.data["email"] == "ada@example.com"

    started = start(client, app_id)
    code = to_app(client, started, "ada")["code"]
    signed = exchange(client, started["id"], code)
    assert signed.status_code == 200, signed.text
    again = signed.json()["session_token"]
    assert again != token
    assert client.get("/api/v1/account", headers=bearer(again)).json()["email"] == "ada@example.com"
    reused = exchange(client, started["id"], code)  # the code, and the flow, are used up
    assert (reused.status_code, reused.json()["error"]) == (409, "wrong_state")


def test_two_factor_still_applies(client: TestClient, app_id: str) -> None:
    token = sign_up_through_google(client, app_id)
    setup = client.post("/api/v1/account/authenticators/totp", headers=bearer(token))
    assert setup.status_code == 201, setup.text
    totp = pyotp.TOTP(setup.json()["secret"])
    confirmed = client.post(
        f"/api/v1/account/authenticators/totp/{setup.json()['flow_id']}",
        json={"code": totp.now()},
        headers=bearer(token),
    )
    assert confirmed.status_code == 200 and confirmed.json()["two_factor_enabled"]

    started = start(client, app_id)
    answer = exchange(client, started["id"], to_app(client, started, "ada")["code"])
    assert answer.status_code == 202, answer.text
    flow = answer.json()
    assert (flow["id"], flow["state"], flow["method"]) == (started["id"], "second_factor", "totp")
    assert "session_token" not in flow
    later = totp.at(int(time.time()) + 30)  # the set-up used the current step
    signed = client.post(f"/api/v1/login/{flow['id']}/totp", json={"code": later})
    assert signed.status_code == 200, signed.text
    assert signed.json()["account"]["two_factor"] is True
    assert client.get("/api/v1/account", headers=bearer(signed.json()["session_token"])).status_code == 200

    no_2fa = register_app(client, supports_2fa=False)  # an app that cannot ask for a second factor
    refused = start(client, no_2fa)
    answer = exchange(client, refused["id"], to_app(client, refused, "ada")["code"])
    assert (answer.status_code, answer.json()["error"]) == (403, "app_does_not_support_2fa")


def test_start_refusals(client: TestClient, app_id: str) -> None:
    elsewhere = client.post("/api/v1/login/with/google", json={"app": app_id, "return_to": "https://evil.example/x"})
    assert elsewhere.status_code == 400
    assert (elsewhere.json()["error"], elsewhere.json()["field"]) == ("invalid_return_to", "return_to")
    assert elsewhere.json()["message"] == "This address is not one of the app's registered redirect URIs."
    unknown_app = client.post("/api/v1/login/with/google", json={"app": "nobody", "return_to": APP_RETURN})
    assert (unknown_app.status_code, unknown_app.json()["error"]) == (400, "unknown_app")
    nowhere = client.post("/api/v1/login/with/nobody", json={"app": app_id, "return_to": APP_RETURN})
    assert (nowhere.status_code, nowhere.json()["error"]) == (404, "unknown_provider")
    german = client.post(
        "/api/v1/login/with/nobody",
        json={"app": app_id, "return_to": APP_RETURN},
        headers={"accept-language": "de"},
    )
    assert german.json()["message"] == "Dieser Anmeldeanbieter wird nicht angeboten."


def test_exchange_refusals(client: TestClient, app_id: str) -> None:
    started = start(client, app_id)
    shown = client.get(f"/api/v1/login/{started['id']}")
    assert shown.status_code == 200
    assert (shown.json()["state"], shown.json()["method"]) == ("first_factor", "federated")
    early = exchange(client, started["id"], "x" * 43)  # before the callback gave a code
    assert (early.status_code, early.json()["error"]) == (409, "wrong_state")
    code = to_app(client, started, "ada")["code"]
    wrong = exchange(client, started["id"], "y" * 43)
    assert (wrong.status_code, wrong.json()["error"], wrong.json()["field"]) == (400, "wrong_code", "code")
    assert exchange(client, started["id"], code).status_code == 201  # still the right one after a wrong try
    assert exchange(client, started["id"], code).json()["error"] == "wrong_state"  # once only

    ended = start(client, app_id)
    kept = to_app(client, ended, "ada")["code"]
    answers = [exchange(client, ended["id"], f"guess-{n}").json()["error"] for n in range(3)]
    assert answers == ["wrong_code", "wrong_code", "flow_dead"]  # the last wrong try ends the flow
    assert exchange(client, ended["id"], kept).json()["error"] == "flow_dead"


def test_replayed_or_tampered_callback(client: TestClient, app_id: str) -> None:
    started = start(client, app_id)
    target = at_provider(started["url"], "ada")
    parts = urlsplit(target)
    query = dict(parse_qsl(parts.query))
    state = query["state"]
    changed = state[:20] + ("A" if state[20] != "A" else "B") + state[21:]
    tampered = client.get(f"{parts.path}?{urlencode({**query, 'state': changed})}", follow_redirects=False)
    assert tampered.status_code == 400  # not an app's: the browser's path, which has no flow cookie
    assert "expired or was already used" in tampered.text

    first = client.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    assert first.status_code == 303 and "code=" in first.headers["location"]
    replayed = client.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    assert replayed.status_code == 303
    assert replayed.headers["location"] == APP_RETURN + "?error=bad_state"


def test_a_browser_flow_cannot_be_driven_through_the_api(client: TestClient) -> None:
    target = at_provider(leave(client), "ada")
    flow_id = client.cookies.get("vk_upstream")
    assert flow_id
    refused = exchange(client, flow_id, "x" * 43)
    assert (refused.status_code, refused.json()["error"]) == (404, "flow_not_found")
    assert target.startswith(CALLBACK)
    assert back(client, target).url.path.startswith("/signup/")  # the browser's own path still works


def test_an_account_s_address_asks_to_sign_in_then_link(client: TestClient, app_id: str, mailbox: Mailbox) -> None:
    api_sign_up(client, mailbox, "cy@example.com")
    other = api_sign_up(client, mailbox, "dan@example.com")["session_token"]
    started = start(client, app_id)
    answer = exchange(client, started["id"], to_app(client, started, "cy")["code"])
    assert answer.status_code == 409
    assert answer.json()["error"] == "account_exists"
    assert answer.json()["message"] == (
        "An account already uses cy@example.com. Sign in to it to link your Google account."
    )
    assert federated_rows(client, "cy@example.com") == []

    link = {"flow": started["id"]}
    not_theirs = client.post("/api/v1/account/authenticators/federated", json=link, headers=bearer(other))
    assert (not_theirs.status_code, not_theirs.json()["error"]) == (409, "link_address_mismatch")
    assert client.post("/api/v1/account/authenticators/federated", json=link).status_code == 401
    token = api_sign_in(client, mailbox, "cy@example.com", 2)["session_token"]
    linked = client.post("/api/v1/account/authenticators/federated", json=link, headers=bearer(token))
    assert linked.status_code == 201, linked.text
    assert (linked.json()["kind"], linked.json()["provider"], linked.json()["name"]) == (
        "federated",
        "google",
        "Google",
    )
    (row,) = federated_rows(client, "cy@example.com")
    assert row.id == linked.json()["id"]
    again = client.post("/api/v1/account/authenticators/federated", json=link, headers=bearer(token))
    assert (again.status_code, again.json()["error"]) == (409, "wrong_state")  # the kept identity is used up
    container = client.app.state.container  # type: ignore[attr-defined]
    with container.engine.connect() as connection:
        events = connection.execute(
            text("SELECT account_id FROM audit WHERE event = 'federation.linked' AND account_id = :a"),
            {"a": row.account_id},
        ).all()
    assert len(events) == 1

    signed = start(client, app_id)
    answer = exchange(client, signed["id"], to_app(client, signed, "cy")["code"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["account"]["email"] == "cy@example.com"


def test_no_address_from_the_provider(client: TestClient, app_id: str, mailbox: Mailbox) -> None:
    started = start(client, app_id)
    answer = exchange(client, started["id"], to_app(client, started, "nemo")["code"])
    assert answer.status_code == 400
    assert answer.json()["error"] == "address_needed"
    assert answer.json()["message"].startswith("Google did not give an email address.")
    given = client.post(f"/api/v1/login/{started['id']}/federated/address", json={"email": "nemo@example.com"})
    assert given.status_code == 201, given.text
    flow = given.json()
    assert (flow["kind"], flow["state"]) == ("signup", "code_sent")  # the typed address is confirmed by code
    confirmed = client.post(
        f"/api/v1/signup/{flow['id']}/code", json={"code": code_in(mailbox.wait_for("nemo@example.com"))}
    )
    assert confirmed.json()["state"] == "policy"
    twice = client.post(f"/api/v1/login/{started['id']}/federated/address", json={"email": "nemo@example.com"})
    assert (twice.status_code, twice.json()["error"]) == (409, "wrong_state")


def test_parallel_exchanges_of_one_code_give_one_answer(client: TestClient, app_id: str) -> None:
    started = start(client, app_id)
    code = to_app(client, started, "ada")["code"]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: exchange(client, started["id"], code), range(4)))
    assert sorted(answer.status_code for answer in answers) == [201, 409, 409, 409]
    assert {answer.json().get("error") for answer in answers if answer.status_code == 409} == {"wrong_state"}
