"""The token endpoints at the edge (bare ASGI form endpoints): headers, refusals, body limits,
and an issuer that is not HTTPS."""

from __future__ import annotations

import base64
import subprocess
import sys

from starlette.testclient import TestClient

from tests.conftest import PROD_SMS
from tests.web.conftest import ClientFactory
from tests.web.oauth_kit import authorize_url, register, token

ENDPOINTS = ("/oauth2/token", "/oauth2/revoke", "/oauth2/introspect")


def test_answers_carry_no_store_and_the_security_headers(client: TestClient) -> None:
    partner = register(client.app.state.container)  # type: ignore[attr-defined]
    answer = token(client, partner, grant_type="refresh_token", refresh_token="nope")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    headers = answer.headers
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store" and headers["pragma"] == "no-cache"
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"] and headers["x-request-id"]
    assert int(headers["content-length"]) == len(answer.content)


def test_a_wrong_basic_secret_gets_401_with_its_challenge(client: TestClient) -> None:
    partner = register(client.app.state.container)  # type: ignore[attr-defined]
    basic = base64.b64encode(f"{partner.client_id}:wrong".encode()).decode()
    answer = client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        headers={"authorization": f"Basic {basic}"},
    )
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    assert answer.headers["www-authenticate"].startswith("Basic")
    assert answer.headers["cache-control"] == "no-store"


def test_refusals_of_what_is_not_a_form(client: TestClient) -> None:
    for path in ENDPOINTS:
        as_text = client.post(path, content=b"grant_type=x", headers={"content-type": "text/plain"})
        assert as_text.status_code == 400 and as_text.json()["error"] == "invalid_request", path
        assert as_text.json()["error_description"] == "Send the parameters as a form."
        assert client.get(path).status_code == 405
    withings = client.post("/v2/oauth2?action=requesttoken", content=b"\xff", headers={"content-type": "text/plain"})
    assert withings.status_code == 200 and withings.json()["status"] == 503
    nonce = client.post(
        "/v2/signature", content=b"a=%FF", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert nonce.status_code == 200 and nonce.json()["status"] == 503
    assert "could not be read" in nonce.json()["error"]


def test_withings_reads_the_query_and_the_form(client: TestClient) -> None:
    partner = register(client.app.state.container)  # type: ignore[attr-defined]
    answer = client.post(
        "/v2/oauth2?action=requesttoken",
        data={
            "grant_type": "refresh_token",
            "client_id": partner.client_id,
            "client_secret": "no",
            "refresh_token": "x",
        },
    )
    assert answer.json()["status"] == 401  # the action came from the query: the client was checked


def test_a_body_over_the_limit_is_refused_before_it_is_read(client: TestClient) -> None:
    answer = client.post("/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": "x" * 70_000})
    assert answer.status_code == 413


def test_an_issuer_without_https_is_refused_not_a_server_error(make_client: ClientFactory) -> None:
    production = {"dev_mode": False, "smtp_host": "127.0.0.1", **PROD_SMS}
    client = make_client(public_url="http://vitalkey.example", host="0.0.0.0", **production)
    partner = register(client.app.state.container)  # type: ignore[attr-defined]
    answer = token(client, partner, grant_type="refresh_token", refresh_token="x")
    assert answer.status_code == 400 and answer.json()["error"] == "insecure_transport"
    page = client.get(authorize_url(partner), follow_redirects=False)
    assert page.status_code == 400 and "insecure_transport" in page.text


def test_a_server_starts_without_the_password_dictionaries() -> None:
    """zxcvbn's 15 MB are loaded when a password is first rated, not by every worker at start-up."""
    script = (
        "import sys; import vitalkey.web.asgi; assert 'zxcvbn' not in sys.modules, 'loaded at start-up'; "
        "from vitalkey.domain.passwords import PasswordPolicy, rate; "
        "rate('correct horse battery', PasswordPolicy(), is_common=lambda _: False, personal=()); "
        "assert 'zxcvbn' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
