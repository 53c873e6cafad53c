"""Debian's Chromium, driven by Playwright, through sign-up and sign-in on a real server process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import LiveServer, Mailbox, code_in

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    yield page
    context.close()


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
    expect(page.get_by_role("heading", name="Account & Security")).to_be_visible()
    expect(page.get_by_text("This device")).to_be_visible()


def test_pages_in_japanese_from_the_chooser(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/login")
    page.get_by_role("link", name="日本語").click()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", name="ログイン")).to_be_visible()
    page.goto(live_server.url + "/signup")
    expect(page.locator("html")).to_have_attribute("lang", "ja")  # the choice is remembered
