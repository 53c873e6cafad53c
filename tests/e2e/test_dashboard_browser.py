"""The Online Dashboard in Debian's Chromium against a real server process: a user with a year
of data and a new one, in English and German, on a desktop and a phone viewport. The figures the
page shows are checked against the stored data, the units and the range switch and are kept, no
chart needs a script, nothing overflows a phone's width, and axe finds no violation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.conftest import LiveServer, Mailbox, code_in, make_settings
from tests.dashboard_seed import seed_year, steps, weight_g
from tests.e2e.conftest import CHROMIUM
from tests.e2e.live_oauth import sign_up
from vitalkey.container import build

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]

AXE = Axe()
PHONE = {"width": 390, "height": 844}
EMPTY = "No measurements yet — step on your scale, or add one by hand"


@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    """A tab that runs no script of ours (the page must work without) and lets axe's in."""
    context = browser.new_context(locale="en-US", bypass_csp=True, java_script_enabled=True)
    yield context.new_page()
    context.close()


def sign_in(page: Page, base: str, mailbox: Mailbox, email: str, mail_number: int) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("6-digit code").fill(code_in(mailbox.wait_for(email, mail_number)))
    page.get_by_role("button", name="Continue").click()


def no_violations(page: Page) -> None:
    found = AXE.run(page).response["violations"]
    assert not found, "\n".join(f"{v['id']}: {v['help']} — {[n['target'] for n in v['nodes'][:3]]}" for v in found)


def fits_the_width(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def seed(tmp_path: Path, database_url: str, email: str) -> None:
    container = build(make_settings(tmp_path / "seeder", database_url))
    try:
        with container.uow.read() as tx:
            account = tx.accounts.by_email(email)
        assert account is not None
        seed_year(container, account.id, datetime.now(UTC).date())
    finally:
        container.close()


def test_a_year_of_data_in_two_languages_on_desktop_and_phone(
    tab: Page, live_server: LiveServer, mailbox: Mailbox, sqlite_url: str, tmp_path: Path
) -> None:
    page, base, email = tab, live_server.url, "dana@example.org"
    sign_up(live_server, mailbox, email, first_name="Dana")
    seed(tmp_path, sqlite_url, email)
    today = datetime.now(UTC).date()
    sign_in(page, base, mailbox, email, 2)

    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()  # where sign-in lands
    latest = f"{weight_g(0) / 1000:.1f} kg"
    expect(page.locator("#latest-weight")).to_contain_text(latest)
    expect(page.get_by_role("img", name="Weight (kg) chart; the table beside it lists every value")).to_be_visible()
    weights = page.get_by_role("table", name="Weight (kg): every value")
    expect(weights.locator("tbody tr")).to_have_count(30)
    expect(weights.locator("tbody tr").first).to_contain_text(latest)
    step_rows = page.get_by_role("table", name="Steps: every value").locator("tbody tr")
    expect(step_rows.first).to_contain_text(f"{steps(0):,}")
    no_violations(page)
    page.screenshot(path=str(tmp_path / "dashboard-en-desktop.png"), full_page=True)

    # The range and the units, chosen by links, kept for the next visit.
    page.get_by_role("navigation", name="Period").get_by_role("link", name="365 days").click()
    expect(page.get_by_role("table", name="Weight (kg): every value").locator("tbody tr")).to_have_count(365)
    page.get_by_role("navigation", name="Units").get_by_role("link", name="lb", exact=True).click()
    pounds = f"{weight_g(0) / 453.59237:.1f} lb"
    expect(page.locator("#latest-weight")).to_contain_text(pounds)
    expect(page.get_by_role("table", name="Weight (lb): every value").locator("tbody tr").first).to_contain_text(pounds)
    page.get_by_role("navigation", name="Units").get_by_role("link", name="st/lb").click()
    tenths = round(weight_g(0) / 453.59237 * 10)
    expect(page.locator("#latest-weight")).to_contain_text(f"{tenths // 140} st {tenths % 140 / 10:.1f} lb")
    page.goto(base + "/dashboard")
    expect(page.get_by_role("navigation", name="Period").locator("[aria-current]")).to_have_text("365 days")
    expect(page.get_by_role("navigation", name="Units").locator("[aria-current]")).to_have_text("st/lb")
    page.get_by_role("navigation", name="Units").get_by_role("link", name="kg", exact=True).click()
    page.get_by_role("navigation", name="Period").get_by_role("link", name="30 days", exact=True).click()

    # German, on a phone: numbers and dates as German writes them; nothing wider than the screen.
    page.set_viewport_size(PHONE)
    page.get_by_role("link", name="Deutsch").click()
    expect(page.get_by_role("heading", name="Übersicht", level=1)).to_be_visible()
    german = latest.replace(".", ",")
    expect(page.locator("#latest-weight")).to_contain_text(german)
    rows = page.get_by_role("table", name="Schritte: alle Werte").locator("tbody tr")
    expect(rows.first).to_contain_text(f"{steps(0):,}".replace(",", "."))
    expect(rows.first.locator("th")).to_contain_text(f"{today.day}. ")
    chart = page.get_by_role("img", name="Diagramm Gewicht (kg); die Tabelle daneben enthält jeden Wert")
    box = chart.bounding_box()
    assert box is not None and box["width"] >= 300  # drawn across the phone, its labels legible
    fits_the_width(page)
    no_violations(page)
    page.screenshot(path=str(tmp_path / "dashboard-de-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(tmp_path / "dashboard-de-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    page.screenshot(path=str(tmp_path / "dashboard-en-phone.png"), full_page=True)


def test_a_new_account_sees_the_empty_state(
    tab: Page, live_server: LiveServer, mailbox: Mailbox, tmp_path: Path
) -> None:
    page, base, email = tab, live_server.url, "ned@example.org"
    sign_up(live_server, mailbox, email, first_name="Ned")
    page.set_viewport_size(PHONE)
    sign_in(page, base, mailbox, email, 2)
    expect(page.get_by_role("heading", name=EMPTY)).to_be_visible()
    assert page.locator("svg").count() == 0
    fits_the_width(page)
    no_violations(page)
    page.screenshot(path=str(tmp_path / "dashboard-empty-en-phone.png"), full_page=True)
    page.get_by_role("link", name="日本語").click()
    expect(
        page.get_by_role("heading", name="まだ測定データがありません。体重計に乗るか、手動で追加してください")
    ).to_be_visible()
    no_violations(page)
    page.screenshot(path=str(tmp_path / "dashboard-empty-ja-phone.png"), full_page=True)


def test_the_page_works_without_javascript(browser: Browser, live_server: LiveServer, mailbox: Mailbox) -> None:
    context = browser.new_context(locale="en-US", java_script_enabled=False)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        sign_up(live_server, mailbox, "jo@example.org", first_name="Jo")
        sign_in(page, live_server.url, mailbox, "jo@example.org", 2)
        expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
        page.get_by_role("link", name="7 days", exact=True).click()
        expect(page.get_by_role("navigation", name="Period").locator("[aria-current]")).to_have_text("7 days")
        assert not [e for e in errors if "Content Security Policy" in e]
    finally:
        context.close()
