"""Passkeys on the pages and in the JSON API (both engines), with a software authenticator: the
sign-in page's button and autofill field, "Add a passkey" in Account & Security, a passkey
sign-in without a code, refusals shown in words, the API's ceremonies for mobile apps (alone and
as the second factor), malformed answers as 400s, and no passkeys on an IP address."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import Gateway, Mailbox
from tests.soft_authenticator import SoftAuthenticator
from tests.web.conftest import ClientFactory, csrf_of, web_sign_in, web_sign_up
from tests.web.test_api import api_sign_up, bearer
from tests.web.test_two_factor_api import EMAIL, PHONE, first_factor, turn_on
from vitalkey.adapters.clock import FrozenClock
from vitalkey.adapters.sms import TwilioGateway

URL = "http://localhost:8123"


@pytest.fixture
def client(make_client: ClientFactory, clock: FrozenClock) -> TestClient:
    return make_client(public_url=URL, clock=clock)


@pytest.fixture
def device() -> SoftAuthenticator:
    return SoftAuthenticator(origin=URL)


def options_on(page: str) -> str:
    found = re.search(r'<script type="application/json" id="passkey-options">(.*?)</script>', page, re.S)
    assert found, "no passkey options on the page"
    return found.group(1)


def flow_of_form(page: str) -> str:
    found = re.search(r'<form method="post" action="/login/([^"]+)"[^>]*data-passkey="authenticate"', page)
    assert found, "no passkey form on the page"
    return found.group(1)


def add_on_the_page(client: TestClient, device: SoftAuthenticator, name: str = "Work laptop") -> Any:
    shown = client.get("/account/passkeys/new")
    assert shown.status_code == 200 and 'data-passkey="register"' in shown.text
    flow_id = re.search(r'name="flow_id" value="([^"]+)"', shown.text).group(1)  # type: ignore[union-attr]
    form = {
        "csrf_token": csrf_of(shown.text),
        "action": "add",
        "flow_id": flow_id,
        "name": name,
        "credential": device.create(options_on(shown.text)),
    }
    return client.post("/account/passkeys/new", data=form)


def sign_in_with_passkey(client: TestClient, device: SoftAuthenticator, **bend: Any) -> Any:
    page = client.get("/login")
    credential = device.get(options_on(page.text), **bend)
    form = {"csrf_token": csrf_of(page.text), "action": "passkey", "email": "", "credential": credential}
    return client.post(f"/login/{flow_of_form(page.text)}", data=form, follow_redirects=False)


def test_add_a_passkey_then_sign_in_with_it_without_a_code(
    client: TestClient, mailbox: Mailbox, device: SoftAuthenticator
) -> None:
    web_sign_up(client, mailbox, EMAIL)
    added = add_on_the_page(client, device)
    assert added.status_code == 200 and added.url.path == "/account/passkeys/new"
    assert "Your passkey has been added" in added.text
    assert "Work laptop" in mailbox.wait_for(EMAIL, 2).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    client.post("/account/logout", data={"csrf_token": csrf_of(client.get("/account").text)})

    page = client.get("/login")
    assert 'autocomplete="username webauthn"' in page.text and "Sign in with a passkey" in page.text
    assert 'formaction="/login"' in page.text and "data-msg-cancelled=" in page.text
    assert json.loads(html.unescape(options_on(page.text)))["allowCredentials"] == []
    # Showing the page again keeps the same request (nothing new is written).
    assert flow_of_form(client.get("/login").text) == flow_of_form(page.text)
    signed = sign_in_with_passkey(client, device)
    assert signed.status_code == 303 and signed.headers["location"] == "/dashboard"
    assert client.get("/account").status_code == 200
    assert len(mailbox.to(EMAIL)) == 2  # no code was mailed


def test_a_refused_passkey_says_why_and_offers_a_new_request(
    client: TestClient, mailbox: Mailbox, device: SoftAuthenticator
) -> None:
    web_sign_up(client, mailbox, EMAIL)
    add_on_the_page(client, device)
    client.post("/account/logout", data={"csrf_token": csrf_of(client.get("/account").text)})
    refused = sign_in_with_passkey(client, device, origin="https://evil.example")
    assert refused.status_code == 400
    assert "This passkey answered for another website" in refused.text
    again = device.get(html.unescape(options_on(refused.text)))
    form = {"csrf_token": csrf_of(refused.text), "action": "passkey", "credential": again}
    flow_id = flow_of_form(refused.text)
    assert client.post(f"/login/{flow_id}", data=form, follow_redirects=False).status_code == 303


def test_the_emailed_code_still_works_from_the_same_form(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, EMAIL)
    client.post("/account/logout", data={"csrf_token": csrf_of(client.get("/account").text)})
    signed = web_sign_in(client, mailbox, EMAIL, 2)
    assert signed.url.path == "/dashboard"


def test_adding_needs_a_recent_sign_in(client: TestClient, mailbox: Mailbox, clock: FrozenClock) -> None:
    web_sign_up(client, mailbox, EMAIL)
    clock.advance(seconds=301)
    page = client.get("/account/passkeys/new")
    assert "Sign in again" in page.text and "data-passkey" not in page.text
    again = client.post(
        "/account/passkeys/new", data={"csrf_token": csrf_of(page.text), "action": "reauth"}, follow_redirects=False
    )
    assert again.status_code == 303 and again.headers["location"].startswith("/login/")


def test_no_passkeys_on_an_ip_address(make_client: ClientFactory, mailbox: Mailbox) -> None:
    client = make_client()  # http://127.0.0.1:8000
    page = client.get("/login")
    assert "passkey" not in page.text.lower() and 'autocomplete="username"' in page.text
    web_sign_up(client, mailbox, EMAIL)
    shown = client.get("/account/passkeys/new")
    assert shown.status_code == 400 and "Passkeys cannot be used at this address" in shown.text
    assert "data-passkey" not in shown.text
    started = client.post("/api/v1/login/passkey")
    assert started.status_code == 400 and started.json()["error"] == "passkey_unavailable"
    assert started.json()["message"].startswith("Passkeys cannot be used at this address")


# The JSON API ---------------------------------------------------------------------------------
def api_add(client: TestClient, token: str, device: SoftAuthenticator, name: str = "Phone") -> Any:
    begun = client.post("/api/v1/account/authenticators/passkeys", json={"name": name}, headers=bearer(token))
    assert begun.status_code == 201, begun.text
    body = begun.json()
    assert body["options"]["authenticatorSelection"]["residentKey"] == "required"
    assert body["options"]["attestation"] == "none"
    credential = json.loads(device.create(json.dumps(body["options"])))
    return client.post(
        f"/api/v1/account/authenticators/passkeys/{body['id']}", json={"credential": credential}, headers=bearer(token)
    )


def api_passkey_sign_in(client: TestClient, device: SoftAuthenticator, **bend: Any) -> Any:
    started = client.post("/api/v1/login/passkey")
    assert started.status_code == 201, started.text
    flow = started.json()
    assert flow["state"] == "first_factor" and flow["method"] == "passkey" and flow["email"] == ""
    credential = json.loads(device.get(json.dumps(flow["options"]), **bend))
    return client.post(f"/api/v1/login/{flow['id']}/passkey", json={"credential": credential})


def test_api_add_then_sign_in_with_the_passkey(client: TestClient, mailbox: Mailbox, device: SoftAuthenticator) -> None:
    token = api_sign_up(client, mailbox, EMAIL)["session_token"]
    added = api_add(client, token, device)
    assert added.status_code == 201, added.text
    row = added.json()
    assert (row["kind"], row["name"], row["transports"]) == ("passkey", "Phone", ["internal", "hybrid"])
    signed = api_passkey_sign_in(client, device)
    assert signed.status_code == 200, signed.text
    assert signed.json()["session_token"] and signed.json()["account"]["email"] == EMAIL
    refused = api_passkey_sign_in(client, device, origin="https://evil.example")
    assert refused.status_code == 400 and refused.json()["error"] == "passkey_wrong_site"


def test_api_malformed_answers_are_400s(client: TestClient, mailbox: Mailbox, device: SoftAuthenticator) -> None:
    token = api_sign_up(client, mailbox, EMAIL)["session_token"]
    api_add(client, token, device)
    flow = client.post("/api/v1/login/passkey").json()
    path = f"/api/v1/login/{flow['id']}/passkey"
    for body in ({"credential": {"id": "x"}}, {"credential": {"id": 3, "response": []}}, {"credential": {}}):
        answer = client.post(path, json=body)
        assert answer.status_code == 400 and answer.json()["error"] == "passkey_malformed", answer.text
    assert client.post(path, content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    assert client.post(path, json={"credential": "text"}).json()["error"] == "invalid_request"
    # A refusal used the challenge up: the flow now shows new options, which work.
    renewed = client.get(f"/api/v1/login/{flow['id']}").json()
    assert renewed["options"]["challenge"] != flow["options"]["challenge"]
    credential = json.loads(device.get(json.dumps(renewed["options"])))
    assert client.post(path, json={"credential": credential}).status_code == 200
    begun = client.post("/api/v1/account/authenticators/passkeys", json={}, headers=bearer(token)).json()
    broken = client.post(
        f"/api/v1/account/authenticators/passkeys/{begun['id']}",
        json={"credential": {"id": "x"}},
        headers=bearer(token),
    )
    assert broken.status_code == 400 and broken.json()["error"] == "passkey_malformed"


def test_api_passkey_as_second_factor_and_alone_with_sms_2fa(
    make_client: ClientFactory, mailbox: Mailbox, gateway: Gateway, clock: FrozenClock, device: SoftAuthenticator
) -> None:
    client = make_client(
        public_url=URL, clock=clock, sms_sender=TwilioGateway(gateway.url, "AC1", "token", "+15005550006", timeout_s=2)
    )
    token = api_sign_up(client, mailbox, EMAIL)["session_token"]
    turn_on(client, gateway, token)
    assert api_add(client, token, device).status_code == 201
    texts = len(gateway.texts_to(PHONE))
    alone = api_passkey_sign_in(client, device)
    assert alone.status_code == 200 and alone.json()["account"]["two_factor"] is True
    assert len(gateway.texts_to(PHONE)) == texts  # no text for a passkey sign-in

    # The sign-up's code, "two-factor is on" and "passkey added" are delivered first (the relay
    # sends in the background: counting what has arrived so far could count one short).
    mailbox.wait_for(EMAIL, 3)
    flow, answer = first_factor(client, mailbox, 4)
    assert answer.status_code == 202 and answer.json()["method"] == "sms"
    chosen = client.post(f"/api/v1/login/{flow['id']}/method", json={"method": "passkey"})
    assert chosen.status_code == 200, chosen.text
    options = chosen.json()["options"]
    assert chosen.json()["method"] == "passkey" and [c["id"] for c in options["allowCredentials"]] == [
        device.credentials[0].id
    ]
    credential = json.loads(device.get(json.dumps(options)))
    signed = client.post(f"/api/v1/login/{flow['id']}/passkey", json={"credential": credential})
    assert signed.status_code == 200, signed.text


def test_the_passkey_words_in_german(client: TestClient) -> None:
    page = client.get("/login", headers={"accept-language": "de"})
    assert "Mit einem Passkey anmelden" in page.text
    assert 'data-msg-cancelled="Die Passkey-Anfrage wurde abgebrochen.' in page.text
