"""The Profile menu in the header, Account & Security's section links, and the devices the
sessions list names (issue #21 item 2), through the app as a browser and the companion app call it."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from tests.conftest import Mailbox, code_in
from tests.web.conftest import web_sign_in, web_sign_up
from vitalkey.domain.accounts import Account
from vitalkey.web.menu import identity
from vitalkey.web.user_agents import Device, describe

CHROME_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0"
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Safari/605.1.15"
)
APP_IOS = "VitalKey/3.2.1 CFNetwork/1494.0.7 Darwin/23.4.0"
APP_ANDROID = "VitalKey/3.2.1 (Linux; Android 14; Pixel 8)"
UNKNOWN = "zx-spectrum-48k"


def text(fragment: str) -> str:
    """What a reader sees of an HTML fragment: its text, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def menu_of(page: str) -> str:
    found = re.search(r'<details class="profile-menu">(.*?)</details>', page, re.S)
    assert found, "no Profile menu in the header"
    return found.group(1)


def test_the_header_menu_shows_initials_name_email_and_links(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    menu = menu_of(client.get("/dashboard").text)
    summary = re.search(r"<summary>(.*?)</summary>", menu, re.S)
    assert summary and text(summary.group(1)) == "AL Ann Lee"
    assert '<span class="avatar big" aria-hidden="true">AL</span>' in menu
    assert "Ann Lee" in text(menu) and "ann@example.org" in text(menu)
    links = [(href, html.unescape(label)) for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', menu)]
    assert links == [
        ("/dashboard", "Dashboard"),
        ("/account", "Account & Security"),
        ("/devices", "Devices"),
        ("/account/connected-apps", "Connected apps"),
        ("/account/data", "Download my data"),
    ]
    assert '<a href="/dashboard" aria-current="page">' in menu  # the page the user is on
    sign_out = re.search(r'<form method="post" action="/account/logout">(.*?)</form>', menu, re.S)
    assert sign_out and 'name="csrf_token"' in sign_out.group(1) and text(sign_out.group(1)) == "Sign out"
    # The menu is on every signed-in page, and its Sign out signs out.
    account = client.get("/account").text
    assert "ann@example.org" in text(menu_of(account))
    token = re.search(r'name="csrf_token" value="([^"]+)"', menu_of(account))
    assert token
    out = client.post("/account/logout", data={"csrf_token": token.group(1)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login?signed_out=1"
    assert 'class="profile-menu"' not in client.get("/login").text  # nobody signed in: no menu


def test_the_menu_names_the_user_in_the_order_of_the_language(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "taro@example.org", first_name="太郎", last_name="山田")
    client.get("/lang/ja")
    menu = menu_of(client.get("/dashboard").text)
    assert '<span class="avatar big" aria-hidden="true">山太</span>' in menu
    assert "山田 太郎" in text(menu) and "taro@example.org" in text(menu)
    assert "アカウントとセキュリティ" in text(menu) and "Account" not in text(menu)  # the links are translated


def test_without_a_name_the_menu_shows_the_email_and_its_initial() -> None:
    account = Account(
        id=1,
        email="zoe@example.org",
        created_at=datetime.now(UTC),
        language="en",
        profile=None,
        policy_version=None,
        policy_accepted_at=None,
    )
    me = identity(account, "en")
    assert (me.initials, me.name, me.email) == ("Z", "", "zoe@example.org")


def test_each_account_section_has_its_own_link(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    page = client.get("/account").text
    nav = re.search(r'<nav class="section-nav"[^>]*>(.*?)</nav>', page, re.S)
    assert nav
    links = [(href, html.unescape(label)) for href, label in re.findall(r'<a href="([^"]+)">([^<]+)</a>', nav.group(1))]
    assert links == [
        ("#profile", "Profile"),
        ("#password", "Password"),
        ("#two-factor", "Two-factor authentication and sign-in methods"),
        ("#app-passwords", "App passwords"),
        ("#connected-apps", "Connected apps"),
        ("#sessions", "Where you are signed in"),
        ("/account/delete", "Delete account"),
    ]
    for href, label in links:
        if href.startswith("#"):  # the section is on the page, under its heading
            section = re.search(rf'<section [^>]*id="{href[1:]}">\s*<h2[^>]*>([^<]+)</h2>', page)
            assert section and html.unescape(section.group(1)) == label, href
        else:
            assert client.get(href).status_code == 200
    # The deletion keeps its section on the page, leading to its page.
    deletion = re.search(r'<section [^>]*id="delete-account">(.*?)</section>', page, re.S)
    assert deletion and 'href="/account/delete"' in deletion.group(1)
    # App passwords: only once two-factor authentication is on.
    app_passwords = re.search(r'<section [^>]*id="app-passwords">(.*?)</section>', page, re.S)
    assert app_passwords and "only needed while two-factor authentication is on" in text(app_passwords.group(1))


def api_sign_in(client: TestClient, mailbox: Mailbox, email: str, number: int, user_agent: str) -> str:
    """An API session signed in with ``user_agent``: its bearer token."""
    ua = {"user-agent": user_agent}
    flow = client.post("/api/v1/login", json={"email": email}, headers=ua).json()
    code = code_in(mailbox.wait_for(email, number))
    done = client.post(f"/api/v1/login/{flow['id']}/code", json={"code": code}, headers=ua)
    assert done.status_code == 200, done.text
    token: str = done.json()["session_token"]
    return token


def test_the_sessions_list_names_each_device(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    client.cookies.clear()
    api = TestClient(client.app)
    api_sign_in(api, mailbox, "ann@example.org", 2, APP_IOS)
    api_sign_in(api, mailbox, "ann@example.org", 3, APP_ANDROID)
    api_sign_in(api, mailbox, "ann@example.org", 4, UNKNOWN)
    client.headers["user-agent"] = CHROME_LINUX
    web_sign_in(client, mailbox, "ann@example.org", 5)
    page = client.get("/account").text
    sessions = re.search(r'<ul class="sessions">(.*?)</ul>', page, re.S)
    assert sessions
    names = [text(name) for name in re.findall(r"<strong>(.*?)</strong>", sessions.group(1))]
    assert sorted(names) == sorted(
        ["Chrome on Linux", "VitalKey app on iPhone", "VitalKey app on Android", "Unknown device", "Unknown device"]
    )  # the last: the sign-up's session, made by the test client ("testclient")
    assert "Chrome on Linux This device" in text(sessions.group(1))
    for raw in (CHROME_LINUX, APP_IOS, APP_ANDROID, UNKNOWN):
        assert html.escape(raw) not in page and raw not in page  # never the raw string


def test_the_sessions_list_speaks_the_users_language(client: TestClient, mailbox: Mailbox) -> None:
    client.headers["user-agent"] = CHROME_LINUX
    web_sign_up(client, mailbox, "ann@example.org")
    api_sign_in(TestClient(client.app), mailbox, "ann@example.org", 2, APP_IOS)
    client.get("/lang/de")
    sessions = text(client.get("/account").text.split('<ul class="sessions">')[1].split("</ul>")[0])
    assert "Chrome auf Linux" in sessions and "VitalKey-App auf iPhone" in sessions


def test_the_sessions_api_names_each_device_beside_its_user_agent(client: TestClient, mailbox: Mailbox) -> None:
    client.headers["user-agent"] = CHROME_LINUX
    web_sign_up(client, mailbox, "ann@example.org")
    api = TestClient(client.app)
    token = api_sign_in(api, mailbox, "ann@example.org", 2, APP_IOS)
    api_sign_in(api, mailbox, "ann@example.org", 3, UNKNOWN)

    bearer = {"authorization": f"Bearer {token}"}

    def listed() -> dict[str, str]:
        answer = api.get("/api/v1/sessions", headers=bearer)
        assert answer.status_code == 200, answer.text
        return {s["user_agent"]: s["device"] for s in answer.json()["sessions"]}

    assert listed() == {
        CHROME_LINUX: "Chrome on Linux", APP_IOS: "VitalKey app on iPhone", UNKNOWN: "Unknown device"
    }  # fmt: skip
    # In the account's language, as the API's messages.
    container = client.app.state.container  # type: ignore[attr-defined]
    with container.uow.read() as tx:
        account = tx.accounts.by_email("ann@example.org")
    container.accounts.set_language(account, "de")
    assert listed() == {
        CHROME_LINUX: "Chrome auf Linux", APP_IOS: "VitalKey-App auf iPhone", UNKNOWN: "Unbekanntes Gerät"
    }  # fmt: skip
    described = client.get("/api/openapi.json").json()["components"]["schemas"]["SessionOut"]
    assert described["properties"]["device"] == {"type": "string"} and "device" in described["required"]


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (CHROME_LINUX, Device("Chrome", "Linux")),
        (SAFARI_IPHONE, Device("Safari", "iPhone")),
        (FIREFOX_WINDOWS, Device("Firefox", "Windows")),
        (SAFARI_MAC, Device("Safari", "macOS")),
        (APP_IOS, Device("VitalKey", "iPhone", companion=True)),
        (APP_ANDROID, Device("VitalKey", "Android", companion=True)),
        ("curl/8.5.0", Device("curl", "")),
        (UNKNOWN, Device("", "")),
        ("", Device("", "")),
    ],
)
def test_user_agents_are_read_by_ua_parser(user_agent: str, device: Device) -> None:
    assert describe(user_agent) == device
