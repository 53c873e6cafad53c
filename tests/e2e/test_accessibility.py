"""axe-core (the engine behind the browsers' accessibility audits, shipped inside the
axe-playwright-python package) on every page a user can reach, in Debian's Chromium against a
real server process: sign-up, sign-in with every way off the sign-in page, the account pages, the
password pages, two-factor set-up, the consent page of a Link Device, and the dead ends (404,
an unknown OAuth client, a form from another site). Any violation fails, with its rule and
the elements it names."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer, Mailbox, code_in, free_port
from tests.e2e.conftest import CHROMIUM
from tests.e2e.conftest import assert_accessible as axe_finds_nothing
from tests.e2e.live_oauth import register

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]


def assert_accessible(page: Page, seen: list[str]) -> None:
    """axe finds nothing on the page, which is counted as seen."""
    axe_finds_nothing(page)
    seen.append(page.url.split("?")[0])


def test_every_page_passes_axe(audited: Page, live_server: LiveServer, mailbox: Mailbox, sqlite_url: str) -> None:
    page, base, seen = audited, live_server.url, []
    email = "axel@example.org"

    # Sign-up, every step.
    page.goto(base + "/signup")
    assert_accessible(page, seen)
    page.get_by_label("Email address").fill("axel@gmail.con")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Did you mean axel@gmail.com?")).to_be_visible()
    assert_accessible(page, seen)  # "Did you mean …?"
    page.goto(base + "/signup")
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Confirm your email address")).to_be_visible()
    assert_accessible(page, seen)
    page.get_by_label("6-digit code").fill(code_in(mailbox.wait_for(email)))
    page.get_by_role("button", name="Continue").click()
    assert_accessible(page, seen)  # the privacy policy
    page.get_by_label("I agree to the privacy policy").check()
    page.get_by_role("button", name="Next").click()
    assert_accessible(page, seen)  # the details
    page.get_by_label("First name").fill("Axel")
    page.get_by_label("Last name").fill("Berg")
    page.get_by_label("Birth date").fill("1985-03-09")
    page.get_by_label("Male", exact=True).check()
    page.get_by_label("Metric (cm, kg)").check()
    page.get_by_label("Height (cm)").fill("180")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Protect your account")).to_be_visible()
    assert_accessible(page, seen)
    page.get_by_role("button", name="Skip for now").click()
    expect(page.get_by_role("heading", name="Account & Security")).to_be_visible()
    assert_accessible(page, seen)

    # The account's own pages.
    for path in (
        "/account/password", "/account/connected-apps", "/account/app-passwords", "/account/two-factor", "/account/data",
    ):  # fmt: skip
        page.goto(base + path)
        assert_accessible(page, seen)
    page.goto(base + "/account/password")
    page.get_by_role("button", name="Send the code").click()
    expect(page.get_by_label("New password")).to_be_visible()
    assert_accessible(page, seen)  # the code and the new password with its meter
    page.get_by_label("6-digit code").fill(code_in(mailbox.wait_for(email, 2)))
    page.get_by_label("New password").fill("password")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page, seen)  # a refusal, with the meter filled in

    # Link Device: the consent page (the user is signed in).
    partner = register(
        live_server,
        sqlite_url,
        name="Acme Wellness Portal",
        redirect_uri=f"http://localhost:{free_port()}/callback",
        scopes=("user.info", "user.metrics"),
    )
    authorize = (
        f"{base}/oauth2_user/authorize2?response_type=code&client_id={partner.client_id}"
        f"&redirect_uri={partner.redirect_uri}&scope=user.info,user.metrics&state=s1"
    )
    page.goto(authorize)
    expect(page.get_by_role("button", name="Allow this app")).to_be_visible()
    assert_accessible(page, seen)

    # Signed out: the sign-in page and every way off it.
    page.context.clear_cookies()
    page.goto(base + "/login")
    assert_accessible(page, seen)
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Enter your temporary identification code")).to_be_visible()
    assert_accessible(page, seen)
    page.get_by_role("button", name="Login with password instead").click()
    expect(page.get_by_label("Password", exact=True)).to_be_visible()
    assert_accessible(page, seen)
    page.get_by_role("button", name="Forgot your password?").click()
    assert_accessible(page, seen)

    # The privacy policy, and the dead ends.
    page.goto(base + "/privacy")
    assert_accessible(page, seen)
    page.goto(base + "/no-such-page")
    assert_accessible(page, seen)
    page.goto(base + "/dev/notifications")  # the operator's view in dev mode (empty here)
    expect(page.get_by_role("heading", name="Dev notifications")).to_be_visible()
    assert_accessible(page, seen)
    page.goto(f"{base}/oauth2/authorize?response_type=code&client_id=nobody&redirect_uri=https://x.example/cb")
    assert_accessible(page, seen)

    # Another language, another script.
    page.goto(base + "/lang/ja")
    for path in ("/login", "/signup"):
        page.goto(base + path)
        expect(page.locator("html")).to_have_attribute("lang", "ja")
        assert_accessible(page, seen)

    assert len(seen) >= 22, seen
