"""The portal's pages through Starlette's test client: the seed's words, sign-in and throttling,
CSRF refusals, the four-square drop-down, the providers page, Settings, the callback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.portal.web_support import (
    FAST_HASHER,
    PASSWORD,
    Recorded,
    StandInLinking,
    add_link,
    add_user,
    csrf_of,
    migrated,
    portal_settings,
    sign_in,
)
from vitalkey_portal.accounts import Accounts
from vitalkey_portal.db.store import Store
from vitalkey_portal.ports import Linked, LinkFailed, NeedsConfirmation
from vitalkey_portal.records import DashboardData, LinkState, Point, PortalUser, ProviderSection, UnlinkReason
from vitalkey_portal.web.app import build_app
from vitalkey_portal.web.context import Services

BASE = "http://127.0.0.1:8100"


@dataclass
class Dashboards:
    data_for: DashboardData | None = None

    def data(self, user_id: int, days: int) -> DashboardData:
        return self.data_for or DashboardData(days=days, weight_kg=(), steps=(), sleep_hours=(), last_sync=None)


@dataclass
class Portal:
    client: TestClient
    accounts: Accounts
    store: Store
    linking: StandInLinking
    notifications: Recorded
    dashboards: Dashboards
    user: PortalUser


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    settings = portal_settings(tmp_path)
    engine = migrated(settings)
    accounts = Accounts(engine, settings.login_failures, hasher=FAST_HASHER)
    store = Store(engine, settings.secret_key)
    linking = StandInLinking(store, settings)
    notifications = Recorded()
    dashboards = Dashboards()
    svc = Services(settings, accounts, linking, notifications, dashboards)
    user = add_user(accounts)
    with TestClient(build_app(svc), base_url=BASE) as client:
        yield Portal(client, accounts, store, linking, notifications, dashboards, user)
    engine.dispose()


@pytest.fixture
def signed_in(portal: Portal) -> Portal:
    assert sign_in(portal.client).status_code == 303
    return portal


# Sign-in ---------------------------------------------------------------------------------------------
def test_pages_need_a_sign_in_and_come_back_after_it(portal: Portal) -> None:
    answer = portal.client.get("/link-device", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/link-device"
    page = portal.client.get("/login?next=/link-device")
    assert "Sign in to Health2Go" in page.text
    assert '<label for="username">Username</label>' in page.text
    assert '<label for="password">Password</label>' in page.text
    answer = portal.client.post(
        "/login",
        data={"username": "ANN", "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": "/link-device"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/link-device"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("portal_session=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # http public URL
    assert "Link Device" in portal.client.get("/link-device").text


def test_a_wrong_password_shows_a_clear_error(portal: Portal) -> None:
    answer = sign_in(portal.client, password="not the password")
    assert answer.status_code == 401
    assert "The username or password is not right." in answer.text
    assert 'value="ann"' in answer.text  # the username is kept in the form


def test_sign_in_is_throttled_after_five_failures(portal: Portal) -> None:
    for _ in range(5):
        assert sign_in(portal.client, password="wrong password").status_code == 401
    answer = sign_in(portal.client)  # even the right password, while throttled
    assert answer.status_code == 429
    assert "Too many failed sign-ins. Try again in 15 minutes." in answer.text
    assert 890 <= int(answer.headers["retry-after"]) <= 900


def test_a_next_to_another_site_is_ignored(portal: Portal) -> None:
    page = portal.client.get("/login")
    answer = portal.client.post(
        "/login",
        data={"username": "ann", "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_logout_ends_the_session(signed_in: Portal) -> None:
    client = signed_in.client
    token = csrf_of(client.get("/").text)
    answer = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_https_public_url_makes_the_cookie_secure_and_host_only(tmp_path: Path) -> None:
    settings = portal_settings(tmp_path, public_url="https://portal.example")
    engine = migrated(settings)
    accounts = Accounts(engine, settings.login_failures, hasher=FAST_HASHER)
    add_user(accounts)
    svc = Services(
        settings, accounts, StandInLinking(Store(engine, settings.secret_key), settings), Recorded(), Dashboards()
    )
    with TestClient(build_app(svc), base_url="https://portal.example") as client:
        cookie = sign_in(client).headers["set-cookie"]
    assert cookie.startswith("__Host-portal_session=") and "Secure" in cookie and "HttpOnly" in cookie
    engine.dispose()


# CSRF ------------------------------------------------------------------------------------------------
def test_a_post_without_the_token_is_refused(signed_in: Portal) -> None:
    answer = signed_in.client.post("/link-device/withings", data={"return_to": "/link-device"}, follow_redirects=False)
    assert answer.status_code == 403
    assert "This form has expired or was sent from another site." in answer.text
    assert signed_in.linking.calls == []


def test_a_post_from_another_origin_is_refused_even_with_the_token(signed_in: Portal) -> None:
    token = csrf_of(signed_in.client.get("/link-device").text)
    for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}, {"origin": "null"}):
        answer = signed_in.client.post(
            "/link-device/withings/unlink", data={"csrf_token": token}, headers=headers, follow_redirects=False
        )
        assert answer.status_code == 403, headers
    assert signed_in.linking.calls == []
    same = signed_in.client.post(
        "/link-device/withings/unlink", data={"csrf_token": token}, headers={"origin": BASE}, follow_redirects=False
    )
    assert same.status_code == 303
    assert signed_in.linking.calls == [("unlink", signed_in.user.id, "withings")]


def test_the_sign_in_form_needs_its_token(portal: Portal) -> None:
    portal.client.get("/login")
    answer = portal.client.post("/login", data={"username": "ann", "password": PASSWORD, "csrf_token": "forged"})
    assert answer.status_code == 403
    assert "The sign-in form has expired" in answer.text


def test_an_unreadable_form_is_a_clear_400(signed_in: Portal) -> None:
    answer = signed_in.client.post(
        "/link-device/withings", content=b"\xff\xfe=\x00", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 400
    assert "The form could not be read." in answer.text


# Main Dashboard --------------------------------------------------------------------------------------
def test_the_dashboard_has_the_four_square_menu_with_link_device(signed_in: Portal) -> None:
    page = signed_in.client.get("/").text
    menu = page.split('<details class="apps-menu">')[1].split("</details>")[0]
    assert '<svg class="four-squares" role="img" aria-labelledby="apps-menu-name"' in menu
    assert '<title id="apps-menu-name">Menu</title>' in menu
    assert '<a href="/link-device">Link Device</a>' in menu
    assert "Main Dashboard" in page and "Hello Ann Example." in page


def test_the_dashboard_without_data_says_how_to_get_some(signed_in: Portal) -> None:
    page = signed_in.client.get("/").text
    assert "No data yet — link a device to see your weight, steps and sleep." in page
    assert "<svg" not in page.split("<main")[1].split("</main>")[0]  # no empty charts


def test_the_dashboard_draws_each_measure_with_a_data_table_and_no_script(signed_in: Portal) -> None:
    start = date(2026, 10, 1)
    signed_in.dashboards.data_for = DashboardData(
        days=60,
        weight_kg=tuple(Point(start + timedelta(days=i), 72.5 - i / 10) for i in range(3)),
        steps=tuple(Point(start + timedelta(days=i), 8000 + 1000 * i) for i in range(3)),
        sleep_hours=(Point(start, 7.25),),
        last_sync=datetime(2026, 10, 3, 6, 30, tzinfo=UTC),
    )
    page = signed_in.client.get("/").text
    assert "<script" not in page
    assert page.count('class="pygal-chart"') == 3
    assert '<th scope="row">Oct 1, 2026</th><td>72.5 kg</td>' in page
    assert "<td>10,000 steps</td>" in page
    assert "<td>7.2 h</td>" in page or "<td>7.3 h</td>" in page
    assert 'Last sync <time datetime="2026-10-03T06:30:00+00:00">Oct 3, 2026, 8:30 AM</time>' in page  # Paris, CEST
    assert "No data yet" not in page


# The providers page ----------------------------------------------------------------------------------
def section_of(page: str, slug: str) -> str:
    return page.split(f'id="provider-{slug}"')[1].split("</section>", maxsplit=1)[0]


def test_each_provider_has_its_own_section_with_a_link_device_button(signed_in: Portal) -> None:
    page = signed_in.client.get("/link-device").text
    assert "health tracker device manufacturers and providers" in page
    for slug, name in (("withings", "WITHINGS"), ("vitalkey", "VitalKey")):
        section = section_of(page, slug)
        assert f'<h2 id="provider-{slug}-name">{name}</h2>' in section
        assert '<img class="logo" src="/static/logos/tracker.svg"' in section
        assert f'action="/link-device/{slug}"' in section
        assert 'Link Device<span class="visually-hidden"> with ' in section
        assert "Linked" not in section


def test_link_device_posts_to_the_provider(signed_in: Portal) -> None:
    token = csrf_of(signed_in.client.get("/link-device").text)
    answer = signed_in.client.post(
        "/link-device/withings", data={"csrf_token": token, "return_to": "/link-device"}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("https://provider.example/oauth2_user/authorize2?")
    assert signed_in.linking.calls == [("begin", signed_in.user.id, "withings", "/link-device")]


def test_an_unknown_provider_is_a_styled_404(signed_in: Portal) -> None:
    token = csrf_of(signed_in.client.get("/link-device").text)
    answer = signed_in.client.post("/link-device/garmin", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 404 and "Page not found" in answer.text
    page = signed_in.client.get("/no/such/page")
    assert page.status_code == 404 and "Page not found" in page.text and 'href="/static/style.css"' in page.text


def test_a_linked_section_shows_the_green_checkmark_and_last_sync_in_the_users_zone(signed_in: Portal) -> None:
    link = add_link(signed_in.store, signed_in.user.id, "withings")
    section = section_of(signed_in.client.get("/link-device").text, "withings")
    assert '<svg class="check"' in section and "<span>Linked</span>" in section
    assert "Last sync" not in section  # not synced yet
    assert "data has not been retrieved yet" in section
    assert "Unlink WITHINGS" in section and "Link Device" not in section
    signed_in.store.synced(link.id, datetime(2026, 11, 30, 23, 15, tzinfo=UTC))
    section = section_of(signed_in.client.get("/link-device").text, "withings")
    # Europe/Paris is UTC+1 in winter: the next day, 00:15.
    assert 'Last sync <time datetime="2026-11-30T23:15:00+00:00">Dec 1, 2026, 12:15 AM</time>' in section
    assert "Link Device" in section_of(signed_in.client.get("/link-device").text, "vitalkey")


def test_a_section_unlinked_by_the_provider_says_so_and_offers_link_device(signed_in: Portal) -> None:
    link = add_link(signed_in.store, signed_in.user.id, "withings")
    signed_in.store.unlink(link.id, UnlinkReason.PROVIDER, datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    section = section_of(signed_in.client.get("/link-device").text, "withings")
    assert "The WITHINGS account was unlinked at WITHINGS on Nov 30, 2026, 10:00 AM." in section
    assert "Link Device" in section and '<svg class="check"' not in section


def test_unlink_goes_back_to_the_page_it_came_from(signed_in: Portal) -> None:
    add_link(signed_in.store, signed_in.user.id, "withings")
    token = csrf_of(signed_in.client.get("/link-device").text)
    answer = signed_in.client.post(
        "/link-device/withings/unlink", data={"csrf_token": token, "return_to": "/settings/apps/withings"}
    )
    assert answer.url.path == "/settings/apps/withings"
    assert "Not linked" in answer.text and "Link<span" in answer.text


# The OAuth callback ----------------------------------------------------------------------------------
def test_the_callback_goes_back_to_return_to_when_linked(signed_in: Portal) -> None:
    link = add_link(signed_in.store, signed_in.user.id, "withings")
    signed_in.linking.outcome = Linked(ProviderSection(signed_in.linking.settings.providers[0], link), "/settings")
    answer = signed_in.client.get("/link-device/withings/callback?code=abc&state=s1", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/settings"
    assert signed_in.linking.calls[-1] == ("complete", signed_in.user.id, "withings", "abc", "s1", None)


def test_a_failed_link_shows_the_providers_page_with_the_message(signed_in: Portal) -> None:
    signed_in.linking.outcome = LinkFailed("WITHINGS did not allow the link: access_denied.", "/link-device")
    answer = signed_in.client.get("/link-device/withings/callback?error=access_denied&state=s1")
    assert answer.status_code == 400
    assert '<p class="alert" role="alert">WITHINGS did not allow the link: access_denied.</p>' in answer.text
    assert 'id="provider-withings"' in answer.text


def test_a_callback_without_state_is_a_clear_400(signed_in: Portal) -> None:
    answer = signed_in.client.get("/link-device/withings/callback?code=abc")
    assert answer.status_code == 400 and "could not be read. Try Link Device again." in answer.text
    assert signed_in.linking.calls == []


def test_a_second_wearable_asks_to_replace_the_first(signed_in: Portal) -> None:
    old = add_link(signed_in.store, signed_in.user.id, "vitalkey")
    new = add_link(signed_in.store, signed_in.user.id, "withings", state=LinkState.PENDING)
    signed_in.linking.outcome = NeedsConfirmation(new, old, "/link-device")
    page = signed_in.client.get("/link-device/withings/callback?code=abc&state=s1")
    assert "<h1>Replace your linked wearable?</h1>" in page.text
    assert 'value="replace" class="button primary">Replace</button>' in page.text
    assert ">Keep VitalKey</button>" in page.text and "WITHINGS" in page.text
    signed_in.linking.outcome = Linked(ProviderSection(signed_in.linking.settings.providers[0], new), "/link-device")
    answer = signed_in.client.post(
        "/link-device/withings/confirm",
        data={"csrf_token": csrf_of(page.text), "pending_id": str(new.id), "choice": "replace"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/link-device"
    assert signed_in.linking.calls[-1] == ("confirm", signed_in.user.id, new.id, True)


def test_a_confirmation_without_a_choice_is_refused_clearly(signed_in: Portal) -> None:
    token = csrf_of(signed_in.client.get("/link-device").text)
    answer = signed_in.client.post("/link-device/withings/confirm", data={"csrf_token": token, "pending_id": "x"})
    assert answer.status_code == 400 and "Choose Replace or Keep" in answer.text


# Settings: the mobile path ---------------------------------------------------------------------------
def test_settings_connected_app_apps_provider_link(signed_in: Portal) -> None:
    client = signed_in.client
    settings = client.get("/settings").text
    assert "<h1>Settings</h1>" in settings and '<h2 id="connected-app">Connected App</h2>' in settings
    assert "No app is connected yet." in settings
    assert '<a href="/settings/apps">Apps' in settings
    apps = client.get("/settings/apps").text
    assert "<h1>Apps</h1>" in apps and "Tracker manufacturers and providers" in apps
    assert 'href="/settings/apps/withings"' in apps and "<span>WITHINGS</span>" in apps
    provider = client.get("/settings/apps/withings").text
    assert '<h1 id="provider-name">WITHINGS</h1>' in provider
    assert '<input type="hidden" name="return_to" value="/settings">' in provider
    answer = client.post(
        "/link-device/withings",
        data={"csrf_token": csrf_of(provider), "return_to": "/settings"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert signed_in.linking.calls[-1] == ("begin", signed_in.user.id, "withings", "/settings")


def test_settings_shows_the_connected_app_with_its_sync_date_and_time(signed_in: Portal) -> None:
    link = add_link(signed_in.store, signed_in.user.id, "withings")
    signed_in.store.synced(link.id, datetime(2026, 7, 14, 16, 45, tzinfo=UTC))
    settings = signed_in.client.get("/settings").text
    connected = settings.split('id="connected-app"')[1].split("</section>")[0]
    assert 'href="/settings/apps/withings">WITHINGS</a>' in connected
    assert '<span class="visually-hidden">Linked</span>' in connected
    assert 'Last sync <time datetime="2026-07-14T16:45:00+00:00">Jul 14, 2026, 6:45 PM</time>' in connected
    assert "VitalKey" not in connected
    assert "Unlink WITHINGS" in signed_in.client.get("/settings/apps/withings").text


def test_pages_have_a_bottom_bar_with_home_and_settings(signed_in: Portal) -> None:
    page = signed_in.client.get("/settings").text
    bar = page.split('<nav class="bottom-bar" aria-label="App">')[1].split("</nav>")[0]
    assert "<span>Home</span>" in bar and "<span>Settings</span>" in bar
    assert 'href="/settings" aria-current="page"' in bar


# The provider's side ---------------------------------------------------------------------------------
def test_notify_answers_head_and_get_and_hands_posts_to_notifications(portal: Portal) -> None:
    assert portal.client.head("/notify/withings").status_code == 200
    assert portal.client.get("/notify/withings").status_code == 200
    assert portal.client.head("/notify/nobody").status_code == 404
    body = b"userid=4242&appli=1&startdate=1&enddate=2"
    answer = portal.client.post(
        "/notify/withings", content=body, headers={"content-type": "application/x-www-form-urlencoded", "X-Test": "1"}
    )
    assert answer.status_code == 204
    provider, received, headers = portal.notifications.calls[0]
    assert (provider, received, headers["x-test"]) == ("withings", body, "1")
    portal.notifications.status = 401
    assert portal.client.post("/notify/vitalkey", content=b"x").status_code == 401


def test_healthz_and_security_headers(portal: Portal) -> None:
    answer = portal.client.get("/healthz")
    assert answer.status_code == 200 and answer.text == "ok"
    csp = answer.headers["content-security-policy"]
    assert "script-src 'none'" in csp and "form-action 'self' https://provider.example https://vitalkey.example" in csp
    assert answer.headers["x-frame-options"] == "DENY"
