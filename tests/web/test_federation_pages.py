"""Sign-in with an upstream provider through the pages (web/federation_pages.py), against a real
Google-like oidc-provider (tests/upstream_provider.py): the buttons, a sign-up through the provider
and a sign-in again, a replayed or forged callback, and an address that is already an account's."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from tests.conftest import Mailbox, code_in
from tests.upstream.conftest import APPLE_ACCOUNTS, APPLE_NAMES, GOOGLE_ACCOUNTS, ShiftedClock, provider_settings, serve
from tests.upstream_provider import AppleTeam, OidcServer, rsa_jwk
from tests.web.conftest import DETAILS_FORM, ClientFactory, csrf_of, post_form, web_sign_up
from tests.web.test_totp_pages import set_up_app
from vitalkey.domain.authenticators import FEDERATED
from vitalkey.domain.emails import account_key

PUBLIC_URL = "http://testserver"
CALLBACK = f"{PUBLIC_URL}/login/callback/google"
APPLE_CALLBACK = f"{PUBLIC_URL}/login/callback/apple"
ACCOUNTS = {
    **GOOGLE_ACCOUNTS,
    "cy": {"email": "cy@example.com", "email_verified": True, "given_name": "Cy", "family_name": "Taken"},
    "nomail": {"given_name": "Noa", "family_name": "Nomail"},  # an employer's provider may give no address
}


@pytest.fixture(scope="module")
def google(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    """The Google-like provider, with VitalKey's callback page as a registered redirect URI."""
    yield from serve(
        tmp_path_factory.mktemp("google"), "google", keys=[rsa_jwk("g-1")], accounts=ACCOUNTS, callback=CALLBACK
    )


@pytest.fixture(scope="module")
def apple(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    yield from serve(
        tmp_path_factory.mktemp("apple"),
        "apple",
        keys=[rsa_jwk("a-1")],
        accounts=APPLE_ACCOUNTS,
        names=APPLE_NAMES,
        apple=AppleTeam(),
        callback=APPLE_CALLBACK,
    )


@pytest.fixture
def client(make_client: ClientFactory, google: OidcServer) -> TestClient:
    return make_client(public_url=PUBLIC_URL, federation_providers=json.dumps([provider_settings(google)]))


@pytest.fixture
def apple_client(make_client: ClientFactory, google: OidcServer, apple: OidcServer) -> TestClient:
    providers = [provider_settings(google), provider_settings(apple)]
    return make_client(public_url=PUBLIC_URL, federation_providers=json.dumps(providers))


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


def posted_by_provider(url: str, login: str) -> dict[str, str]:
    """The browser at an Apple-like provider: signs in as ``login``, returns the fields of the
    form_post page that would post them to VitalKey's callback."""
    with httpx.Client(timeout=10) as browser:
        answer = browser.get(url)
        for _ in range(10):
            if answer.is_redirect:
                answer = browser.get(urljoin(str(answer.url), answer.headers["location"]))
                continue
            action = html.unescape(answer.text.split('<form method="post" action="')[1].split('"')[0])
            if action == APPLE_CALLBACK:
                fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"/>', answer.text)
                return {name: html.unescape(value) for name, value in fields}
            answer = browser.post(urljoin(str(answer.url), action), data={"login": login})
    raise AssertionError("never sent back")


def leave(client: TestClient, page: str = "/login", provider: str = "google") -> str:
    """Press "Continue with Google" (or another provider's button) on ``page``: the provider's URL."""
    shown = client.get(page)
    answer = client.post(f"/login/with/{provider}", data={"csrf_token": csrf_of(shown.text)}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def leave_to_link(client: TestClient) -> str:
    """Press Account & Security's "Link your Google account": the provider's URL."""
    shown = client.get("/account")
    assert "Link your Google account" in shown.text
    data = {"csrf_token": csrf_of(shown.text), "intent": "link"}
    answer = client.post("/login/with/google", data=data, follow_redirects=False)
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


def test_address_of_an_account_is_linked_only_after_its_own_sign_in(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "cy@example.com")
    client.cookies.clear()
    answer = back(client, at_provider(leave(client), "cy"))
    assert answer.status_code == 200
    link_url = str(answer.url.path)
    assert link_url.startswith("/login/link/")
    assert "An account already uses cy@example.com. Sign in to it to link your Google account." in answer.text
    assert client.get("/account", follow_redirects=False).status_code == 303
    assert linked_providers(client, "cy@example.com") == []  # nothing linked without proof

    code_page = post_form(client, link_url, {"action": "sign_in"})  # a code mailed to the account's address
    assert str(code_page.url.path).startswith("/login/")
    assert linked_providers(client, "cy@example.com") == []
    code = code_in(mailbox.wait_for("cy@example.com", 2))
    done = post_form(client, str(code_page.url.path), {"action": "code", "code": code})
    assert str(done.url.path) == "/account/two-factor"  # signed in, and linked by that sign-in
    assert "The account has been linked" in done.text
    assert "Google · cy@example.com" in done.text
    assert linked_providers(client, "cy@example.com") == ["google"]
    told = mailbox.wait_for("cy@example.com", 3)  # the account's address is told
    assert "Google · cy@example.com" in str(told.get_body(preferencelist=("plain",)).get_content())
    assert client.get(link_url).status_code == 410  # the kept identity is used up

    client.cookies.clear()  # next time, Google signs in to the account at once
    signed_in = back(client, at_provider(leave(client), "cy"))
    assert str(signed_in.url.path) in ("/dashboard", "/account")
    assert client.get("/account", follow_redirects=False).status_code == 200


def test_a_signed_in_user_links_a_provider_from_account_and_security(
    client: TestClient, mailbox: Mailbox, google: OidcServer
) -> None:
    web_sign_up(client, mailbox, "dee@example.com")
    assert form_action(client.get("/account")) == ["'self'", google.issuer]  # its "Link" button's redirect
    account = client.get("/account").text
    assert 'id="linked-accounts"' in account and "No linked accounts" in account
    done = back(client, at_provider(leave_to_link(client), "ada"))  # another address: linking all the same
    assert str(done.url.path) == "/account/two-factor"
    assert "The account has been linked" in done.text
    assert linked_providers(client, "dee@example.com") == ["google"]
    account = client.get("/account").text
    assert "Sign-in with Google" in account and "ada@example.com" in account
    assert "Link your Google account" not in account  # linked already: no button

    # The methods page says "Unlink" for it, and unlinking asks first.
    methods = client.get("/account/two-factor").text
    row_id = re.search(r'href="/account/two-factor/methods/(\d+)/remove" aria-label="Unlink: ', methods)
    assert row_id, methods[-3000:]
    remove_url = f"/account/two-factor/methods/{row_id.group(1)}/remove"
    asked = client.get(remove_url).text
    assert "Unlink this account?" in asked and "You will no longer be able to sign in with Google" in asked
    done = post_form(client, remove_url, {"action": "remove"})
    assert "The account has been unlinked" in done.text
    assert linked_providers(client, "dee@example.com") == []
    assert "No linked accounts" in client.get("/account").text


def test_linking_after_an_old_sign_in_asks_to_sign_in_again(
    make_client: ClientFactory, google: OidcServer, mailbox: Mailbox
) -> None:
    clock = ShiftedClock()
    client = make_client(
        public_url=PUBLIC_URL, federation_providers=json.dumps([provider_settings(google)]), clock=clock
    )
    web_sign_up(client, mailbox, "eve@example.com")
    clock.advance(600)  # ten minutes later: too old a sign-in to add a way in
    asked = back(client, at_provider(leave_to_link(client), "ada"))
    assert str(asked.url.path).startswith("/login/link/")
    assert "please sign in again to link your Google account" in asked.text
    assert linked_providers(client, "eve@example.com") == []
    code_page = post_form(client, str(asked.url.path), {"action": "sign_in"})
    code = code_in(mailbox.wait_for("eve@example.com", 2))
    done = post_form(client, str(code_page.url.path), {"action": "code", "code": code})
    assert "The account has been linked" in done.text
    assert linked_providers(client, "eve@example.com") == ["google"]


def test_an_identity_of_another_account_is_not_linked(client: TestClient, mailbox: Mailbox) -> None:
    answer = back(client, at_provider(leave(client, "/signup"), "ada"))  # ada's account, made through Google
    flow_url = str(answer.url.path)
    post_form(client, flow_url, {"action": "policy", "accept": "yes"})
    post_form(client, flow_url, {"action": "details", **DETAILS_FORM})
    post_form(client, flow_url, {"action": "skip_two_factor"})
    client.cookies.clear()
    web_sign_up(client, mailbox, "fay@example.com")
    refused = back(client, at_provider(leave_to_link(client), "ada"))
    assert refused.status_code == 409
    assert "already linked to another VitalKey account" in refused.text
    assert linked_providers(client, "fay@example.com") == []
    assert linked_providers(client, "ada@example.com") == ["google"]


def test_the_last_way_in_of_an_account_made_through_the_provider_cannot_be_unlinked(
    client: TestClient, mailbox: Mailbox
) -> None:
    answer = back(client, at_provider(leave(client, "/signup"), "ada"))
    flow_url = str(answer.url.path)
    post_form(client, flow_url, {"action": "policy", "accept": "yes"})
    post_form(client, flow_url, {"action": "details", **DETAILS_FORM})
    post_form(client, flow_url, {"action": "skip_two_factor"})
    methods = client.get("/account/two-factor").text
    row_id = re.search(r'href="/account/two-factor/methods/(\d+)/remove" aria-label="Unlink: ', methods)
    assert row_id
    remove_url = f"/account/two-factor/methods/{row_id.group(1)}/remove"
    refused = post_form(client, remove_url, {"action": "remove"})
    assert refused.status_code == 409
    assert "This is the only way you have confirmed to sign in" in refused.text
    assert linked_providers(client, "ada@example.com") == ["google"]


def test_a_link_request_of_another_browser_or_used_up_is_gone(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "cy@example.com")
    client.cookies.clear()
    link_url = str(back(client, at_provider(leave(client), "cy")).url.path)
    client.cookies.clear()  # another browser
    gone = client.get(link_url)
    assert gone.status_code == 410
    assert "This request to link an account has expired or was already used" in gone.text
    assert client.get("/login/link/not-a-flow").status_code == 410


def linked_providers(client: TestClient, email: str) -> list[str]:
    container = client.app.state.container  # type: ignore[attr-defined]
    with container.uow.read() as tx:
        account = tx.accounts.by_email(account_key(email))
        assert account is not None
        rows = tx.authenticators.for_account(account.id)
        return [str(row.data["provider"]) for row in rows if row.kind == FEDERATED]


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


def test_apple_s_form_post_comes_back_as_a_get_and_its_name_is_offered_once(
    apple_client: TestClient, apple: OidcServer
) -> None:
    client = apple_client
    apple.control(forget_names=True)  # Tim's first authorization (the server serves both engines' runs)
    assert "Sign in with Apple" in client.get("/signup").text
    posted = posted_by_provider(leave(client, "/signup", "apple"), "001234.tim")
    assert set(posted) >= {"code", "state", "user"}  # the name, on the first authorization
    # Posted from Apple's site: no CSRF token, another origin, and (in a browser) no Lax cookie.
    cross_site = {"origin": apple.issuer, "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"}
    answer = client.post("/login/callback/apple", data=posted, headers=cross_site, follow_redirects=False)
    assert answer.status_code == 303, answer.text[:500]
    target = urlsplit(answer.headers["location"])
    assert target.path == "/login/callback/apple"
    assert dict(parse_qsl(target.query)) == {name: posted[name] for name in ("code", "state", "user")}
    signup = client.get(f"{target.path}?{target.query}")  # the browser follows: a GET, its cookie sent
    assert signup.status_code == 200
    flow_url = str(signup.url.path)
    assert flow_url.startswith("/signup/")  # Apple vouched for the private relay address: no code
    post_form(client, flow_url, {"action": "policy", "accept": "yes"})
    details = client.get(flow_url).text
    assert 'value="Tim"' in details and 'value="Cook"' in details  # the posted name, offered
    post_form(client, flow_url, {"action": "details", **{**DETAILS_FORM, "first_name": "Tim", "last_name": "Cook"}})
    post_form(client, flow_url, {"action": "skip_two_factor"})
    container = client.app.state.container  # type: ignore[attr-defined]
    with container.uow.read() as tx:
        account = tx.accounts.by_email(account_key(APPLE_ACCOUNTS["001234.tim"]["email"]))
        assert account is not None and account.profile is not None
        assert (account.profile.first_name, account.profile.last_name) == ("Tim", "Cook")

    client.cookies.clear()  # signed out; Apple sends no name the second time
    again = posted_by_provider(leave(client, "/login", "apple"), "001234.tim")
    assert "user" not in again
    back_as_get = client.post("/login/callback/apple", data=again, headers=cross_site, follow_redirects=False)
    signed_in = back(client, back_as_get.headers["location"])
    assert signed_in.status_code == 200
    assert client.get("/account", follow_redirects=False).status_code == 200
    with container.uow.read() as tx:
        kept = tx.accounts.by_email(account_key(APPLE_ACCOUNTS["001234.tim"]["email"]))
        assert kept is not None and kept.profile is not None and kept.profile.first_name == "Tim"


def test_a_posted_callback_of_an_unknown_provider_or_with_junk_is_refused_cleanly(apple_client: TestClient) -> None:
    assert apple_client.post("/login/callback/nobody", data={"code": "x"}, follow_redirects=False).status_code == 404
    assert apple_client.get("/login/callback/nobody?code=x&state=y").status_code == 404
    junk = apple_client.post(
        "/login/callback/apple", data={"state": "x" * 50, "evil": "<script>"}, follow_redirects=False
    )
    assert junk.status_code == 303
    assert "evil" not in junk.headers["location"]
    refused = apple_client.get(junk.headers["location"])
    assert refused.status_code == 400
    assert "expired or was already used" in refused.text


def test_a_provider_without_an_address_asks_for_one_and_confirms_it_by_code(
    client: TestClient, mailbox: Mailbox
) -> None:
    asked = back(client, at_provider(leave(client, "/signup"), "nomail"))
    address_url = str(asked.url.path)
    assert address_url.startswith("/signup/address/")
    assert "Google did not give an email address" in asked.text
    refused = post_form(client, address_url, {"email": "not an address"})
    assert refused.status_code == 400
    assert 'value="not an address"' in refused.text  # what was typed stays
    code_page = post_form(client, address_url, {"email": "noa@example.com"})
    flow_url = str(code_page.url.path)
    assert flow_url.startswith("/signup/") and 'name="code"' in code_page.text
    assert client.get(address_url).status_code == 410  # the kept identity went to the sign-up
    post_form(client, flow_url, {"action": "code", "code": code_in(mailbox.wait_for("noa@example.com"))})
    post_form(client, flow_url, {"action": "policy", "accept": "yes"})
    assert 'value="Noa"' in client.get(flow_url).text  # the provider's name, offered
    post_form(client, flow_url, {"action": "details", **DETAILS_FORM})
    post_form(client, flow_url, {"action": "skip_two_factor"})
    assert linked_providers(client, "noa@example.com") == ["google"]

    client.cookies.clear()  # the identity signs in to the account next time
    again = back(client, at_provider(leave(client), "nomail"))
    assert str(again.url.path) in ("/dashboard", "/account")


def test_a_configured_logo_shows_on_the_button_and_is_allowed(make_client: ClientFactory, google: OidcServer) -> None:
    acme = provider_settings(google, id="acme", kind="oidc", display_name="Acme SSO", client_secret="s")
    acme["logo_url"] = "https://cdn.acme.example/logo.svg"
    client = make_client(public_url=PUBLIC_URL, federation_providers=json.dumps([acme]))
    shown = client.get("/login")
    assert "Continue with Acme SSO" in shown.text
    assert '<img src="https://cdn.acme.example/logo.svg" alt=""' in shown.text
    policy = str(shown.headers["content-security-policy"])
    image_sources = next(part.split()[1:] for part in policy.split(";") if part.split()[0] == "img-src")
    assert "https://cdn.acme.example" in image_sources
    assert "https://cdn.acme.example" not in str(client.get("/privacy").headers["content-security-policy"])


def test_a_sign_in_cancelled_at_the_provider_says_so_and_nothing_changes(client: TestClient) -> None:
    state = dict(parse_qsl(urlsplit(leave(client)).query))["state"]
    cancelled = client.get(f"/login/callback/google?error=access_denied&state={state}")
    assert cancelled.status_code == 400
    assert "Google did not complete the sign-in. Please try again, or sign in another way." in cancelled.text
    assert "Continue with Google" in cancelled.text  # the sign-in page, to try again
    again = client.get(f"/login/callback/google?code=x&state={state}")  # the flow's answer was used up
    assert again.status_code == 400 and "expired or was already used" in again.text


def test_a_link_page_refuses_an_unknown_action_and_keeps_the_identity(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "cy@example.com")
    client.cookies.clear()
    link_url = str(back(client, at_provider(leave(client), "cy")).url.path)
    refused = post_form(client, link_url, {"action": "link_without_signing_in"})
    assert refused.status_code == 400
    assert "This action is not available." in refused.text
    assert linked_providers(client, "cy@example.com") == []
    assert client.get(link_url).status_code == 200  # still kept: "Sign in to link" works
