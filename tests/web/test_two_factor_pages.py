"""The 2FA pages without JavaScript (issue #4): the set-up steps, the sign-in's SMS page, the
re-authentication prompt and its way back, the recovery-code page, app passwords, and errors
shown on the form."""

from __future__ import annotations

import re
import time

import pytest
from starlette.testclient import TestClient

from tests.conftest import Gateway, Mailbox, code_in
from tests.web.conftest import ClientFactory, csrf_of, post_form, web_sign_up
from vitalkey.adapters.clock import FrozenClock
from vitalkey.adapters.sms import TwilioGateway

EMAIL = "ann@example.org"
PHONE = "+33612345678"
RECOVERY = re.compile(r'id="recovery-code">([0-9A-Z-]{19})<')
TRY_RECOVERY = '<button type="submit" name="method" value="recovery_code" class="link">Recovery code</button>'


@pytest.fixture
def sms_client(make_client: ClientFactory, gateway: Gateway, clock: FrozenClock) -> TestClient:
    sender = TwilioGateway(gateway.url, "AC1", "token", "+15005550006", timeout_s=2)
    return make_client(sms_sender=sender, clock=clock)


def set_up(client: TestClient, gateway: Gateway, text_number: int = 1) -> str:
    answer = post_form(client, "/account/two-factor", {"action": "phone", "country": "FR", "phone": "06 12 34 56 78"})
    assert (
        answer.status_code == 200 and "A confirmation code has been sent by text message to +33 •••• 78" in answer.text
    )
    flow_url = str(answer.url.path)
    answer = post_form(client, flow_url, {"action": "code", "code": gateway.code(PHONE, text_number)})
    assert "Your recovery code" in answer.text and "not on your phone" in answer.text
    found = RECOVERY.search(answer.text)
    assert found
    answer = post_form(client, flow_url, {"action": "done"})
    assert "Two-factor authentication is on." in answer.text
    return found.group(1)


def sign_in_to_sms_page(client: TestClient, mailbox: Mailbox, mail_number: int) -> str:
    answer = post_form(client, "/login", {"email": EMAIL})
    flow_url = str(answer.url.path)
    answer = post_form(client, flow_url, {"action": "code", "code": code_in(mailbox.wait_for(EMAIL, mail_number))})
    assert "Enter your security code" in answer.text and "+33 •••• 78" in answer.text
    assert TRY_RECOVERY in answer.text  # "Try another way"
    return flow_url


def test_set_up_offered_at_sign_up_then_2fa_sign_in(sms_client: TestClient, mailbox: Mailbox, gateway: Gateway) -> None:
    client = sms_client
    answer = post_form(client, "/signup", {"email": EMAIL})
    flow_url = str(answer.url.path)
    post_form(client, flow_url, {"action": "code", "code": code_in(mailbox.wait_for(EMAIL))})
    post_form(client, flow_url, {"action": "policy", "accept": "yes"})
    details = {"first_name": "Ann", "last_name": "Lee", "birth_date": "1990-05-01", "sex": "female"}
    post_form(client, flow_url, {"action": "details", "units": "metric", "height_cm": "168", **details})
    answer = post_form(client, flow_url, {"action": "setup_two_factor"})
    assert answer.url.path == "/account/two-factor" and "Welcome! Your account is ready." in answer.text
    assert 'value="sms" checked' in answer.text and 'value="FR"' in answer.text
    set_up(client, gateway)
    account = client.get("/account").text
    assert "Status: on. Security codes are sent by text message to +33 •••• 78." in account

    client.post("/account/logout", data={"csrf_token": csrf_of(account)})
    flow_url = sign_in_to_sms_page(client, mailbox, 3)
    wrong = post_form(client, flow_url, {"action": "sms", "code": "12"})
    assert wrong.status_code == 400 and "The code has 6 digits." in wrong.text
    done = post_form(client, flow_url, {"action": "sms", "code": gateway.code(PHONE, 2)})
    assert done.url.path == "/dashboard" and "Signed in as ann@example.org" in client.get("/account").text


def test_errors_on_the_phone_form_keep_what_was_typed(sms_client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(sms_client, mailbox, EMAIL)
    answer = post_form(
        sms_client, "/account/two-factor", {"action": "phone", "country": "FR", "phone": "01 42 68 53 00"}
    )
    assert answer.status_code == 400 and "Please enter a valid mobile phone number" in answer.text
    assert 'value="01 42 68 53 00"' in answer.text and 'aria-invalid="true"' in answer.text
    answer = post_form(sms_client, "/account/two-factor", {"action": "phone", "phone": "+7 912 345 67 89"})
    assert (
        answer.status_code == 400 and "This number is from Russia: text messages cannot be sent there." in answer.text
    )


def test_an_old_session_is_asked_to_sign_in_again_and_comes_back(
    sms_client: TestClient, mailbox: Mailbox, gateway: Gateway, clock: FrozenClock
) -> None:
    client = sms_client
    web_sign_up(client, mailbox, EMAIL)
    set_up(client, gateway)
    clock.advance(minutes=6)
    page = client.get("/account/two-factor").text
    assert "please sign in again to continue" in page and 'value="disable"' not in page
    answer = client.post(
        "/account/two-factor",
        data={"csrf_token": csrf_of(page), "action": "reauth", "return_to": "/account/two-factor"},
    )
    assert "Enter your temporary identification code" in answer.text
    flow_url = str(answer.url.path)
    answer = post_form(client, flow_url, {"action": "code", "code": code_in(mailbox.wait_for(EMAIL, 3))})
    answer = post_form(client, str(answer.url.path), {"action": "sms", "code": gateway.code(PHONE, 2)})
    assert answer.url.path == "/account/two-factor" and 'value="disable"' in answer.text
    sessions = client.get("/account").text.count('name="session_id"')
    assert sessions == 1  # the new sign-in replaced the old session
    answer = post_form(client, "/account/two-factor", {"action": "disable"})
    assert "Two-factor authentication is off." in answer.text


def test_recovery_code_page_and_sign_in_with_it(sms_client: TestClient, mailbox: Mailbox, gateway: Gateway) -> None:
    client = sms_client
    web_sign_up(client, mailbox, EMAIL)
    recovery = set_up(client, gateway)
    page = client.get("/account/two-factor/recovery-code").text
    assert recovery in page  # the set-up just proved the second factor within this session
    client.post("/account/logout", data={"csrf_token": csrf_of(client.get("/account").text)})
    flow_url = sign_in_to_sms_page(client, mailbox, 3)
    # "Try another way" by method: the same pages as the buttons of each page.
    answer = post_form(client, flow_url, {"action": "choose_method", "method": "recovery_code"})
    assert "Enter the recovery code you saved" in answer.text
    answer = post_form(client, flow_url, {"action": "choose_method", "method": "sms"})
    assert "A security code has been sent by text message to your phone +33 •••• 78" in answer.text
    refused = post_form(client, flow_url, {"action": "choose_method", "method": "password"})
    assert refused.status_code == 409
    answer = post_form(client, flow_url, {"action": "recovery_instead"})
    assert "Enter the recovery code you saved" in answer.text
    wrong = post_form(client, flow_url, {"action": "recovery", "recovery_code": "ABCD-EFGH-JKMN-PQRS"})
    assert wrong.status_code == 400 and "This recovery code is not correct" in wrong.text
    answer = post_form(client, flow_url, {"action": "recovery", "recovery_code": recovery})
    assert answer.url.path == "/account/two-factor/recovery-code"
    assert "You signed in with your recovery code" in answer.text
    found = RECOVERY.search(answer.text)
    assert found and found.group(1) != recovery
    renewed = post_form(client, "/account/two-factor/recovery-code", {"action": "renew"})
    again = RECOVERY.search(renewed.text)
    assert "The old one no longer works" in renewed.text and again and again.group(1) != found.group(1)


def test_app_passwords_page(sms_client: TestClient, mailbox: Mailbox, gateway: Gateway) -> None:
    client = sms_client
    web_sign_up(client, mailbox, EMAIL)
    page = client.get("/account/app-passwords").text
    assert "only needed while two-factor authentication is on" in page
    set_up(client, gateway)
    client.post("/account/logout", data={"csrf_token": csrf_of(client.get("/account").text)})
    flow_url = sign_in_to_sms_page(client, mailbox, 3)
    post_form(client, flow_url, {"action": "sms", "code": gateway.code(PHONE, 2)})
    page = client.get("/account/app-passwords").text
    assert "VitalKey Thermo" in page and "VitalKey Baby Monitor" in page and 'value="vitalkey-app"' not in page
    created = post_form(
        client, "/account/app-passwords", {"action": "create", "app": "vitalkey-thermo", "name": "Kitchen"}
    )
    secret = re.search(r'id="app-password">([a-z ]{19})<', created.text)
    assert secret and "It will not be shown again." in created.text
    listed = client.get("/account/app-passwords").text
    assert "Kitchen" in listed and secret.group(1) not in listed and "never used" in listed
    revoked = post_form(
        client,
        "/account/app-passwords",
        {"action": "revoke", "id": re.findall(r'name="id" value="([^"]+)"', listed)[0]},
    )
    assert "The app password has been revoked." in revoked.text and "Kitchen" not in revoked.text


def test_dev_sms_outbox_shows_texts_in_dev_mode_only(make_client: ClientFactory, mailbox: Mailbox) -> None:
    client = make_client()  # dev mode, no gateway: texts go to the dev outbox
    web_sign_up(client, mailbox, EMAIL)
    post_form(client, "/account/two-factor", {"action": "phone", "country": "FR", "phone": "06 12 34 56 78"})
    for _ in range(100):
        texts = client.get("/dev/sms", headers={"accept": "application/json"}).json()["texts"]
        if texts:
            break
        time.sleep(0.05)
    assert texts and texts[0]["recipient"] == PHONE and re.search(r"#\d{6}$", texts[0]["body"])
    assert PHONE in client.get("/dev/sms").text


def test_link_device_with_two_factor_on_asks_for_the_texted_code_then_consent(
    sms_client: TestClient, mailbox: Mailbox, gateway: Gateway
) -> None:
    from tests.web.oauth_kit import CALLBACK, allow, authorize_url, query_of, register

    client = sms_client
    partner = register(client.app.state.container)  # type: ignore[attr-defined]
    web_sign_up(client, mailbox, EMAIL)
    set_up(client, gateway)
    client.post("/account/logout", data={"csrf_token": csrf_of(client.get("/account").text)})
    start = client.get(authorize_url(partner), follow_redirects=False)
    login = client.get(start.headers["location"])
    answer = client.post(
        "/login", data={"csrf_token": csrf_of(login.text), "email": EMAIL, "continue": login.url.params["continue"]}
    )
    flow_url = str(answer.url.path)
    answer = post_form(client, flow_url, {"action": "code", "code": code_in(mailbox.wait_for(EMAIL, 3))})
    assert "Enter your security code" in answer.text
    consent = post_form(client, flow_url, {"action": "sms", "code": gateway.code(PHONE, 2)})
    assert consent.url.path.startswith("/oauth2/authorize/") and "Allow this app" in consent.text
    back = allow(client, consent)
    assert back.headers["location"].startswith(CALLBACK) and query_of(back.headers["location"])["code"]


def test_a_set_up_just_completed_counts_as_a_fresh_sign_in_for_changes(
    sms_client: TestClient, mailbox: Mailbox, gateway: Gateway, clock: FrozenClock
) -> None:
    client = sms_client
    web_sign_up(client, mailbox, EMAIL)
    clock.advance(minutes=4)  # the sign-up's sign-in alone would be fresh for one more minute
    set_up(client, gateway)
    clock.advance(minutes=4)
    page = client.get("/account/two-factor").text
    assert "please sign in again to continue" not in page and 'value="disable"' in page
    answer = post_form(client, "/account/two-factor", {"action": "phone", "country": "FR", "phone": "06 98 76 54 32"})
    assert (
        answer.status_code == 200 and "A confirmation code has been sent by text message to +33 •••• 32" in answer.text
    )
    clock.advance(minutes=2)  # five minutes after the set-up: changes ask for a sign-in again
    page = client.get("/account/two-factor").text
    assert "please sign in again to continue" in page and 'value="disable"' not in page


@pytest.mark.parametrize(
    ("country", "phone", "message"),
    [
        ("FR", "", "Please enter your mobile phone number."),
        ("FR", "06 12 34", "Please enter a valid mobile phone number of the country chosen in the list."),
        # A Guernsey mobile shares +44 with the United Kingdom, but is not the UK: named, not "this country".
        ("GB", "07781 123456", "This number is from Guernsey: text messages cannot be sent there."),
    ],
)
def test_the_phone_form_errors_name_what_is_wrong_without_asking_for_a_country_code(
    sms_client: TestClient, mailbox: Mailbox, country: str, phone: str, message: str
) -> None:
    web_sign_up(sms_client, mailbox, EMAIL)
    answer = post_form(sms_client, "/account/two-factor", {"action": "phone", "country": country, "phone": phone})
    assert answer.status_code == 400 and message in answer.text
    assert "country code" not in answer.text.split("<main")[1]


def test_a_number_without_country_code_is_read_with_the_country_chosen(
    sms_client: TestClient, mailbox: Mailbox, gateway: Gateway
) -> None:
    web_sign_up(sms_client, mailbox, EMAIL)
    sms_client.headers["accept-language"] = "de"  # the list's default would be Germany: the choice wins
    answer = post_form(sms_client, "/account/two-factor", {"action": "phone", "country": "fr", "phone": "0612345678"})
    assert answer.status_code == 200 and "+33 •••• 78" in answer.text


def test_a_refused_text_still_leads_to_the_sms_step_with_the_recovery_code(
    make_client: ClientFactory, mailbox: Mailbox, gateway: Gateway, clock: FrozenClock
) -> None:
    """The per-number limit is used up: the right emailed code lands on the second-factor step,
    which says why no text came and offers the recovery code ("Try another way"); a text can be asked for once
    the limit allows; the recovery code signs in."""
    sender = TwilioGateway(gateway.url, "AC1", "token", "+15005550006", timeout_s=2)
    client = make_client(sms_sender=sender, clock=clock, sms_limit_per_number="1/600")
    web_sign_up(client, mailbox, EMAIL)
    recovery = set_up(client, gateway)  # the one text the number may get this hour
    client.post("/account/logout", data={"csrf_token": csrf_of(client.get("/account").text)})
    answer = post_form(client, "/login", {"email": EMAIL})
    flow_url = str(answer.url.path)
    code = code_in(mailbox.wait_for(EMAIL, 3))
    answer = post_form(client, flow_url, {"action": "code", "code": code})
    assert answer.url.path == flow_url and "Enter your security code" in answer.text
    assert "Too many text messages have been requested. Please wait a while and try again." in answer.text
    assert "A security code has been sent" not in answer.text and TRY_RECOVERY in answer.text
    assert "No more codes can be sent" not in answer.text
    waited = re.search(r"\(available in (\d+) s\)", answer.text)
    assert waited and 600 <= int(waited.group(1)) <= 660  # the window, to the limiter's bucket
    again = post_form(client, flow_url, {"action": "code", "code": code})  # the emailed code: used
    assert "Enter your security code" in again.text and TRY_RECOVERY in again.text
    too_soon = post_form(client, flow_url, {"action": "sms_resend"})
    assert too_soon.status_code == 429 and "Too many text messages" in too_soon.text
    clock.advance(seconds=int(waited.group(1)))
    sent = post_form(client, flow_url, {"action": "sms_resend"})
    assert "A security code has been sent by text message to your phone +33 •••• 78" in sent.text
    assert "Too many text messages" not in sent.text
    gateway.wait_for(PHONE, 2)
    chosen = post_form(client, flow_url, {"action": "recovery_instead"})
    assert "Enter the recovery code you saved" in chosen.text
    done = post_form(client, flow_url, {"action": "recovery", "recovery_code": recovery})
    assert done.url.path == "/account/two-factor/recovery-code" and "You signed in with your recovery code" in done.text
