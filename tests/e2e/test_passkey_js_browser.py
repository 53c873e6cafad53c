"""passkey.js in Debian's Chromium with a virtual authenticator (added over CDP), against a tiny
Starlette app that serves our static files under our content security policy and checks every
answer with ``vitalkey.flows.passkeys``: a registration, a discoverable sign-in by button and by
autofill, each by keyboard only, and the messages of a cancelled, timed-out or unsupported
ceremony. The site is http://localhost:PORT, as Chromium refuses an IP as the relying-party id."""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import CDPSession, Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from tests.conftest import free_port
from tests.e2e.conftest import CHROMIUM
from vitalkey.domain.errors import (
    DomainError,
    PasskeyAlreadyRegistered,
    PasskeyCancelled,
    PasskeyNotSupported,
    PasskeyTimedOut,
)
from vitalkey.flows.passkeys import (
    NewPasskey,
    RelyingParty,
    StoredPasskey,
    authentication_options,
    new_user_handle,
    read_assertion,
    registration_options,
    verify_authentication,
    verify_registration,
)
from vitalkey.web.app import STATIC
from vitalkey.web.middleware import CSP

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]

CSRF = "csrf-token-kept"
MESSAGES = {
    "cancelled": PasskeyCancelled.message,
    "timeout": PasskeyTimedOut.message,
    "unsupported": PasskeyNotSupported.message,
    "exists": PasskeyAlreadyRegistered.message,
    "failed": "The passkey did not work.",
}


@dataclass
class Site:
    """The tiny app's state: one account, its passkeys, the challenge of each open page."""

    rp: RelyingParty
    url: str
    user_handle: bytes = field(default_factory=new_user_handle)
    passkeys: dict[str, NewPasskey] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    challenges: dict[str, bytes] = field(default_factory=dict)
    posts: list[str] = field(default_factory=list)
    timeout_ms: int | None = None
    options_in_script: bool = False

    def page(self, kind: str, action: str, options: str, extra: str = "") -> HTMLResponse:
        if self.timeout_ms is not None:
            options = json.dumps({**json.loads(options), "timeout": self.timeout_ms})
        messages = "".join(f' data-msg-{k}="{html.escape(v)}"' for k, v in MESSAGES.items())
        if self.options_in_script:  # a JSON data block runs nothing, so the policy allows it
            safe = options.replace("<", r"\u003c")
            data_block = f'<script type="application/json" id="options">{safe}</script>'
            source = 'data-options-from="options"'
        else:
            data_block, source = "", f'data-options="{html.escape(options)}"'

        body = (
            '<!doctype html><html lang="en"><head><title>Passkeys</title><link rel="icon" href="data:,">'
            '<script src="/static/passkey.js" defer></script></head><body><main>'
            f'{data_block}<form method="post" action="{action}" data-passkey="{kind}" {source}{messages}>'
            '<p role="alert" hidden></p>'
            f'<input type="hidden" name="csrf" value="{CSRF}">{extra}'
            '<button type="submit" data-passkey-start name="method" value="passkey">Use a passkey</button>'
            "</form></main></body></html>"
        )
        return HTMLResponse(body, headers={"content-security-policy": CSP})

    def app(self) -> Starlette:
        async def register_page(request: Request) -> HTMLResponse:
            options, self.challenges["register"] = registration_options(
                self.rp, self.user_handle, "ada@example.org", "Ada", exclude=list(self.passkeys)
            )
            return self.page("register", "/register", options)

        async def sign_in_page(request: Request) -> HTMLResponse:
            options, self.challenges["sign-in"] = authentication_options(self.rp, [])
            extra = (
                '<label for="email">Email</label>'
                '<input id="email" name="email" type="email" autocomplete="username webauthn">'
                if request.query_params.get("autofill")
                else ""
            )
            return self.page("authenticate", "/sign-in", options, extra)

        async def register(request: Request) -> HTMLResponse:
            form = await request.form()
            self.posts.append("register")
            assert form["csrf"] == CSRF and form["method"] == "passkey"
            try:
                new = verify_registration(self.rp, str(form["credential"]), self.challenges.pop("register"))
            except DomainError as error:
                return answer(f"refused: {error.code}")
            self.passkeys[new.credential_id] = new
            self.counts[new.credential_id] = new.sign_count
            return answer(f"registered {new.credential_id}")

        async def sign_in(request: Request) -> HTMLResponse:
            form = await request.form()
            self.posts.append("sign-in")
            assert form["csrf"] == CSRF and form["method"] == "passkey"
            credential = str(form["credential"])
            try:
                posted = read_assertion(credential)
                new = self.passkeys[posted.credential_id]
                stored = StoredPasskey(
                    new.credential_id,
                    new.public_key,
                    self.counts[new.credential_id],
                    new.backup_eligible,
                    self.user_handle,
                )
                use = verify_authentication(self.rp, credential, self.challenges.pop("sign-in"), stored, True)
            except DomainError as error:
                return answer(f"refused: {error.code}")
            self.counts[new.credential_id] = use.new_sign_count
            return answer(f"signed in {bytes_to_base64url(posted.user_handle or b'')} count {use.new_sign_count}")

        return Starlette(
            routes=[
                Route("/register", register_page),
                Route("/register", register, methods=["POST"]),
                Route("/sign-in", sign_in_page),
                Route("/sign-in", sign_in, methods=["POST"]),
                Mount("/static", StaticFiles(directory=STATIC)),
            ]
        )


def answer(text: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><title>Done</title><link rel="icon" href="data:,"><p id="result">{html.escape(text)}</p>'
    )


@pytest.fixture
def site() -> Iterator[Site]:
    port = free_port()
    site = Site(RelyingParty.from_public_url(f"http://localhost:{port}"), f"http://localhost:{port}")
    config = uvicorn.Config(site.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test site did not start"
        time.sleep(0.02)
    try:
        yield site
    finally:
        server.should_exit = True
        thread.join(10)


def url(site: Site, path: str) -> str:
    return site.url + path


def authenticator(page: Page, **overrides: Any) -> tuple[CDPSession, str]:
    """A platform passkey authenticator in this page's CDP session (it lives as long as that)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    options = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
        "automaticPresenceSimulation": True,
        **overrides,
    }
    found = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return cdp, str(found["authenticatorId"])


def press_the_button(page: Page) -> None:
    """Keyboard only: Tab to the button, Enter."""
    button = page.get_by_role("button", name="Use a passkey")
    for _ in range(5):
        if button.evaluate("b => b === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(button).to_be_focused()
    page.keyboard.press("Enter")


def register_passkey(page: Page, site: Site) -> str:
    page.goto(url(site, "/register"))
    press_the_button(page)
    result = page.locator("#result")
    expect(result).to_have_text(re.compile(r"^registered \S+$"))
    credential_id = result.inner_text().split()[1]
    assert list(site.passkeys) == [credential_id]
    return credential_id


def test_register_then_sign_in_with_the_button(page: Page, site: Site) -> None:
    cdp, device = authenticator(page)
    credential_id = register_passkey(page, site)
    held = cdp.send("WebAuthn.getCredentials", {"authenticatorId": device})["credentials"]
    assert len(held) == 1 and held[0]["isResidentCredential"] is True
    assert base64url_to_bytes(held[0]["credentialId"].replace("+", "-").replace("/", "_")) == base64url_to_bytes(
        credential_id
    )
    assert base64url_to_bytes(held[0]["userHandle"].replace("+", "-").replace("/", "_")) == site.user_handle
    new = site.passkeys[credential_id]
    assert new.fmt == "none" and "internal" in new.transports and new.public_key
    assert new.sign_count == held[0]["signCount"]  # Chromium counts the registration too

    page.goto(url(site, "/sign-in"))
    press_the_button(page)
    result = page.locator("#result")
    expect(result).to_have_text(f"signed in {bytes_to_base64url(site.user_handle)} count {new.sign_count + 1}")
    page.goto(url(site, "/sign-in"))
    press_the_button(page)
    expect(result).to_have_text(f"signed in {bytes_to_base64url(site.user_handle)} count {new.sign_count + 2}")

    # The same authenticator again is excluded: the browser refuses it before any post.
    page.goto(url(site, "/register"))
    press_the_button(page)
    expect(page.get_by_role("alert")).to_have_text(MESSAGES["exists"])
    assert site.posts.count("register") == 1


def test_sign_in_from_the_autofill(page: Page, site: Site) -> None:
    authenticator(page)
    counted = site.passkeys[register_passkey(page, site)].sign_count
    # Chromium's virtual authenticator answers a conditional request by itself: no click at all.
    page.goto(url(site, "/sign-in?autofill=1"))
    expect(page.locator("#result")).to_have_text(
        f"signed in {bytes_to_base64url(site.user_handle)} count {counted + 1}"
    )


def test_a_cancelled_ceremony_says_so_and_posts_nothing(page: Page, site: Site) -> None:
    cdp, device = authenticator(page)
    counted = site.passkeys[register_passkey(page, site)].sign_count
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": device, "isUserVerified": False})
    page.goto(url(site, "/sign-in"))
    press_the_button(page)
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(MESSAGES["cancelled"])
    expect(alert).to_be_visible()
    assert site.posts == ["register"]
    # Once the user can verify again, the same page works.
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": device, "isUserVerified": True})
    press_the_button(page)
    expect(page.locator("#result")).to_have_text(
        f"signed in {bytes_to_base64url(site.user_handle)} count {counted + 1}"
    )


def test_a_ceremony_without_an_authenticator_times_out(page: Page, site: Site) -> None:
    cdp, device = authenticator(page)
    register_passkey(page, site)
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": device})
    site.timeout_ms = 1500
    page.goto(url(site, "/sign-in"))
    press_the_button(page)
    expect(page.get_by_role("alert")).to_have_text(MESSAGES["timeout"], timeout=15_000)
    assert site.posts == ["register"]


def test_a_browser_without_passkeys_says_so(page: Page, site: Site) -> None:
    page.add_init_script("delete window.PublicKeyCredential")
    page.goto(url(site, "/sign-in"))
    press_the_button(page)
    expect(page.get_by_role("alert")).to_have_text(MESSAGES["unsupported"])
    assert site.posts == []


def test_without_the_json_helpers_of_newer_browsers(page: Page, site: Site) -> None:
    """The hand-made base64url decoding and credential JSON, with the options in a JSON block."""
    page.add_init_script(
        "delete PublicKeyCredential.parseCreationOptionsFromJSON;"
        "delete PublicKeyCredential.parseRequestOptionsFromJSON;"
        "delete PublicKeyCredential.prototype.toJSON;"
    )
    site.options_in_script = True
    complaints: list[str] = []
    page.on("console", lambda message: complaints.append(message.text) if message.type == "error" else None)
    authenticator(page)
    credential_id = register_passkey(page, site)
    assert page.evaluate("typeof PublicKeyCredential.parseCreationOptionsFromJSON") == "undefined"
    new = site.passkeys[credential_id]
    assert "internal" in new.transports
    page.goto(url(site, "/sign-in"))
    press_the_button(page)
    expect(page.locator("#result")).to_have_text(
        f"signed in {bytes_to_base64url(site.user_handle)} count {new.sign_count + 1}"
    )
    assert complaints == []  # no policy violation, no script error
