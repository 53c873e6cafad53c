"""Importing a Withings export in Debian's Chromium, in German on a phone: the Download my data
page takes the CSV file, the report says in German what was imported and which line was left
out and why, the dashboard then shows the weight, nothing is wider than the phone, and axe
finds no violation on either page."""

from __future__ import annotations

from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer, Mailbox
from tests.e2e.conftest import CHROMIUM
from tests.e2e.test_account_deletion_browser import sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]

AXE = Axe()
PHONE = {"width": 390, "height": 844}
WEIGHT_CSV = (
    '"Date","Weight (kg)","Fat mass (kg)","Bone mass (kg)","Muscle mass (kg)","Hydration (kg)","Comments"\n'
    '"2026-11-20 07:12:38",72.35,15.1,3.1,54.2,40.0,\n'
    '"2026-11-21 07:10:00",999,,,,,\n'
)


def no_violations(page: Page) -> None:
    found = AXE.run(page).response["violations"]
    assert not found, "\n".join(f"{v['id']}: {v['help']}" for v in found)


def test_a_withings_weight_file_in_german_on_a_phone(
    page: Page, live_server: LiveServer, mailbox: Mailbox, tmp_path: Path
) -> None:
    sign_up(page, live_server, mailbox, 1)
    page.set_viewport_size(PHONE)
    page.goto(live_server.url + "/account/data")
    page.get_by_role("link", name="Deutsch").click()
    expect(page.get_by_role("heading", name="Meine Daten herunterladen")).to_be_visible()
    no_violations(page)
    page.screenshot(path=str(tmp_path / "data-de-phone.png"), full_page=True)

    upload = tmp_path / "weight.csv"
    upload.write_text(WEIGHT_CSV)
    page.locator("input[type=file]").set_input_files(str(upload))
    page.get_by_role("button", name="Importieren").click()

    expect(page.get_by_role("heading", name="Importbericht")).to_be_visible()
    expect(page.locator("#imported tbody tr")).to_have_count(1)
    # one item, not "1 Einträge"
    expect(page.locator("#import-summary")).to_contain_text("1 Eintrag importiert, 1 übersprungen.")
    expect(page.locator("#imported tbody td").last).to_have_text("1")
    expect(page.locator("#skipped li")).to_have_count(1)
    expect(page.locator("#skipped li")).to_contain_text("weight.csv")
    expect(page.locator("#skipped li")).to_contain_text("3")  # the line of the 999 kg row
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    no_violations(page)
    page.screenshot(path=str(tmp_path / "import-report-de-phone.png"), full_page=True)

    page.goto(live_server.url + "/dashboard?days=365")
    expect(page.locator("#latest-weight")).to_contain_text("72,4 kg")  # 72.35 kg, German decimals
