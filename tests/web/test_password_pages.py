"""The password pages as a browser walks them (issue #3): set with an emailed code, sign in with
"Login with password instead", change, "Forgot your password?" → "Validate" → the mailed link."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.conftest import Mailbox, code_in, html_of, text_of
from tests.web.conftest import ClientFactory, csrf_of, post_form, web_sign_up
from vitalkey.adapters.clock import FrozenClock

GOOD = "violet tram umbrella 42"
NEW = "quiet orbit lantern 7"


def set_first_password(client: TestClient, mailbox: Mailbox, email: str, mails_before: int) -> None:
    page = client.get("/account/password")
    assert "Set a password" in page.text and "Send the code" in page.text
    sent = post_form(client, "/account/password", {"action": "send_code"})
    assert "A code has been sent to" in sent.text
    mail = mailbox.wait_for(email, mails_before + 1)
    assert mail["Subject"] == "Your VitalKey code to set a password"
    flow = re.search(r'name="flow" value="([^"]+)"', sent.text)
    assert flow
    weak = post_form(
        client,
        str(sent.url),
        {"action": "set", "flow": flow.group(1), "code": code_in(mail), "password": "password1"},
        "/account/password",
    )
    assert weak.status_code == 400 and "list of common or leaked passwords" in weak.text
    assert "Strength: Very weak" in weak.text and "password1" not in weak.text.split("<main")[1]  # never echoed
    done = post_form(
        client,
        str(sent.url),
        {"action": "set", "flow": flow.group(1), "code": code_in(mail), "password": GOOD},
        "/account/password",
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/account?notice=password_set")
    account = client.get(done.headers["location"])
    assert "Your password has been set." in account.text and "Strength:" in account.text
    assert "Change password" in account.text
    notice = mailbox.wait_for(email, mails_before + 2)
    assert notice["Subject"] == "A password was set for your VitalKey account"


def password_page(client: TestClient, email: str) -> str:
    """Sign-in page → address → code page → "Login with password instead"; the flow's URL."""
    code_page = post_form(client, "/login", {"email": email})
    assert "Login with password instead" in code_page.text
    flow_url = str(code_page.url.path)
    page = post_form(client, flow_url, {"action": "password_instead"})
    assert "Enter your password" in page.text and "Forgot your password?" in page.text
    return flow_url


def test_set_sign_in_change_with_mails(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    assert "No password: you sign in with a temporary identification code" in client.get("/account").text
    set_first_password(client, mailbox, "ann@example.org", 1)
    client.cookies.clear()

    flow_url = password_page(client, "ann@example.org")
    wrong = post_form(client, flow_url, {"action": "password", "password": "not the password"})
    assert wrong.status_code == 400 and "This password is not correct" in wrong.text
    done = post_form(client, flow_url, {"action": "password", "password": GOOD}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/dashboard"

    change = client.get("/account/password")
    assert "Change your password" in change.text and "Current password" in change.text
    refused = post_form(
        client, "/account/password", {"action": "change", "current_password": "nope nope", "new_password": NEW}
    )
    assert refused.status_code == 400 and "This password is not correct" in refused.text
    changed = post_form(
        client,
        "/account/password",
        {"action": "change", "current_password": GOOD, "new_password": NEW, "end_others": "yes"},
    )
    assert changed.status_code == 200 and "Your password has been changed." in changed.text
    mail = mailbox.wait_for("ann@example.org", 5)  # sign-up code, set code, set notice, sign-in code, change
    assert mail["Subject"] == "Your VitalKey password has been changed"
    assert "Your other devices were signed out." in text_of(mail)  # the sign-up session ended


def test_unknown_address_and_no_password_get_the_wrong_password_page(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")  # an account without a password
    client.cookies.clear()
    answers = []
    for email in ("ann@example.org", "nobody@example.org"):
        flow_url = password_page(client, email)
        answer = post_form(client, flow_url, {"action": "password", "password": GOOD})
        answers.append((answer.status_code, answer.text.split("<main")[1].replace(email, "X").replace(flow_url, "F")))
    assert answers[0] == answers[1] and answers[0][0] == 400


def test_forgot_validate_mail_link_page_and_single_use(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    client.cookies.clear()
    flow_url = password_page(client, "ann@example.org")
    forgot = post_form(client, flow_url, {"action": "forgot"})
    assert "Forgot your password?" in forgot.text and ">Validate<" in forgot.text
    # A forged Host header never reaches the link: it is built from the configured public URL.
    sent = client.post(
        flow_url, data={"csrf_token": csrf_of(forgot.text), "action": "validate"}, headers={"host": "evil.example"}
    )
    assert "A password update link has been sent to ann@example.org." in sent.text
    mail = mailbox.wait_for("ann@example.org", 3)  # sign-up code, sign-in code, the link
    assert mail["Subject"] == "VitalKey account password change"
    assert "Update password" in html_of(mail)
    link = re.search(r"(http\S+/password/reset/\S+)", text_of(mail))
    assert link and link.group(1).startswith(client.app.state.container.settings.public_url + "/password/reset/")
    assert "evil.example" not in text_of(mail) + html_of(mail)
    path = link.group(1).removeprefix(client.app.state.container.settings.public_url)

    form = client.get(path)
    assert form.status_code == 200 and "Update password" in form.text
    assert form.headers["referrer-policy"] == "no-referrer"
    assert '<meta name="referrer" content="no-referrer">' in form.text
    assert form.headers["cache-control"] == "no-store"
    weak = post_form(client, path, {"password": "ann@example.org!", "end_sessions": "yes"})
    assert weak.status_code == 400 and "built from your name, your email address, your birth date" in weak.text
    assert "Strength: " in weak.text  # the meter, without JavaScript
    assert weak.headers["referrer-policy"] == "no-referrer"
    done = post_form(client, path, {"password": NEW, "end_sessions": "yes"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/password/updated"
    assert "vk_session" not in done.headers.get("set-cookie", "")  # no automatic sign-in
    assert "You can now sign in with your new password" in client.get("/password/updated").text
    assert mailbox.wait_for("ann@example.org", 4)["Subject"] == "Your VitalKey password has been changed"
    again = client.get(path)
    assert again.status_code == 410 and "no longer valid" in again.text
    assert again.headers["referrer-policy"] == "no-referrer"
    used = post_form(client, "/login", {"email": "ann@example.org"})  # a fresh form for the dead link
    assert used.status_code == 200
    replay = client.post(path, data={"csrf_token": csrf_of(used.text), "password": "another fine password 9"})
    assert replay.status_code == 410

    signed_in = post_form(client, password_page(client, "ann@example.org"), {"action": "password", "password": NEW})
    assert signed_in.url.path == "/dashboard"


def test_forgot_for_an_unknown_address_looks_the_same(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    client.cookies.clear()
    pages = []
    for email in ("ann@example.org", "nobody@example.org"):
        flow_url = password_page(client, email)
        post_form(client, flow_url, {"action": "forgot"})
        sent = post_form(client, flow_url, {"action": "validate"})
        pages.append((sent.status_code, sent.text.split("<main")[1].replace(email, "X").replace(flow_url, "F")))
    assert pages[0] == pages[1] and pages[0][0] == 200
    unknown = mailbox.wait_for("nobody@example.org", 2)
    assert unknown["Subject"] == "VitalKey account password change"
    assert "no account uses this address" in text_of(unknown) and "/password/reset/" not in text_of(unknown)


def test_a_tampered_link_is_refused_with_a_clear_page(client: TestClient) -> None:
    for path in ("/password/reset/not-a-real-token", "/password/reset/" + "x" * 300, "/password/reset/%00%ff"):
        page = client.get(path)
        assert page.status_code == 410 and "no longer valid" in page.text, path


def test_the_live_meter_of_the_account_page_knows_the_users_names_and_birth_date(
    client: TestClient, mailbox: Mailbox
) -> None:
    web_sign_up(client, mailbox, "meter@example.org")
    page = post_form(client, "/account/password", {"action": "send_code"})  # the form with the new password
    field = re.search(r'<input id="f-password"[^>]*>', page.text)
    assert field, page.text
    assert 'data-email="meter@example.org"' in field.group(0)
    assert 'data-names="Ann\nLee"' in field.group(0) and 'data-birth-date="1990-05-01"' in field.group(0)


def test_an_empty_password_is_asked_for_and_not_counted(make_client: ClientFactory, clock: FrozenClock) -> None:
    client = make_client(clock=clock)
    flow_url = password_page(client, "nobody@example.org")
    for _ in range(8):  # more than the 5 free failures: none is counted
        empty = post_form(client, flow_url, {"action": "password", "password": ""})
        assert empty.status_code == 400 and "Please enter your password." in empty.text
        assert "not correct" not in empty.text and 'aria-invalid="true"' in empty.text
    wrong = post_form(client, flow_url, {"action": "password", "password": GOOD})
    assert wrong.status_code == 400 and "This password is not correct" in wrong.text


def test_the_password_wait_is_said_in_the_right_plural_and_in_minutes_when_long(
    make_client: ClientFactory, clock: FrozenClock
) -> None:
    client = make_client(clock=clock)
    flow_url = password_page(client, "nobody@example.org")
    for _ in range(5):  # the fifth failure closes the stage for 1 second, then 2, 4 … (doubling)
        post_form(client, flow_url, {"action": "password", "password": GOOD})
    refused = post_form(client, flow_url, {"action": "password", "password": GOOD})
    assert refused.status_code == 429 and "Please wait 1 second and try again." in refused.text
    client.headers["accept-language"] = "de"
    refused = post_form(client, flow_url, {"action": "password", "password": GOOD})
    assert "Bitte warten Sie 1 Sekunde und versuchen" in refused.text
    wait = 1
    while wait < 128:  # fail again after each wait: 2, 4 … 128 seconds
        clock.advance(seconds=wait)
        post_form(client, flow_url, {"action": "password", "password": GOOD})
        wait *= 2
    refused = post_form(client, flow_url, {"action": "password", "password": GOOD})
    assert refused.status_code == 429 and "Bitte warten Sie 3 Minuten und versuchen" in refused.text
    client.headers["accept-language"] = "en"
    refused = post_form(client, flow_url, {"action": "password", "password": GOOD})
    assert "Please wait 3 minutes and try again." in refused.text  # 128 s, rounded up


def test_an_empty_current_password_is_asked_for(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    set_first_password(client, mailbox, "ann@example.org", 1)
    refused = post_form(client, "/account/password", {"action": "change", "current_password": "", "new_password": NEW})
    assert refused.status_code == 400 and "Please enter your current password." in refused.text
    assert "not correct" not in refused.text
