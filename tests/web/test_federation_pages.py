"""Sign-in with an upstream provider through the pages (web/federation_pages.py), against a real
Google-like oidc-provider (tests/upstream_provider.py): the buttons, a sign-up through the provider
and a sign-in again, a replayed or forged callback, and an address that is already an account's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from tests.conftest import Mailbox
from tests.upstream.conftest import GOOGLE_ACCOUNTS, provider_settings
from tests.upstream_provider import OidcServer, ensure_oidc_provider, rsa_jwk
from tests.web.conftest import DETAILS_FORM, ClientFactory, csrf_of, post_form, web_sign_up
from tests.web.test_totp_pages import set_up_app
from vitalkey.domain.authenticators import FEDERATED
from vitalkey.domain.emails import account_key

PUBLIC_URL = "http://testserver"
CALLBACK = f"{PUBLIC_URL}/login/callback/google"
ACCOUNTS = {
    **GOOGLE_ACCOUNTS,
    "cy": {"email": "cy@example.com", "email_verified": True, "given_name": "Cy", "family_name": "Taken"},
}


@dataclass
class PagesServer(OidcServer):
    """The Google-like provider, with VitalKey's callback page as a registered redirect URI."""

    def config(self) -> dict[str, Any]:
        config = super().config()
        for client in config["clients"]:
            client["redirect_uris"] = [*client["redirect_uris"], CALLBACK]
        return config


@pytest.fixture(scope="module")
def google(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    ensure_oidc_provider()
    server = PagesServer(tmp_path_factory.mktemp("google"), "google", keys=[rsa_jwk("g-1")], accounts=ACCOUNTS)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(make_client: ClientFactory, google: OidcServer) -> TestClient:
    return make_client(public_url=PUBLIC_URL, federation_providers=json.dumps([provider_settings(google)]))


def at_provider(url: str, login: str) -> str:
    """The browser at the provider: signs in as ``login``, returns where it is sent back to."""
    with httpx.Client(timeout=10) as browser:
        answer = browser.get(url)
        for _ in range(10):
            if answer.is_redirect:
                target = urljoin(str(answer.url), answer.headers["location"])
                if target.startswith(CALLBACK):
                    return target
                answer = browser.get(target)
                continue
            action = urljoin(str(answer.url), answer.text.split('<form method="post" action="')[1].split('"')[0])
            answer = browser.post(action, data={"login": login})
    raise AssertionError("never sent back")


def leave(client: TestClient, page: str = "/login") -> str:
    """Press "Continue with Google" on ``page``: the provider's URL."""
    shown = client.get(page)
    answer = client.post("/login/with/google", data={"csrf_token": csrf_of(shown.text)}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def back(client: TestClient, target: str) -> Any:
    parts = urlsplit(target)
    return client.get(f"{parts.path}?{parts.query}")


def test_buttons_only_when_configured(make_client: ClientFactory, client: TestClient) -> None:
    for page in ("/login", "/signup"):
        assert "Continue with Google" in client.get(page).text
        assert 'action="/login/with/google"' in client.get(page).text
    bare = make_client(public_url=PUBLIC_URL)
    for page in ("/login", "/signup"):
        assert "/login/with/" not in bare.get(page).text


def form_action(answer: Any) -> list[str]:
    policy = str(answer.headers["content-security-policy"])
    return next(part.split()[1:] for part in policy.split(";") if part.split()[0] == "form-action")


def test_the_buttons_may_send_the_browser_to_the_provider(client: TestClient, google: OidcServer) -> None:
    """A button's form ends in the redirect to the provider, which browsers check against the
    page's form-action: the provider's origin is there, on the pages with buttons only."""
    for page in ("/login", "/signup"):
        assert form_action(client.get(page)) == ["'self'", google.issuer]
    assert form_action(client.get("/privacy")) == ["'self'"]
    leave(client)  # the sign-in page again, with the provider's refusal, keeps its buttons
    refused = back(client, at_provider(leave(client), "ada").replace("state=", "state=x"))
    assert refused.status_code == 400
    assert form_action(refused) == ["'self'", google.issuer]


def test_sign_up_through_the_provider_then_sign_in_again(client: TestClient, mailbox: Mailbox) -> None:
    answer = back(client, at_provider(leave(client, "/signup"), "ada"))
    assert answer.status_code == 200
    flow_url = str(answer.url.path)
    assert flow_url.startswith("/signup/")
    assert 'value="policy"' in answer.text  # at the policy: no code was asked
    assert 'name="code"' not in answer.text
    post_form(client, flow_url, {"action": "policy", "accept": "yes"})
    post_form(client, flow_url, {"action": "details", **DETAILS_FORM})
    done = post_form(client, flow_url, {"action": "skip_two_factor"})
    assert done.status_code == 200
    assert client.get("/account", follow_redirects=False).status_code == 200

    client.cookies.clear()  # another browser, signed out
    assert client.get("/account", follow_redirects=False).status_code == 303
    again = back(client, at_provider(leave(client), "ada"))
    assert again.status_code == 200
    assert str(again.url.path) in ("/dashboard", "/account")
    assert any(name.endswith("session") for name in client.cookies)
    assert client.get("/account", follow_redirects=False).status_code == 200


def test_replayed_or_forged_callback_is_refused(client: TestClient) -> None:
    forged = at_provider(leave(client), "bob").replace("state=", "state=x")
    refused = back(client, forged)
    assert refused.status_code == 400
    assert "expired or was already used" in refused.text

    target = at_provider(leave(client), "bob")
    kept = client.cookies.get("vk_upstream")
    assert kept
    first = back(client, target)  # an unverified address: the sign-up, at the mailed code
    assert first.status_code == 200
    assert str(first.url.path).startswith("/signup/")
    client.cookies.set("vk_upstream", kept, path="/login/callback")  # the flow's id sent again
    replayed = back(client, target)
    assert replayed.status_code == 400, replayed.text[-2000:]
    assert "expired or was already used" in replayed.text
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_address_of_an_account_asks_to_sign_in_to_link(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "cy@example.com")
    client.cookies.clear()
    answer = back(client, at_provider(leave(client), "cy"))
    assert answer.status_code == 200
    assert "An account already uses cy@example.com" in answer.text
    assert client.get("/account", follow_redirects=False).status_code == 303
    container = client.app.state.container  # type: ignore[attr-defined]
    with container.uow.read() as tx:
        account = tx.accounts.by_email(account_key("cy@example.com"))
        assert account is not None
        assert [row.kind for row in tx.authenticators.for_account(account.id) if row.kind == FEDERATED] == []


class RealClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def test_two_factor_still_applies_after_the_provider(client: TestClient, mailbox: Mailbox) -> None:
    answer = back(client, at_provider(leave(client, "/signup"), "ada"))
    flow_url = str(answer.url.path)
    post_form(client, flow_url, {"action": "policy", "accept": "yes"})
    post_form(client, flow_url, {"action": "details", **DETAILS_FORM})
    post_form(client, flow_url, {"action": "skip_two_factor"})
    set_up_app(client, RealClock())  # type: ignore[arg-type]

    client.cookies.clear()
    again = back(client, at_provider(leave(client), "ada"))
    assert again.status_code == 200
    assert str(again.url.path).startswith("/login/")  # the login flow's second-factor step
    assert "authenticator app" in again.text
    assert not any(name.endswith("session") for name in client.cookies)
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_the_flow_waiting_for_the_provider_has_no_page(client: TestClient) -> None:
    leave(client)
    flow_id = client.cookies.get("vk_upstream")
    assert flow_id
    shown = client.get(f"/login/{flow_id}")
    assert shown.status_code == 200
    assert "Please start again" in shown.text
