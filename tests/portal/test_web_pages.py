"""The portal's pages, composed by create_app on a real SQLite file, through Starlette's test
client: the seed's words, sign-in and throttling, CSRF refusals, the four-square drop-down, the
providers page and its sections, the OAuth callback, Settings, and the provider's callbacks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.portal.web_support import (
    BASE,
    PASSWORD,
    Portal,
    csrf_of,
    link_device,
    running_portal,
    sign_in,
)
from vitalkey_portal.records import LinkState, UnlinkReason


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    with running_portal(tmp_path) as portal:
        yield portal


@pytest.fixture
def signed_in(portal: Portal) -> Portal:
    assert sign_in(portal.client).status_code == 303
    return portal


def section_of(page: str, slug: str) -> str:
    return page.split(f'id="provider-{slug}"')[1].split("</section>", maxsplit=1)[0]


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
    assert "Secure" not in cookie  # an http public URL
    assert "<h1>Link Device</h1>" in portal.client.get("/link-device").text


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
    assert answer.headers["retry-after"] == "900"  # the clock stands still in these tests
    portal.clock.at += timedelta(seconds=901)
    assert sign_in(portal.client).status_code == 303


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
    with running_portal(tmp_path, "https://portal.example", public_url="https://portal.example") as portal:
        cookie = sign_in(portal.client).headers["set-cookie"]
    assert cookie.startswith("__Host-portal_session=") and "Secure" in cookie and "HttpOnly" in cookie


# CSRF ------------------------------------------------------------------------------------------------
def test_a_post_without_the_token_is_refused(signed_in: Portal) -> None:
    answer = signed_in.client.post("/link-device/withings", data={"return_to": "/link-device"}, follow_redirects=False)
    assert answer.status_code == 403
    assert "This form has expired or was sent from another site." in answer.text


def test_a_post_from_another_origin_is_refused_even_with_the_token(signed_in: Portal) -> None:
    assert link_device(signed_in, "withings").status_code == 303
    token = csrf_of(signed_in.client.get("/link-device").text)
    for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}, {"origin": "null"}):
        answer = signed_in.client.post(
            "/link-device/withings/unlink", data={"csrf_token": token}, headers=headers, follow_redirects=False
        )
        assert answer.status_code == 403, headers
    assert "Unlink WITHINGS" in signed_in.client.get("/link-device").text  # still linked
    same = signed_in.client.post(
        "/link-device/withings/unlink", data={"csrf_token": token}, headers={"origin": BASE}, follow_redirects=False
    )
    assert same.status_code == 303
    assert "Unlink WITHINGS" not in signed_in.client.get("/link-device").text


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
    menu = page.split('<details class="apps-menu">')[1].split("</details>", maxsplit=1)[0]
    assert '<svg class="four-squares" role="img" aria-labelledby="apps-menu-name"' in menu
    assert '<title id="apps-menu-name">Menu</title>' in menu
    assert '<a href="/link-device">Link Device</a>' in menu
    assert "<h1>Main Dashboard</h1>" in page and "Hello Ann Example." in page


def test_the_dashboard_without_data_says_how_to_get_some(signed_in: Portal) -> None:
    page = signed_in.client.get("/").text
    assert "No data yet — link a device to see your weight, steps and sleep." in page
    assert "pygal-chart" not in page


def test_the_dashboard_draws_the_synced_data_with_data_tables_and_no_script(signed_in: Portal) -> None:
    assert link_device(signed_in, "withings").status_code == 303
    signed_in.drain()  # the first sync
    page = signed_in.client.get("/").text
    assert "<script" not in page
    assert page.count('class="pygal-chart"') == 3
    assert "Your data over the last 60 days." in page
    assert '<th scope="row">Nov 29, 2026</th><td>72.5 kg</td>' in page
    assert '<th scope="row">Nov 29, 2026</th><td>9,120 steps</td>' in page
    assert '<th scope="row">Nov 29, 2026</th><td>7.5 h</td>' in page
    assert 'Last sync <time datetime="2026-11-30T12:00:00+00:00">Nov 30, 2026, 1:00 PM</time>' in page  # Paris
    assert "No data yet" not in page


# The providers page ----------------------------------------------------------------------------------
def test_each_provider_has_its_own_section_with_a_link_device_button(signed_in: Portal) -> None:
    page = signed_in.client.get("/link-device").text
    assert "health tracker device manufacturers and providers" in page
    for slug, name in (("withings", "WITHINGS"), ("vitalkey", "VitalKey")):
        section = section_of(page, slug)
        assert f'<h2 id="provider-{slug}-name">{name}</h2>' in section
        assert '<img class="logo" src="/static/logos/tracker.svg"' in section
        assert f'action="/link-device/{slug}"' in section
        assert f'Link Device<span class="visually-hidden"> with {name}</span>' in section
        assert "Linked" not in section


def test_link_device_sends_the_user_to_the_provider_with_pkce_and_state(signed_in: Portal) -> None:
    token = csrf_of(signed_in.client.get("/link-device").text)
    answer = signed_in.client.post(
        "/link-device/withings", data={"csrf_token": token, "return_to": "/link-device"}, follow_redirects=False
    )
    assert answer.status_code == 303
    target = urlsplit(answer.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == "https://provider.example/oauth2_user/authorize2"
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert query["redirect_uri"] == f"{BASE}/link-device/withings/callback"
    assert query["code_challenge_method"] == "S256" and len(query["state"]) >= 32
    assert query["client_id"] == "portal-client"


def test_an_unknown_provider_is_a_styled_404(signed_in: Portal) -> None:
    token = csrf_of(signed_in.client.get("/link-device").text)
    answer = signed_in.client.post("/link-device/garmin", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 404 and "Page not found" in answer.text
    page = signed_in.client.get("/no/such/page")
    assert page.status_code == 404 and "Page not found" in page.text and 'href="/static/style.css"' in page.text


def test_linking_shows_the_green_checkmark_then_last_sync_in_the_users_zone(signed_in: Portal) -> None:
    answer = link_device(signed_in, "withings")
    assert answer.status_code == 303 and answer.headers["location"] == "/link-device"
    host_actions = signed_in.provider.actions("provider.example")
    assert host_actions[:2] == ["requesttoken", "getdevice"]
    assert host_actions.count("subscribe") == 5
    section = section_of(signed_in.client.get("/link-device").text, "withings")
    assert '<svg class="check"' in section and "<span>Linked</span>" in section
    assert "Last sync" not in section  # not synced yet
    assert "data has not been retrieved yet" in section
    assert "Unlink WITHINGS" in section and "Link Device" not in section
    signed_in.clock.at = datetime(2026, 11, 30, 23, 15, tzinfo=UTC)
    signed_in.drain()
    section = section_of(signed_in.client.get("/link-device").text, "withings")
    # Europe/Paris is UTC+1 in winter: the next day, 00:15.
    assert 'Last sync <time datetime="2026-11-30T23:15:00+00:00">Dec 1, 2026, 12:15 AM</time>' in section
    assert "Link Device" in section_of(signed_in.client.get("/link-device").text, "vitalkey")


def test_a_section_unlinked_by_the_provider_says_so_and_offers_link_device(signed_in: Portal) -> None:
    link_device(signed_in, "withings")
    link = signed_in.core.store.link_of(signed_in.user.id, "withings")
    assert link is not None
    signed_in.core.store.unlink(link.id, UnlinkReason.PROVIDER, datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    section = section_of(signed_in.client.get("/link-device").text, "withings")
    assert "The WITHINGS account was unlinked at WITHINGS on Nov 30, 2026, 10:00 AM." in section
    assert "Link Device" in section and '<svg class="check"' not in section


def test_unlink_revokes_at_the_provider_and_goes_back_where_it_came_from(signed_in: Portal) -> None:
    link_device(signed_in, "withings")
    token = csrf_of(signed_in.client.get("/settings/apps/withings").text)
    answer = signed_in.client.post(
        "/link-device/withings/unlink", data={"csrf_token": token, "return_to": "/settings/apps/withings"}
    )
    assert answer.url.path == "/settings/apps/withings"
    assert "Not linked" in answer.text and "Link<span" in answer.text
    assert signed_in.provider.actions("provider.example")[-2:] == ["getnonce", "revoke"]


# The OAuth callback ----------------------------------------------------------------------------------
def test_a_refusal_at_the_provider_shows_the_providers_page_with_the_message(signed_in: Portal) -> None:
    token = csrf_of(signed_in.client.get("/link-device").text)
    answer = signed_in.client.post("/link-device/withings", data={"csrf_token": token}, follow_redirects=False)
    state = parse_qs(urlsplit(answer.headers["location"]).query)["state"][0]
    page = signed_in.client.get("/link-device/withings/callback", params={"error": "access_denied", "state": state})
    assert page.status_code == 400
    assert '<p class="alert" role="alert">WITHINGS did not allow the link. Nothing was changed.</p>' in page.text
    assert 'id="provider-withings"' in page.text


def test_a_forged_state_is_refused(signed_in: Portal) -> None:
    page = signed_in.client.get("/link-device/withings/callback", params={"code": "x", "state": "not-ours"})
    assert page.status_code == 400
    assert "This link request has expired or is not yours." in page.text
    assert signed_in.provider.calls == []  # no code was exchanged


def test_a_callback_without_state_is_a_clear_400(signed_in: Portal) -> None:
    answer = signed_in.client.get("/link-device/withings/callback?code=abc")
    assert answer.status_code == 400 and "could not be read. Try Link Device again." in answer.text


def test_the_callback_after_the_session_ended_asks_to_sign_in(portal: Portal) -> None:
    answer = portal.client.get("/link-device/withings/callback?code=abc&state=s", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/link-device/withings/callback%3Fcode%3Dabc%26state%3Ds"


def test_a_second_wearable_asks_to_replace_the_first(signed_in: Portal) -> None:
    assert link_device(signed_in, "vitalkey").status_code == 303
    page = link_device(signed_in, "withings")
    assert page.status_code == 200
    assert "<h1>Replace your linked wearable?</h1>" in page.text
    assert "Your VitalKey account (2002) has a wearable linked." in page.text
    assert "The WITHINGS account (1001) you just linked has one too." in page.text
    assert 'value="replace" class="button primary">Replace</button>' in page.text
    assert ">Keep VitalKey</button>" in page.text
    pending = signed_in.core.store.link_of(signed_in.user.id, "withings")
    assert pending is not None and pending.state is LinkState.PENDING
    answer = signed_in.client.post(
        "/link-device/withings/confirm",
        data={"csrf_token": csrf_of(page.text), "pending_id": str(pending.id), "choice": "replace"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/link-device"
    providers = signed_in.client.get("/link-device").text
    assert "<span>Linked</span>" in section_of(providers, "withings")
    assert "Replaced by another wearable on Nov 30, 2026, 1:00 PM." in section_of(providers, "vitalkey")
    assert "revoke" in signed_in.provider.actions("vitalkey.example")


def test_keeping_the_first_wearable_leaves_it_linked_and_goes_back_to_settings(signed_in: Portal) -> None:
    link_device(signed_in, "vitalkey")
    page = link_device(signed_in, "withings", return_to="/settings")  # the mobile path
    assert '<input type="hidden" name="return_to" value="/settings">' in page.text
    pending = signed_in.core.store.link_of(signed_in.user.id, "withings")
    assert pending is not None
    answer = signed_in.client.post(
        "/link-device/withings/confirm",
        data={
            "csrf_token": csrf_of(page.text),
            "pending_id": str(pending.id),
            "choice": "keep",
            "return_to": "/settings",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/settings"
    providers = signed_in.client.get("/link-device").text
    assert "<span>Linked</span>" in section_of(providers, "vitalkey")
    assert "<span>Linked</span>" not in section_of(providers, "withings")


def test_a_confirmation_without_a_choice_is_refused_clearly(signed_in: Portal) -> None:
    token = csrf_of(signed_in.client.get("/link-device").text)
    answer = signed_in.client.post("/link-device/withings/confirm", data={"csrf_token": token, "pending_id": "x"})
    assert answer.status_code == 400 and "Choose Replace or Keep" in answer.text


# Settings: the mobile path ---------------------------------------------------------------------------
def test_settings_connected_app_apps_provider_and_back_on_settings(signed_in: Portal) -> None:
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
    answer = link_device(signed_in, "withings", return_to="/settings")
    assert answer.status_code == 303 and answer.headers["location"] == "/settings"
    signed_in.clock.at = datetime(2026, 11, 30, 16, 45, tzinfo=UTC)
    signed_in.drain()
    connected = client.get("/settings").text.split('id="connected-app"')[1].split("</section>", maxsplit=1)[0]
    assert 'href="/settings/apps/withings">WITHINGS</a>' in connected
    assert '<span class="visually-hidden">Linked</span>' in connected
    assert 'Last sync <time datetime="2026-11-30T16:45:00+00:00">Nov 30, 2026, 5:45 PM</time>' in connected
    assert "VitalKey" not in connected
    assert "Unlink WITHINGS" in client.get("/settings/apps/withings").text


def test_pages_have_a_bottom_bar_with_home_and_settings(signed_in: Portal) -> None:
    page = signed_in.client.get("/settings").text
    bar = page.split('<nav class="bottom-bar" aria-label="App">')[1].split("</nav>", maxsplit=1)[0]
    assert "<span>Home</span>" in bar and "<span>Settings</span>" in bar
    assert 'href="/settings" aria-current="page"' in bar


# The provider's side ---------------------------------------------------------------------------------
def test_notify_answers_head_and_get(portal: Portal) -> None:
    assert portal.client.head("/notify/withings").status_code == 200
    assert portal.client.get("/notify/withings").text == "ok"
    assert portal.client.head("/notify/nobody").status_code == 404


def test_a_notification_is_handed_to_the_notifications_service_and_queues_a_sync(signed_in: Portal) -> None:
    link_device(signed_in, "withings")
    signed_in.drain()
    link = signed_in.core.store.link_of(signed_in.user.id, "withings")
    assert link is not None and signed_in.core.store.jobs(link.id) == []
    body = b"userid=1001&appli=1&startdate=1764400000&enddate=1764403600"
    answer = signed_in.client.post(
        "/notify/withings", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 204
    assert [job.appli for job in signed_in.core.store.jobs(link.id)] == [1]
    assert signed_in.client.post("/notify/withings", content=b"userid=x").status_code == 400


def test_a_signing_provider_refuses_an_unsigned_notification(portal: Portal) -> None:
    body = b"userid=2002&appli=1&startdate=1764400000&enddate=1764403600"
    assert portal.client.post("/notify/vitalkey", content=body).status_code == 401
    assert portal.client.post("/notify/nobody", content=body).status_code == 404


def test_healthz_and_security_headers(portal: Portal) -> None:
    answer = portal.client.get("/healthz")
    assert answer.status_code == 200 and answer.text == "ok"
    csp = answer.headers["content-security-policy"]
    assert "script-src 'none'" in csp and "form-action 'self' https://provider.example https://vitalkey.example" in csp
    assert answer.headers["x-frame-options"] == "DENY"


# Bad input: a clear answer, never a 500 -----------------------------------------------------------
def test_bad_requests_get_clear_pages_not_500(signed_in: Portal) -> None:
    client = signed_in.client
    wrong_method = client.get("/logout")
    assert wrong_method.status_code == 405 and "This page cannot be used that way." in wrong_method.text
    assert client.get("/settings/apps/%00%ff").status_code == 404
    assert client.get("/link-device/..%2F..%2Fetc/callback?state=x").status_code == 404
    token = csrf_of(client.get("/").text)
    huge = client.post("/link-device/withings", data={"csrf_token": token, "pad": "x" * 20_000})
    assert huge.status_code == 400 and "The form could not be read." in huge.text
    assert client.post("/notify/withings", content=b"x" * 70_000).status_code == 413


def test_an_overlong_username_is_just_a_wrong_sign_in(portal: Portal) -> None:
    answer = sign_in(portal.client, username="a" * 5000)
    assert answer.status_code == 401 and "The username or password is not right." in answer.text


def test_names_are_escaped_on_the_pages(tmp_path: Path) -> None:
    with running_portal(tmp_path) as portal:
        portal.accounts.create("mallory", PASSWORD, "<script>alert(1)</script>", "UTC")
        assert sign_in(portal.client, "mallory").status_code == 303
        page = portal.client.get("/").text
    assert "<script>" not in page and "Hello &lt;script&gt;alert(1)&lt;/script&gt;." in page


def test_the_web_story_on_each_database(tmp_path: Path, portal_database_url: str) -> None:
    """Sign in, Link Device, the first sync, "Last sync", Unlink — on SQLite and on PostgreSQL."""
    with running_portal(tmp_path, database_url=portal_database_url) as portal:
        assert sign_in(portal.client).status_code == 303
        assert link_device(portal, "withings").status_code == 303
        portal.drain()
        section = section_of(portal.client.get("/link-device").text, "withings")
        assert 'Last sync <time datetime="2026-11-30T12:00:00+00:00">Nov 30, 2026, 1:00 PM</time>' in section
        assert "<td>72.5 kg</td>" in portal.client.get("/").text
        token = csrf_of(portal.client.get("/link-device").text)
        portal.client.post("/link-device/withings/unlink", data={"csrf_token": token})
        assert "Link Device<span" in section_of(portal.client.get("/link-device").text, "withings")
