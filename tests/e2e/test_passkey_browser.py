"""Passkeys end to end in Debian's Chromium with a virtual authenticator (the DevTools protocol's
WebAuthn domain), against a real server process at http://localhost:PORT (Chromium refuses an IP
as the relying-party id): signed in with an emailed code, a passkey added from Account &
Security, then "Sign in with a passkey" (and the autofill) signs in without a code; an account
with SMS 2FA signs in with its passkey alone, and uses it as the second factor after an emailed
code; axe on the new pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import Gateway, LiveServer, Mailbox, code_in, free_port, start_server, stop_server
from tests.e2e.conftest import CHROMIUM, assert_accessible
from tests.e2e.journeys import sign_up_to_the_last_step, sms_server_env
from tests.e2e.test_passkey_js_browser import authenticator
from tests.e2e.test_two_factor_browser import EMAIL, PHONE, first_factor, sign_up_with_two_factor

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]

# The autofill request resolves by itself with a virtual authenticator: tests of the button turn
# the autofill off, as a browser without it.
NO_AUTOFILL = "PublicKeyCredential.isConditionalMediationAvailable = async () => false;"


@pytest.fixture
def server(tmp_path: Path, sqlite_url: str, smtp_server: tuple[Mailbox, int], gateway: Gateway) -> Iterator[LiveServer]:
    port = free_port()
    live = start_server(
        tmp_path / "live",
        port,
        {**sms_server_env(sqlite_url, smtp_server[1], gateway), "VITALKEY_PUBLIC_URL": f"http://localhost:{port}"},
    )
    live.url = f"http://localhost:{port}"
    yield live
    stop_server(live)


@pytest.fixture
def quiet_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US")
    context.add_init_script(NO_AUTOFILL)
    yield context.new_page()
    context.close()


def sign_out(page: Page, *, stays_out: bool = True) -> None:
    page.goto(page.url.split("/", 3)[0] + "//" + page.url.split("/", 3)[2] + "/account")
    page.get_by_role("button", name="Sign out").first.click()
    if stays_out:
        expect(page.get_by_text("You are signed out.")).to_be_visible()


def sign_up(page: Page, server: LiveServer, mailbox: Mailbox) -> None:
    sign_up_to_the_last_step(page, server.url, mailbox, EMAIL)
    page.get_by_role("button", name="Skip for now").click()


def sign_in_by_code(page: Page, server: LiveServer, mailbox: Mailbox, mail_number: int) -> None:
    page.goto(server.url + "/login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("6-digit code").fill(code_in(mailbox.wait_for(EMAIL, mail_number)))
    page.get_by_role("button", name="Continue").click()


def add_passkey(page: Page, server: LiveServer, name: str) -> None:
    page.goto(server.url + "/account")
    expect(page.get_by_role("heading", name="Account & Security")).to_be_visible()
    page.goto(server.url + "/account/passkeys/new")  # Account & Security → Passkeys → Add
    page.get_by_label("Name of the passkey").fill(name)
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_text("Your passkey has been added.")).to_be_visible()


def test_add_a_passkey_then_sign_in_with_it_alone(quiet_page: Page, server: LiveServer, mailbox: Mailbox) -> None:
    page = quiet_page
    sign_up(page, server, mailbox)
    sign_out(page)
    sign_in_by_code(page, server, mailbox, 2)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    cdp, device = authenticator(page)
    add_passkey(page, server, "Work laptop")
    held = cdp.send("WebAuthn.getCredentials", {"authenticatorId": device})["credentials"]
    assert len(held) == 1 and held[0]["isResidentCredential"] is True
    assert "Work laptop" in str(mailbox.wait_for(EMAIL, 3).get_body(("plain",)).get_content())  # type: ignore[union-attr]
    mails = len(mailbox.to(EMAIL))

    sign_out(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert len(mailbox.to(EMAIL)) == mails  # no code was mailed

    # A refusal is said in words: the passkey cannot be unlocked.
    sign_out(page)
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": device, "isUserVerified": False})
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert")).to_have_text(
        "The passkey request was cancelled. You can try again, or sign in another way."
    )


def test_the_autofill_signs_in_with_the_passkey(page: Page, server: LiveServer, mailbox: Mailbox) -> None:
    sign_up(page, server, mailbox)
    authenticator(page)
    add_passkey(page, server, "Phone")
    sign_out(page, stays_out=False)  # lands on the sign-in page, whose address field offers the passkey
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_with_sms_2fa_the_passkey_signs_in_alone_and_as_second_factor(
    quiet_page: Page, server: LiveServer, mailbox: Mailbox, gateway: Gateway
) -> None:
    page = quiet_page
    sign_up_with_two_factor(page, server, mailbox, gateway)
    authenticator(page)
    add_passkey(page, server, "Laptop")
    texts = len(gateway.texts_to(PHONE))

    sign_out(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert len(gateway.texts_to(PHONE)) == texts  # no text: the passkey is both factors

    sign_out(page)
    mailbox.wait_for(EMAIL, 3)  # the sign-up's code, "two-factor is on", "passkey added"
    first_factor(page, server, mailbox, 4)  # the emailed code, then the texted one
    # The text message is the default; the passkey is chosen under "Try another way".
    other_ways = page.get_by_role("region", name="Try another way")
    other_ways.get_by_role("button", name=re.compile(r"^Passkey")).click()
    expect(page.get_by_role("heading", name="Sign in with a passkey")).to_be_visible()
    expect(page.get_by_text("To finish signing in, confirm it is you")).to_be_visible()
    page.get_by_role("button", name="Use my passkey").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_the_passkey_pages_pass_axe(browser: Browser, server: LiveServer, mailbox: Mailbox, gateway: Gateway) -> None:
    context = browser.new_context(locale="en-US", bypass_csp=True)  # lets the audit's script in
    context.add_init_script(NO_AUTOFILL)
    page = context.new_page()
    try:
        sign_up_with_two_factor(page, server, mailbox, gateway)
        cdp, device = authenticator(page)
        page.goto(server.url + "/account/passkeys/new")
        assert_accessible(page)
        page.get_by_label("Name of the passkey").fill("Laptop")
        page.get_by_role("button", name="Add a passkey").click()
        expect(page.get_by_text("Your passkey has been added.")).to_be_visible()
        assert_accessible(page)
        sign_out(page)
        assert_accessible(page)  # the sign-in page with its passkey button
        cdp.send("WebAuthn.setUserVerified", {"authenticatorId": device, "isUserVerified": False})
        page.get_by_role("button", name="Sign in with a passkey").click()
        expect(page.get_by_role("alert")).to_be_visible()
        assert_accessible(page)  # with the refusal shown
        mailbox.wait_for(EMAIL, 3)  # the sign-up's code, "two-factor is on", "passkey added"
        first_factor(page, server, mailbox, 4)
        csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
        page.request.post(page.url, form={"csrf_token": str(csrf), "action": "choose_method", "method": "passkey"})
        page.goto(page.url)
        expect(page.get_by_role("heading", name="Sign in with a passkey")).to_be_visible()
        assert_accessible(page)  # the second factor's passkey page
    finally:
        context.close()
