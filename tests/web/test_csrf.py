"""Cross-site request forgery: every state-changing page request must come from our own pages
(Fetch Metadata, else Origin, else Referer) and carry the form's token; a refused one changes
nothing and sets no cookie."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.conftest import Mailbox
from tests.flows.helpers import queued
from tests.web.conftest import ClientFactory, csrf_of, web_sign_up
from vitalkey.web.csrf import CsrfGuard, is_exempt

OURS = "http://127.0.0.1:8000"  # the tests' public_url
EXPIRED = "Your form has expired"

ACCEPTED: list[dict[str, str]] = [
    {},  # an old client: the token alone
    {"origin": OURS},
    {"origin": "HTTP://127.0.0.1:8000"},
    {"sec-fetch-site": "same-origin"},
    {"sec-fetch-site": "none"},  # started from the browser itself (address bar, reload)
    # Fetch Metadata decides when sent: a page under Referrer-Policy: no-referrer posts with Origin: null.
    {"sec-fetch-site": "same-origin", "origin": "null"},
    {"referer": OURS + "/login"},
]
REFUSED: list[dict[str, str]] = [
    {"origin": "http://evil.example"},
    {"origin": "null"},
    {"origin": ""},
    {"origin": "http://127.0.0.1:8001"},
    {"origin": "https://127.0.0.1:8000"},
    {"sec-fetch-site": "cross-site"},
    {"sec-fetch-site": "same-site"},
    {"sec-fetch-site": "cross-site", "origin": OURS},
    {"sec-fetch-site": "bogus"},
    {"referer": "http://evil.example/attack"},
    {"referer": "not a url"},
]


@pytest.mark.parametrize("headers", ACCEPTED)
def test_sign_in_post_from_our_pages_is_accepted(client: TestClient, mailbox: Mailbox, headers: dict[str, str]) -> None:
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login", data={"csrf_token": token, "email": "ann@example.org"}, headers=headers, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login/")
    assert mailbox.wait_for("ann@example.org")


@pytest.mark.parametrize("headers", REFUSED)
def test_sign_in_post_from_another_origin_is_refused(
    client: TestClient, mailbox: Mailbox, headers: dict[str, str]
) -> None:
    token = csrf_of(client.get("/login").text)
    secret = client.cookies.get("vk_csrf")
    refused = client.post("/login", data={"csrf_token": token, "email": "ann@example.org"}, headers=headers)
    assert refused.status_code == 403 and EXPIRED in refused.text
    assert "set-cookie" not in refused.headers
    assert queued(client.app.state.container, "ann@example.org") == []  # type: ignore[attr-defined]
    # The browser's secret still works: its open forms are not expired by the refused request.
    assert client.cookies.get("vk_csrf") == secret
    kept = client.post("/login", data={"csrf_token": token, "email": "ann@example.org"}, follow_redirects=False)
    assert kept.status_code == 303 and mailbox.wait_for("ann@example.org")


@pytest.mark.parametrize("headers", REFUSED)
def test_account_change_from_another_origin_is_refused(
    client: TestClient, mailbox: Mailbox, headers: dict[str, str]
) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    token = csrf_of(client.get("/account").text)
    data = {
        "csrf_token": token,
        "first_name": "Mallory",
        "last_name": "Lee",
        "birth_date": "1990-05-01",
        "sex": "female",
        "units": "metric",
        "height_cm": "168",
    }
    refused = client.post("/account/profile", data=data, headers=headers)
    assert refused.status_code == 403 and EXPIRED in refused.text and "set-cookie" not in refused.headers
    assert "Mallory" not in client.get("/account").text
    saved = client.post("/account/profile", data=data, headers={"origin": OURS}, follow_redirects=False)
    assert saved.status_code == 303 and "Mallory" in client.get("/account").text


def test_cross_site_post_without_cookies_sets_none(client: TestClient, mailbox: Mailbox) -> None:
    """Issue #15, 13: another site must not replace a user's CSRF secret by posting to /login."""
    fresh = TestClient(client.app, base_url=str(client.base_url))
    for headers in ({"sec-fetch-site": "cross-site"}, {"origin": "http://evil.example"}, {}):
        refused = fresh.post("/login", data={"email": "ann@example.org"}, headers=headers)
        assert refused.status_code == 403 and EXPIRED in refused.text
        assert "set-cookie" not in refused.headers
    assert queued(client.app.state.container, "ann@example.org") == []  # type: ignore[attr-defined]
    for path, status in (("/nothing-here", 404), ("/account", 405)):  # answered by the router
        answer = fresh.post(path, data={"email": "ann@example.org"}, headers={"sec-fetch-site": "cross-site"})
        assert answer.status_code == status and "set-cookie" not in answer.headers


def test_a_bad_token_sets_no_cookie_and_keeps_the_secret(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    for data in ({"email": "ann@example.org"}, {"email": "ann@example.org", "csrf_token": "x" * 64}):
        refused = client.post("/login", data=data, headers={"sec-fetch-site": "same-origin"})
        assert refused.status_code == 403 and "set-cookie" not in refused.headers
    again = client.post("/login", data={"csrf_token": token, "email": "ann@example.org"}, follow_redirects=False)
    assert again.status_code == 303


def test_the_refusal_page_links_back_to_the_form(client: TestClient) -> None:
    client.get("/login")
    refused = client.post("/signup", data={"email": "ann@example.org"})
    assert refused.status_code == 403 and 'href="/signup"' in refused.text
    assert refused.headers["referrer-policy"] == "no-referrer"  # its address may hold a reset link's token


def _routes_taking_posts(client: TestClient) -> list[Route]:
    return [
        route
        for route in client.app.router.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.methods and not route.methods <= {"GET", "HEAD"}
    ]


def test_every_page_taking_a_post_is_guarded(client: TestClient, mailbox: Mailbox) -> None:
    """No page can forget the check: every route that takes a POST outside the JSON API, the
    client-authenticated OAuth endpoints and the Withings paths (bearer tokens) refuses a signed-in
    user's cross-site POST that carries a valid token."""
    web_sign_up(client, mailbox, "ann@example.org")
    token = csrf_of(client.get("/account").text)
    pages = [r for r in _routes_taking_posts(client) if not is_exempt(r.path)]
    assert {"/login", "/signup", "/account/{action}", "/oauth2/authorize/{flow_id}", "/account/password"} <= {
        r.path for r in pages
    }
    for route in pages:
        assert isinstance(route.app, CsrfGuard), route.path
        path = re.sub(r"\{[^}]+\}", "x" * 43, route.path)
        for method in sorted((route.methods or {"POST"}) - {"GET", "HEAD"}):
            refused = client.request(method, path, data={"csrf_token": token}, headers={"sec-fetch-site": "cross-site"})
            assert refused.status_code == 403 and EXPIRED in refused.text, (method, path)
            assert "set-cookie" not in refused.headers
    for route in _routes_taking_posts(client):
        if is_exempt(route.path):
            assert not isinstance(route.app, CsrfGuard), route.path


def test_json_api_ignores_the_session_cookie(client: TestClient, mailbox: Mailbox) -> None:
    """The JSON API is not cookie-authenticated: a signed-in browser's cookies open nothing there."""
    web_sign_up(client, mailbox, "ann@example.org")
    assert client.get("/api/v1/account").status_code == 401
    strength = client.post("/api/v1/password/strength", json={"password": "a fine password 9"})
    assert strength.status_code == 200 and "set-cookie" not in strength.headers


def test_origin_comes_from_public_url_not_the_host_header(make_client: ClientFactory) -> None:
    """Behind a proxy the Host header names the upstream (or anything a client writes)."""
    client = make_client(public_url="http://id.example.test")
    token = csrf_of(client.get("/login").text)
    data = {"csrf_token": token, "email": "ann@example.org"}
    spoofed = client.post("/login", data=data, headers={"host": "evil.example", "origin": "http://evil.example"})
    assert spoofed.status_code == 403
    upstream = client.post(
        "/login",
        data=data,
        headers={"host": "127.0.0.1:8000", "origin": "http://id.example.test"},
        follow_redirects=False,
    )
    assert upstream.status_code == 303


def test_language_link_from_another_site_sets_no_cookie(client: TestClient) -> None:
    followed = client.get("/lang/ja?next=/login", headers={"sec-fetch-site": "cross-site"}, follow_redirects=False)
    assert followed.status_code == 303 and "vk_lang" not in followed.headers.get("set-cookie", "")
    chosen = client.get("/lang/ja?next=/login", headers={"sec-fetch-site": "same-origin"}, follow_redirects=False)
    assert "vk_lang=ja" in chosen.headers["set-cookie"]
