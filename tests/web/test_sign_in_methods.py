"""Account & Security → "Two-factor authentication and sign-in methods" (issue #22 item 4): the
list with its labels, names, dates and default badge (in English and once in German); make
default, rename and remove through the pages, with the re-authentication and the mails; the JSON
API (GET/PATCH/DELETE /api/v1/account/authenticators); "Try another way" at the second factor,
on the page and as the API's ``methods``. A test-only second factor named "totp" is registered
in the test's container, standing in for the authenticator app."""

from __future__ import annotations

import re
from typing import Any

import pytest
from babel.dates import format_date
from starlette.testclient import TestClient

from tests.conftest import Gateway, Mailbox
from tests.web.conftest import ClientFactory, csrf_of, post_form, web_sign_up
from tests.web.test_api import api_sign_up, bearer
from tests.web.test_two_factor_api import first_factor, turn_on
from tests.web.test_two_factor_pages import EMAIL, PHONE, TRY_RECOVERY, set_up, sign_in_to_sms_page
from vitalkey.adapters.clock import FrozenClock
from vitalkey.adapters.sms import TwilioGateway
from vitalkey.container import Container
from vitalkey.domain.authenticators import StoredAuthenticator
from vitalkey.i18n import LANGUAGES
from vitalkey.web.middleware import LANG_COOKIE

METHOD_ROW = re.compile(r'<li id="method-(\d+)">(.*?)</li>', re.S)


@pytest.fixture
def sms_client(make_client: ClientFactory, gateway: Gateway, clock: FrozenClock) -> TestClient:
    return make_client(sms_sender=TwilioGateway(gateway.url, "AC1", "token", "+15005550006", timeout_s=2), clock=clock)


def container_of(client: TestClient) -> Container:
    container: Container = client.app.state.container  # type: ignore[attr-defined]
    return container


def add_row(client: TestClient, kind: str, **fields: Any) -> StoredAuthenticator:
    container = container_of(client)
    with container.uow.begin() as tx:
        account = tx.accounts.by_email(EMAIL)
        assert account is not None
        row = tx.authenticators.add(StoredAuthenticator(0, account.id, kind, container.clock.now(), **fields))
    assert row is not None
    return row


def listed(html: str) -> dict[int, str]:
    """The list's rows by id, as text without tags."""
    return {int(i): " ".join(re.sub(r"<[^>]+>", " ", row).split()) for i, row in METHOD_ROW.findall(html)}


def subjects(mailbox: Mailbox) -> list[str]:
    return [str(m["subject"]) for m in mailbox.messages if EMAIL in str(m["to"])]


def test_the_list_shows_labels_names_dates_and_the_default_in_the_user_s_language(
    sms_client: TestClient, mailbox: Mailbox, gateway: Gateway, clock: FrozenClock
) -> None:
    client = sms_client
    web_sign_up(client, mailbox, EMAIL)
    set_up(client, gateway)
    added_at = clock.now()
    passkey = add_row(client, "passkey", name="Work laptop", lookup="cred-1")
    page = client.get("/account/two-factor").text
    assert "<h1>Two-factor authentication and sign-in methods</h1>" in page
    rows = listed(page)
    sms_id = next(i for i in rows if i != passkey.id)
    assert list(rows) == [sms_id, passkey.id]  # the default first
    added = format_date(added_at, "medium", locale="en_US")  # "Jan 15, 2026"
    assert rows[sms_id].startswith(f"Text message · +33 •••• 78 Default Added {added} · Not used yet")
    assert rows[passkey.id].startswith(f"Passkey · Work laptop Added {added} · Not used yet")
    assert PHONE not in page and "+33612345678" not in page
    # The set-up's session is fresh: the actions are there, by kind.
    assert f"/account/two-factor/methods/{sms_id}/remove" in page
    assert f"/account/two-factor/methods/{sms_id}/rename" not in page  # named by its number
    assert f"/account/two-factor/methods/{passkey.id}/rename" in page
    assert 'value="make_default"' not in page  # no other second factor
    # Add: the authenticator app (the number is there; no passkeys on an IP address)
    assert re.findall(r'<li><a href="([^"]+)">([^<]+)</a></li></ul>', page) == [
        ("/account/two-factor/authenticator-app", "Authenticator app")
    ]
    assert 'href="/account/two-factor/recovery-code"' in page and 'href="/account/app-passwords"' in page

    # Signed in again with the text: "last used" in the user's language, once in German.
    clock.advance(minutes=30)
    client.post("/account/logout", data={"csrf_token": csrf_of(client.get("/account").text)})
    flow_url = sign_in_to_sms_page(client, mailbox, 3)
    post_form(client, flow_url, {"action": "sms", "code": gateway.code(PHONE, 2)})
    client.cookies.set(LANG_COOKIE, "de")
    german = client.get("/account/two-factor").text
    client.cookies.delete(LANG_COOKIE)
    locale = LANGUAGES["de"][0]
    assert "Zwei-Faktor-Authentifizierung und Anmeldemethoden" in german
    row = listed(german)[sms_id]
    assert row.startswith(f"SMS · +33 •••• 78 Standard Hinzugefügt am {format_date(added_at, 'medium', locale=locale)}")
    assert f"Zuletzt verwendet am {format_date(clock.now(), 'medium', locale=locale)}" in row
    assert "Umbenennen" in listed(german)[passkey.id] and "Entfernen" in row


def test_make_default_rename_and_remove_through_the_pages(
    sms_client: TestClient, mailbox: Mailbox, gateway: Gateway, clock: FrozenClock
) -> None:
    client = sms_client
    web_sign_up(client, mailbox, EMAIL)
    set_up(client, gateway)
    app = add_row(client, "totp")
    page = client.get("/account/two-factor").text
    sms_id = next(i for i in listed(page) if i != app.id)
    assert "Make default" in listed(page)[app.id] and "Make default" not in listed(page)[sms_id]

    made = post_form(client, "/account/two-factor", {"action": "make_default", "id": str(app.id)})
    assert "Your default method has been changed." in made.text
    assert list(listed(made.text)) == [app.id, sms_id] and "Default" in listed(made.text)[app.id]
    assert "changed" in mailbox.wait_for(EMAIL, 3)["subject"]  # the sign-up's code, "enabled", this

    rename_url = f"/account/two-factor/methods/{app.id}/rename"
    too_long = post_form(client, rename_url, {"action": "rename", "name": "x" * 101})
    assert too_long.status_code == 400 and "This name is too long" in too_long.text
    renamed = post_form(client, rename_url, {"action": "rename", "name": "Phone app"})
    assert renamed.url.path == "/account/two-factor" and "The method has been renamed." in renamed.text
    assert listed(renamed.text)[app.id].startswith("Authenticator app · Phone app Default")

    remove_url = f"/account/two-factor/methods/{sms_id}/remove"
    confirm = client.get(remove_url).text
    assert "Remove this method?" in confirm and "turns two-factor authentication off" not in confirm
    removed = post_form(client, remove_url, {"action": "remove"})
    assert "The method has been removed." in removed.text and list(listed(removed.text)) == [app.id]
    assert "Status: on" in removed.text  # the authenticator app keeps 2FA on
    # A number can be added beside it: the existing set-up, without a new recovery code.
    assert 'id="add-sms"' in removed.text
    assert "Status: on. Security codes come from your authenticator app." in client.get("/account").text

    confirm = client.get(f"/account/two-factor/methods/{app.id}/remove").text
    assert "removing it turns two-factor authentication off" in confirm
    off = post_form(client, f"/account/two-factor/methods/{app.id}/remove", {"action": "remove"})
    assert "The method has been removed. Two-factor authentication is off." in off.text
    assert "Status: off" in off.text and listed(off.text) == {}
    # "Add": the registered kinds (the stand-in's page, the text message's form), passkeys not.
    assert '<a href="/account/two-factor/authenticator-app">Authenticator app</a>' in off.text
    assert '<a href="#add-sms">Text message</a>' in off.text and "/account/passkeys/new" not in off.text
    mailbox.wait_for(EMAIL, 6)  # … two removals, then "disabled"
    assert "Two-factor authentication is off" in subjects(mailbox)[-1]


def test_changes_need_a_fresh_sign_in_and_another_account_s_id_is_refused(
    sms_client: TestClient, mailbox: Mailbox, gateway: Gateway, clock: FrozenClock
) -> None:
    client = sms_client
    web_sign_up(client, mailbox, EMAIL)
    set_up(client, gateway)
    [sms_id] = listed(client.get("/account/two-factor").text)
    unknown = client.get("/account/two-factor/methods/99999/remove")
    assert unknown.status_code == 404 and "does not exist or has already been removed" in unknown.text
    assert client.get("/account/two-factor/methods/abc/remove").status_code == 404
    assert client.get(f"/account/two-factor/methods/{sms_id}/rename").status_code == 404  # SMS: no name
    clock.advance(minutes=6)
    page = client.get("/account/two-factor").text
    assert "please sign in again to continue" in page and "/remove" not in page
    back = client.get(f"/account/two-factor/methods/{sms_id}/remove")
    assert back.url.path == "/account/two-factor"  # the list, which offers to sign in again
    stale = client.post(
        f"/account/two-factor/methods/{sms_id}/remove", data={"csrf_token": csrf_of(page), "action": "remove"}
    )
    assert stale.url.path == "/account/two-factor" and sms_id in listed(client.get("/account/two-factor").text)


def test_try_another_way_lists_every_other_method(sms_client: TestClient, mailbox: Mailbox, gateway: Gateway) -> None:
    client = sms_client
    web_sign_up(client, mailbox, EMAIL)
    set_up(client, gateway)
    client.post("/account/logout", data={"csrf_token": csrf_of(client.get("/account").text)})
    flow_url = sign_in_to_sms_page(client, mailbox, 3)
    page = client.get(flow_url).text
    assert 'id="other-ways-title">Try another way</h2>' in page and TRY_RECOVERY in page
    chosen = post_form(client, flow_url, {"action": "choose_method", "method": "recovery_code"})
    assert "Enter the recovery code you saved" in chosen.text
    assert '<button type="submit" name="method" value="sms" class="link">Text message (+33 •••• 78)</button>' in (
        chosen.text
    )
    assert TRY_RECOVERY not in chosen.text  # not the method shown
    # The old buttons' actions still work for pages loaded before.
    assert "A security code has been sent" in post_form(client, flow_url, {"action": "sms_instead"}).text
    assert "Enter the recovery code" in post_form(client, flow_url, {"action": "recovery_instead"}).text


def test_the_api_lists_changes_and_removes_methods(
    sms_client: TestClient, mailbox: Mailbox, gateway: Gateway, clock: FrozenClock
) -> None:
    client = sms_client
    token = api_sign_up(client, mailbox, EMAIL)["session_token"]
    assert client.get("/api/v1/account/authenticators", headers=bearer(token)).json() == {
        "authenticators": [],
        "two_factor": False,
    }
    turn_on(client, gateway, token)
    app = add_row(client, "totp")
    answer = client.get("/api/v1/account/authenticators", headers=bearer(token))
    assert answer.status_code == 200 and PHONE not in answer.text and "sealed" not in answer.text
    body = answer.json()
    assert body["two_factor"] is True
    sms, totp = body["authenticators"]
    assert {k: sms[k] for k in ("kind", "label", "name", "is_default", "can_make_default", "can_rename")} == {
        "kind": "sms",
        "label": "Text message",
        "name": "+33 •••• 78",
        "is_default": True,
        "can_make_default": False,
        "can_rename": False,
    }
    assert sms["created_at"] == "2026-01-15T09:00:00Z" and sms["last_used_at"] is None
    assert (totp["id"], totp["kind"], totp["can_make_default"]) == (app.id, "totp", True)

    url = f"/api/v1/account/authenticators/{app.id}"
    nothing = client.patch(url, json={}, headers=bearer(token))
    assert nothing.status_code == 400 and nothing.json()["error"] == "invalid_input"
    changed = client.patch(url, json={"name": "Phone app", "default": True}, headers=bearer(token))
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["is_default"]) == ("Phone app", True)
    listed_now = client.get("/api/v1/account/authenticators", headers=bearer(token)).json()["authenticators"]
    assert [a["kind"] for a in listed_now] == ["totp", "sms"]
    assert "changed" in mailbox.wait_for(EMAIL, 3)["subject"]  # enabled (2), default changed (3)

    for wrong in ("99999", "abc", "1" * 30):
        gone = client.delete(f"/api/v1/account/authenticators/{wrong}", headers=bearer(token))
        assert gone.status_code == 404 and gone.json()["error"] == "authenticator_not_found"
    clock.advance(minutes=6)
    stale = client.delete(f"/api/v1/account/authenticators/{sms['id']}", headers=bearer(token))
    assert stale.status_code == 403 and stale.json()["error"] == "reauthentication_required"
    stale = client.patch(url, json={"name": "x"}, headers=bearer(token))
    assert stale.status_code == 403

    flow, waiting = first_factor(client, mailbox, 4)
    assert waiting.status_code == 202 and waiting.json()["method"] == "totp"  # the default now
    assert waiting.json()["methods"] == ["sms", "recovery_code"]
    other = client.post(f"/api/v1/login/{flow['id']}/method", json={"method": "recovery_code"}).json()
    assert other["methods"] == ["totp", "sms"]
    back = client.post(f"/api/v1/login/{flow['id']}/method", json={"method": "sms"}).json()
    fresh = client.post(f"/api/v1/login/{flow['id']}/sms", json={"code": gateway.code(PHONE, 2)}).json()
    assert back["methods"] == ["totp", "recovery_code"]
    fresh_token = fresh["session_token"]

    removed = client.delete(f"/api/v1/account/authenticators/{sms['id']}", headers=bearer(fresh_token))
    assert removed.json() == {"removed": 1, "two_factor": True, "app_passwords_revoked": 0}
    status = client.get("/api/v1/account/two-factor", headers=bearer(fresh_token)).json()
    assert (status["enabled"], status["method"], status["phone_hint"]) == (True, "totp", None)  # no number
    removed = client.delete(url, headers=bearer(fresh_token))
    assert removed.json() == {"removed": 1, "two_factor": False, "app_passwords_revoked": 0}
    assert client.get("/api/v1/account/authenticators", headers=bearer(fresh_token)).json() == {
        "authenticators": [],
        "two_factor": False,
    }
    mailbox.wait_for(EMAIL, 7)  # … the sign-in's code, two removals, then "disabled"
    assert "Two-factor authentication is off" in subjects(mailbox)[-1]
    _, answer = first_factor(client, mailbox, 8)
    assert answer.status_code == 200  # no second factor any more
