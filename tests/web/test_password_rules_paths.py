"""Every path that saves a password applies the rules with the account's own data (Ann Lee, born
1990-05-01, of the sign-up helpers): the page shows why, the API answers 400 password_rejected
with the reason, and nothing is saved (issue #15)."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.conftest import Mailbox, code_in, text_of
from tests.web.conftest import post_form, web_sign_up
from tests.web.test_api import api_sign_in, api_sign_up, bearer
from tests.web.test_password_pages import GOOD, NEW, password_page, set_first_password

OWN = "AnnLee1990!x"  # her names and birth year with two characters added
COMMON_PLUS = "password123456789"
LOOK_ALIKE = "P@ssw0rd2024!"
WHY_OWN = "built from your name, your email address, your birth date"
WHY_COMMON = "a common password with a few numbers or symbols added"


def test_the_pages_refuse_and_say_why(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    sent = post_form(client, "/account/password", {"action": "send_code"})
    flow = re.search(r'name="flow" value="([^"]+)"', sent.text)
    assert flow
    code = code_in(mailbox.wait_for("ann@example.org", 2))
    for password, why in ((OWN, WHY_OWN), (COMMON_PLUS, WHY_COMMON), ("1990-05-01 ann", WHY_OWN)):
        refused = post_form(
            client, str(sent.url), {"action": "set", "flow": flow.group(1), "code": code, "password": password}
        )
        assert refused.status_code == 400 and why in refused.text, password
        assert re.search(r"Strength: (Very weak|Weak)<", refused.text)  # the meter agrees
    assert "No password" in client.get("/account").text  # nothing saved
    done = post_form(
        client,
        str(sent.url),
        {"action": "set", "flow": flow.group(1), "code": code, "password": GOOD},
        follow_redirects=False,
    )
    assert done.status_code == 303  # the code still works: the refusals used nothing up


def test_change_and_the_link_page_refuse_and_say_why(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    set_first_password(client, mailbox, "ann@example.org", 1)
    for password, why in ((LOOK_ALIKE, WHY_COMMON), (OWN, WHY_OWN)):
        refused = post_form(
            client, "/account/password", {"action": "change", "current_password": GOOD, "new_password": password}
        )
        assert refused.status_code == 400 and why in refused.text, password
    client.cookies.clear()
    flow_url = password_page(client, "ann@example.org")
    wrong = post_form(client, flow_url, {"action": "password", "password": OWN})
    assert wrong.status_code == 400  # it was not saved: the first password still holds
    assert (
        post_form(client, flow_url, {"action": "password", "password": GOOD}, follow_redirects=False).status_code == 303
    )

    client.cookies.clear()
    forgot_url = password_page(client, "ann@example.org")
    post_form(client, forgot_url, {"action": "forgot"})
    post_form(client, forgot_url, {"action": "validate"})
    mail = mailbox.wait_for("ann@example.org", 6)  # sign-up, set code, set notice, 2 sign-ins, the link
    link = re.search(r"(http\S+/password/reset/\S+)", text_of(mail))
    assert link
    path = link.group(1).removeprefix(client.app.state.container.settings.public_url)
    for password, why in ((COMMON_PLUS, WHY_COMMON), (OWN, WHY_OWN)):
        refused = post_form(client, path, {"password": password, "end_sessions": "yes"})
        assert refused.status_code == 400 and why in refused.text, password
    used = post_form(client, path, {"password": NEW, "end_sessions": "yes"}, follow_redirects=False)
    assert used.status_code == 303  # the refusals did not use the link up


def test_the_api_refuses_with_the_reason_on_every_path(client: TestClient, mailbox: Mailbox) -> None:
    auth = bearer(api_sign_up(client, mailbox, "ann@example.org")["session_token"])
    flow = client.post("/api/v1/account/password/code", headers=auth).json()
    code = code_in(mailbox.wait_for("ann@example.org", 2))
    for password in (OWN, COMMON_PLUS, LOOK_ALIKE):
        refused = client.post(
            "/api/v1/account/password/set",
            headers=auth,
            json={"flow_id": flow["id"], "code": code, "password": password},
        )
        assert refused.status_code == 400, password
        assert refused.json()["error"] == "password_rejected" and refused.json()["field"] == "password"
        assert refused.json()["message"].startswith("This password is")
    assert client.get("/api/v1/account", headers=auth).json()["has_password"] is False  # nothing saved
    saved = client.post(
        "/api/v1/account/password/set", headers=auth, json={"flow_id": flow["id"], "code": code, "password": GOOD}
    )
    assert saved.status_code == 200

    changed = client.post(
        "/api/v1/account/password/change", headers=auth, json={"current_password": GOOD, "new_password": OWN}
    )
    assert changed.status_code == 400 and WHY_OWN in changed.json()["message"]

    forgot = client.post("/api/v1/login", json={"email": "ann@example.org"}).json()
    client.post(f"/api/v1/login/{forgot['id']}/password-instead")
    client.post(f"/api/v1/login/{forgot['id']}/password-reset")
    token = text_of(mailbox.wait_for("ann@example.org", 5)).split("/password/reset/")[1].split()[0]
    reset = client.post("/api/v1/password/reset", json={"token": token, "password": COMMON_PLUS})
    assert reset.status_code == 400 and WHY_COMMON in reset.json()["message"]
    german = client.post(
        "/api/v1/password/reset", headers={"accept-language": "de"}, json={"token": token, "password": OWN}
    )
    assert german.status_code == 400 and german.json()["error"] == "password_rejected"
    assert german.json()["message"].startswith("Dieses Passwort ist aus Ihrem Namen")  # translated
    signed_in = api_sign_in(client, mailbox, "ann@example.org", 6)
    assert signed_in["session_token"]  # the old password was never replaced: sign in with it too
    direct = client.post("/api/v1/login", json={"email": "ann@example.org", "method": "password"}).json()
    right = client.post(f"/api/v1/login/{direct['id']}/password", json={"password": GOOD})
    assert right.status_code == 200
