"""Devices and measurements entered by hand in Debian's Chromium against a real server process,
on a phone's viewport: from the dashboard a weight is added, shown, edited and deleted after the
confirmation; a device is listed and unpaired after the confirmation; a phone's width holds
everything and axe finds no violation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import LiveServer, Mailbox, make_settings
from tests.e2e.conftest import CHROMIUM
from tests.e2e.live_oauth import sign_up
from tests.e2e.test_dashboard_browser import PHONE, fits_the_width, no_violations, sign_in
from vitalkey.container import build
from vitalkey.domain.health import Battery, DeviceType

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]


@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    """A phone-sized tab that lets axe's script in (the pages themselves need none: plain links
    and forms, checked without script in tests/web)."""
    context = browser.new_context(locale="en-US", bypass_csp=True, java_script_enabled=True, viewport=PHONE)
    yield context.new_page()
    context.close()


def pair(tmp_path: Path, database_url: str, email: str) -> None:
    container = build(make_settings(tmp_path / "seeder", database_url))
    try:
        with container.uow.read() as tx:
            account = tx.accounts.by_email(email)
        assert account is not None
        container.health_ingest.pair(account.id, DeviceType.SCALE, "Body+", 13, "Europe/Paris", Battery.HIGH)
    finally:
        container.close()


def test_a_weight_by_hand_and_a_device_unpaired_on_a_phone(
    tab: Page, live_server: LiveServer, mailbox: Mailbox, sqlite_url: str, tmp_path: Path
) -> None:
    page, base, email = tab, live_server.url, "dana@example.org"
    sign_up(live_server, mailbox, email, first_name="Dana")
    pair(tmp_path, sqlite_url, email)
    sign_in(page, base, mailbox, email, 2)

    page.get_by_role("link", name="Add a measurement").click()
    expect(page.get_by_role("heading", name="Add a weight", level=1)).to_be_visible()
    fits_the_width(page)
    page.get_by_label("Weight (kg)").fill("abc")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#e-weight")).to_have_text("Please enter a number with at most two decimals, such as 72.5.")
    page.get_by_label("Weight (kg)").fill("68.4")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#done")).to_have_text("The measurement was added.")
    expect(page.locator("#entries li")).to_have_count(1)
    expect(page.locator("#entries li").first).to_contain_text("68.4 kg")
    fits_the_width(page)
    no_violations(page)

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Weight (kg)").fill("68.1")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#entries li").first).to_contain_text("68.1 kg")
    page.get_by_role("link", name="Delete").click()
    expect(page.locator("#confirm-delete")).to_contain_text("Delete 68.1 kg of")
    page.get_by_role("button", name="Delete").click()
    expect(page.locator("#done")).to_have_text("The measurement was deleted.")
    expect(page.locator("#entries li")).to_have_count(0)

    page.goto(base + "/devices")
    expect(page.locator("#device-1")).to_contain_text("Scale · Body+")
    expect(page.locator("#device-1")).to_contain_text("Battery: High · Not synced yet")
    fits_the_width(page)
    no_violations(page)
    page.get_by_role("link", name="Unpair").click()
    expect(page.locator("#confirm-unpair")).to_contain_text("Unpair Scale Body+?")
    no_violations(page)
    page.get_by_role("button", name="Unpair").click()
    expect(page.locator("#unpaired")).to_contain_text("The device was unpaired.")
    expect(page.locator("#no-devices")).to_be_visible()
