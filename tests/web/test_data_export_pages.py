""" "Download my data" through the app (issue #21 item 4), on both engines: the page in the Profile
menu, a small account's ZIP as the answer to the button, the link for its owner only (404 for
another user, the sign-in when signed out), "ready until" in the user's language; a large
account's export built by the app's own worker, mailed (a real SMTP server) with the link, which
expires after a day (a frozen clock); and the JSON API, in the OpenAPI document."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest
from starlette.testclient import TestClient

from tests.conftest import Mailbox, text_of
from tests.health_seed import seed
from tests.web.conftest import ClientFactory, post_form, web_sign_in, web_sign_up
from tests.web.test_api import api_sign_up, bearer
from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.emails import account_key
from vitalkey.flows.export_format import from_json

EMAIL = "ann.data@example.org"
OTHER = "bob.data@example.org"


@pytest.fixture
def client(make_client: ClientFactory, clock: FrozenClock) -> TestClient:
    return make_client(clock=clock)


def container_of(client: TestClient) -> Container:
    container: Container = client.app.state.container  # type: ignore[attr-defined]
    return container


def account_id(client: TestClient, email: str) -> int:
    with container_of(client).uow.read() as tx:
        account = tx.accounts.by_email(account_key(email))
        assert account is not None
        return account.id


def unzip(body: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def weights(files: dict[str, bytes]) -> list[str]:
    return [row["Weight (kg)"] for row in csv.DictReader(io.StringIO(files["weight.csv"].decode()))]


def test_the_menu_leads_to_the_page_and_its_button_downloads_the_zip(
    client: TestClient, mailbox: Mailbox, make_client: ClientFactory, clock: FrozenClock
) -> None:
    web_sign_up(client, mailbox, EMAIL)
    seed(container_of(client), account_id(client, EMAIL))
    assert '<a href="/account/data"' in client.get("/dashboard").text
    shown = client.get("/account/data")
    assert shown.status_code == 200
    assert "<h1>Download my data</h1>" in shown.text and 'value="prepare"' in shown.text

    answer = post_form(client, "/account/data", {"action": "prepare"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"] == 'attachment; filename="vitalkey-data-2026-01-15.zip"'
    files = unzip(answer.content)
    assert weights(files) == ["72.35", "72.351"]
    assert from_json(files["vitalkey.json"]).profile.email == EMAIL

    again = client.get("/account/data")
    assert "Your download is ready until Jan 16, 2026, 9:00\u202fAM UTC." in again.text
    link = re.search(r'href="(/account/data/export/[^"]+)"', again.text)
    assert link is not None
    assert unzip(client.get(link.group(1)).content)["weight.csv"] == files["weight.csv"]
    client.cookies.set("vk_lang", "de")
    assert "16.01.2026, 09:00 UTC" in client.get("/account/data").text

    stranger = make_client(clock=clock)
    web_sign_up(stranger, mailbox, OTHER)
    assert stranger.get(link.group(1)).status_code == 404  # another user's link
    signed_out = TestClient(client.app, base_url=str(client.base_url))
    gone = signed_out.get(link.group(1), follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/login"

    clock.advance(hours=24)
    web_sign_in(client, mailbox, EMAIL, 2)  # the session idled out meanwhile
    expired = client.get(link.group(1))
    assert expired.status_code == 410
    assert "Dieser Download-Link ist abgelaufen." in expired.text


def test_a_large_account_is_prepared_in_the_background_and_mailed(
    make_client: ClientFactory, mailbox: Mailbox, clock: FrozenClock
) -> None:
    client = make_client(clock=clock, export_inline_limit=3)
    web_sign_up(client, mailbox, EMAIL)
    seed(container_of(client), account_id(client, EMAIL))
    asked = post_form(client, "/account/data", {"action": "prepare"}, follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"] == "/account/data"

    mail = mailbox.wait_for(EMAIL, 2)  # the app's worker builds it, its relay mails the link
    assert mail["Subject"] == "Your VitalKey data is ready to download"
    found = re.search(r"https?://\S+(/account/data/export/\S+)", text_of(mail))
    assert found is not None
    assert weights(unzip(client.get(found.group(1)).content)) == ["72.35", "72.351"]
    assert "Your download is ready until" in client.get("/account/data").text

    clock.advance(days=1)
    web_sign_in(client, mailbox, EMAIL, 3)
    expired = client.get(found.group(1))
    assert expired.status_code == 410
    assert "This download link has expired. Prepare a new download of your data." in expired.text
    assert "Your last download has expired." in client.get("/account/data").text


def test_asking_while_one_is_being_prepared_says_so(
    make_client: ClientFactory, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(export_inline_limit=0)

    async def idle() -> bool:
        return False

    monkeypatch.setattr(container_of(client).export_worker, "run_once", idle)  # nothing is built: it stays pending
    web_sign_up(client, mailbox, EMAIL)
    seed(container_of(client), account_id(client, EMAIL))  # more than none: built in the background
    post_form(client, "/account/data", {"action": "prepare"})
    page = client.get("/account/data")
    assert "Your data is being prepared. We will send you an email" in page.text
    assert 'value="prepare"' not in page.text
    again = post_form(client, "/account/data", {"action": "prepare"})  # a form kept in another tab
    assert again.status_code == 409 and "Your data is already being prepared." in again.text
    token = api_sign_up(client, mailbox, OTHER)["session_token"]
    seed(container_of(client), account_id(client, OTHER))
    first = client.post("/api/v1/account/export", headers=bearer(token))
    assert first.status_code == 202 and first.json()["status"] == "pending"
    refused = client.post("/api/v1/account/export", headers=bearer(token))
    assert refused.status_code == 409 and refused.json()["error"] == "export_in_progress"
    not_yet = client.get(f"/api/v1/account/export/{first.json()['id']}", headers=bearer(token))
    assert not_yet.status_code == 409 and not_yet.json()["error"] == "export_not_ready"


def test_the_api_prepares_and_hands_the_zip_to_its_owner_only(client: TestClient, mailbox: Mailbox) -> None:
    token = api_sign_up(client, mailbox, EMAIL)["session_token"]
    other = api_sign_up(client, mailbox, OTHER)["session_token"]
    assert client.get("/api/v1/account/export", headers=bearer(token)).status_code == 404
    made = client.post("/api/v1/account/export", headers=bearer(token))
    assert made.status_code == 201
    body = made.json()
    assert body["status"] == "ready" and body["expires_at"] == "2026-01-16T09:00:00Z"
    assert body["download_url"] == f"/api/v1/account/export/{body['id']}" and body["records"] == 0
    assert client.get("/api/v1/account/export", headers=bearer(token)).json() == body
    got = client.get(body["download_url"], headers=bearer(token))
    assert got.status_code == 200 and len(got.content) == body["size"]
    assert from_json(unzip(got.content)["vitalkey.json"]).profile.email == EMAIL
    assert client.get(body["download_url"], headers=bearer(other)).status_code == 404
    assert client.get(body["download_url"]).status_code == 401
    described = client.get("/api/openapi.json").json()["paths"]
    assert set(described["/api/v1/account/export"]) == {"post", "get"}
    assert {"201", "202", "409"} <= set(described["/api/v1/account/export"]["post"]["responses"])
    assert "get" in described["/api/v1/account/export/{export_id}"]
