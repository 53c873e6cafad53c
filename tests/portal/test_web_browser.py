"""The portal's pages in Debian's Chromium: the four-square drop-down opens on hover, focus and
click without any script, and the pages fit a phone with the bottom bar."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import free_port
from tests.portal.web_support import PASSWORD, run_cli, serving, write_config
from vitalkey_portal.db.engine import make_engine
from vitalkey_portal.db.store import ActivityDay, MeasureGroup, Store, Tokens
from vitalkey_portal.records import LinkState
from vitalkey_portal.settings import load_settings

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``vitalkey-portal serve``; Ann (Tokyo) has WITHINGS linked and synced."""
    folder, port = tmp_path_factory.mktemp("portal"), free_port()
    config = write_config(folder, port)
    added = run_cli(
        "user", "add", "ann", "--display-name", "Ann", "--timezone", "Asia/Tokyo",
        "--password-stdin", "--config", str(config), stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    engine = make_engine(load_settings(str(config), environ={}))
    store = Store(engine, "portal-test-secret-0123456789abcdef")
    tokens = Tokens("access", "refresh", 1_900_000_000)
    link = store.save_link(1, "withings", "1001", LinkState.LINKED, True, "user.metrics", tokens, datetime.now(UTC))
    now = datetime.now(UTC)
    days = [now - timedelta(days=back) for back in range(3)]
    weights = [MeasureGroup(i, int(d.timestamp()), 1, 0, None, 1, ((1, 72_000 + i, -3),)) for i, d in enumerate(days)]
    store.put_measures(link.id, weights, None)
    store.put_activity(link.id, [ActivityDay(d.date(), "", 8_000, None, None, 1) for d in days], None)
    store.synced(link.id, datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    engine.dispose()
    with serving(config, port) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian's Chromium is missing at {CHROMIUM} (./vk test --co -q tests/unit installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def signed_in_page(browser: Browser, server: str, viewport: dict[str, int], audit: bool = False) -> Page:
    # No script: the pages work without it. The audit's tab runs axe's script (past the CSP).
    context = browser.new_context(viewport=viewport, locale="en-US", java_script_enabled=audit, bypass_csp=audit)
    page = context.new_page()
    page.goto(f"{server}/login")
    page.get_by_label("Username").fill("ann")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Main Dashboard")).to_be_visible()
    return page


def test_the_four_square_menu_opens_on_hover_and_on_focus(browser: Browser, server: str) -> None:
    page = signed_in_page(browser, server, {"width": 1280, "height": 800})
    link = page.locator("details.apps-menu").get_by_role("link", name="Link Device", exact=True)
    expect(link).to_be_hidden()
    page.get_by_role("img", name="Menu").hover()
    expect(link).to_be_visible()
    page.mouse.move(5, 700)  # away from the menu
    expect(link).to_be_hidden()
    page.locator("details.apps-menu summary").focus()  # as Tab reaches it
    expect(link).to_be_visible()
    page.keyboard.press("Tab")  # into the drop-down
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Link Device", level=1)).to_be_visible()
    section = page.locator("#provider-withings")
    expect(section.get_by_text("Linked", exact=True)).to_be_visible()
    # Tokyo: UTC+9.
    expect(section.get_by_text("Last sync Nov 30, 2026, 9:00 PM")).to_be_visible()
    expect(page.locator("#provider-vitalkey").get_by_role("button", name="Link Device with VitalKey")).to_be_visible()
    page.context.close()


def test_on_a_phone_the_menu_opens_on_a_tap_and_the_bottom_bar_leads_to_settings(browser: Browser, server: str) -> None:
    page = signed_in_page(browser, server, PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    bar = page.get_by_role("navigation", name="App")
    expect(bar.get_by_role("link", name="Home")).to_be_visible()
    expect(page.get_by_role("link", name="Settings", exact=True).first).to_be_visible()
    menu_link = page.locator("details.apps-menu").get_by_role("link", name="Link Device", exact=True)
    expect(menu_link).to_be_hidden()
    page.get_by_role("img", name="Menu").click()
    expect(menu_link).to_be_visible()
    menu_link.click()
    expect(page.get_by_role("heading", name="Link Device", level=1)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    bar.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Connected App")).to_be_visible()
    expect(page.get_by_text("Last sync Nov 30, 2026, 9:00 PM")).to_be_visible()
    page.get_by_role("link", name="Apps").click()
    page.get_by_role("link", name="VitalKey").click()
    expect(page.get_by_role("button", name="Link with VitalKey")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(Path(__file__).parent.parent.parent / ".tools" / "portal-phone.png"), full_page=True)
    page.context.close()


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, PHONE], ids=["desktop", "phone"])
def test_every_page_passes_axe(browser: Browser, server: str, viewport: dict[str, int]) -> None:
    page = signed_in_page(browser, server, viewport, audit=True)
    problems: list[str] = []
    for path in (
        "/",
        "/link-device",
        "/settings",
        "/settings/apps",
        "/settings/apps/withings",
        "/settings/apps/vitalkey",
        "/nowhere",
    ):
        page.goto(server + path)
        if path == "/":
            page.get_by_role("img", name="Menu").click()  # the drop-down open, too
        for violation in Axe().run(page).response["violations"]:
            targets = ", ".join(" ".join(node["target"]) for node in violation["nodes"][:3])
            problems.append(f"{path}: {violation['id']} ({violation['impact']}): {violation['help']} — {targets}")
    page.context.clear_cookies()
    page.goto(server + "/login")
    problems += [f"/login: {v['id']}: {v['help']}" for v in Axe().run(page).response["violations"]]
    assert not problems, "\n".join(problems)
    page.context.close()
