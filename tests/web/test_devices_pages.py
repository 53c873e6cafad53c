"""The Devices page over real HTTP on SQLite and PostgreSQL: the paired devices with their type,
model, battery and last sync in the page's language; unpairing only after the confirmation;
another user's device refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from tests.conftest import Mailbox
from tests.web.conftest import csrf_of, web_sign_up
from tests.web.test_dashboard import _account_id, _container
from vitalkey.domain.health import Battery, Device, DeviceType
from vitalkey.flows.health_ingest import Batch, NewGroup, NewMeasure


def _pair(client: TestClient, email: str, synced: datetime | None) -> Device:
    container = _container(client)
    account_id = _account_id(client, email)
    device = container.health_ingest.pair(
        account_id, DeviceType.SCALE, "Body+", 13, "Europe/Berlin", battery=Battery.LOW
    )
    if synced is not None:  # the device sends a weight: its last session is that moment
        group = NewGroup(int(synced.timestamp()), (NewMeasure(1, 7000, -2),), deviceid=device.deviceid)
        container.health_ingest.ingest(account_id, "sync-1", "digest-1", Batch(measure_groups=(group,)))
    return device


def test_the_list_shows_type_model_battery_and_last_sync(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    assert "No paired device." in client.get("/devices").text
    synced = datetime(2026, 3, 14, 8, 5, tzinfo=UTC)  # 09:05 in Berlin
    _pair(client, "ann@example.org", synced)
    page = client.get("/devices")
    assert page.status_code == 200
    row = page.text.split('id="device-1"')[1].split("</li>")[0]
    assert "<strong>Scale</strong> · Body+" in row
    assert "Battery: Low" in row and "Mar 14, 2026, 9:05\u202fAM" in row
    client.get("/lang/de")
    german = client.get("/devices").text.split('id="device-1"')[1].split("</li>")[0]
    assert "Waage" in german and "Akku: Niedrig" in german and "14. März 2026, 09:05" in german
    # The dashboard links here.
    assert 'href="/devices"' in client.get("/dashboard").text


def test_a_device_never_synced_says_so(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    _pair(client, "ann@example.org", None)
    assert "Not synced yet" in client.get("/devices").text


def test_unpair_needs_the_confirmation(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    device = _pair(client, "ann@example.org", datetime.now(UTC) - timedelta(hours=1))
    url = f"/devices/{device.deviceid}/unpair"
    confirm = client.get(url)
    assert confirm.status_code == 200 and "Unpair Scale Body+?" in confirm.text
    assert len(_container(client).health_ingest.devices(_account_id(client, "ann@example.org"))) == 1
    # Anything but the confirming button leaves the device paired.
    kept = client.post(url, data={"csrf_token": csrf_of(confirm.text), "action": "cancel"}, follow_redirects=False)
    assert kept.status_code == 303 and kept.headers["location"] == "/devices"
    assert len(_container(client).health_ingest.devices(_account_id(client, "ann@example.org"))) == 1
    # Without the form's token nothing happens either (the CSRF guard).
    assert client.post(url, data={"action": "unpair"}).status_code == 403
    done = client.post(url, data={"csrf_token": csrf_of(confirm.text), "action": "unpair"})
    assert done.status_code == 200 and done.url.path == "/devices"
    assert "The device was unpaired. What it measured stays in your account." in done.text
    assert "No paired device." in done.text
    assert _container(client).health_ingest.devices(_account_id(client, "ann@example.org")) == []
    assert client.get(url).status_code == 404  # unpaired already


def test_another_users_device_is_not_found(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "bob@example.org")
    bobs = _pair(client, "bob@example.org", None)
    client.cookies.clear()
    web_sign_up(client, mailbox, "ann@example.org")
    url = f"/devices/{bobs.deviceid}/unpair"
    assert client.get(url).status_code == 404
    assert bobs.deviceid not in client.get("/devices").text
    token = csrf_of(client.get("/measurements/new").text)
    assert client.post(url, data={"csrf_token": token, "action": "unpair"}).status_code == 404
    assert len(_container(client).health_ingest.devices(_account_id(client, "bob@example.org"))) == 1


def test_signed_out_goes_to_sign_in(client: TestClient) -> None:
    for path in ("/devices", "/devices/x/unpair"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
