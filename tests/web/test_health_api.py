"""The companion app's health-data JSON API (web/health_api.py) over HTTP, on both engines:
devices, batches (Idempotency-Key, every problem named, all or nothing, 413 beyond 5,000 items),
measure group edits and tombstones, goals; errors as {"error", "message", "field", "errors"}."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.web.conftest import ClientFactory
from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.accounts import Profile, Sex, Units
from vitalkey.domain.flows import Channel, Requester
from vitalkey.domain.health import MeasureFilter, Page, Window
from vitalkey.flows.sessions import start

PROFILE = Profile("Ann", "Lee", date(1990, 5, 1), Sex.FEMALE, 168.0, Units.METRIC)
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)  # the FrozenClock's
T0 = int((NOW - timedelta(days=1)).timestamp())
DEVICES = "/api/v1/health/devices"
BATCHES = "/api/v1/health/batches"
GOALS = "/api/v1/health/goals"


@pytest.fixture
def api(make_client: ClientFactory, clock: FrozenClock) -> TestClient:
    return make_client(clock=clock)


def container_of(client: TestClient) -> Container:
    container: Container = client.app.state.container  # type: ignore[attr-defined]
    return container


def signed_in(client: TestClient, email: str) -> dict[str, str]:
    """A bearer session of a new account (made directly: the sign-in has its own tests)."""
    container = container_of(client)
    with container.uow.begin() as tx:
        account = tx.accounts.create(email, email, "en", PROFILE, "2026-01", container.clock.now())
        assert account is not None
        requester = Requester("127.0.0.1", "pytest", "en", Channel.API)
        token = start(container.deps, tx, account, requester, ("email_code",)).token
    return {"authorization": f"Bearer {token}"}


def pair(client: TestClient, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"type": "Scale", "model": "Body+", "model_id": 13, "timezone": "Europe/Paris", **fields}
    answer = client.post(DEVICES, json=body, headers=auth)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def send(client: TestClient, auth: dict[str, str], key: str | None, body: Any, **headers: str) -> Any:
    extra = {"idempotency-key": key} if key is not None else {}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        BATCHES, content=content, headers={**auth, **extra, **headers, "content-type": "application/json"}
    )


def weight(at: int = T0, value: int = 7235, **more: Any) -> dict[str, Any]:
    return {"date": at, "timezone": "Europe/Paris", "measures": [{"type": 1, "value": value, "unit": -2}], **more}


# Devices ------------------------------------------------------------------------------------------
def test_pair_list_update_and_unpair_a_device(api: TestClient, clock: FrozenClock) -> None:
    auth = signed_in(api, "ann@example.org")
    device = pair(api, auth, battery="high")
    assert len(device["deviceid"]) == 40 and len(device["hash_deviceid"]) == 40
    assert {k: device[k] for k in ("type", "model", "model_id", "battery", "timezone", "created")} == {
        "type": "Scale",
        "model": "Body+",
        "model_id": 13,
        "battery": "high",
        "timezone": "Europe/Paris",
        "created": int(NOW.timestamp()),
    }
    assert device["first_session_date"] is None and device["last_session_date"] is None
    assert api.get(DEVICES, headers=auth).json() == {"devices": [device]}
    clock.advance(minutes=1)
    changed = api.patch(f"{DEVICES}/{device['deviceid']}", json={"battery": "low"}, headers=auth)
    assert changed.status_code == 200
    assert (changed.json()["battery"], changed.json()["timezone"], changed.json()["modified"]) == (
        "low",
        "Europe/Paris",
        int(clock.now().timestamp()),
    )
    wrong = api.patch(f"{DEVICES}/{device['deviceid']}", json={"timezone": "Europe/Paname"}, headers=auth)
    assert wrong.status_code == 400 and wrong.json()["field"] == "timezone"
    assert wrong.json()["error"] == "invalid_input" and "Europe/Paname" in wrong.json()["message"]
    gone = api.delete(f"{DEVICES}/{device['deviceid']}", headers=auth)
    assert gone.status_code == 200 and gone.json() == {"deviceid": device["deviceid"]}
    assert api.get(DEVICES, headers=auth).json() == {"devices": []}
    again = api.delete(f"{DEVICES}/{device['deviceid']}", headers=auth)
    assert again.status_code == 404 and again.json()["error"] == "unknown_device"


def test_pairing_is_checked_by_the_schema(api: TestClient) -> None:
    auth = signed_in(api, "ann@example.org")
    answer = api.post(DEVICES, json={"type": "Toaster", "model": "T", "model_id": 1, "timezone": "UTC"}, headers=auth)
    assert (
        answer.status_code == 400 and answer.json()["error"] == "invalid_request" and "type" in answer.json()["message"]
    )


def test_the_health_api_needs_a_session(api: TestClient) -> None:
    for method, path in (
        ("GET", DEVICES),
        ("POST", BATCHES),
        ("GET", GOALS),
        ("DELETE", "/api/v1/health/measure-groups/1"),
    ):
        answer = api.request(method, path, json={}, headers={"idempotency-key": "k"})
        assert answer.status_code == 401 and answer.json()["error"] == "not_authenticated"


def test_another_users_device_is_refused(api: TestClient) -> None:
    ann, bob = signed_in(api, "ann@example.org"), signed_in(api, "bob@example.org")
    bobs = pair(api, bob)["deviceid"]
    assert api.patch(f"{DEVICES}/{bobs}", json={"battery": "low"}, headers=ann).status_code == 404
    assert api.delete(f"{DEVICES}/{bobs}", headers=ann).status_code == 404
    refused = send(api, ann, "k", {"measure_groups": [weight(deviceid=bobs)]})
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {"field": "measure_groups[0].deviceid", "message": "No paired device of yours has this id."}
    ]
    assert api.get(DEVICES, headers=bob).json()["devices"][0]["battery"] == "unknown"


# Batches ------------------------------------------------------------------------------------------
def test_a_batch_is_stored_and_read_back_exactly(api: TestClient) -> None:
    auth = signed_in(api, "ann@example.org")
    deviceid = pair(api, auth)["deviceid"]
    body = {
        "measure_groups": [
            {
                "date": T0,
                "deviceid": deviceid,
                "measures": [{"type": 1, "value": 7235, "unit": -2}, {"type": 6, "value": 215, "unit": -1}],
                "comment": "morning",
            },
            {
                "date": T0 + 60,
                "timezone": "Asia/Tokyo",
                "category": 2,
                "measures": [{"type": 4, "value": 168, "unit": -2}],
            },
        ],
        "activity": [{"date": "2026-01-14", "deviceid": deviceid, "data": {"steps": 10234, "distance": 7412.5}}],
        "intraday": [{"at": T0, "deviceid": deviceid, "data": {"heart_rate": 61}}],
        "workouts": [{"category": 1, "startdate": T0 - 3600, "enddate": T0 - 600, "deviceid": deviceid}],
        "sleep": [
            {
                "startdate": T0 - 7 * 3600,
                "enddate": T0 - 3600,
                "deviceid": deviceid,
                "states": [{"startdate": T0 - 7 * 3600, "enddate": T0 - 3600, "state": 2}],
                "series": {"hr": {str(T0 - 5 * 3600): 51}},
                "summary": {"total_sleep_time": 21600},
            }
        ],
        "heart": [
            {
                "at": T0 + 120,
                "heart_rate": 70,
                "afib": 2,
                "signal": [5, -5, 900],
                "sampling_frequency": 500,
                "deviceid": deviceid,
            }
        ],
    }
    answer = send(api, auth, "first sync", body)
    assert answer.status_code == 201, answer.text
    ids = answer.json()
    assert set(ids) == {"grpids", "activity_ids", "intraday_samples", "workout_ids", "sleep_ids", "signalids"}
    assert ids["intraday_samples"] == 1 and all(len(ids[k]) == 1 for k in ("activity_ids", "workout_ids", "sleep_ids"))
    assert "idempotent-replayed" not in answer.headers
    first = api.get(f"/api/v1/health/measure-groups/{ids['grpids'][0]}", headers=auth).json()
    assert first == {
        "grpid": ids["grpids"][0],
        "date": T0,
        "timezone": "Europe/Paris",
        "attrib": 0,
        "category": 1,
        "created": int(NOW.timestamp()),
        "modified": int(NOW.timestamp()),
        "measures": [{"type": 1, "value": 7235, "unit": -2}, {"type": 6, "value": 215, "unit": -1}],
        "deviceid": deviceid,
        "comment": "morning",
    }
    second = api.get(f"/api/v1/health/measure-groups/{ids['grpids'][1]}", headers=auth).json()
    assert (second["timezone"], second["category"], second["attrib"], second["deviceid"]) == ("Asia/Tokyo", 2, 2, None)
    owner, container = _account(api, auth), container_of(api)
    with container.uow.read() as tx:
        [ecg] = tx.heart.find(owner, Window(), Page())
        [night] = tx.sleep.find(owner, Window(), Page())
        [day] = tx.activity.find(owner, Window(), Page())
    assert (ecg.signal, ecg.sampling_frequency, ecg.afib.value, ecg.heart_rate) == ((5, -5, 900), 500, 2, 70)
    assert night.series == {"hr": {T0 - 5 * 3600: 51}} and night.summary == {"total_sleep_time": 21600}
    assert day.data == {"steps": 10234, "distance": 7412.5}
    listed = api.get(DEVICES, headers=auth).json()["devices"][0]
    assert (listed["first_session_date"], listed["last_session_date"]) == (T0 - 7 * 3600, T0 + 120)


def test_a_replay_gets_the_same_answer_and_stores_once(api: TestClient, clock: FrozenClock) -> None:
    auth = signed_in(api, "ann@example.org")
    body = {"measure_groups": [weight(), weight(T0 + 60, 7240)]}
    first = send(api, auth, "sync-42", body)
    assert first.status_code == 201
    clock.advance(minutes=2)
    # the same request, spelled otherwise: other spacing, key order and a default written out
    respelled = json.dumps(
        {
            "intraday": [],
            "measure_groups": [{**dict(reversed(list(g.items()))), "category": 1} for g in body["measure_groups"]],
        },
        indent=2,
    ).encode()
    for again in (send(api, auth, "sync-42", body), send(api, auth, "sync-42", respelled)):
        assert (again.status_code, again.json()) == (201, first.json())
        assert again.headers["idempotent-replayed"] == "true"
    container = container_of(api)
    with container.uow.read() as tx:
        stored = tx.measure_groups.find(_account(api, auth), Window(), MeasureFilter(), Page())
    assert [g.grpid for g in stored] == first.json()["grpids"]
    conflict = send(api, auth, "sync-42", {"measure_groups": [weight(value=7300)]})
    assert conflict.status_code == 409
    assert conflict.json() == {
        "error": "idempotency_conflict",
        "message": "This idempotency key was already used for a different batch.",
        "field": None,
        "errors": [],
    }


def test_parallel_sends_of_one_key_store_once(api: TestClient) -> None:
    auth = signed_in(api, "ann@example.org")
    body = {"measure_groups": [weight(T0 + i) for i in range(100)]}
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: send(api, auth, "retried", body), range(6)))
    assert {(a.status_code, a.text) for a in answers} == {(201, answers[0].text)}
    assert sum("idempotent-replayed" not in a.headers for a in answers) == 1  # one stored, five answered again
    container = container_of(api)
    with container.uow.read() as tx:
        stored = tx.measure_groups.find(_account(api, auth), Window(), MeasureFilter(), Page())
    assert [g.grpid for g in stored] == answers[0].json()["grpids"]


def _account(client: TestClient, auth: dict[str, str]) -> int:
    return int(client.get("/api/v1/account", headers=auth).json()["id"])


@pytest.mark.parametrize("key", [None, "", "x" * 256, "clé"])
def test_a_missing_or_bad_idempotency_key_is_a_400_naming_it(api: TestClient, key: str | None) -> None:
    auth = signed_in(api, "ann@example.org")
    headers = {**auth, "content-type": "application/json"}
    if key is not None:
        headers["idempotency-key"] = key.encode()  # type: ignore[assignment]  # raw UTF-8 bytes on the wire
    answer = api.post(BATCHES, content=json.dumps({"measure_groups": [weight()]}).encode(), headers=headers)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_idempotency_key" and answer.json()["field"] == "Idempotency-Key"
    assert "Idempotency-Key" in answer.json()["message"]


def test_every_problem_is_named_and_nothing_is_stored(api: TestClient) -> None:
    auth = signed_in(api, "ann@example.org")
    future = int((NOW + timedelta(hours=1)).timestamp())
    body = {
        "measure_groups": [
            weight(),
            {"date": future, "timezone": "Europe/Paris", "measures": [{"type": 1, "value": 7235, "unit": 3}]},
            {"date": T0, "timezone": "Nowhere/City", "measures": [{"type": 3, "value": 1, "unit": 0}]},
        ],
        "sleep": [
            {
                "startdate": T0,
                "enddate": T0 - 60,
                "timezone": "UTC",
                "states": [{"startdate": T0, "enddate": T0, "state": 7}],
            }
        ],
    }
    answer = send(api, auth, "k", body)
    assert answer.status_code == 400
    error = answer.json()
    assert error["error"] == "invalid_input"
    assert [e["field"] for e in error["errors"]] == [
        "measure_groups[1].date",
        "measure_groups[1].measures[0].value",
        "measure_groups[2].timezone",
        "measure_groups[2].measures[0].type",
        "sleep[0].enddate",
        "sleep[0].states[0].state",
        "sleep[0].states[0].enddate",
    ]
    assert (error["field"], error["message"]) == ("measure_groups[1].date", "This date is in the future.")
    assert error["errors"][1]["message"] == "This value is outside the plausible range of weight (kg) (0.5 to 700)."
    assert error["errors"][3]["message"] == "3 is not a known measure type."
    # translated like every message
    german = send(api, auth, "k", body, cookie="vk_lang=de").json()  # the chooser's (the account says English)
    assert (german["message"], german["errors"][0]["field"]) == (
        "Dieses Datum liegt in der Zukunft.",
        "measure_groups[1].date",
    )
    assert german["errors"][3]["message"] == "3 ist kein bekannter Messtyp."
    # nothing was stored, not even the good group, and the key is still free
    assert send(api, auth, "k", {"measure_groups": [weight()]}).status_code == 201


def test_floats_are_refused_for_measures(api: TestClient) -> None:
    auth = signed_in(api, "ann@example.org")
    answer = send(
        api,
        auth,
        "k",
        {"measure_groups": [{"date": T0, "timezone": "UTC", "measures": [{"type": 1, "value": 72.35, "unit": 0}]}]},
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert "measure_groups[0].measures[0].value" in answer.json()["message"]


def test_more_than_5000_items_is_a_413_with_a_clear_message(api: TestClient) -> None:
    auth = signed_in(api, "ann@example.org")
    deviceid = pair(api, auth)["deviceid"]
    samples = [{"at": T0 + i, "deviceid": deviceid, "data": {"steps": 1}} for i in range(4_000)]
    groups = [weight(T0 + i) for i in range(1_001)]
    answer = send(api, auth, "big", {"intraday": samples, "measure_groups": groups})
    assert answer.status_code == 413
    assert answer.json()["error"] == "batch_too_large"
    assert answer.json()["message"] == "A batch holds at most 5000 items."
    assert send(api, auth, "big", {"intraday": samples, "measure_groups": groups[:1000]}).status_code == 201


def test_a_batch_beyond_its_byte_limit_is_a_413_too(make_client: ClientFactory, clock: FrozenClock) -> None:
    client = make_client(clock=clock, max_batch_bytes=2_000)
    auth = signed_in(client, "ann@example.org")
    answer = send(client, auth, "k", {"measure_groups": [weight(T0 + i) for i in range(40)]})
    assert answer.status_code == 413
    assert answer.json() == {
        "error": "body_too_large",
        "message": "This batch is too large: send its items in several smaller batches.",
    }
    assert send(client, auth, "k", {"measure_groups": [weight()]}).status_code == 201
    # other JSON endpoints keep the ordinary limit
    assert (
        client.put(GOALS, content=b" " * 70_000, headers={**auth, "content-type": "application/json"}).status_code
        == 413
    )


# Measure groups -----------------------------------------------------------------------------------
def test_edit_bumps_modified_and_delete_leaves_a_tombstone(api: TestClient, clock: FrozenClock) -> None:
    auth = signed_in(api, "ann@example.org")
    [grpid] = send(api, auth, "k", {"measure_groups": [weight()]}).json()["grpids"]
    clock.advance(minutes=10)
    edited = api.patch(
        f"/api/v1/health/measure-groups/{grpid}",
        json={"measures": [{"type": 1, "value": 7180, "unit": -2}], "comment": "scale was off"},
        headers=auth,
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["modified"] == int(clock.now().timestamp()) and edited.json()["created"] == int(
        NOW.timestamp()
    )
    assert api.get(f"/api/v1/health/measure-groups/{grpid}", headers=auth).json() == edited.json()
    assert edited.json()["measures"] == [{"type": 1, "value": 7180, "unit": -2}] and edited.json()["date"] == T0
    bad = api.patch(
        f"/api/v1/health/measure-groups/{grpid}", json={"measures": [{"type": 1, "value": 1, "unit": 9}]}, headers=auth
    )
    assert bad.status_code == 400 and bad.json()["field"] == "measures[0].value"
    clock.advance(minutes=1)
    deleted = api.delete(f"/api/v1/health/measure-groups/{grpid}", headers=auth)
    assert deleted.json() == {"grpid": grpid, "deleted": int(clock.now().timestamp())}
    assert api.get(f"/api/v1/health/measure-groups/{grpid}", headers=auth).status_code == 404
    container = container_of(api)
    with container.uow.read() as tx:
        [tombstone] = tx.measure_groups.find(
            _account(api, auth), Window(), MeasureFilter(), Page(), include_deleted=True
        )
    assert (tombstone.grpid, tombstone.deleted, tombstone.measures) == (grpid, clock.now(), ())
    for method in ("PATCH", "DELETE"):
        again = api.request(method, f"/api/v1/health/measure-groups/{grpid}", json={"comment": "x"}, headers=auth)
        assert again.status_code == 404 and again.json()["error"] == "not_found"


def test_another_users_group_and_odd_ids_are_not_found(api: TestClient) -> None:
    ann, bob = signed_in(api, "ann@example.org"), signed_in(api, "bob@example.org")
    [grpid] = send(api, bob, "k", {"measure_groups": [weight()]}).json()["grpids"]
    for path in (
        f"/api/v1/health/measure-groups/{grpid}",
        "/api/v1/health/measure-groups/x1",
        "/api/v1/health/measure-groups/٣",
    ):
        assert api.get(path, headers=ann).status_code == 404
        assert api.patch(path, json={"comment": "mine"}, headers=ann).status_code == 404
        assert api.delete(path, headers=ann).status_code == 404
    assert api.get(f"/api/v1/health/measure-groups/{grpid}", headers=bob).json()["comment"] is None


# Goals --------------------------------------------------------------------------------------------
def test_goals_round_trip(api: TestClient) -> None:
    auth = signed_in(api, "ann@example.org")
    assert api.get(GOALS, headers=auth).json() == {"steps": 10000, "sleep": 28800, "weight": None, "modified": None}
    wanted = {"steps": 12500, "sleep": 27000, "weight": {"value": 6850, "unit": -2}}
    saved = api.put(GOALS, json=wanted, headers=auth)
    assert saved.status_code == 200 and saved.json() == {**wanted, "modified": int(NOW.timestamp())}
    assert api.get(GOALS, headers=auth).json() == saved.json()
    refused = api.put(
        GOALS, json={"steps": 2_000_000, "sleep": 100_000, "weight": {"value": 9, "unit": 3}}, headers=auth
    )
    assert refused.status_code == 400
    assert [e["field"] for e in refused.json()["errors"]] == ["steps", "sleep", "weight.value"]
    assert api.get(GOALS, headers=auth).json() == saved.json()


def test_the_openapi_document_describes_the_health_api(api: TestClient) -> None:
    document = api.get("/api/openapi.json").json()
    batches = document["paths"][BATCHES]["post"]
    assert set(batches["responses"]) >= {"201", "400", "401", "409", "413"}
    [header] = [p for p in batches["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key" and header["required"] is True
    for path, methods in (
        (DEVICES, {"get", "post"}),
        (DEVICES + "/{deviceid}", {"patch", "delete"}),
        ("/api/v1/health/measure-groups/{grpid}", {"get", "patch", "delete"}),
        (GOALS, {"get", "put"}),
    ):
        assert set(document["paths"][path]) == methods
    measure = document["components"]["schemas"]["HealthMeasure"]["properties"]
    assert {measure[k]["type"] for k in ("type", "value", "unit")} == {"integer"}
