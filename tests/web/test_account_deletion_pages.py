"""Account & Security → Delete account through the app, with mail through the real SMTP server:
the page (the typed address, "Sign in again" once the sign-in is old, the "deleted" page, signed
out), the JSON API (400 and 403 as {"error", "message"}, then 200; the token dead afterwards), and
the admin API, which offers no way to delete or alter a user."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.conftest import Mailbox
from tests.web.conftest import ClientFactory, csrf_of, post_form, web_sign_up
from tests.web.test_api import api_sign_in, api_sign_up, bearer
from vitalkey.adapters.clock import FrozenClock

EMAIL = "ann@example.org"
ADMIN = "a" * 40


@pytest.fixture
def client(make_client: ClientFactory, clock: FrozenClock) -> TestClient:
    return make_client(clock=clock, admin_token=ADMIN)


def test_the_page_deletes_after_the_typed_address_and_says_so(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, EMAIL)
    assert 'href="/account/delete"' in client.get("/account").text
    page = client.get("/account/delete")
    assert page.status_code == 200
    assert "Deleting your account cannot be undone" in page.text
    assert "To confirm, type your email address: ann@example.org" in page.text

    wrong = post_form(client, "/account/delete", {"action": "delete", "confirmation": "ann@example.com"})
    assert wrong.status_code == 400
    assert "To delete your account, type your email address exactly as shown." in wrong.text
    assert client.get("/account").status_code == 200  # still there, still signed in

    done = post_form(
        client, "/account/delete", {"action": "delete", "confirmation": " ANN@example.org "}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"].endswith("/account/deleted")
    assert "vk_session=" in done.headers["set-cookie"] and "Max-Age=0" in done.headers["set-cookie"]
    shown = client.get("/account/deleted")
    assert "<h1>Your account has been deleted</h1>" in shown.text
    assert client.get("/account", follow_redirects=False).headers["location"].endswith("/login")
    mail = mailbox.wait_for(EMAIL, 2)
    assert mail["subject"] == "Your VitalKey account has been deleted"


def test_the_page_asks_for_a_new_sign_in_when_the_last_one_is_old(
    client: TestClient, mailbox: Mailbox, clock: FrozenClock
) -> None:
    web_sign_up(client, mailbox, EMAIL)
    clock.advance(seconds=6 * 60)
    page = client.get("/account/delete")
    assert "Sign in again" in page.text and 'name="confirmation"' not in page.text
    refused = client.post(
        "/account/delete", data={"csrf_token": csrf_of(page.text), "action": "delete", "confirmation": EMAIL}
    )
    assert refused.status_code == 403 and "please sign in again" in refused.text
    again = post_form(client, "/account/delete", {"action": "reauth", "return_to": "/account/delete"})
    assert again.url.path.startswith("/login/")  # the whole sign-in, which comes back here
    assert client.get("/account").status_code == 200


def test_the_api_deletes_with_the_confirmation_and_a_fresh_sign_in(
    client: TestClient, mailbox: Mailbox, clock: FrozenClock
) -> None:
    token = api_sign_up(client, mailbox, EMAIL)["session_token"]
    wrong = client.request("DELETE", "/api/v1/account", json={"confirmation": "nope"}, headers=bearer(token))
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "deletion_not_confirmed" and wrong.json()["field"] == "confirmation"
    assert wrong.json()["message"] == "To delete your account, type your email address exactly as shown."

    clock.advance(seconds=6 * 60)
    stale = client.request("DELETE", "/api/v1/account", json={"confirmation": EMAIL}, headers=bearer(token))
    assert stale.status_code == 403 and stale.json()["error"] == "reauthentication_required"
    assert stale.json()["message"].startswith("For your security, please sign in again")
    assert client.get("/api/v1/account", headers=bearer(token)).status_code == 200  # nothing deleted

    fresh = api_sign_in(client, mailbox, EMAIL, 2)["session_token"]
    done = client.request("DELETE", "/api/v1/account", json={"confirmation": EMAIL}, headers=bearer(fresh))
    assert done.status_code == 200 and done.json() == {"deleted": True, "apps_told": 0}
    for dead in (token, fresh):
        assert client.get("/api/v1/account", headers=bearer(dead)).status_code == 401
    assert mailbox.wait_for(EMAIL, 3)["subject"] == "Your VitalKey account has been deleted"
    described = client.get("/api/openapi.json").json()["paths"]["/api/v1/account"]
    assert "delete" in described and "403" in described["delete"]["responses"]


def test_the_admin_api_offers_no_deletion_of_a_user(client: TestClient, mailbox: Mailbox) -> None:
    token = api_sign_up(client, mailbox, EMAIL)["session_token"]
    admin = {"authorization": f"Bearer {ADMIN}"}
    paths = client.get("/api/openapi.json").json()["paths"]
    admin_paths = {path: set(ops) for path, ops in paths.items() if path.startswith("/api/v1/admin/")}
    assert admin_paths and all(path.startswith("/api/v1/admin/clients") for path in admin_paths)
    for method in ("DELETE", "PATCH", "PUT", "POST"):
        for path in ("/api/v1/admin/accounts/1", "/api/v1/admin/users/1", "/api/v1/admin/accounts"):
            assert client.request(method, path, headers=admin).status_code in (404, 405)
    assert client.get("/api/v1/account", headers=bearer(token)).status_code == 200
