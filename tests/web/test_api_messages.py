"""The JSON API's messages for empty fields and waits (issue #16): an empty password or code is
asked for (not judged, not counted), and a wait is said in the plural its count takes in the
visitor's language, in minutes when long."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.conftest import Mailbox
from tests.web.conftest import ClientFactory
from vitalkey.adapters.clock import FrozenClock

EMAIL = "nobody@example.org"  # no account: the same statements and answers as a wrong password


def password_flow(client: TestClient) -> str:
    flow = client.post("/api/v1/login", json={"email": EMAIL, "method": "password"})
    assert flow.status_code == 201 and flow.json()["state"] == "first_factor"
    return str(flow.json()["id"])


def test_an_empty_password_is_asked_for_and_not_counted(make_client: ClientFactory, clock: FrozenClock) -> None:
    client = make_client(clock=clock)
    flow_id = password_flow(client)
    for _ in range(8):  # more than the 5 free failures: none is counted
        empty = client.post(f"/api/v1/login/{flow_id}/password", json={"password": ""})
        assert empty.status_code == 400 and empty.json() == {
            "error": "password_missing",
            "message": "Please enter your password.",
            "field": "password",
            "errors": [{"field": "password", "message": "Please enter your password."}],
        }
    wrong = client.post(f"/api/v1/login/{flow_id}/password", json={"password": "not the password"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "wrong_password"


def test_the_password_wait_takes_the_plural_of_its_count(make_client: ClientFactory, clock: FrozenClock) -> None:
    client = make_client(clock=clock)
    flow_id = password_flow(client)
    for _ in range(5):
        client.post(f"/api/v1/login/{flow_id}/password", json={"password": "not the password"})
    answers = {
        lang: client.post(
            f"/api/v1/login/{flow_id}/password", json={"password": "x"}, headers={"accept-language": lang}
        ).json()["message"]
        for lang in ("en", "fr", "ja")
    }
    assert answers == {
        "en": "Too many wrong passwords. Please wait 1 second and try again.",
        "fr": "Trop de mots de passe erronés. Veuillez patienter 1 seconde et réessayer.",
        "ja": "誤ったパスワードが多すぎます。1 秒待ってから、もう一度お試しください。",
    }


def test_an_empty_code_and_the_resend_wait(make_client: ClientFactory, clock: FrozenClock, mailbox: Mailbox) -> None:
    client = make_client(clock=clock)
    flow_id = client.post("/api/v1/login", json={"email": EMAIL}).json()["id"]
    mailbox.wait_for(EMAIL)
    empty = client.post(f"/api/v1/login/{flow_id}/code", json={"code": " "})
    assert empty.status_code == 400 and empty.json()["message"] == "Please enter the code."
    assert empty.json()["field"] == "code"
    too_soon = client.post(f"/api/v1/login/{flow_id}/resend")
    assert too_soon.status_code == 429
    assert too_soon.json()["message"] == "Please wait 60 seconds before asking for a new code."
    clock.advance(seconds=59)
    too_soon = client.post(f"/api/v1/login/{flow_id}/resend", headers={"accept-language": "de"})
    assert too_soon.json()["message"] == "Bitte warten Sie 1 Sekunde, bevor Sie einen neuen Code anfordern."
