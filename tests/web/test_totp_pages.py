"""Authenticator apps (TOTP) on the pages and the JSON API, both engines, mail through the real
SMTP server and codes computed with pyotp at the frozen clock: the set-up page (re-authentication,
QR code, key in groups of four, the code field and its errors, the recovery code once, Replace),
the sign-in's page for the app (also in German), the replay refused, and the API's set-up and
second factor with their OpenAPI entries."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from starlette.testclient import TestClient

from tests.conftest import Mailbox, code_in, text_of
from tests.web.conftest import ClientFactory, csrf_of, post_form, web_sign_up
from tests.web.test_api import api_sign_up, bearer
from vitalkey.adapters.clock import FrozenClock

EMAIL = "ann@example.org"
PAGE = "/account/two-factor/authenticator-app"
KEY = re.compile(r'<code class="recovery totp-key">([A-Z2-7 ]+)</code>')
RECOVERY = re.compile(r'id="recovery-code">([0-9A-Z-]{19})<')


@pytest.fixture
def web(make_client: ClientFactory, clock: FrozenClock) -> TestClient:
    return make_client(clock=clock)


def code_at(secret: str, clock: FrozenClock, seconds: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now() + timedelta(seconds=seconds))


def key_on(page: str) -> str:
    """The key as the page shows it for typing (groups of four), without the spaces."""
    found = KEY.search(page)
    assert found, "no key on the page"
    assert re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", found.group(1))
    return found.group(1).replace(" ", "")


def set_up_app(client: TestClient, clock: FrozenClock) -> tuple[str, str]:
    """Through the pages; the key read off the page and the recovery code shown."""
    intro = client.get(PAGE)
    assert intro.status_code == 200 and "Set up an authenticator app" in intro.text
    page = post_form(client, PAGE, {"action": "start"})
    assert page.url.path.startswith(PAGE + "/") and "Set up your authenticator app" in page.text
    secret = key_on(page.text)
    svg = re.search(r"<svg role=\"img\"[^>]*>\s*<title>([^<]*)</title>", page.text)
    assert svg and svg.group(1) == "QR code to scan with your authenticator app"
    assert 'inputmode="numeric"' in page.text and 'autocomplete="one-time-code"' in page.text
    flow_url = str(page.url.path)
    answer = post_form(client, flow_url, {"action": "totp_confirm", "code": code_at(secret, clock)})
    assert answer.url.path == flow_url and "Your recovery code" in answer.text
    assert "If you lose your phone or your authenticator app, this code lets you sign in." in answer.text
    found = RECOVERY.search(answer.text)
    assert found
    done = post_form(client, flow_url, {"action": "done"})
    assert done.url.path == PAGE and "you will be asked for a code from your authenticator app" in done.text
    return secret, found.group(1)


def sign_out(client: TestClient) -> None:
    client.post("/account/logout", data={"csrf_token": csrf_of(client.get("/account").text)})


def to_app_page(client: TestClient, mailbox: Mailbox, mail_number: int) -> tuple[str, Any]:
    answer = post_form(client, "/login", {"email": EMAIL})
    flow_url = str(answer.url.path)
    answer = post_form(client, flow_url, {"action": "code", "code": code_in(mailbox.wait_for(EMAIL, mail_number))})
    assert answer.url.path == flow_url
    return flow_url, answer


def test_set_up_then_sign_in_with_the_app_and_a_replay_refused(
    web: TestClient, mailbox: Mailbox, clock: FrozenClock
) -> None:
    web_sign_up(web, mailbox, EMAIL)
    secret, recovery = set_up_app(web, clock)
    account = web.get("/account").text
    assert "Status: on. Security codes come from your authenticator app." in account
    two_factor = web.get("/account/two-factor")
    assert two_factor.status_code == 200 and "Change phone number" not in two_factor.text  # no number
    assert 'value="disable"' in two_factor.text
    assert "Two-factor authentication is on" in mailbox.wait_for(EMAIL, 2)["subject"]
    assert web.get("/account/two-factor/recovery-code").text.count(recovery) == 1
    sign_out(web)

    clock.advance(seconds=60)
    flow_url, page = to_app_page(web, mailbox, 3)
    assert "Enter the 6-digit code from your authenticator app" in page.text
    field = re.search(r'<input id="f-code"[^>]*>', page.text)
    assert field and 'inputmode="numeric"' in field.group(0) and 'autocomplete="one-time-code"' in field.group(0)
    wrong = post_form(web, flow_url, {"action": "totp", "code": "12"})
    assert wrong.status_code == 400 and '<p class="field-error" id="e-code">The code has 6 digits.</p>' in wrong.text
    near = {code_at(secret, clock, s) for s in (-30, 0, 30)}
    bad = next(c for c in ("000000", "111111", "222222") if c not in near)
    wrong = post_form(web, flow_url, {"action": "totp", "code": bad})
    assert wrong.status_code == 400 and 'aria-invalid="true"' in wrong.text
    assert "Please enter the code your authenticator app shows now" in html.unescape(wrong.text)
    code = code_at(secret, clock)
    done = post_form(web, flow_url, {"action": "totp", "code": code})
    assert done.url.path == "/dashboard" and "Signed in as ann@example.org" in web.get("/account").text
    sign_out(web)

    clock.advance(seconds=10)  # the same 30 s: the same code
    flow_url, _ = to_app_page(web, mailbox, 4)
    replay = post_form(web, flow_url, {"action": "totp", "code": code})
    assert replay.status_code == 400 and replay.url.path == flow_url
    assert "This code has already been used. Please wait for the next code" in html.unescape(replay.text)
    assert web.get("/account").url.path == "/login"  # not signed in


def test_recovery_code_and_back_to_the_app(web: TestClient, mailbox: Mailbox, clock: FrozenClock) -> None:
    web_sign_up(web, mailbox, EMAIL)
    _, recovery = set_up_app(web, clock)
    sign_out(web)
    flow_url, _ = to_app_page(web, mailbox, 3)
    page = post_form(web, flow_url, {"action": "recovery_instead"})
    # "Try another way" offers the app (the account has no number to text)
    assert 'name="method" value="totp"' in page.text and ">Authenticator app<" in page.text
    assert 'value="sms"' not in page.text
    back = post_form(web, flow_url, {"action": "choose_method", "method": "totp"})
    assert "Enter the 6-digit code from your authenticator app" in back.text
    post_form(web, flow_url, {"action": "recovery_instead"})
    done = post_form(web, flow_url, {"action": "recovery", "recovery_code": recovery})
    assert done.url.path == "/account/two-factor/recovery-code"


def test_the_app_page_in_german(web: TestClient, mailbox: Mailbox, clock: FrozenClock) -> None:
    web_sign_up(web, mailbox, EMAIL)
    set_up_app(web, clock)
    sign_out(web)
    web.headers["accept-language"] = "de"
    _, page = to_app_page(web, mailbox, 3)
    assert '<html lang="de"' in page.text
    assert "Geben Sie den 6-stelligen Code aus Ihrer Authenticator-App ein" in page.text
    assert "Code aus Ihrer Authenticator-App eingeben" in page.text


def test_an_old_session_signs_in_again_then_replaces_the_app(
    web: TestClient, mailbox: Mailbox, clock: FrozenClock
) -> None:
    web_sign_up(web, mailbox, EMAIL)
    old, _ = set_up_app(web, clock)
    clock.advance(minutes=6)
    page = web.get(PAGE).text
    assert "please sign in again to continue" in page and 'value="start"' not in page
    answer = web.post(PAGE, data={"csrf_token": csrf_of(page), "action": "reauth", "return_to": PAGE})
    flow_url = str(answer.url.path)
    answer = post_form(web, flow_url, {"action": "code", "code": code_in(mailbox.wait_for(EMAIL, 3))})
    assert "Enter the 6-digit code from your authenticator app" in answer.text
    answer = post_form(web, flow_url, {"action": "totp", "code": code_at(old, clock)})
    assert answer.url.path == PAGE and "Your authenticator app" in answer.text and 'value="start"' in answer.text
    page = post_form(web, PAGE, {"action": "start"})
    assert "Replace your authenticator app" in page.text
    new = key_on(page.text)
    assert new != old
    clock.advance(seconds=30)
    done = post_form(web, str(page.url.path), {"action": "totp_confirm", "code": code_at(new, clock)})
    assert done.url.path == PAGE and "Your authenticator app has been replaced." in done.text
    mail = text_of(mailbox.wait_for(EMAIL, 4))
    assert "A new way to confirm it's you was added to your account" in mail and "Authenticator app" in mail


def test_api_set_up_and_sign_in(web: TestClient, mailbox: Mailbox, clock: FrozenClock) -> None:
    token = api_sign_up(web, mailbox, EMAIL)["session_token"]
    started = web.post("/api/v1/account/authenticators/totp", headers=bearer(token))
    assert started.status_code == 201, started.text
    body = started.json()
    secret, flow_id = body["secret"], body["flow_id"]
    assert body["uri"].startswith(f"otpauth://totp/VitalKey:{EMAIL}?secret={secret}&") and not body["replacing"]
    confirm = f"/api/v1/account/authenticators/totp/{flow_id}"
    malformed = web.post(confirm, json={"code": "12a"}, headers=bearer(token))
    assert malformed.status_code == 400 and malformed.json()["error"] == "malformed_code"
    near = {code_at(secret, clock, s) for s in (-30, 0, 30)}
    bad = next(c for c in ("000000", "111111", "222222") if c not in near)
    wrong = web.post(confirm, json={"code": bad}, headers=bearer(token))
    assert wrong.status_code == 400 and wrong.json()["error"] == "wrong_totp_code"
    assert wrong.json()["message"].startswith("This code is not correct.")
    done = web.post(confirm, json={"code": code_at(secret, clock)}, headers=bearer(token))
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["two_factor_enabled"] is True and re.fullmatch(
        r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", result["recovery_code"]
    )
    assert result["authenticator"]["kind"] == "totp" and result["authenticator"]["is_default"] is True
    status = web.get("/api/v1/account/two-factor", headers=bearer(token)).json()
    assert status["enabled"] is True and status["method"] == "totp" and status["phone_hint"] is None

    clock.advance(seconds=30)
    flow = web.post("/api/v1/login", json={"email": EMAIL}).json()
    waiting = web.post(f"/api/v1/login/{flow['id']}/code", json={"code": code_in(mailbox.wait_for(EMAIL, 3))})
    assert waiting.status_code == 202 and waiting.json()["method"] == "totp"
    assert waiting.json()["second_factor"] == "totp"
    code = code_at(secret, clock)
    signed = web.post(f"/api/v1/login/{flow['id']}/totp", json={"code": code})
    assert signed.status_code == 200, signed.text
    assert signed.json()["account"]["two_factor"] is True
    flow = web.post("/api/v1/login", json={"email": EMAIL}).json()
    web.post(f"/api/v1/login/{flow['id']}/code", json={"code": code_in(mailbox.wait_for(EMAIL, 4))})
    replay = web.post(f"/api/v1/login/{flow['id']}/totp", json={"code": code})
    assert replay.status_code == 400 and replay.json()["error"] == "totp_code_used"

    clock.advance(minutes=6)  # the sign-up's session is too old to change a factor now
    stale = web.post("/api/v1/account/authenticators/totp", headers=bearer(token))
    assert stale.status_code == 403 and stale.json()["error"] == "reauthentication_required"


def test_the_api_is_described(web: TestClient) -> None:
    paths = web.get("/api/openapi.json").json()["paths"]
    begin = paths["/api/v1/account/authenticators/totp"]["post"]
    assert "201" in begin["responses"] and "403" in begin["responses"]
    assert "/api/v1/account/authenticators/totp/{flow_id}" in paths
    assert "200" in paths["/api/v1/login/{flow_id}/totp"]["post"]["responses"]
