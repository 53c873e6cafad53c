"""Issue #4 end to end in Debian's Chromium on a real server process whose texts go to a real
local HTTP server playing the SMS gateway: 2FA chosen at the end of sign-up, the set-up steps of
the seed, a 2FA sign-in, then a sign-in with the recovery code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Gateway, LiveServer, Mailbox, code_in, free_port, start_server, stop_server
from tests.e2e.conftest import CHROMIUM
from tests.e2e.journeys import sign_up_to_the_last_step, sms_server_env

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]

EMAIL = "erin@example.org"
PHONE = "+33612345678"


@pytest.fixture
def sms_server(
    tmp_path: Path, sqlite_url: str, smtp_server: tuple[Mailbox, int], gateway: Gateway
) -> Iterator[LiveServer]:
    server = start_server(
        tmp_path / "live",
        free_port(),
        sms_server_env(sqlite_url, smtp_server[1], gateway),
    )
    yield server
    stop_server(server)


def sign_up_with_two_factor(page: Page, server: LiveServer, mailbox: Mailbox, gateway: Gateway) -> str:
    """The seed's sign-up, choosing 2FA at the end, then the set-up; the recovery code shown."""
    sign_up_to_the_last_step(page, server.url, mailbox, EMAIL)
    page.get_by_role("button", name="Activate two-factor authentication").click()

    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    expect(page.get_by_label("Text message")).to_be_checked()
    page.get_by_label("Country").select_option("FR")
    page.get_by_label("Mobile phone number").fill("06 12 34 56 78")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("A confirmation code has been sent by text message to +33 •••• 78.")).to_be_visible()
    text = gateway.wait_for(PHONE)
    assert "confirm this number" in text and text.endswith(f"#{gateway.code(PHONE)}")
    page.get_by_label("6-digit code").fill(gateway.code(PHONE))
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="Your recovery code")).to_be_visible()
    expect(page.get_by_text("save this recovery code somewhere safe, and not on your phone")).to_be_visible()
    recovery = page.locator("#recovery-code").inner_text()
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", recovery)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Two-factor authentication is on.")).to_be_visible()
    assert "Two-factor authentication is on" in str(mailbox.wait_for(EMAIL, 2)["Subject"])
    return recovery


def first_factor(page: Page, server: LiveServer, mailbox: Mailbox, mail_number: int) -> None:
    page.goto(server.url + "/login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("6-digit code").fill(code_in(mailbox.wait_for(EMAIL, mail_number)))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Enter your security code")).to_be_visible()
    expect(page.get_by_text("sent by text message to your phone +33 •••• 78")).to_be_visible()


def sign_out(page: Page) -> None:
    page.goto(page.url.split("/account")[0] + "/account")
    page.get_by_role("button", name="Sign out").first.click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()


def test_set_up_at_sign_up_then_sign_in_with_the_texted_code(
    page: Page, sms_server: LiveServer, mailbox: Mailbox, gateway: Gateway
) -> None:
    sign_up_with_two_factor(page, sms_server, mailbox, gateway)
    sign_out(page)
    first_factor(page, sms_server, mailbox, 3)
    page.get_by_label("6-digit code").fill("000000" if gateway.code(PHONE, 2) != "000000" else "111111")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("This code is not correct")
    page.get_by_label("6-digit code").fill(gateway.code(PHONE, 2))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()  # where sign-in lands
    page.get_by_role("link", name="Account & Security").click()
    expect(page.get_by_role("heading", name="Account & Security")).to_be_visible()
    expect(page.get_by_text("Status: on. Security codes are sent by text message to +33 •••• 78.")).to_be_visible()
    received = gateway.received[-1]
    assert received["auth"] == ("AC0123456789", "gateway-secret")
    assert received["path"] == "/2010-04-01/Accounts/AC0123456789/Messages.json"


def test_sign_in_with_the_recovery_code_shows_a_new_one(
    page: Page, sms_server: LiveServer, mailbox: Mailbox, gateway: Gateway
) -> None:
    recovery = sign_up_with_two_factor(page, sms_server, mailbox, gateway)
    sign_out(page)
    first_factor(page, sms_server, mailbox, 3)
    page.get_by_role("button", name="Recovery code").click()  # "Try another way"
    expect(page.get_by_role("heading", name="Use my recovery code")).to_be_visible()
    page.get_by_label("Recovery code").fill(recovery.lower().replace("-", " "))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("You signed in with your recovery code, so it no longer works.")).to_be_visible()
    renewed = page.locator("#recovery-code").inner_text()
    assert renewed != recovery and re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", renewed)
    assert "recovery code was used" in str(mailbox.wait_for(EMAIL, 4)["Subject"])

    # The old code is spent.
    sign_out(page)
    first_factor(page, sms_server, mailbox, 5)
    page.get_by_role("button", name="Recovery code").click()  # "Try another way"
    page.get_by_label("Recovery code").fill(recovery)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("This recovery code is not correct")
