"""Account & Security → Delete account in Debian's Chromium on a real server process with a real
SMTP server: a wrong address is refused beside its field, the right one deletes, the browser is
signed out and sees the "deleted" page, the confirmation mail arrives, and the address can sign
up again as a new account."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer, Mailbox, code_in
from tests.e2e.conftest import CHROMIUM

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]

EMAIL = "dana@example.org"


def sign_up(page: Page, server: LiveServer, mailbox: Mailbox, mail_number: int) -> None:
    page.goto(server.url + "/signup")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("6-digit code").fill(code_in(mailbox.wait_for(EMAIL, mail_number)))
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("I agree to the privacy policy").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("First name").fill("Dana")
    page.get_by_label("Last name").fill("Scully")
    page.get_by_label("Birth date").fill("1964-02-23")
    page.get_by_label("Female", exact=True).check()
    page.get_by_label("Height (cm)").fill("160")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Skip for now").click()
    expect(page.get_by_text("Welcome! Your account is ready.")).to_be_visible()


def test_delete_the_account_from_account_and_security(page: Page, live_server: LiveServer, mailbox: Mailbox) -> None:
    sign_up(page, live_server, mailbox, 1)
    page.get_by_role("link", name="Delete account").click()
    expect(page.get_by_role("heading", name="Delete account")).to_be_visible()
    expect(page.get_by_text("Deleting your account cannot be undone.")).to_be_visible()
    confirmation = page.get_by_label(f"To confirm, type your email address: {EMAIL}")
    confirmation.fill("dana@example.com")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#e-confirmation")).to_have_text(
        "To delete your account, type your email address exactly as shown."
    )
    page.get_by_label(f"To confirm, type your email address: {EMAIL}").fill(EMAIL)
    page.get_by_role("button", name="Delete my account").click()

    expect(page.get_by_role("heading", name="Your account has been deleted")).to_be_visible()
    assert page.url == live_server.url + "/account/deleted"
    assert "Your VitalKey account has been deleted" in str(mailbox.wait_for(EMAIL, 2)["Subject"])
    page.goto(live_server.url + "/account")
    expect(page.get_by_label("Email address")).to_be_visible()  # signed out: the sign-in page
    assert "/login" in page.url

    sign_up(page, live_server, mailbox, 3)  # the address is free again: a new, empty account
    expect(page.get_by_label("First name")).to_have_value("Dana")
