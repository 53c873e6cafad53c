"""The partner portal's "Link Device" article (seeds/partner-link-device.txt) in Debian's Chromium,
with VitalKey and the portal (Health2Go) as real server processes talking over HTTP.

VitalKey holds a user with a scale, a wearable and a sleep monitor and 90 days of data (the
demo's own seeding); the portal names VitalKey as a Withings-compatible provider that signs its
notifications. A portal user links the account (signing in at VitalKey with the emailed code from
the test SMTP server and allowing the app), sees the green checkmark and then "Last sync"; the
portal then holds exactly the last 60 days; a weight sent to VitalKey by the companion app
reaches the portal through a notification within seconds. On a phone, a second portal user links
the same VitalKey account through Settings → Connected App → Apps: VitalKey does not ask again.
"Unlink" revokes the token at VitalKey (its Connected apps page no longer lists the portal), and
removing the app in VitalKey's Connected apps shows the portal's section unlinked.

Screenshots of the key pages go to /tmp/portal-shots/ (not into the repository)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from tests.conftest import LiveServer, Mailbox, code_in, free_port, live_environment, start_server, stop_server
from tests.e2e.companion_app import session_of
from tests.e2e.conftest import CHROMIUM
from vitalkey.container import build
from vitalkey.demo import seed
from vitalkey.demo.health import Devices
from vitalkey.demo.processes import Server
from vitalkey.demo.processes import start_server as start_portal_process
from vitalkey.demo.processes import stop_servers as stop_portal_process
from vitalkey.demo.setup import DemoOptions, DemoState, Layout, create_portal_user, portal_environ, portal_toml
from vitalkey.settings import load_settings
from vitalkey_portal.db import tables as t
from vitalkey_portal.db.engine import make_engine as portal_engine
from vitalkey_portal.db.store import Store
from vitalkey_portal.settings import load_settings as load_portal_settings

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs chromium"),
]

EMAIL = seed.DEMO_EMAIL
SHOTS = Path("/tmp/portal-shots")
GREEN = "rgb(26, 127, 55)"  # the portal's --ok colour
FIRST_SYNC_DAYS = 60
PHONE = {"width": 390, "height": 844}
SECOND_USER, SECOND_PASSWORD = "bea", "correct horse battery staple"


@dataclass
class Apps:
    vitalkey: LiveServer
    portal: Server
    layout: Layout
    state: DemoState
    devices: Devices
    seeded_at: datetime

    @property
    def portal_url(self) -> str:
        return self.portal.url

    def store(self) -> Store:
        settings = load_portal_settings(str(self.layout.portal_config), environ={})
        return Store(portal_engine(settings.database_url), settings.secret_key)


@pytest.fixture
def apps(tmp_path: Path, sqlite_url: str, smtp_server: tuple[Mailbox, int]) -> Iterator[Apps]:
    """VitalKey seeded as the demo seeds it (on the live server's database and server key), then
    served; the portal configured, its user made with its command line, then served."""
    vitalkey_port, portal_port = free_port(), free_port()
    options = DemoOptions(port=vitalkey_port, portal_port=portal_port)
    layout = Layout(tmp_path / "demo")
    layout.root.mkdir()
    data_dir = tmp_path / "vitalkey"
    settings = load_settings(
        environ={"VITALKEY_DATA_DIR": str(data_dir), "VITALKEY_DATABASE_URL": sqlite_url, "VITALKEY_DEV_MODE": "true"}
    )
    container = build(settings)
    try:
        client = seed.register_portal(container, f"http://localhost:{portal_port}", "")
        account = seed.create_user(container)
        devices = seed.pair_devices(container, account.id)
        seeded_at = datetime.now(UTC)
        first_day = seed.seed_history(container, account.id, devices, seeded_at)
    finally:
        container.close()
    state = DemoState(
        account_id=account.id,
        client_id=client.client_id,
        client_secret=client.secret,
        first_day=first_day.isoformat(),
        history_until=seeded_at.isoformat(),
        portal_password="demo password 2026",
    )
    layout.portal_config.write_text(portal_toml(options, layout, state))
    create_portal_user(layout, state)
    add_portal_user(layout, SECOND_USER, "Bea Moreau", SECOND_PASSWORD)
    environment = live_environment(
        sqlite_url,
        smtp_server[1],
        VITALKEY_PUBLIC_URL=f"http://127.0.0.1:{vitalkey_port}",
        VITALKEY_NOTIFY_ALLOW_HTTP="true",
        VITALKEY_NOTIFY_ALLOW_LOCAL="true",
        VITALKEY_NOTIFY_COALESCE_S="1",
    )
    vitalkey = start_server(data_dir, vitalkey_port, environment)
    try:
        portal = start_portal_process(
            "the portal",
            [str(Path(sys.executable).with_name("vitalkey-portal")), "serve"],
            portal_environ(layout),
            f"http://localhost:{portal_port}",
            "/healthz",
            layout.log("portal"),
        )
        try:
            yield Apps(vitalkey, portal, layout, state, devices, seeded_at)
        finally:
            stop_portal_process([portal])
    finally:
        stop_server(vitalkey)


def add_portal_user(layout: Layout, username: str, display_name: str, password: str) -> None:
    command = [
        str(Path(sys.executable).with_name("vitalkey-portal")),
        "user", "add", username, "--display-name", display_name, "--timezone", seed.DEMO_TIMEZONE, "--password-stdin",
    ]  # fmt: skip
    done = subprocess.run(
        command,
        env=portal_environ(layout),
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


# Steps of the article ------------------------------------------------------------------------------
def portal_sign_in(page: Page, apps: Apps, username: str, password: str) -> None:
    page.goto(apps.portal_url + "/")
    expect(page.get_by_role("heading", name="Sign in to Health2Go")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Main Dashboard")).to_be_visible()


def vitalkey_sign_in(page: Page, mailbox: Mailbox) -> None:
    """VitalKey's sign-in page, reached from the portal: the address, then the emailed code."""
    expect(page.get_by_text("An app is asking to connect to your account")).to_be_visible()
    mail_number = len(mailbox.to(EMAIL)) + 1
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("6-digit code").fill(code_in(mailbox.wait_for(EMAIL, mail_number)))
    page.get_by_role("button", name="Continue").click()


def allow(page: Page, screenshot: str | None = None) -> None:
    expect(page.get_by_role("heading", name=re.compile("Health2Go would like to access your"))).to_be_visible()
    if screenshot:
        shot(page, screenshot)
    page.get_by_role("button", name="Allow this app").click()


def expect_linked_with_last_sync(page: Page, apps: Apps, section_path: str, within_s: float = 20) -> str:
    """The section's green checkmark, then (reloading, as a user would) "Last sync" with a date
    and a time; the text shown."""
    section = page.locator("#provider-vitalkey") if section_path == "/link-device" else page.locator(".provider")
    expect(section.locator(".status.linked")).to_contain_text("Linked")
    expect(section.locator(".status.linked .check circle")).to_have_css("fill", GREEN)
    deadline = time.monotonic() + within_s
    while not section.locator(".last-sync").is_visible():
        assert time.monotonic() < deadline, "no Last sync shown"
        time.sleep(0.5)
        page.reload()
    last_sync = section.locator(".last-sync").inner_text()
    assert re.search(r"Last sync .*\d{1,2}:\d{2}", last_sync), last_sync
    assert re.search(r"\d{4}|\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b", last_sync), last_sync
    return last_sync


def connected_apps(page: Page, apps: Apps) -> list[str]:
    """The app names on VitalKey's Connected apps page (the browser is signed in there)."""
    page.goto(apps.vitalkey.url + "/account/connected-apps")
    expect(page.get_by_role("heading", name="Connected apps")).to_be_visible()
    return [name.strip() for name in page.locator("ul.sessions > li strong").all_inner_texts()]


# What the portal holds -------------------------------------------------------------------------------
def held(apps: Apps, username: str) -> tuple[list[date], list[int], list[date]]:
    """The portal's synced activity days, weigh-in moments and nights of the user's VitalKey link."""
    store = apps.store()
    try:
        with store.engine.connect() as conn:
            user_id = conn.execute(select(t.users.c.id).where(t.users.c.username == username)).scalar_one()
        link = store.link_of(user_id, "vitalkey")
        assert link is not None
        days = sorted(day.day for day in store.activity_days([link.id]))
        groups = sorted(group.date for group in store.measure_groups([link.id]))
        nights = sorted(night.day for night in store.sleep_nights([link.id]))
        return days, groups, nights
    finally:
        store.engine.dispose()


def send_weight(apps: Apps, mailbox: Mailbox, grams: int) -> int:
    """The companion app (signed in with an emailed code) sends a weigh-in taken now; its moment."""
    token, _ = session_of(apps.vitalkey, mailbox, EMAIL)
    now = int(time.time())
    batch = {"measure_groups": [{"date": now, "deviceid": apps.devices.scale, "measures": [
        {"type": 1, "value": grams, "unit": -3}]}]}  # fmt: skip
    answer = httpx.post(
        apps.vitalkey.url + "/api/v1/health/batches",
        json=batch,
        headers={"authorization": f"Bearer {token}", "idempotency-key": f"e2e-weight-{now}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return now


def test_link_device_sync_notify_second_link_unlink_and_removal(browser: Browser, apps: Apps, mailbox: Mailbox) -> None:
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        # Step 1: the four-square icon's drop-down → Link Device.
        portal_sign_in(page, apps, "demo", apps.state.portal_password)
        shot(page, "01-portal-dashboard-empty")
        page.locator("details.apps-menu summary").click()
        page.locator(".menu-panel").get_by_role("link", name="Link Device").click()
        expect(page.get_by_role("heading", name="Link Device", exact=True)).to_be_visible()
        section = page.locator("#provider-vitalkey")
        expect(section.get_by_role("heading", name="VitalKey")).to_be_visible()
        expect(section.locator(".status")).to_have_text("Not linked")
        shot(page, "02-portal-link-device")
        # Steps 2 to 4: Link Device → VitalKey's sign-in → "Allow this app".
        section.get_by_role("button", name=re.compile("^Link Device")).click()
        vitalkey_sign_in(page, mailbox)
        allow(page, "03-vitalkey-allow-this-app")
        # Step 5: back on the providers page: the green checkmark, then Last sync.
        expect(page).to_have_url(apps.portal_url + "/link-device")
        expect_linked_with_last_sync(page, apps, "/link-device")
        shot(page, "04-portal-linked-last-sync")

        # The first sync pulled exactly the last 60 days (UTC calendar days, today included).
        today = datetime.now(UTC).date()
        first = today - timedelta(days=FIRST_SYNC_DAYS - 1)
        seeded_days = {
            apps.seeded_at.astimezone(ZoneInfo(seed.DEMO_TIMEZONE)).date() - timedelta(days=n) for n in range(90)
        }
        days, moments, nights = held(apps, "demo")
        assert days == sorted(day for day in seeded_days if first <= day <= today)
        assert len(days) >= FIRST_SYNC_DAYS - 1
        since = int(datetime.combine(first, datetime.min.time(), UTC).timestamp())
        assert moments and min(moments) >= since and min(moments) < since + 86_400  # the first day's weigh-in
        assert len(moments) in (FIRST_SYNC_DAYS - 1, FIRST_SYNC_DAYS, FIRST_SYNC_DAYS + 1)
        assert nights and nights[0] >= first and len(nights) >= FIRST_SYNC_DAYS - 2
        # The dashboard draws them.
        page.goto(apps.portal_url + "/")
        expect(page.get_by_role("heading", name="Weight")).to_be_visible()
        expect(page.get_by_role("heading", name="Steps")).to_be_visible()
        expect(page.get_by_role("heading", name="Sleep")).to_be_visible()
        shot(page, "05-portal-dashboard-60-days")

        # A new weight at VitalKey reaches the portal through a notification within seconds.
        sent_at = send_weight(apps, mailbox, 77_770)
        deadline = time.monotonic() + 15
        while sent_at not in held(apps, "demo")[1]:
            assert time.monotonic() < deadline, "the new weigh-in did not reach the portal"
            time.sleep(0.25)
        page.goto(apps.portal_url + "/")
        page.get_by_text("Weight: data table").click()
        expect(page.locator("#main")).to_contain_text("77.8")
        # It came through VitalKey's signed notification to the portal's callback (the portal's
        # poll is hours away), which the portal answered at once.
        page.goto(apps.vitalkey.url + "/dev/notifications")
        newest = page.locator("article.mail").first
        expect(newest).to_contain_text(f"{apps.state.client_id} · appli 1 · new")
        expect(newest).to_contain_text(f"{apps.portal_url}/notify/vitalkey")
        expect(newest).to_contain_text("Delivered")
        expect(newest).to_contain_text("HTTP 204")
        shot(page, "06-vitalkey-dev-notifications")

        # VitalKey lists the portal among the connected apps.
        assert connected_apps(page, apps) == ["Health2Go"]
        shot(page, "07-vitalkey-connected-apps")

        # On a phone, a second portal user links the same VitalKey account: Settings → Connected
        # App → Apps → VitalKey → sign in (a new browser), no "Allow this app", back on Settings.
        phone = browser.new_context(locale="en-US", viewport=PHONE, is_mobile=True, has_touch=True)
        mobile = phone.new_page()
        try:
            portal_sign_in(mobile, apps, SECOND_USER, SECOND_PASSWORD)
            mobile.locator("nav.bottom-bar").get_by_role("link", name="Settings").click()
            expect(mobile.get_by_role("heading", name="Connected App")).to_be_visible()
            expect(mobile.get_by_text("No app is connected yet.")).to_be_visible()
            shot(mobile, "08-phone-settings")
            mobile.get_by_role("link", name="Apps").click()
            mobile.get_by_role("link", name=re.compile("VitalKey")).click()
            shot(mobile, "09-phone-provider")
            shown: list[str] = []
            mobile.on("framenavigated", lambda frame: shown.append(frame.url) if frame == mobile.main_frame else None)
            mobile.get_by_role("button", name=re.compile("^Link")).click()
            vitalkey_sign_in(mobile, mailbox)
            expect(mobile).to_have_url(apps.portal_url + "/settings")
            assert not [url for url in shown if "/oauth2/authorize/" in url], shown  # no consent page
            connected = mobile.locator("ul.connected li")
            expect(connected).to_contain_text("VitalKey")
            deadline = time.monotonic() + 20
            while not connected.locator(".last-sync").is_visible():
                assert time.monotonic() < deadline, "no sync date and time under Connected App"
                time.sleep(0.5)
                mobile.reload()
            assert re.search(r"Last sync .*\d{1,2}:\d{2}", connected.locator(".last-sync").inner_text())
            shot(mobile, "10-phone-settings-connected")
            # The four-square icon on the Home screen → Link Device: the green checkmark.
            mobile.get_by_role("link", name="Home").click()
            mobile.locator("details.apps-menu summary").click()
            mobile.locator(".menu-panel").get_by_role("link", name="Link Device").click()
            expect(mobile.locator("#provider-vitalkey .status.linked .check circle")).to_have_css("fill", GREEN)
            shot(mobile, "11-phone-link-device-linked")
        finally:
            phone.close()

        # Unlink on the portal: the token is revoked at VitalKey, which no longer lists the portal.
        page.goto(apps.portal_url + "/link-device")
        page.get_by_role("button", name="Unlink VitalKey").click()
        expect(page.locator("#provider-vitalkey .status")).to_have_text("Not linked")
        shot(page, "12-portal-unlinked")
        assert connected_apps(page, apps) == []

        # Linked again (VitalKey forgot the consent with the revocation, so it asks again), then
        # removed in VitalKey's Connected apps: the portal shows the section unlinked.
        page.goto(apps.portal_url + "/link-device")
        page.locator("#provider-vitalkey").get_by_role("button", name=re.compile("^Link Device")).click()
        allow(page)
        expect_linked_with_last_sync(page, apps, "/link-device")
        assert connected_apps(page, apps) == ["Health2Go"]
        page.get_by_role("button", name="Remove access").click()
        expect(page.get_by_text("The app's access has been removed.")).to_be_visible()
        page.goto(apps.portal_url + "/link-device")
        deadline = time.monotonic() + 15
        while page.locator("#provider-vitalkey .status").inner_text().strip() != "Not linked":
            assert time.monotonic() < deadline, "the portal still shows the section linked"
            time.sleep(0.5)
            page.reload()
        expect(
            page.locator("#provider-vitalkey").get_by_role("button", name=re.compile("^Link Device"))
        ).to_be_visible()
        expect(page.locator("#provider-vitalkey .note")).to_contain_text("was unlinked at VitalKey")
        shot(page, "13-portal-unlinked-by-vitalkey")
    finally:
        context.close()
