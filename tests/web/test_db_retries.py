"""A transaction that PostgreSQL aborts for a conflict with another one (serialization failure
40001, deadlock 40P01) is run again whole: a token grant, a sign-in and a sign-up step answer as
they would without the failure, and write what they would (failures injected with a trigger)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stderr
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.testclient import TestClient

from tests.conftest import Mailbox, _truncate, code_in
from tests.pg_faults import Faults, migrated_database
from tests.web.conftest import DETAILS_FORM, ClientFactory, csrf_of, post_form, web_sign_in
from tests.web.oauth_kit import CALLBACK, code_for, register, signed_up, token
from vitalkey.observability import configure_logging

RETRIED = ("40001", "40P01")


@pytest.fixture(scope="module")
def retry_database() -> Iterator[str]:
    yield from migrated_database("vk_retry_web")


@pytest.fixture
def database_url(retry_database: str) -> str:
    """These tests run on PostgreSQL only: SQLite has one writer and no such failures."""
    _truncate(retry_database)
    return retry_database


@pytest.fixture
def faults(database_url: str) -> Iterator[Faults]:
    injected = Faults(database_url)
    yield injected
    injected.close()


def retries_counted(client: TestClient, sqlstate: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'vitalkey_db_retries_total{{sqlstate="{sqlstate}"}}'):
            return float(line.split()[-1])
    return 0.0


def redeem(client: TestClient, partner: Any, code: str) -> Any:
    return token(client, partner, grant_type="authorization_code", code=code, redirect_uri=CALLBACK)


def userinfo(client: TestClient, tokens: dict[str, Any]) -> dict[str, Any]:
    answer = client.get("/oauth2/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"})
    assert answer.status_code == 200, answer.text
    claims: dict[str, Any] = answer.json()
    return claims


def shape(answer: Any) -> tuple[int, str, dict[str, Any]]:
    """What must be the same with and without the failure: status, type, the body's fields
    (the token values themselves are new each time)."""
    body = answer.json()
    return answer.status_code, answer.headers["content-type"], {k: type(v).__name__ for k, v in body.items()}


@pytest.mark.parametrize("sqlstate", RETRIED)
def test_code_and_refresh_grants_answer_as_without_the_failure(
    make_client: ClientFactory, mailbox: Mailbox, faults: Faults, sqlstate: str
) -> None:
    client = make_client()
    partner = register(client.app.state.container)  # type: ignore[attr-defined]
    signed_up(client, mailbox)
    before = retries_counted(client, sqlstate)

    # The first code grant of the installation also makes its first signing key, in the
    # transaction that fails: the ID token must be signed by the key that was stored.
    faults.inject("oauth_tokens", sqlstate)
    failed_once = redeem(client, partner, code_for(client, partner, scope="user.info openid")["code"])
    assert faults.raised("oauth_tokens") == 1 and faults.runs("oauth_tokens") == 2
    assert failed_once.status_code == 200, failed_once.text
    tokens = failed_once.json()
    faults.clear()
    plain = redeem(client, partner, code_for(client, partner, scope="user.info openid")["code"])
    assert shape(failed_once) == shape(plain)
    assert faults.count("oauth_tokens") == 2  # one generation per grant: nothing stored twice
    assert faults.count("signing_keys") == 1
    assert userinfo(client, tokens)["sub"] == userinfo(client, plain.json())["sub"]
    stored_keys = KeySet.import_key_set(client.get("/oauth2/jwks").json())
    decoded = jwt.decode(tokens["id_token"], stored_keys)
    with faults.engine.connect() as conn:
        assert decoded.header["kid"] == conn.exec_driver_sql("SELECT kid FROM signing_keys").scalar_one()

    # A refresh whose new generation fails once: rotated once, one child, and the child works.
    faults.inject("oauth_tokens", sqlstate)
    refreshed = token(client, partner, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert faults.raised("oauth_tokens") == 1 and faults.runs("oauth_tokens") == 2
    faults.clear()
    assert refreshed.status_code == 200, refreshed.text
    plain_refresh = token(client, partner, grant_type="refresh_token", refresh_token=plain.json()["refresh_token"])
    assert shape(refreshed) == shape(plain_refresh)
    assert faults.count("oauth_tokens") == 4
    child = refreshed.json()
    assert userinfo(client, child)["sub"] == userinfo(client, tokens)["sub"]
    again = token(client, partner, grant_type="refresh_token", refresh_token=child["refresh_token"])
    assert again.status_code == 200
    assert retries_counted(client, sqlstate) == before + 2


@pytest.mark.parametrize("sqlstate", RETRIED)
def test_a_sign_in_answers_as_without_the_failure(
    make_client: ClientFactory, mailbox: Mailbox, faults: Faults, sqlstate: str
) -> None:
    stream = io.StringIO()
    with redirect_stderr(stream):  # logs go to the stderr of the moment they are configured
        configure_logging("warning", json=True)
    client = make_client()
    signed_up(client, mailbox, "ann@example.com")
    client.cookies.clear()
    plain = web_sign_in(client, mailbox, "ann@example.com", 2)
    client.cookies.clear()

    # The session's insert fails once: the code's attempt and its use are rolled back with it,
    # and the whole verification runs again (a retry that kept them would refuse the code).
    faults.inject("sessions", sqlstate)
    failed_once = web_sign_in(client, mailbox, "ann@example.com", 3)
    assert faults.raised("sessions") == 1 and faults.runs("sessions") == 2
    assert (failed_once.status_code, failed_once.url.path) == (plain.status_code, plain.url.path) == (200, "/dashboard")
    assert faults.count("sessions") == 3  # the sign-up's, the plain sign-in's and this one's
    with faults.engine.connect() as conn:
        attempts = conn.exec_driver_sql("SELECT attempts FROM codes ORDER BY last_sent_at DESC LIMIT 1").scalar_one()
    assert attempts == 1
    assert client.get("/account", follow_redirects=False).status_code == 200
    logged = [json.loads(line) for line in stream.getvalue().splitlines() if '"db.retry"' in line]
    assert [(line["sqlstate"], line["work"]) for line in logged] == [(sqlstate, "LoginFlow.submit_code")]
    assert "ann@example.com" not in str(logged) and client.cookies["vk_session"] not in str(logged)


@pytest.mark.parametrize("sqlstate", RETRIED)
def test_a_sign_up_step_answers_as_without_the_failure(
    make_client: ClientFactory, mailbox: Mailbox, faults: Faults, sqlstate: str
) -> None:
    client = make_client()
    details = DETAILS_FORM

    def up_to_details(email: str) -> str:
        flow_url = str(post_form(client, "/signup", {"email": email}).url.path)
        post_form(client, flow_url, {"action": "code", "code": code_in(mailbox.wait_for(email))})
        post_form(client, flow_url, {"action": "policy", "accept": "yes"})
        return flow_url

    flow_url = up_to_details("bob@example.com")
    plain = post_form(client, flow_url, {"action": "details", **details}, follow_redirects=False)
    client.cookies.clear()

    flow_url = up_to_details("ann@example.com")
    faults.inject("accounts", sqlstate)
    failed_once = post_form(client, flow_url, {"action": "details", **details}, follow_redirects=False)
    assert faults.raised("accounts") == 1 and faults.runs("accounts") == 2
    assert failed_once.status_code == plain.status_code == 303
    assert failed_once.headers["location"] == flow_url and plain.headers["location"].startswith("/signup/")
    assert faults.count("accounts") == 2
    finished = post_form(client, flow_url, {"action": "skip_two_factor"})
    assert finished.url.path == "/account"


def test_a_failure_that_persists_surfaces_after_five_attempts(
    make_client: ClientFactory, mailbox: Mailbox, faults: Faults
) -> None:
    client = make_client()
    signed_up(client, mailbox, "ann@example.com")
    client.cookies.clear()
    before = retries_counted(client, "40001")
    faults.inject("sessions", "40001", times=100)
    page = client.get("/login")
    flow = client.post("/login", data={"csrf_token": csrf_of(page.text), "email": "ann@example.com"})
    code = code_in(mailbox.wait_for("ann@example.com", 2))
    answer = client.post(str(flow.url.path), data={"csrf_token": csrf_of(flow.text), "action": "code", "code": code})
    assert answer.status_code == 503  # a temporary failure, to be tried again (not a sign-in)
    assert int(answer.headers["retry-after"]) > 0
    assert faults.runs("sessions") == 5
    assert faults.count("sessions") == 1  # the sign-up's
    assert retries_counted(client, "40001") == before + 4
