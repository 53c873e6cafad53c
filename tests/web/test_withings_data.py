"""The Withings data API at its Withings paths: the token (header, query or form; GET or POST),
each action's scope, the statuses (401, 214, 503, 2554, 601), empty answers, paging that stays
stable while data arrives, ``lastupdate``, and every parameter's malformed values — always HTTP
200 application/json in the Withings envelope."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.conftest import ContainerFactory
from tests.flows.test_resource_protector import Issued
from tests.health_seed import MORNING, NIGHT_END, NIGHT_START, Seeded, add_group, epoch, seed
from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.health import Measure
from vitalkey.web.app import create_app

ALL_SCOPES = ("user.info", "user.metrics", "user.activity")

# Every action: its path, its scope, and parameters that make it answer.
ACTIONS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("/measure", "getmeas", "user.metrics", {}),
    ("/v2/measure", "getactivity", "user.activity", {}),
    ("/v2/measure", "getintradayactivity", "user.activity", {}),
    ("/v2/measure", "getworkouts", "user.activity", {}),
    ("/v2/sleep", "get", "user.activity", {"startdate": epoch(NIGHT_START), "enddate": epoch(NIGHT_END)}),
    ("/v2/sleep", "getsummary", "user.activity", {}),
    ("/v2/user", "getdevice", "user.info", {}),
    ("/v2/user", "getgoals", "user.info", {}),
    ("/v2/heart", "list", "user.metrics", {}),
    ("/v2/heart", "get", "user.metrics", {"signalid": 1}),
]
ACTION_IDS = [f"{path}:{action}" for path, action, _, _ in ACTIONS]


def container_of(client: TestClient) -> Container:
    container: Container = client.app.state.container  # type: ignore[attr-defined]
    return container


def issued(client: TestClient, scopes: tuple[str, ...] = ALL_SCOPES, email: str = "ann@example.org") -> Issued:
    return Issued(container_of(client), scopes, email=email)


def withings(response: Any) -> dict[str, Any]:
    """The envelope, after checking it is one: HTTP 200, JSON, never cached."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    answer: dict[str, Any] = response.json()
    assert answer["status"] == 0 or answer["error"], answer
    return answer


def call(client: TestClient, token: str, path: str, **params: Any) -> dict[str, Any]:
    return withings(client.post(path, data=params, headers={"authorization": f"Bearer {token}"}))


@pytest.fixture
def ann(client: TestClient) -> Issued:
    return issued(client)


@pytest.fixture
def data(client: TestClient, ann: Issued) -> Seeded:
    return seed(container_of(client), ann.account_id)


# The token ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "where"), [("GET", "header"), ("GET", "query"), ("POST", "header"), ("POST", "query"), ("POST", "form")]
)
def test_the_token_in_the_header_the_query_or_the_form(
    client: TestClient, ann: Issued, data: Seeded, method: str, where: str
) -> None:
    params = {"action": "getdevice"}
    headers, form = {}, None
    if where == "header":
        headers = {"authorization": f"Bearer {ann.access}"}
    elif where == "query":
        params["access_token"] = ann.access
    else:
        form = {"access_token": ann.access}
    answer = withings(client.request(method, "/v2/user", params=params, data=form, headers=headers))
    assert answer["status"] == 0
    assert [device["deviceid"] for device in answer["body"]["devices"]] == [
        data.scale.deviceid,
        data.tracker.deviceid,
        data.sleep_monitor.deviceid,
    ]


def test_action_in_the_query_and_the_rest_in_the_form(client: TestClient, ann: Issued, data: Seeded) -> None:
    """withings-sync's way: ``?action=getmeas`` and a form with the token and the filters."""
    answer = withings(
        client.post(
            "/measure?action=getmeas",
            data={"access_token": ann.access, "category": 1, "startdate": epoch(MORNING), "enddate": epoch(MORNING)},
        )
    )
    assert answer["status"] == 0
    assert [group["grpid"] for group in answer["body"]["measuregrps"]] == [g.grpid for g in data.groups[:2]]


@pytest.mark.parametrize(("path", "action", "scope", "params"), ACTIONS, ids=ACTION_IDS)
def test_no_token_or_a_bad_one_is_401(
    client: TestClient, ann: Issued, path: str, action: str, scope: str, params: dict[str, Any]
) -> None:
    for headers in ({}, {"authorization": "Bearer nope"}, {"authorization": f"Bearer {ann.refresh}"}):
        answer = withings(client.post(path, data={"action": action, **params}, headers=headers))
        assert answer["status"] == 401 and answer["body"] == {}
        assert answer["error"].startswith("Authentication failed")
    assert withings(client.get(path, params={"action": action, "access_token": ann.access + "x"}))["status"] == 401


@pytest.mark.parametrize(("path", "action", "scope", "params"), ACTIONS, ids=ACTION_IDS)
def test_a_token_without_the_scope_is_unauthorized(
    client: TestClient, path: str, action: str, scope: str, params: dict[str, Any]
) -> None:
    others = tuple(other for other in ALL_SCOPES if other != scope)
    bob = issued(client, others, email="bob@example.org")
    answer = call(client, bob.access, path, action=action, **params)
    assert answer == {
        "status": 214,
        "body": {},
        "error": f"Unauthorized: the access token does not carry the {scope} scope",
    }


def test_the_first_read_records_the_tokens_first_use_even_without_the_scope(client: TestClient) -> None:
    """The read path writes nothing once a token was used; its first use is recorded (it retires
    the refresh token it replaced), in the same request, whatever the answer."""
    bob = issued(client, ("user.info",), email="bob@example.org")
    assert call(client, bob.access, "/measure", action="getmeas")["status"] == 214
    assert bob.record().access_used_at is not None
    ann = issued(client)
    assert ann.record().access_used_at is None
    assert call(client, ann.access, "/measure", action="getmeas")["status"] == 0
    first = ann.record().access_used_at
    assert first is not None
    assert call(client, ann.access, "/measure", action="getmeas")["status"] == 0
    assert ann.record().access_used_at == first


# Statuses ----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/measure", "/v2/measure", "/v2/sleep", "/v2/user", "/v2/heart"])
def test_an_unknown_action_is_2554(client: TestClient, ann: Issued, path: str) -> None:
    for action in ("nothing", "", "getmeas" if path != "/measure" else "getactivity"):
        answer = call(client, ann.access, path, action=action)
        assert answer["status"] == 2554 and answer["body"] == {}, action
        assert answer["error"] == f"Not implemented: action {action!r}"


def test_unknown_withings_paths_and_methods_answer_in_the_envelope(client: TestClient, ann: Issued) -> None:
    for response in (
        client.post("/v2/nothing", data={"action": "get"}),
        client.put("/v2/measure", data={"action": "getactivity"}),
        client.delete("/measure"),
    ):
        assert response.status_code in (404, 405)
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["status"] == 2554


def test_over_the_apps_limit_per_minute_is_601_across_server_processes(
    make_limited_container: ContainerFactory,
) -> None:
    """Two apps on one database (and one Redis, when the limits are counted there) are two server
    processes: the count is the partner app's, shared by both."""
    first, second = (
        TestClient(create_app(make_limited_container(withings_requests_per_minute=3), run_relay=False))
        for _ in range(2)
    )
    ann = issued(first)
    other_app = issued(first, email="bob@example.org")
    for client in (first, second, first):
        assert call(client, ann.access, "/v2/user", action="getgoals")["status"] == 0
    for client in (second, first):
        refused = call(client, ann.access, "/v2/user", action="getgoals")
        assert refused["status"] == 601
        assert 1 <= refused["body"]["wait_seconds"] <= 61  # the window, and at most one of its buckets
        assert refused["error"] == "Too many requests: at most 3 a minute per app"
    assert call(second, other_app.access, "/v2/user", action="getgoals")["status"] == 0  # another app's count


def test_a_burst_over_two_server_processes_is_refused_at_the_limit(make_limited_container: ContainerFactory) -> None:
    """Each process reserves a share of the app's 40 a minute (2 at a time) and spends it without
    a write: a burst through both, in turn, gets exactly 40 answers, then 601 from both."""
    clock = FrozenClock()
    first, second = (
        TestClient(create_app(make_limited_container(withings_requests_per_minute=40, clock=clock), run_relay=False))
        for _ in range(2)
    )
    ann = issued(first)
    statuses = [call((first, second)[n % 2], ann.access, "/v2/user", action="getgoals")["status"] for n in range(50)]
    assert statuses == [0] * 40 + [601] * 10
    clock.advance(seconds=62)  # the burst's minute has passed
    assert call(second, ann.access, "/v2/user", action="getgoals")["status"] == 0


@pytest.mark.parametrize(("path", "action", "scope", "params"), ACTIONS, ids=ACTION_IDS)
def test_an_account_without_data_gets_status_0_and_empty_lists(
    client: TestClient, ann: Issued, path: str, action: str, scope: str, params: dict[str, Any]
) -> None:
    answer = call(client, ann.access, path, action=action, **params)
    if action == "get" and path == "/v2/heart":
        assert answer["status"] == 503 and "signalid" in answer["error"]  # no recording has this id
        return
    assert answer["status"] == 0, answer
    body = answer["body"]
    expected: dict[tuple[str, str], dict[str, Any]] = {
        ("/measure", "getmeas"): {"more": 0, "offset": 0, "measuregrps": [], "timezone": "UTC"},
        ("/v2/measure", "getactivity"): {"activities": [], "more": False, "offset": 0},
        ("/v2/measure", "getintradayactivity"): {"series": {}},
        ("/v2/measure", "getworkouts"): {"series": [], "more": False, "offset": 0},
        ("/v2/sleep", "get"): {"series": [], "model": 16},
        ("/v2/sleep", "getsummary"): {"series": [], "more": False, "offset": 0},
        ("/v2/user", "getdevice"): {"devices": []},
        ("/v2/user", "getgoals"): {"goals": {"steps": 10000, "sleep": 28800}},
        ("/v2/heart", "list"): {"series": [], "more": False, "offset": 0},
    }
    assert {key: value for key, value in body.items() if key != "updatetime"} == expected[(path, action)]


# What is answered --------------------------------------------------------------------------
def test_getmeas_answers_the_stored_groups_exactly(client: TestClient, ann: Issued, data: Seeded) -> None:
    body = call(client, ann.access, "/measure", action="getmeas", category=1)["body"]
    assert body["more"] == 0 and body["offset"] == 0 and body["timezone"] == "Europe/Paris"
    groups = body["measuregrps"]
    assert [g["grpid"] for g in groups] == [g.grpid for g in data.groups[:3]]  # the objective is category 2
    first = groups[0]
    assert first == {
        "grpid": data.groups[0].grpid,
        "attrib": 0,
        "date": epoch(MORNING),
        "created": epoch(MORNING) + 5,
        "modified": epoch(MORNING) + 5,
        "category": 1,
        "deviceid": data.scale.deviceid,
        "hash_deviceid": data.scale.hash_deviceid,
        "model": "Body+",
        "modelid": 13,
        "comment": None,
        "timezone": "Europe/Paris",
        "measures": [
            {"value": 7235, "type": 1, "unit": -2},
            {"value": 2150, "type": 6, "unit": -2},
            {"value": 5412, "type": 76, "unit": -2},
        ],
    }
    assert groups[1]["date"] == first["date"] and groups[1]["measures"] == [{"value": 72351, "type": 1, "unit": -3}]
    assert groups[1]["comment"] == "after run" and groups[1]["attrib"] == 2
    objectives = call(client, ann.access, "/measure", action="getmeas", category=2)["body"]["measuregrps"]
    assert [(g["category"], g["deviceid"], g["measures"]) for g in objectives] == [
        (2, None, [{"value": 68, "type": 1, "unit": 0}])
    ]
    pressure = call(client, ann.access, "/measure", action="getmeas", meastypes="9,10")["body"]["measuregrps"]
    assert [g["measures"] for g in pressure] == [
        [{"value": 80, "type": 9, "unit": 0}, {"value": 121, "type": 10, "unit": 0}]
    ]
    weights = call(client, ann.access, "/measure", action="getmeas", meastype=1, category=1)["body"]["measuregrps"]
    assert [[m["value"] for m in g["measures"]] for g in weights] == [[7235], [72351]]


def test_sleep_get_answers_at_most_24_hours_and_every_sample_once(
    client: TestClient, ann: Issued, data: Seeded
) -> None:
    body = call(
        client, ann.access, "/v2/sleep", action="get", startdate=epoch(NIGHT_START), enddate=epoch(NIGHT_END),
        data_fields="hr,rr,snoring",
    )["body"]  # fmt: skip
    assert body["model"] == 32
    assert [(s["state"], s["startdate"], s["enddate"]) for s in body["series"]] == [
        (int(state.state), epoch(state.startdate), epoch(state.enddate)) for state in data.sessions[0].states
    ]
    for name in ("hr", "rr", "snoring"):
        answered = {int(k): v for s in body["series"] for k, v in s.get(name, {}).items()}
        assert answered == dict(data.sessions[0].series[name]), name
    assert {s["hash_deviceid"] for s in body["series"]} == {data.sleep_monitor.hash_deviceid}
    too_long = call(
        client, ann.access, "/v2/sleep", action="get", startdate=epoch(NIGHT_START),
        enddate=epoch(NIGHT_START + timedelta(hours=24, seconds=1)),
    )  # fmt: skip
    assert (
        too_long["status"] == 503
        and too_long["error"] == "Invalid Params: enddate: At most 24 hours between the start and the end."
    )


# Paging and lastupdate ---------------------------------------------------------------------
def test_pages_stay_stable_while_a_group_is_added(client: TestClient, ann: Issued) -> None:
    container = container_of(client)
    start = MORNING - timedelta(days=200)
    with container.uow.begin() as tx:
        from tests.health_seed import group

        ids = [
            tx.measure_groups.add(group(ann.account_id, start + timedelta(hours=n), (Measure(1, 7000 + n, -2),), None))
            for n in range(503)
        ]
    window = {"startdate": epoch(start), "enddate": epoch(MORNING)}
    first = call(client, ann.access, "/measure", action="getmeas", **window)["body"]
    assert first["more"] == 1 and len(first["measuregrps"]) == 500
    assert first["offset"] == first["measuregrps"][-1]["grpid"] == ids[499]
    added = add_group(container, ann.account_id, start + timedelta(minutes=1), (Measure(1, 6999, -2),))  # arrives now
    second = call(client, ann.access, "/measure", action="getmeas", offset=first["offset"], **window)["body"]
    assert second["more"] == 0 and second["offset"] == 0
    assert [g["grpid"] for g in second["measuregrps"]] == [*ids[500:], added]
    seen = [g["grpid"] for g in first["measuregrps"] + second["measuregrps"]]
    assert sorted(seen) == sorted({*ids, added})  # every group once, none skipped


def test_lastupdate_alone_and_with_a_window(client: TestClient, ann: Issued, data: Seeded) -> None:
    later = add_group(container_of(client), ann.account_id, MORNING - timedelta(days=40), (Measure(1, 7100, -2),))
    since = epoch(MORNING + timedelta(days=2))  # after every seeded group was modified; the new one is newer
    alone = call(client, ann.access, "/measure", action="getmeas", lastupdate=since)["body"]["measuregrps"]
    assert [g["grpid"] for g in alone] == [later]
    # withings-api sends a window and lastupdate together: the window applies.
    both = call(
        client, ann.access, "/measure", action="getmeas", startdate=epoch(MORNING), enddate=epoch(MORNING),
        lastupdate=since,
    )["body"]["measuregrps"]  # fmt: skip
    assert [g["grpid"] for g in both] == [g.grpid for g in data.groups[:2]]
    days = call(
        client, ann.access, "/v2/measure", action="getactivity", startdateymd="2026-11-19", enddateymd="2026-11-19",
        lastupdate=since,
    )["body"]["activities"]  # fmt: skip
    assert [day["date"] for day in days] == ["2026-11-19"]
    assert call(client, ann.access, "/v2/measure", action="getactivity", lastupdate=since)["body"]["activities"] == []


# Malformed values --------------------------------------------------------------------------
TEN_YEARS = 10 * 366 * 86400
BAD: list[tuple[str, str, dict[str, Any], str]] = [
    ("/measure", "getmeas", {"startdate": "yesterday"}, "startdate"),
    ("/measure", "getmeas", {"enddate": "1.5e9"}, "enddate"),
    ("/measure", "getmeas", {"startdate": "-5"}, "startdate"),
    ("/measure", "getmeas", {"startdate": "9" * 40}, "startdate"),
    ("/measure", "getmeas", {"lastupdate": "now"}, "lastupdate"),
    ("/measure", "getmeas", {"offset": "-1"}, "offset"),
    ("/measure", "getmeas", {"offset": "ten"}, "offset"),
    ("/measure", "getmeas", {"meastype": "2"}, "meastype"),
    ("/measure", "getmeas", {"meastype": "weight"}, "meastype"),
    ("/measure", "getmeas", {"meastypes": "1,6,99999"}, "meastypes"),
    ("/measure", "getmeas", {"meastypes": ",".join(["1"] * 500)}, "meastypes"),
    ("/measure", "getmeas", {"category": "3"}, "category"),
    ("/measure", "getmeas", {"startdate": "1700000000", "enddate": "1600000000"}, "enddate"),
    ("/measure", "getmeas", {"startdate": "1000000000", "enddate": str(1000000000 + TEN_YEARS)}, "enddate"),
    ("/v2/measure", "getactivity", {"startdateymd": "2026-13-01"}, "startdateymd"),
    ("/v2/measure", "getactivity", {"enddateymd": "20261101"}, "enddateymd"),
    ("/v2/measure", "getactivity", {"startdateymd": "2026-11-02", "enddateymd": "2026-11-01"}, "enddateymd"),
    ("/v2/measure", "getactivity", {"startdateymd": "2010-01-01", "enddateymd": "2020-01-01"}, "enddateymd"),
    ("/v2/measure", "getactivity", {"data_fields": ",".join(["steps"] * 5000)}, "data_fields"),
    ("/v2/measure", "getactivity", {"data_fields": "steps;drop table"}, "data_fields"),
    ("/v2/measure", "getactivity", {"offset": "-3"}, "offset"),
    ("/v2/measure", "getworkouts", {"startdateymd": "yesterday"}, "startdateymd"),
    ("/v2/measure", "getworkouts", {"data_fields": "x" * 5000}, "data_fields"),
    ("/v2/measure", "getintradayactivity", {"startdate": "1700000000", "enddate": "1700172800"}, "enddate"),
    ("/v2/measure", "getintradayactivity", {"startdate": "soon"}, "startdate"),
    ("/v2/sleep", "get", {"startdate": "1700000000"}, "enddate"),
    ("/v2/sleep", "get", {"startdate": "1700000000", "enddate": "1699999999"}, "enddate"),
    (
        "/v2/sleep",
        "get",
        {"startdate": "1700000000", "enddate": "1700000000", "data_fields": "hr," * 400},
        "data_fields",
    ),
    ("/v2/sleep", "getsummary", {"startdateymd": "2026-02-30"}, "startdateymd"),
    ("/v2/sleep", "getsummary", {"lastupdate": "-1"}, "lastupdate"),
    ("/v2/heart", "list", {"startdate": "x"}, "startdate"),
    ("/v2/heart", "list", {"startdate": "1000000000", "enddate": str(1000000000 + TEN_YEARS)}, "enddate"),
    ("/v2/heart", "get", {"signalid": "abc"}, "signalid"),
    ("/v2/heart", "get", {}, "signalid"),
]


@pytest.mark.parametrize(
    ("path", "action", "params", "name"), BAD, ids=[f"{b[1]}-{b[3]}-{i}" for i, b in enumerate(BAD)]
)
def test_a_malformed_value_is_503_naming_the_parameter(
    client: TestClient, ann: Issued, path: str, action: str, params: dict[str, Any], name: str
) -> None:
    for method in ("GET", "POST"):
        values = {"action": action, **params}
        response = (
            client.get(path, params=values, headers={"authorization": f"Bearer {ann.access}"})
            if method == "GET"
            else client.post(path, data=values, headers={"authorization": f"Bearer {ann.access}"})
        )
        answer = withings(response)
        assert answer["status"] == 503 and answer["body"] == {}, answer
        assert answer["error"].startswith(f"Invalid Params: {name}: "), answer["error"]


def test_a_body_that_is_not_a_form_is_503(client: TestClient, ann: Issued) -> None:
    answer = withings(
        client.post(
            "/measure?action=getmeas",
            content=b"\xff\xfe",
            headers={"authorization": f"Bearer {ann.access}", "content-type": "application/x-www-form-urlencoded"},
        )
    )
    assert answer["status"] == 503 and answer["error"].startswith("Invalid Params: body: ")


def test_a_token_reads_only_its_own_users_data(client: TestClient, ann: Issued, data: Seeded) -> None:
    bob = issued(client, email="bob@example.org")
    assert call(client, bob.access, "/measure", action="getmeas")["body"]["measuregrps"] == []
    assert call(client, bob.access, "/v2/user", action="getdevice")["body"]["devices"] == []
    stolen = call(client, bob.access, "/v2/heart", action="get", signalid=data.recordings[0].signalid)
    assert stolen == {
        "status": 503,
        "body": {},
        "error": "Invalid Params: signalid: no recording of this user has this id",
    }
    own = call(client, ann.access, "/v2/heart", action="get", signalid=data.recordings[0].signalid)["body"]
    assert own == {"signal": [12, -40, 350, -7, 0, 15], "sampling_frequency": 500, "wearposition": 1}


def test_intraday_and_workouts_answer_what_was_stored(client: TestClient, ann: Issued, data: Seeded) -> None:
    series = call(
        client, ann.access, "/v2/measure", action="getintradayactivity", startdate=epoch(MORNING),
        enddate=epoch(MORNING + timedelta(hours=1)), data_fields="steps,heart_rate",
    )["body"]["series"]  # fmt: skip
    assert series == {
        str(epoch(sample.at)): {"deviceid": data.tracker.deviceid, "model": "ScanWatch", "model_id": 93, **sample.data}
        for sample in data.samples
    }
    only_steps = call(
        client, ann.access, "/v2/measure", action="getintradayactivity", startdate=epoch(MORNING),
        enddate=epoch(MORNING + timedelta(hours=1)), data_fields="steps",
    )["body"]["series"]  # fmt: skip
    assert [item.get("heart_rate") for item in only_steps.values()] == [None] * 4
    (workout,) = call(
        client, ann.access, "/v2/measure", action="getworkouts", startdateymd="2026-11-20", enddateymd="2026-11-20",
        data_fields="calories,steps",
    )["body"]["series"]  # fmt: skip
    stored = data.workouts[0]
    assert workout == {
        "id": stored.id, "category": 2, "timezone": "America/New_York", "model": 93, "attrib": 0,
        "startdate": epoch(stored.startdate), "enddate": epoch(stored.enddate), "date": "2026-11-20",
        "modified": epoch(stored.modified), "deviceid": data.tracker.deviceid,
        "hash_deviceid": data.tracker.hash_deviceid, "data": {"calories": 320, "steps": 7020},
    }  # fmt: skip


PARAMETERS = [
    "startdate", "enddate", "startdateymd", "enddateymd", "lastupdate", "offset", "meastype", "meastypes",
    "category", "data_fields", "signalid",
]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(["0", "-1", "1", "2", "1700000000", "99999999999", "2026-11-20", "2026-02-30", "1,6,76", "hr,rr",
                     "", " ", "\x00", "1e9", "١٢٣"]),
    st.text(max_size=60),
)  # fmt: skip


def test_any_values_of_the_parameters_get_a_status_never_a_500(client: TestClient, ann: Issued) -> None:
    headers = {"authorization": f"Bearer {ann.access}"}

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        action=st.sampled_from([(path, action) for path, action, _, _ in ACTIONS]),
        values=st.lists(st.tuples(st.sampled_from(PARAMETERS), VALUES), max_size=6),
    )
    def read(action: tuple[str, str], values: list[tuple[str, str]]) -> None:
        path, name = action
        body = urlencode([("action", name), *values]).encode()
        form = {**headers, "content-type": "application/x-www-form-urlencoded"}
        answer = withings(client.post(path, content=body, headers=form))
        assert answer["status"] in (0, 503), (path, values, answer)

    read()
