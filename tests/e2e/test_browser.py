"""Debian's Chromium, driven by Playwright, through sign-up and sign-in on a real server process."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer, Mailbox, code_in, text_of
from tests.e2e.conftest import CHROMIUM

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]


def test_sign_up_then_sign_in(page: Page, live_server: LiveServer, mailbox: Mailbox, tmp_path: Path) -> None:
    page.goto(live_server.url + "/signup")
    page.get_by_label("Email address").fill("chris@gmail.con")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Did you mean chris@gmail.com?")).to_be_visible()
    page.get_by_role("button", name="Yes, use chris@gmail.com").click()
    expect(page.get_by_role("heading", name="Confirm your email address")).to_be_visible()
    page.get_by_label("6-digit code").fill(code_in(mailbox.wait_for("chris@gmail.com")))
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("I agree to the privacy policy").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("First name").fill("Chris")
    page.get_by_label("Last name").fill("Martin")
    # Chromium shows mm/dd/yyyy in its date picker (en-US): no hint beside it may say another format
    expect(page.locator(".field", has=page.get_by_label("Birth date"))).not_to_contain_text("YYYY")
    page.get_by_label("Birth date").fill("1988-07-14")
    page.get_by_label("Male", exact=True).check()
    page.get_by_label("Imperial (ft, lb)").check()
    expect(page.get_by_label("Height (cm)")).to_be_hidden()  # the script shows only the chosen units
    page.get_by_label("Height (ft)").fill("6")
    page.get_by_label("(in)").fill("1")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Protect your account")).to_be_visible()
    page.get_by_role("button", name="Skip for now").click()
    expect(page.get_by_text("Welcome! Your account is ready.")).to_be_visible()
    expect(page.get_by_label("First name")).to_have_value("Chris")
    page.screenshot(path=str(tmp_path / "account.png"))

    page.get_by_role("button", name="Sign out").first.click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.get_by_label("Email address").fill("chris@gmail.com")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Enter your temporary identification code")).to_be_visible()
    page.get_by_label("6-digit code").fill(
        "000000" if code_in(mailbox.wait_for("chris@gmail.com", 2)) != "000000" else "111111"
    )
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("This code is not correct")
    page.get_by_label("6-digit code").fill(code_in(mailbox.wait_for("chris@gmail.com", 2)))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()  # where sign-in lands
    page.get_by_role("link", name="Account & Security").click()
    expect(page.get_by_role("heading", name="Account & Security")).to_be_visible()
    expect(page.get_by_text("This device")).to_be_visible()


def test_pages_in_japanese_from_the_chooser(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/login")
    page.get_by_role("link", name="日本語").click()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", name="ログイン")).to_be_visible()
    page.goto(live_server.url + "/signup")
    expect(page.locator("html")).to_have_attribute("lang", "ja")  # the choice is remembered


def test_forgotten_password_reset_by_mail_then_password_sign_in(
    page: Page, live_server: LiveServer, mailbox: Mailbox
) -> None:
    """Issue #3 end to end: the seed's steps from the sign-in page to a new password, with the
    link read from the mail the test SMTP server received."""
    email = "dana@example.org"
    flow = httpx.post(live_server.url + "/api/v1/signup", json={"email": email}).json()["id"]
    base = f"{live_server.url}/api/v1/signup/{flow}"
    httpx.post(base + "/code", json={"code": code_in(mailbox.wait_for(email))})
    httpx.post(base + "/policy", json={"accept": True})
    details = {"first_name": "Dana", "last_name": "Scully", "birth_date": "1964-02-23", "sex": "female"}
    httpx.post(base + "/details", json={**details, "units": "metric", "height_cm": 160})
    assert httpx.post(base + "/two-factor", json={"choice": "skip"}).status_code == 200

    page.goto(live_server.url + "/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Login with password instead").click()
    expect(page.get_by_role("heading", name="Enter your password")).to_be_visible()
    page.get_by_role("button", name="Forgot your password?").click()
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_text(f"A password update link has been sent to {email}.")).to_be_visible()

    mail = mailbox.wait_for(email, 3)  # the sign-up code, the sign-in code, the link
    assert mail["Subject"] == "VitalKey account password change"
    link = re.search(r"(http\S+/password/reset/\S+)", text_of(mail))
    assert link and link.group(1).startswith(live_server.url)
    opened = page.goto(link.group(1))
    assert opened is not None and opened.status == 200
    assert opened.headers["referrer-policy"] == "no-referrer"
    expect(page.get_by_role("heading", name="Update password")).to_be_visible()
    new_password = page.get_by_label("New password")
    new_password.fill("password1")
    expect(page.locator(".strength-label")).to_have_text("Strength: Very weak")  # the live meter
    new_password.fill("the truth is out there 1013")
    expect(page.locator(".strength-label")).to_have_text("Strength: Very strong")
    page.get_by_role("button", name="Update password").click()
    expect(page.get_by_role("heading", name="Your password has been updated")).to_be_visible()
    assert mailbox.wait_for(email, 4)["Subject"] == "Your VitalKey password has been changed"

    page.get_by_role("link", name="Sign in").click()  # not signed in by the reset
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Login with password instead").click()
    page.get_by_label("Password", exact=True).fill("the truth is out there 1013")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()  # where sign-in lands
    page.get_by_role("link", name="Account & Security").click()
    expect(page.get_by_role("heading", name="Account & Security")).to_be_visible()
    expect(page.get_by_role("link", name="Change password")).to_be_visible()
    page.goto(link.group(1))  # the link worked once
    expect(page.get_by_role("heading", name="Link no longer valid")).to_be_visible()
