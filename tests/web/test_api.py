"""The JSON API: the same flows, bearer sessions, errors as {"error", "message"} with a 4xx."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import Mailbox, code_in, text_of

DETAILS = {
    "first_name": "Ann",
    "last_name": "Lee",
    "birth_date": "1990-05-01",
    "sex": "female",
    "units": "metric",
    "height_cm": 168,
}


def api_sign_up(client: TestClient, mailbox: Mailbox, email: str) -> dict[str, Any]:
    flow = client.post("/api/v1/signup", json={"email": email}).json()
    code = code_in(mailbox.wait_for(email))
    assert client.post(f"/api/v1/signup/{flow['id']}/code", json={"code": code}).json()["state"] == "policy"
    client.post(f"/api/v1/signup/{flow['id']}/policy", json={"accept": True, "policy_version": "2026-01"})
    client.post(f"/api/v1/signup/{flow['id']}/details", json=DETAILS)
    done = client.post(f"/api/v1/signup/{flow['id']}/two-factor", json={"choice": "skip"})
    assert done.status_code == 200
    return dict(done.json())


def api_sign_in(client: TestClient, mailbox: Mailbox, email: str, number: int) -> dict[str, Any]:
    flow = client.post("/api/v1/login", json={"email": email}).json()
    code = code_in(mailbox.wait_for(email, number))
    return dict(client.post(f"/api/v1/login/{flow['id']}/code", json={"code": code}).json())


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_sign_up_and_sign_in_through_the_api(client: TestClient, mailbox: Mailbox) -> None:
    started = client.post("/api/v1/signup", json={"email": "first@example.org"})
    assert started.status_code == 201
    flow = started.json()
    assert flow["state"] == "code_sent" and flow["actions"] == ["code_resent", "code_verified", "attempts_exhausted"]
    assert flow["attempts_left"] == 5 and flow["resend_available_at"]
    client.cookies.clear()
    signed = api_sign_up(client, mailbox, "ann@example.org")
    token = signed["session_token"]
    assert signed["account"]["first_name"] == "Ann"
    me = client.get("/api/v1/account", headers=bearer(token)).json()
    assert me["email"] == "ann@example.org" and me["height_cm"] == 168
    again = api_sign_in(client, mailbox, "ann@example.org", 2)
    assert again["session_token"] != token
    sessions = client.get("/api/v1/sessions", headers=bearer(token)).json()["sessions"]
    assert len(sessions) == 2 and sum(s["current"] for s in sessions) == 1
    ended = client.post("/api/v1/sessions/end-others", headers=bearer(token)).json()
    assert ended == {"ended": 1}
    assert client.get("/api/v1/account", headers=bearer(again["session_token"])).status_code == 401
    assert client.post("/api/v1/logout", headers=bearer(token)).json() == {"ended": 1}
    assert client.get("/api/v1/account", headers=bearer(token)).status_code == 401


def test_profile_patch_validates(client: TestClient, mailbox: Mailbox) -> None:
    token = api_sign_up(client, mailbox, "ann@example.org")["session_token"]
    bad = client.patch("/api/v1/account", headers=bearer(token), json={**DETAILS, "height_cm": 20})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_input" and bad.json()["field"] == "height_cm"
    good = client.patch(
        "/api/v1/account", headers=bearer(token), json={**DETAILS, "first_name": "Anna", "language": "ja"}
    )
    assert good.json()["first_name"] == "Anna" and good.json()["language"] == "ja"


def test_end_one_session_by_id(client: TestClient, mailbox: Mailbox) -> None:
    token = api_sign_up(client, mailbox, "ann@example.org")["session_token"]
    other = api_sign_in(client, mailbox, "ann@example.org", 2)["session_token"]
    sessions = client.get("/api/v1/sessions", headers=bearer(token)).json()["sessions"]
    other_id = next(s["id"] for s in sessions if not s["current"])
    assert client.delete(f"/api/v1/sessions/{other_id}", headers=bearer(token)).status_code == 200
    assert client.get("/api/v1/account", headers=bearer(other)).status_code == 401
    missing = client.delete(f"/api/v1/sessions/{other_id}", headers=bearer(token))
    assert missing.status_code == 404 and missing.json()["error"] == "session_not_found"


def test_unknown_address_same_answer(client: TestClient, mailbox: Mailbox) -> None:
    api_sign_up(client, mailbox, "ann@example.org")
    known = client.post("/api/v1/login", json={"email": "ann@example.org"})
    unknown = client.post("/api/v1/login", json={"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 201
    strip = {"id", "email", "expires_at", "code_expires_at", "resend_available_at"}
    assert {k: v for k, v in known.json().items() if k not in strip} == {
        k: v for k, v in unknown.json().items() if k not in strip
    }


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"email": "not-an-address"}, 400, "invalid_email"),
        ({"email": "a" * 250 + "@example.org"}, 400, "invalid_email"),
        ({"email": ""}, 400, "invalid_request"),
        ({}, 400, "invalid_request"),
        ({"email": 5}, 400, "invalid_request"),
        ({"email": "a@example.org", "extra": 1}, 400, "invalid_request"),
    ],
)
def test_bad_start_bodies(client: TestClient, body: dict[str, Any], status: int, error: str) -> None:
    response = client.post("/api/v1/login", json=body)
    assert response.status_code == status and response.json()["error"] == error and response.json()["message"]


def test_bad_codes_each_get_their_error(client: TestClient, mailbox: Mailbox) -> None:
    api_sign_up(client, mailbox, "ann@example.org")
    flow = client.post("/api/v1/login", json={"email": "ann@example.org"}).json()
    url = f"/api/v1/login/{flow['id']}/code"
    assert client.post(url, json={"code": "12ab"}).json()["error"] == "malformed_code"
    right = code_in(mailbox.wait_for("ann@example.org", 2))
    wrong = "000000" if right != "000000" else "111111"
    answer = client.post(url, json={"code": wrong})
    assert answer.status_code == 400 and answer.json()["error"] == "wrong_code"
    assert client.post(url, json={"code": right}).status_code == 200
    reused = client.post(url, json={"code": right})
    assert reused.status_code in (400, 409) and reused.json()["error"] in ("code_used", "wrong_state")
    gone = client.post("/api/v1/login/nope/code", json={"code": right})
    assert gone.status_code == 404 and gone.json()["error"] == "flow_not_found"


def test_a_signup_flow_is_not_a_login_flow(client: TestClient, mailbox: Mailbox) -> None:
    flow = client.post("/api/v1/signup", json={"email": "new@example.org"}).json()
    code = code_in(mailbox.wait_for("new@example.org"))
    crossed = client.post(f"/api/v1/login/{flow['id']}/code", json={"code": code})
    assert crossed.status_code == 404


def test_resend_too_soon_is_429_with_retry_after(client: TestClient) -> None:
    flow = client.post("/api/v1/login", json={"email": "ann@example.org"}).json()
    answer = client.post(f"/api/v1/login/{flow['id']}/resend")
    assert answer.status_code == 429 and answer.json()["error"] == "resend_too_soon"
    assert 0 < int(answer.headers["retry-after"]) <= 60


def test_malformed_requests(client: TestClient) -> None:
    invalid_json = client.post("/api/v1/login", content=b"{nope", headers={"content-type": "application/json"})
    assert invalid_json.status_code == 400 and invalid_json.json()["error"] == "invalid_json"
    bad_utf8 = client.post(
        "/api/v1/login", content=b'{"email": "\xff\xfe@x.org"}', headers={"content-type": "application/json"}
    )
    assert bad_utf8.status_code == 400
    form = client.post("/api/v1/login", data={"email": "a@example.org"})
    assert form.status_code == 415 and form.json()["error"] == "unsupported_media_type"
    huge = client.post(
        "/api/v1/login", content=b'{"email": "' + b"a" * 70_000 + b'"}', headers={"content-type": "application/json"}
    )
    assert huge.status_code == 413 and huge.json()["error"] == "body_too_large"
    german = client.post(
        "/api/v1/login", content=b"x" * 70_000, headers={"content-type": "application/json", "accept-language": "de"}
    )
    assert german.json()["message"] != huge.json()["message"]
    assert client.get("/api/v1/nothing").json()["error"] == "not_found"
    assert client.put("/api/v1/login").status_code == 405
    no_auth = client.get("/api/v1/account")
    assert no_auth.status_code == 401 and no_auth.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/api/v1/account", headers=bearer("x" * 500)).status_code == 401


def test_web_session_cookie_is_not_an_api_token(client: TestClient, mailbox: Mailbox) -> None:
    from tests.web.conftest import web_sign_up

    web_sign_up(client, mailbox, "ann@example.org")
    cookie = client.cookies.get("vk_session")
    assert cookie and client.get("/api/v1/account", headers=bearer(cookie)).status_code == 401


def test_passwords_through_the_api(client: TestClient, mailbox: Mailbox) -> None:
    """Set with a mailed code, sign in with it, change it, reset it with the mailed link."""
    signed_up = api_sign_up(client, mailbox, "pw@example.org")
    auth = bearer(signed_up["session_token"])
    assert client.get("/api/v1/account", headers=auth).json()["has_password"] is False
    flow = client.post("/api/v1/account/password/code", headers=auth)
    assert flow.status_code == 201 and flow.json()["kind"] == "password_set"
    code = code_in(mailbox.wait_for("pw@example.org", 2))
    weak = client.post(
        "/api/v1/account/password/set",
        headers=auth,
        json={"flow_id": flow.json()["id"], "code": code, "password": "1234"},
    )
    assert weak.status_code == 400 and weak.json() | {"message": ""} == {
        "error": "password_rejected",
        "message": "",
        "field": "password",
        "errors": [{"field": "password", "message": weak.json()["message"]}],
    }
    assert "at least 8 characters" in weak.json()["message"]
    saved = client.post(
        "/api/v1/account/password/set",
        headers=auth,
        json={"flow_id": flow.json()["id"], "code": code, "password": "violet tram 42"},
    )
    assert saved.status_code == 200 and saved.json()["strength"]["label"] in ("fair", "weak", "very_weak")
    assert saved.json()["strength"]["recommended_length"] == 15
    account = client.get("/api/v1/account", headers=auth).json()
    assert account["has_password"] is True and account["password_changed_at"]
    again = client.post("/api/v1/account/password/code", headers=auth)
    assert again.status_code == 409 and again.json()["error"] == "password_already_set"

    direct = client.post("/api/v1/login", json={"email": "pw@example.org", "method": "password"})
    assert direct.status_code == 201 and (direct.json()["state"], direct.json()["method"]) == (
        "first_factor",
        "password",
    )
    assert client.post("/api/v1/login", json={"email": "pw@example.org", "method": "sms"}).status_code == 400
    login = client.post("/api/v1/login", json={"email": "pw@example.org"}).json()
    chosen = client.post(f"/api/v1/login/{login['id']}/password-instead")
    assert chosen.status_code == 200 and (chosen.json()["state"], chosen.json()["method"]) == (
        "first_factor",
        "password",
    )
    assert "reset_requested" in chosen.json()["actions"]
    wrong = client.post(f"/api/v1/login/{login['id']}/password", json={"password": "not it"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "wrong_password"
    bad = client.post(f"/api/v1/login/{login['id']}/password", json={"password": 42})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    right = client.post(f"/api/v1/login/{login['id']}/password", json={"password": "violet tram 42"})
    assert right.status_code == 200
    second = bearer(right.json()["session_token"])
    assert client.post(f"/api/v1/login/{login['id']}/code-instead").status_code == 409  # the flow is complete

    refused = client.post(
        "/api/v1/account/password/change",
        headers=second,
        json={"current_password": "not it", "new_password": "quiet orbit lantern 7"},
    )
    assert refused.status_code == 400 and refused.json()["field"] == "current_password"
    changed = client.post(
        "/api/v1/account/password/change",
        headers=second,
        json={
            "current_password": "violet tram 42",
            "new_password": "quiet orbit lantern 7",
            "end_other_sessions": True,
        },
    )
    assert changed.status_code == 200 and changed.json()["sessions_ended"] == 1
    assert client.get("/api/v1/account", headers=auth).status_code == 401  # the other session ended

    forgot = client.post("/api/v1/login", json={"email": "pw@example.org"}).json()
    client.post(f"/api/v1/login/{forgot['id']}/password-instead")
    sent = client.post(f"/api/v1/login/{forgot['id']}/password-reset")
    assert sent.status_code == 200 and sent.json()["state"] == "reset_sent"
    link = mailbox.wait_for("pw@example.org", 7)  # codes: sign-up, set, 2 sign-ins; set, change notices; the link
    assert link["Subject"] == "VitalKey account password change"
    token = text_of(link).split("/password/reset/")[1].split()[0]
    done = client.post("/api/v1/password/reset", json={"token": token, "password": "lunar kettle mosaic 5"})
    assert done.status_code == 200 and done.json()["sessions_ended"] == 1 and "session_token" not in done.json()
    replay = client.post("/api/v1/password/reset", json={"token": token, "password": "lunar kettle mosaic 6"})
    assert replay.status_code == 410 and replay.json()["error"] == "reset_link_invalid"
    assert client.get("/api/v1/account", headers=second).status_code == 401


def test_the_strength_meter_answers_in_the_users_language(client: TestClient) -> None:
    weak = client.post("/api/v1/password/strength", json={"password": "ann.lee1990", "email": "ann.lee@example.org"})
    assert weak.status_code == 200 and weak.json()["score"] <= 1 and weak.json()["text"] in ("Very weak", "Weak")
    strong = client.post(
        "/api/v1/password/strength",
        json={"password": "violet tram umbrella forty two"},
        headers={"accept-language": "fr"},
    )
    assert strong.json()["label"] == "very_strong" and strong.json()["text"] == "Très fort"
    empty = client.post("/api/v1/password/strength", json={"password": ""})
    assert empty.status_code == 200 and empty.json()["score"] == 0 and empty.json()["length"] == 0
    assert client.post("/api/v1/password/strength", json={"pass": "x"}).status_code == 400


def test_the_strength_meter_is_limited_per_network(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from vitalkey.flows import password

    monkeypatch.setattr(password, "ESTIMATES_PER_IP", (3, 3600))
    answers = [client.post("/api/v1/password/strength", json={"password": f"guess {i}"}) for i in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["error"] == "rate_limited" and answers[-1].headers["retry-after"]


def test_the_strength_meter_counts_the_names_and_birth_date_it_is_given(client: TestClient) -> None:
    """The account page's live meter sends what the page knows of its user, so that it rates a
    password built from them as the rules will (a submit refuses it)."""
    password = "Danafox1987!x"
    stranger = client.post("/api/v1/password/strength", json={"password": password, "email": "sam@example.org"})
    own = client.post(
        "/api/v1/password/strength",
        json={"password": password, "email": "d@example.org", "names": ["Dana", "Fox"], "birth_date": "1987-06-02"},
    )
    assert stranger.json()["score"] >= 2
    assert own.status_code == 200 and own.json()["score"] <= 1
    too_many = client.post("/api/v1/password/strength", json={"password": password, "names": ["a"] * 5})
    assert too_many.status_code == 400 and too_many.json()["error"] == "invalid_request"


def test_every_wrong_detail_is_listed_in_the_json_error(client: TestClient, mailbox: Mailbox) -> None:
    flow = client.post("/api/v1/signup", json={"email": "list@example.org"}).json()
    client.post(f"/api/v1/signup/{flow['id']}/code", json={"code": code_in(mailbox.wait_for("list@example.org"))})
    client.post(f"/api/v1/signup/{flow['id']}/policy", json={"accept": True})
    wrong = {**DETAILS, "first_name": "", "birth_date": "2999-01-01", "height_cm": 20}
    answer = client.post(f"/api/v1/signup/{flow['id']}/details", json=wrong)
    body = answer.json()
    assert answer.status_code == 400 and body["error"] == "invalid_input"
    assert [e["field"] for e in body["errors"]] == ["first_name", "birth_date", "height_cm"]
    assert body["field"] == "first_name" and body["message"] == body["errors"][0]["message"]
    assert "future" in body["errors"][1]["message"]
    fixed = client.post(f"/api/v1/signup/{flow['id']}/details", json=DETAILS)
    assert fixed.status_code == 200  # nothing was lost: the same flow goes on
