"""Authenticator apps (TOTP, issue #22 item 3) end to end in Debian's Chromium on a real server
process (real time, mail through the real SMTP server): sign up, set up the app reading the key
off the page (the codes computed with pyotp, as an app would), the recovery code, sign out, sign
in with the emailed code then the app's code; then the same code again within its 30 seconds is
refused as a replay. The set-up page passes axe and fits a phone's width."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.conftest import LiveServer, Mailbox, code_in
from tests.e2e.conftest import CHROMIUM
from tests.e2e.journeys import sign_up_to_the_last_step
from tests.web.qr_kit import decode, png_to_grey

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]

EMAIL = "tess@example.org"
PHONE_WIDTH = {"width": 390, "height": 844}


def sign_up(page: Page, server: LiveServer, mailbox: Mailbox) -> None:
    sign_up_to_the_last_step(
        page, server.url, mailbox, EMAIL, name=("Tess", "Ochoa"), birth_date="1985-03-14", height_cm="165"
    )
    page.get_by_role("button", name="Skip for now").click()


def sign_out(page: Page, server: LiveServer) -> None:
    page.goto(server.url + "/account")
    page.get_by_role("button", name="Sign out").first.click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()


def to_the_app_step(page: Page, server: LiveServer, mailbox: Mailbox, mail_number: int) -> None:
    page.goto(server.url + "/login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("6-digit code").fill(code_in(mailbox.wait_for(EMAIL, mail_number)))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Enter the code from your authenticator app")).to_be_visible()


def step_now() -> int:
    return int(time.time()) // 30


def audit_and_fit(browser: Browser, page: Page) -> None:
    """The set-up page (this browser's session and flow) in a tab that lets axe's script in, at a
    phone's width: no axe violation, nothing wider than the screen, the QR code whole and scannable."""
    context = browser.new_context(locale="en-US", bypass_csp=True, viewport=PHONE_WIDTH)
    try:
        context.add_cookies(page.context.cookies())
        audited = context.new_page()
        audited.goto(page.url)
        expect(audited.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
        found = Axe().run(audited).response["violations"]
        assert not found, [(v["id"], [n["target"] for n in v["nodes"][:3]]) for v in found]
        assert audited.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH["width"]
        qr = audited.locator("svg.qr-code")
        box = qr.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE_WIDTH["width"]
        key = audited.locator("code.totp-key").bounding_box()
        assert key is not None and key["x"] + key["width"] <= PHONE_WIDTH["width"]
        shot = audited.screenshot(type="png", full_page=True)
        assert len(shot) > 5_000  # a drawn page, not a blank one
        [uri] = decode(png_to_grey(qr.screenshot(type="png")))
        assert uri.startswith("otpauth://totp/VitalKey:tess@example.org?secret=")
    finally:
        context.close()


@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    yield page
    context.close()


def test_set_up_the_app_then_sign_in_with_it_and_a_replayed_code_is_refused(
    browser: Browser, tab: Page, live_server: LiveServer, mailbox: Mailbox
) -> None:
    page = tab
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    sign_up(page, live_server, mailbox)

    page.goto(live_server.url + "/account/two-factor")
    page.get_by_role("list", name="Add a method").get_by_role("link", name="Authenticator app").click()
    expect(page.get_by_role("heading", name="Authenticator app")).to_be_visible()
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect(page.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
    expect(page.get_by_role("img", name="QR code to scan with your authenticator app")).to_be_visible()
    shown = page.locator("code.totp-key").inner_text()
    assert re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", shown), shown
    app = pyotp.TOTP(shown.replace(" ", ""))  # typed into the app, as a user would
    audit_and_fit(browser, page)

    field = page.get_by_label("Enter the 6-digit code from your app")
    field.fill("000000" if app.now() != "000000" else "111111")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#e-code")).to_contain_text("This code is not correct.")  # beside the field
    enrolled_at = step_now()
    page.get_by_label("Enter the 6-digit code from your app").fill(app.now())
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Your recovery code")).to_be_visible()
    recovery = page.locator("#recovery-code").inner_text()
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", recovery)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("you will be asked for a code from your authenticator app")).to_be_visible()
    assert "Two-factor authentication is on" in str(mailbox.wait_for(EMAIL, 2)["Subject"])

    sign_out(page, live_server)
    to_the_app_step(page, live_server, mailbox, 3)
    # The set-up's code is spent: the app's next one, from a phone a step ahead (the one step of
    # drift allowed) rather than waiting up to 30 s for it.
    used_at = max(step_now(), enrolled_at) + 1
    code = app.at(used_at * 30)
    field = page.get_by_label("Enter the 6-digit code from your authenticator app")
    assert field.get_attribute("inputmode") == "numeric" and field.get_attribute("autocomplete") == "one-time-code"
    field.fill(code)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    sign_out(page, live_server)
    to_the_app_step(page, live_server, mailbox, 4)
    assert step_now() - used_at <= 1, "too slow: the code left the window"  # still a code the server would take
    page.get_by_label("Enter the 6-digit code from your authenticator app").fill(code)
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#e-code")).to_contain_text("This code has already been used.")
    expect(page.get_by_role("heading", name="Enter the code from your authenticator app")).to_be_visible()
    page.goto(live_server.url + "/account")
    assert "/login" in page.url  # not signed in
    assert refused == []
