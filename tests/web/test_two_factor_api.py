"""The JSON API of two-factor authentication (issue #4), with mail through the real SMTP server
and texts through a real local gateway server: set-up, 2FA sign-in (202 then the texted code),
the recovery code, legacy apps and app passwords, errors as {"error", "message"}."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import Gateway, Mailbox, code_in
from tests.web.conftest import ClientFactory
from tests.web.test_api import api_sign_up, bearer
from vitalkey.adapters.clock import FrozenClock
from vitalkey.adapters.sms import TwilioGateway

PHONE = "+33612345678"
EMAIL = "ann@example.org"


@pytest.fixture
def sms_client(make_client: ClientFactory, gateway: Gateway, clock: FrozenClock) -> TestClient:
    return make_client(sms_sender=TwilioGateway(gateway.url, "AC1", "token", "+15005550006", timeout_s=2), clock=clock)


def turn_on(client: TestClient, gateway: Gateway, token: str, text_number: int = 1) -> str:
    started = client.post(
        "/api/v1/account/two-factor/sms", json={"phone": "06 12 34 56 78", "country": "FR"}, headers=bearer(token)
    )
    assert started.status_code == 201, started.text
    flow = started.json()
    assert flow["state"] == "enrolling" and flow["phone_hint"] == "+33 •••• 78" and flow["attempts_left"] == 5
    code = gateway.code(PHONE, text_number)
    done = client.post(
        f"/api/v1/account/two-factor/sms/{flow['flow_id']}/verify", json={"code": code}, headers=bearer(token)
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["state"] == "recovery_shown" and len(body["recovery_code"]) == 19
    finished = client.post(f"/api/v1/account/two-factor/sms/{flow['flow_id']}/done", headers=bearer(token))
    assert finished.json()["state"] == "complete" and finished.json()["recovery_code"] is None
    return str(body["recovery_code"])


def first_factor(client: TestClient, mailbox: Mailbox, mail_number: int, **start: Any) -> Any:
    flow = client.post("/api/v1/login", json={"email": EMAIL, **start}).json()
    code = code_in(mailbox.wait_for(EMAIL, mail_number))
    return flow, client.post(f"/api/v1/login/{flow['id']}/code", json={"code": code})


def test_turn_on_then_sign_in_with_the_texted_code(sms_client: TestClient, mailbox: Mailbox, gateway: Gateway) -> None:
    client = sms_client
    token = api_sign_up(client, mailbox, EMAIL)["session_token"]
    status = client.get("/api/v1/account/two-factor", headers=bearer(token)).json()
    assert status["enabled"] is False and "FR" in status["countries"] and status["fresh_until"]
    turn_on(client, gateway, token)
    assert "Two-factor authentication is on" in mailbox.wait_for(EMAIL, 2)["subject"]
    status = client.get("/api/v1/account/two-factor", headers=bearer(token)).json()
    assert status["enabled"] is True and status["phone_hint"] == "+33 •••• 78" and status["method"] == "sms"

    flow, answer = first_factor(client, mailbox, 3)
    assert answer.status_code == 202
    waiting = answer.json()
    assert (
        waiting["state"] == "second_factor"
        and waiting["second_factor"] == "sms"
        and waiting["phone_hint"] == "+33 •••• 78"
    )
    assert "sms_verified" in waiting["actions"] and "recovery_chosen" in waiting["actions"]
    assert waiting["method"] == "sms"
    # "Try another way" by method: the recovery code and back; a method the account lacks is refused.
    other = client.post(f"/api/v1/login/{flow['id']}/method", json={"method": "recovery_code"})
    assert other.status_code == 200 and other.json()["method"] == "recovery_code"
    assert (
        other.json()["actions"] == ["sms_chosen", "recovery_verified"] and other.json()["phone_hint"] == "+33 •••• 78"
    )
    missing = client.post(f"/api/v1/login/{flow['id']}/method", json={"method": "totp"})
    assert missing.status_code == 409 and missing.json()["error"] == "wrong_state"
    back = client.post(f"/api/v1/login/{flow['id']}/method", json={"method": "sms"})
    assert back.status_code == 200 and back.json()["method"] == "sms" and back.json()["attempts_left"] == 5
    wrong = client.post(f"/api/v1/login/{flow['id']}/sms", json={"code": "12345"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "malformed_code"
    too_soon = client.post(f"/api/v1/login/{flow['id']}/sms/resend")
    assert too_soon.status_code == 429 and too_soon.json()["error"] == "resend_too_soon"
    signed = client.post(f"/api/v1/login/{flow['id']}/sms", json={"code": gateway.code(PHONE, 2)})
    assert signed.status_code == 200 and signed.json()["account"]["two_factor"] is True
    me = client.get("/api/v1/account", headers=bearer(signed.json()["session_token"])).json()
    assert me["two_factor"] is True


def test_recovery_code_sign_in_through_the_api(
    sms_client: TestClient, mailbox: Mailbox, gateway: Gateway, clock: FrozenClock
) -> None:
    client = sms_client
    token = api_sign_up(client, mailbox, EMAIL)["session_token"]
    code = turn_on(client, gateway, token)
    clock.advance(minutes=6)  # the set-up no longer counts as a fresh sign-in
    flow, answer = first_factor(client, mailbox, 3)
    assert answer.status_code == 202
    moved = client.post(f"/api/v1/login/{flow['id']}/recovery-instead").json()
    assert (moved["state"], moved["method"]) == ("second_factor", "recovery_code")
    bad = client.post(f"/api/v1/login/{flow['id']}/recovery", json={"recovery_code": "nope"})
    assert (
        bad.status_code == 400
        and bad.json()["error"] == "malformed_recovery_code"
        and bad.json()["field"] == "recovery_code"
    )
    used = client.post(f"/api/v1/login/{flow['id']}/recovery", json={"recovery_code": code})
    assert used.status_code == 200
    new_code = used.json()["new_recovery_code"]
    assert new_code != code and len(new_code) == 19
    assert "recovery code was used" in mailbox.wait_for(EMAIL, 4)["subject"]
    fresh = used.json()["session_token"]
    shown = client.get("/api/v1/account/two-factor/recovery-code", headers=bearer(fresh)).json()
    assert shown["recovery_code"] == new_code
    # An older sign-in (the sign-up's) may not see it.
    old = client.get("/api/v1/account/two-factor/recovery-code", headers=bearer(token))
    assert old.status_code == 403 and old.json()["error"] == "reauthentication_required"
    renewed = client.post("/api/v1/account/two-factor/recovery-code", headers=bearer(fresh)).json()
    assert renewed["recovery_code"] not in (code, new_code)


def test_a_legacy_app_is_refused_with_the_way_out_then_signs_in_with_an_app_password(
    sms_client: TestClient, mailbox: Mailbox, gateway: Gateway, clock: FrozenClock
) -> None:
    client = sms_client
    token = api_sign_up(client, mailbox, EMAIL)["session_token"]
    turn_on(client, gateway, token)
    clock.advance(minutes=6)  # the set-up no longer counts as a fresh sign-in
    unknown = client.post("/api/v1/login", json={"email": EMAIL, "app": "no-such-app"})
    assert unknown.status_code == 400 and unknown.json()["error"] == "unknown_app"
    apps = client.get("/api/v1/apps").json()["apps"]
    assert {a["client_id"] for a in apps if not a["supports_2fa"]} == {
        "vitalkey-thermo",
        "vitalkey-baby",
        "vitalkey-home-camera",
        "vitalkey-scale-classic",
    }
    _, refused = first_factor(client, mailbox, 3, app="vitalkey-baby")
    assert refused.status_code == 403
    assert refused.json()["error"] == "app_does_not_support_2fa" and "App passwords" in refused.json()["message"]

    # The sign-up session is no recent sign-in with the second factor: creating an app password needs one.
    stale = client.post("/api/v1/account/app-passwords", json={"app": "vitalkey-baby"}, headers=bearer(token))
    assert stale.status_code == 403 and stale.json()["error"] == "reauthentication_required"
    flow, _ = first_factor(client, mailbox, 4)
    fresh = client.post(f"/api/v1/login/{flow['id']}/sms", json={"code": gateway.code(PHONE, 2)}).json()[
        "session_token"
    ]
    created = client.post(
        "/api/v1/account/app-passwords", json={"app": "vitalkey-baby", "name": "Nursery"}, headers=bearer(fresh)
    )
    assert created.status_code == 201
    secret = created.json()["password"]
    listed = client.get("/api/v1/account/app-passwords", headers=bearer(fresh)).json()["app_passwords"]
    assert [p["name"] for p in listed] == ["Nursery"] and "password" not in listed[0]

    legacy = client.post("/api/v1/login", json={"email": EMAIL, "app": "vitalkey-baby", "method": "password"}).json()
    signed = client.post(f"/api/v1/login/{legacy['id']}/password", json={"password": secret})
    assert signed.status_code == 200 and signed.json()["session_token"]

    gone = client.delete(f"/api/v1/account/app-passwords/{created.json()['id']}", headers=bearer(fresh))
    assert gone.status_code == 200
    again = client.post("/api/v1/login", json={"email": EMAIL, "app": "vitalkey-baby", "method": "password"}).json()
    refused_now = client.post(f"/api/v1/login/{again['id']}/password", json={"password": secret})
    assert refused_now.status_code == 400 and refused_now.json()["error"] == "wrong_password"


def test_bad_input_gets_clear_errors(sms_client: TestClient, mailbox: Mailbox, gateway: Gateway) -> None:
    client = sms_client
    token = api_sign_up(client, mailbox, EMAIL)["session_token"]
    headers = bearer(token)
    landline = client.post("/api/v1/account/two-factor/sms", json={"phone": "+33142685300"}, headers=headers)
    assert (
        landline.status_code == 400
        and landline.json()["error"] == "invalid_phone"
        and landline.json()["field"] == "phone"
    )
    abroad = client.post("/api/v1/account/two-factor/sms", json={"phone": "+79123456789"}, headers=headers)
    assert abroad.status_code == 400 and abroad.json()["error"] == "country_not_allowed"
    extra = client.post("/api/v1/account/two-factor/sms", json={"phone": PHONE, "x": 1}, headers=headers)
    assert extra.status_code == 400
    off = client.delete("/api/v1/account/two-factor", headers=headers)
    assert off.status_code == 409 and off.json()["error"] == "two_factor_off"
    unknown_flow = client.post("/api/v1/account/two-factor/sms/nope/verify", json={"code": "123456"}, headers=headers)
    assert unknown_flow.status_code == 404
    assert client.post("/api/v1/signup", json={"email": "b@example.org", "app": "vitalkey-app"}).status_code == 400
    assert gateway.received == []


def test_turning_off_through_the_api(
    sms_client: TestClient, mailbox: Mailbox, gateway: Gateway, clock: FrozenClock
) -> None:
    client = sms_client
    token = api_sign_up(client, mailbox, EMAIL)["session_token"]
    turn_on(client, gateway, token)
    clock.advance(minutes=6)  # the set-up no longer counts as a fresh sign-in
    stale = client.delete("/api/v1/account/two-factor", headers=bearer(token))
    assert stale.status_code == 403
    flow, _ = first_factor(client, mailbox, 3)
    fresh = client.post(f"/api/v1/login/{flow['id']}/sms", json={"code": gateway.code(PHONE, 2)}).json()[
        "session_token"
    ]
    off = client.delete("/api/v1/account/two-factor", headers=bearer(fresh))
    assert off.status_code == 200 and off.json() == {"app_passwords_revoked": 0}
    assert "off" in mailbox.wait_for(EMAIL, 4)["subject"]
    _, answer = first_factor(client, mailbox, 5)
    assert answer.status_code == 200 and answer.json()["session_token"]


def metric(client: TestClient, name: str, labels: str) -> float:
    found = re.search(rf"^{name}\{{{re.escape(labels)}\}} (\S+)$", client.get("/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


def test_texts_sent_and_codes_completed_are_counted(sms_client: TestClient, mailbox: Mailbox, gateway: Gateway) -> None:
    client = sms_client
    token = api_sign_up(client, mailbox, EMAIL)["session_token"]
    sent = metric(client, "vitalkey_sms_codes_sent_total", 'country="FR",purpose="setup"')
    completed = metric(client, "vitalkey_sms_codes_completed_total", 'purpose="setup"')
    turn_on(client, gateway, token)
    assert metric(client, "vitalkey_sms_codes_sent_total", 'country="FR",purpose="setup"') == sent + 1
    assert metric(client, "vitalkey_sms_codes_completed_total", 'purpose="setup"') == completed + 1


def test_a_text_over_a_limit_is_refused_with_a_clear_message_and_counted(
    make_client: ClientFactory, mailbox: Mailbox, gateway: Gateway
) -> None:
    client = make_client(
        sms_sender=TwilioGateway(gateway.url, "AC1", "token", "+15005550006", timeout_s=2),
        sms_limit_per_number="1/3600",
    )
    token = api_sign_up(client, mailbox, EMAIL)["session_token"]
    refused = metric(client, "vitalkey_sms_refused_total", 'limit="number"')
    first = client.post("/api/v1/account/two-factor/sms", json={"phone": PHONE}, headers=bearer(token))
    assert first.status_code == 201
    second = client.post("/api/v1/account/two-factor/sms", json={"phone": PHONE}, headers=bearer(token))
    assert second.status_code == 429 and second.json()["error"] == "sms_limited"
    assert second.json()["message"] == "Too many text messages have been requested. Please wait a while and try again."
    assert second.headers["retry-after"]
    assert metric(client, "vitalkey_sms_refused_total", 'limit="number"') == refused + 1
    gateway.wait_for(PHONE)
    assert len(gateway.texts_to(PHONE)) == 1


def test_a_set_up_just_completed_counts_as_a_fresh_sign_in_for_changes(
    sms_client: TestClient, mailbox: Mailbox, gateway: Gateway, clock: FrozenClock
) -> None:
    client = sms_client
    token = api_sign_up(client, mailbox, EMAIL)["session_token"]
    clock.advance(minutes=4)  # the sign-up's sign-in alone would be fresh for one more minute
    turn_on(client, gateway, token)
    clock.advance(minutes=4)
    change = {"phone": "06 98 76 54 32", "country": "FR"}
    started = client.post("/api/v1/account/two-factor/sms", json=change, headers=bearer(token))
    assert started.status_code == 201 and started.json()["phone_hint"] == "+33 •••• 32", started.text
    clock.advance(minutes=2)  # five minutes after the set-up: changes ask for a sign-in again
    stale = client.post("/api/v1/account/two-factor/sms", json=change, headers=bearer(token))
    assert stale.status_code == 403 and stale.json()["error"] == "reauthentication_required"


def test_a_territory_number_is_refused_naming_it_in_the_visitors_language(
    sms_client: TestClient, mailbox: Mailbox
) -> None:
    sms_client.headers["accept-language"] = "de"  # the account's language
    token = api_sign_up(sms_client, mailbox, EMAIL)["session_token"]
    guernsey = {"phone": "07781 123456", "country": "GB"}  # +44, as the United Kingdom
    refused = sms_client.post("/api/v1/account/two-factor/sms", json=guernsey, headers=bearer(token))
    assert refused.status_code == 400 and refused.json() == {
        "error": "country_not_allowed",
        "message": "Diese Nummer gehört zu Guernsey: Dorthin können keine SMS gesendet werden. "
        "Bitte verwenden Sie eine andere Nummer.",
        "field": "phone",
        "errors": [{"field": "phone", "message": refused.json()["message"]}],
    }
    empty = sms_client.post(
        "/api/v1/account/two-factor/sms", json={"phone": " ", "country": "FR"}, headers=bearer(token)
    )
    assert empty.status_code == 400 and empty.json()["message"] == "Bitte geben Sie Ihre Mobilnummer ein."


def test_a_refused_text_still_leads_to_the_second_factor_and_the_recovery_code_signs_in(
    make_client: ClientFactory, mailbox: Mailbox, gateway: Gateway
) -> None:
    """At the per-number limit the right emailed code is not refused: the flow waits for the
    second factor, says no text was sent and why, and the recovery code signs in."""
    client = make_client(
        sms_sender=TwilioGateway(gateway.url, "AC1", "token", "+15005550006", timeout_s=2),
        sms_limit_per_number="1/3600",
    )
    token = api_sign_up(client, mailbox, EMAIL)["session_token"]
    recovery = turn_on(client, gateway, token)  # the one text the number may get this hour
    refused = metric(client, "vitalkey_sms_refused_total", 'limit="number"')
    flow, answer = first_factor(client, mailbox, 3)
    assert answer.status_code == 202, answer.text
    waiting = answer.json()
    assert (
        waiting["state"] == "second_factor"
        and waiting["second_factor"] == "sms"
        and "recovery_chosen" in waiting["actions"]
    )
    assert waiting["code_expires_at"] is None  # no code was texted
    assert waiting["sms_refused"]["error"] == "sms_limited"
    assert waiting["sms_refused"]["message"].startswith("Too many text messages have been requested.")
    assert 3000 < waiting["sms_refused"]["retry_after"] <= 3600 + 360  # the window, to the bucket
    assert int(answer.headers["retry-after"]) == waiting["sms_refused"]["retry_after"]
    assert metric(client, "vitalkey_sms_refused_total", 'limit="number"') == refused + 1
    shown = client.get(f"/api/v1/login/{flow['id']}").json()
    assert shown["sms_refused"]["error"] == "sms_limited"
    again = client.post(f"/api/v1/login/{flow['id']}/sms/resend")
    assert again.status_code == 429 and again.json()["error"] == "sms_limited" and again.headers["retry-after"]
    assert client.post(f"/api/v1/login/{flow['id']}/recovery-instead").json()["method"] == "recovery_code"
    used = client.post(f"/api/v1/login/{flow['id']}/recovery", json={"recovery_code": recovery})
    assert used.status_code == 200 and used.json()["account"]["two_factor"] is True
    assert len(gateway.texts_to(PHONE)) == 1
