"""Bad input at the edge never gives a 500; operations endpoints; logs carry no secrets."""

from __future__ import annotations

import io
import json
import re
import time
from contextlib import redirect_stderr

import pytest
from starlette.testclient import TestClient

from tests.conftest import PROD_SMS, Mailbox, code_in
from tests.web.conftest import ClientFactory, csrf_of, post_form
from vitalkey.observability import configure_logging


def test_overlong_and_malformed_addresses_on_the_page(client: TestClient) -> None:
    for bad, message in (
        ("a" * 250 + "@example.org", "too long"),
        ("nope", "valid email address"),
        ("", "Please enter"),
    ):
        page = post_form(client, "/login", {"email": bad})
        assert page.status_code == 400 and message in page.text
        assert 'aria-invalid="true"' in page.text


def test_invalid_utf8_form(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    page = client.post(
        "/login",
        content=f"csrf_token={token}&email=%FF%FE".encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert page.status_code == 400 and "could not be read" in page.text
    raw = client.post("/login", content=b"email=\xff", headers={"content-type": "application/x-www-form-urlencoded"})
    assert raw.status_code == 400


def test_body_over_64_kib_on_a_page(client: TestClient) -> None:
    page = client.post("/login", data={"email": "a" * 70_000})
    assert page.status_code == 413 and "too large" in page.text
    client.get("/lang/ja")
    assert "64 KiB" in client.post("/login", data={"email": "a" * 70_000}).text


def test_unknown_action_and_dead_flow_pages(client: TestClient) -> None:
    page = post_form(client, "/login", {"email": "ann@example.org"})
    odd = post_form(client, str(page.url.path), {"action": "fly"})
    assert odd.status_code == 400
    assert client.get("/login/" + "x" * 500).status_code == 404
    assert client.get("/nothing-here").status_code == 404


def test_ops_endpoints(client: TestClient, mailbox: Mailbox) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    page = post_form(client, "/login", {"email": "ann@example.org"})
    post_form(client, str(page.url.path), {"action": "code", "code": "000001"})
    mailbox.wait_for("ann@example.org")
    metrics = client.get("/metrics").text
    for name in (
        "vitalkey_http_requests_total",
        "vitalkey_mails_sent_total",
        "vitalkey_signups_total",
        "vitalkey_signins_total",
        "vitalkey_code_failures_total",
    ):
        assert name in metrics
    assert re.search(r'vitalkey_code_failures_total\{reason="wrong_code"\} [1-9]', metrics)


def test_openapi_document_and_docs_page(client: TestClient) -> None:
    doc = client.get("/api/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    assert "/api/v1/login/{flow_id}/code" in doc["paths"] and "SignedIn" in doc["components"]["schemas"]
    assert "400" in doc["paths"]["/api/v1/login"]["post"]["responses"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "/api/v1/signup" in docs.text


def test_dev_mail_exists_only_in_dev_mode(make_client: ClientFactory) -> None:
    dev = make_client(sender=None)
    post_form(dev, "/signup", {"email": "bo@example.org"})
    for _ in range(100):
        listing = dev.get("/dev/mail", headers={"accept": "application/json"}).json()["mails"]
        if listing:
            break
        time.sleep(0.05)
    assert listing[0]["recipient"] == "bo@example.org"
    assert "Confirm" in dev.get("/dev/mail").text or "confirmation" in dev.get("/dev/mail").text
    assert dev.get(f"/dev/mail/{listing[0]['id']}").headers["content-security-policy"].endswith("sandbox")
    prod = make_client(dev_mode=False, smtp_host="127.0.0.1", **PROD_SMS)
    assert prod.get("/dev/mail").status_code == 404


def test_logs_never_carry_codes_tokens_or_cookies(make_client: ClientFactory, mailbox: Mailbox) -> None:
    stream = io.StringIO()
    with redirect_stderr(stream):
        configure_logging("debug", json=True)
        client = make_client()
        flow = client.post("/api/v1/signup", json={"email": "ann@example.org"}).json()
        code = code_in(mailbox.wait_for("ann@example.org"))
        client.post(f"/api/v1/signup/{flow['id']}/code", json={"code": code})
        client.post(f"/api/v1/signup/{flow['id']}/policy", json={"accept": True})
        client.post(
            f"/api/v1/signup/{flow['id']}/details",
            json={
                "first_name": "A",
                "last_name": "B",
                "birth_date": "1990-01-01",
                "sex": "male",
                "units": "metric",
                "height_cm": 180,
            },
        )
        token = client.post(f"/api/v1/signup/{flow['id']}/two-factor", json={"choice": "skip"}).json()["session_token"]
        client.get("/api/v1/account", headers={"authorization": f"Bearer {token}"})
    logged = stream.getvalue()
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    assert len(lines) >= 6 and all("request_id" in line for line in lines if line["event"] == "request")
    assert code not in logged and token not in logged and flow["id"] not in logged


def test_odd_urls_and_headers_never_fail(client: TestClient) -> None:
    odd = {
        "accept-language": "\xff;q=x,,;;".encode("latin-1"),
        "cookie": "vk_session=\x7f; vk_csrf=;;; vk_lang=\xff".encode("latin-1"),
    }
    for url in (
        "/login/%FF%FE",
        "/signup?email=%FF",
        "/lang/%FF?next=%FF",
        "/dev/mail?to=%FF",
        "/dev/mail/99999999999999999999999",
        "/dev/mail/-1",
        "/api/v1/login/%00",
        "/account",
        "/static/../../etc/passwd",
    ):
        answer = client.get(url, headers=odd)
        assert answer.status_code < 500, url
    injected = client.get("/lang/de?next=/%0d%0aSet-Cookie:x=1", follow_redirects=False)
    assert (
        "\n" not in injected.headers["location"]
        and "x=1" not in injected.headers.get("set-cookie", "").split("vk_lang")[0]
    )
    assert (
        client.get("/api/v1/account", headers={"authorization": "Bearer \u00e9\u00e9".encode("latin-1")}).status_code
        == 401
    )


def test_a_malformed_cookie_does_not_turn_413_into_500(client: TestClient) -> None:
    answer = client.post(
        "/api/v1/login",
        content=b"x" * 70_000,
        headers={"content-type": "application/json", "cookie": "a@b=c; vk_lang=fr"},
    )
    assert answer.status_code == 413 and answer.json()["error"] == "body_too_large"
    assert (
        answer.headers["x-content-type-options"] == "nosniff"
        and "frame-ancestors" in answer.headers["content-security-policy"]
    )


def test_an_unexpected_error_is_a_clean_500_with_our_headers(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    container = client.app.state.container  # type: ignore[attr-defined]
    monkeypatch.setattr(container.login, "start", broken)
    answer = client.post("/api/v1/login", json={"email": "ann@example.org"})
    assert answer.status_code == 500 and answer.json()["error"] == "server_error" and answer.json()["message"]
    assert answer.headers["x-request-id"] and "default-src 'self'" in answer.headers["content-security-policy"]
    page = post_form(client, "/login", {"email": "ann@example.org"})
    assert page.status_code == 500 and "Something went wrong" in page.text


def test_sign_in_rotates_the_csrf_secret(client: TestClient, mailbox: Mailbox) -> None:
    from tests.web.conftest import web_sign_up

    client.get("/signup")
    before = client.cookies.get("vk_csrf")
    web_sign_up(client, mailbox, "ann@example.org")
    assert client.cookies.get("vk_csrf") not in (None, before)
    assert client.get("/account").status_code == 200
