"""The Profile menu at the top right, in Debian's Chromium against a real server process, at a
desktop's and a phone's width: it opens by a click and by the keyboard (no script: a
<details>), shows the user's initials, name and email, stays on the screen, its links lead to
their pages, its Sign out signs out, and axe finds nothing wrong with it open. A screenshot of
the open menu is left in the test's tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, expect

from tests.conftest import LiveServer, Mailbox, code_in
from tests.e2e.conftest import CHROMIUM
from tests.e2e.live_oauth import sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_menu_opens_by_click_and_by_keyboard(
    browser: Browser, live_server: LiveServer, mailbox: Mailbox, viewport: str, tmp_path: Path
) -> None:
    email = f"fox-{viewport}@example.org"
    sign_up(live_server, mailbox, email, first_name="Fox")
    phone = viewport == "phone"
    context = browser.new_context(
        viewport=VIEWPORTS[viewport],  # type: ignore[arg-type]
        locale="en-US",
        is_mobile=phone,
        has_touch=phone,
        bypass_csp=True,  # for the audit's script only
    )
    page = context.new_page()
    try:
        page.goto(live_server.url + "/login")
        page.get_by_label("Email address").fill(email)
        page.get_by_role("button", name="Next").click()
        page.get_by_label("6-digit code").fill(code_in(mailbox.wait_for(email, 2)))
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

        summary = page.locator(".profile-menu > summary")
        expect(summary).to_have_text("FLFox Lee")  # the initials (a picture's stand-in), the name
        menu_email = page.locator(".menu-panel .me-email")
        connected = page.locator(".menu-panel").get_by_role("link", name="Connected apps")
        expect(menu_email).to_be_hidden()

        # A click (a tap on the phone) opens it, another closes it.
        summary.tap() if phone else summary.click()
        expect(menu_email).to_have_text(email)
        expect(page.locator(".menu-panel .me-name")).to_have_text("Fox Lee")
        expect(connected).to_be_visible()
        page.screenshot(path=str(tmp_path / f"menu-open-{viewport}.png"))  # left for a look
        box = page.locator(".menu-panel").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORTS[viewport]["width"], box
        results = Axe().run(page)
        assert not results.response["violations"], [v["id"] for v in results.response["violations"]]
        summary.tap() if phone else summary.click()
        expect(connected).to_be_hidden()

        # The keyboard: Enter opens it, Tab walks its links, Enter follows one.
        summary.focus()
        page.keyboard.press("Enter")
        expect(connected).to_be_visible()
        page.keyboard.press("Tab")
        expect(page.locator(".menu-panel").get_by_role("link", name="Dashboard")).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.locator(".menu-panel").get_by_role("link", name="Account & Security")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Account & Security", exact=True)).to_be_visible()
        assert page.url == live_server.url + "/account"

        # Space opens it too; its Sign out, reached by Tab, signs out.
        summary.focus()
        page.keyboard.press(" ")
        expect(connected).to_be_visible()
        for _ in range(6):  # Dashboard, Account & Security, Devices, Connected apps, Download my data, Sign out
            page.keyboard.press("Tab")
        expect(page.locator(".menu-panel button")).to_be_focused()
        page.keyboard.press("Enter")
        page.wait_for_url("**/login?signed_out=1")
        expect(page.locator(".profile-menu")).to_have_count(0)
    finally:
        context.close()
