"""Real Withings clients read a user's health data from a live ``vitalkey serve`` process,
unmodified but for their base URL: withings-api 2.4.0, withings-sync 6.1.0 and aiowithings (the
client Home Assistant uses). The companion app puts the data in through its JSON API on the same
server (``companion_app.upload``: the user's bearer session pairs the devices, sends one batch
under an Idempotency-Key, sets the goals); the same user links the partner app on the consent page
(``WebUser``), and each client must read back exactly what was sent: values and units, dates,
time zones, device ids (the ones the pairing answered).

aiowithings always calls ``https://<api_host>:443``. It is served over TLS here: a test CA
(trustme) signs a certificate for ``withings.test``, a TLS front in the test forwards to the live
server, and the client's own ``ClientSession`` (a constructor argument) resolves that name to the
front and trusts the CA. The client's code is untouched."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import arrow
import pytest
import trustme
from aiohttp.abc import AbstractResolver, ResolveResult
from aiowithings import (
    DeviceBattery,
    DeviceType,
    MeasurementType,
    SleepDataFields,
    WithingsClient,
)
from dateutil import tz
from withings_api import AbstractWithingsApi, WithingsApi, WithingsAuth
from withings_api.common import (
    AfibClassification,
    AuthScope,
    Credentials2,
    GetSleepField,
    GetSleepSummaryField,
    MeasureType,
    SleepModel,
    SleepState,
)
from withings_sync import withings2

from tests.conftest import LiveServer, Mailbox
from tests.e2e.companion_app import JSON, Uploaded, moments_of, upload
from tests.e2e.live_oauth import WebUser, query_of, register, sign_up

EMAIL = "ann@example.org"
CALLBACK = "https://portal.example.com/withings/callback"
API_HOST = "withings.test"

# A morning in the past (the server's clock is the real one): the scale's weigh-in.
MORNING = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)
NIGHT_START = datetime(2026, 11, 19, 22, 0, tzinfo=UTC)
NIGHT_END = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
HOUR = 3600
DAY = 24 * HOUR

# What the companion app pairs: a scale, a watch and a sleep monitor, in three time zones.
PAIRINGS: list[JSON] = [
    {"type": "Scale", "model": "Body+", "model_id": 13, "timezone": "Europe/Paris", "battery": "high"},
    {"type": "Activity Tracker", "model": "ScanWatch", "model_id": 93, "timezone": "America/New_York",
     "battery": "medium"},
    {"type": "Sleep Monitor", "model": "Sleep Analyzer", "model_id": 63, "timezone": "Asia/Tokyo"},
]  # fmt: skip
GOALS: JSON = {"steps": 12000, "sleep": 27000, "weight": {"value": 70500, "unit": -3}}


def epoch_of(moment: datetime) -> int:
    return int(moment.timestamp())


def measures(*triples: tuple[int, int, int]) -> list[JSON]:
    return [{"type": kind, "value": value, "unit": unit} for kind, value, unit in triples]


def health_batch(deviceids: list[str]) -> JSON:
    """Four measure groups (two of them at the same second), two activity days, intraday samples,
    a workout, a night with its states, series and summary, and an ECG."""
    scale, tracker, sleeper = deviceids
    morning, night, night_end = epoch_of(MORNING), epoch_of(NIGHT_START), epoch_of(NIGHT_END)
    return {
        "measure_groups": [
            {"date": morning, "timezone": "Europe/Paris", "attrib": 0, "category": 1, "deviceid": scale,
             "measures": measures((1, 7235, -2), (6, 2150, -2), (76, 5412, -2))},
            {"date": morning, "timezone": "Europe/Paris", "attrib": 2, "category": 1, "deviceid": scale,
             "measures": measures((1, 72351, -3)), "comment": "after run"},
            {"date": morning + DAY, "timezone": "America/New_York", "attrib": 0, "category": 1, "deviceid": tracker,
             "measures": measures((9, 80, 0), (10, 121, 0), (11, 64, 0))},
            {"date": morning - 2 * DAY, "timezone": "Europe/Paris", "attrib": 2, "category": 2,
             "measures": measures((1, 68, 0))},
        ],
        "activity": [
            {"date": "2026-11-19", "timezone": "America/New_York", "deviceid": tracker,
             "data": {"steps": 10234, "distance": 7812.5, "elevation": 42, "soft": 3600, "moderate": 1800,
                      "intense": 600, "active": 2400, "calories": 512.25, "totalcalories": 2480.5, "hr_average": 71,
                      "hr_min": 52, "hr_max": 151, "hr_zone_0": 30000, "hr_zone_1": 3000, "hr_zone_2": 900,
                      "hr_zone_3": 60}},
            {"date": "2026-11-20", "timezone": "America/New_York", "deviceid": tracker, "brand": 18,
             "is_tracker": False, "data": {"steps": 812, "totalcalories": 1630}},
        ],
        "intraday": [
            *({"at": morning + 60 * minute, "deviceid": tracker, "data": {"steps": 20 + minute}} for minute in range(3)),
            {"at": morning + 300, "deviceid": tracker, "data": {"heart_rate": 88}},
        ],
        "workouts": [
            {"category": 2, "startdate": morning - HOUR, "enddate": morning - 1200, "date": "2026-11-20",
             "timezone": "America/New_York", "deviceid": tracker,
             "data": {"calories": 320, "distance": 6100, "steps": 7020, "hr_average": 148, "hr_min": 96,
                      "hr_max": 178, "intensity": 60, "elevation": 35}},
        ],
        "sleep": [
            {"startdate": night, "enddate": night_end, "timezone": "Asia/Tokyo", "deviceid": sleeper,
             "states": [
                 {"startdate": night, "enddate": night + 1200, "state": 0},
                 {"startdate": night + 1200, "enddate": night + 3 * HOUR, "state": 1},
                 {"startdate": night + 3 * HOUR, "enddate": night + 5 * HOUR, "state": 2},
                 {"startdate": night + 5 * HOUR, "enddate": night_end, "state": 3},
             ],
             "series": {
                 "hr": {str(night + 60): 64, str(night + 4 * HOUR): 52, str(night + 7 * HOUR): 58},
                 "rr": {str(night + 60): 15, str(night + 4 * HOUR): 12},
                 "snoring": {str(night + 4 * HOUR + 60): 1},
             },
             "summary": {"total_timeinbed": 28800, "total_sleep_time": 27600, "lightsleepduration": 9600,
                         "deepsleepduration": 7200, "remsleepduration": 10800, "wakeupcount": 1, "sleep_score": 84,
                         "hr_average": 57, "sleep_efficiency": 0.96}},
        ],
        "heart": [
            {"at": morning + 2 * HOUR, "timezone": "Europe/Paris", "heart_rate": 66, "afib": 0,
             "signal": [12, -40, 350, -7, 0, 15], "sampling_frequency": 500, "wearposition": 1, "deviceid": tracker,
             "bloodpressure": {"systole": 118, "diastole": 79}},
        ],
    }  # fmt: skip


def moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def series_of(sent: JSON, name: str) -> dict[int, int]:
    """A sleep series as sent (its keys are seconds written as JSON strings)."""
    return {int(second): value for second, value in sent["series"][name].items()}


def rounded(measure: JSON) -> float:
    """value × 10^unit to two decimals, as withings-sync's getters give it."""
    return float(round(Decimal(measure["value"]).scaleb(measure["unit"]), 2))


@pytest.fixture
def user(live_server: LiveServer, mailbox: Mailbox) -> Iterator[WebUser]:
    sign_up(live_server, mailbox, EMAIL)
    browser = WebUser(live_server, mailbox, EMAIL)
    yield browser
    browser.close()


@pytest.fixture
def closer() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


@pytest.fixture
def uploaded(live_server: LiveServer, mailbox: Mailbox, user: WebUser) -> Uploaded:
    """The user's data, put in by the companion app through the live server's JSON API."""
    return upload(live_server, mailbox, EMAIL, PAIRINGS, health_batch, GOALS)


@pytest.fixture
def linked(
    live_server: LiveServer,
    sqlite_url: str,
    user: WebUser,
    uploaded: Uploaded,
    monkeypatch: pytest.MonkeyPatch,
    closer: ExitStack,
) -> Credentials2:
    """withings-api's own link (authorize, consent, code exchange) for the three data scopes, by
    the user whose companion app uploaded."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setattr(WithingsAuth, "URL", live_server.url)
    monkeypatch.setattr(AbstractWithingsApi, "URL", live_server.url)
    partner = register(
        live_server,
        sqlite_url,
        name="Acme Wellness Portal",
        redirect_uri=CALLBACK,
        scopes=("user.info", "user.metrics", "user.activity"),
    )
    assert partner.secret is not None
    auth = WithingsAuth(
        partner.client_id,
        partner.secret,
        callback_uri=CALLBACK,
        scope=(AuthScope.USER_INFO, AuthScope.USER_METRICS, AuthScope.USER_ACTIVITY),
    )
    closer.callback(auth._session.close)  # its requests session keeps a socket open
    credentials = auth.get_credentials(query_of(user.link(auth.get_authorize_url()))["code"])
    assert credentials.userid == uploaded.account_id
    return credentials


# withings-api --------------------------------------------------------------------------------
def test_withings_api_reads_back_what_was_sent(linked: Credentials2, uploaded: Uploaded, closer: ExitStack) -> None:
    api = WithingsApi(linked)
    closer.callback(api._client.close)
    batch, ids = uploaded.batch, uploaded.ids

    devices = api.user_get_device().devices
    assert [(d.type, d.model, d.battery, d.deviceid, d.timezone) for d in devices] == [
        (sent["type"], sent["model"], sent.get("battery", "unknown"), paired["deviceid"], tz.gettz(sent["timezone"]))
        for sent, paired in zip(PAIRINGS, uploaded.devices, strict=True)
    ]

    # Its lastupdate defaults to when it was imported; the window is what it asks for.
    meas = api.measure_get_meas(startdate=MORNING - timedelta(days=3), enddate=MORNING + timedelta(days=2))
    sent_groups = batch["measure_groups"]
    assert meas.timezone == tz.gettz(sent_groups[0]["timezone"]) and meas.more is False and meas.offset == 0
    groups = [
        (g.grpid, g.date, g.attrib.value, g.category.value, g.deviceid,
         [(m.type, m.value, m.unit) for m in g.measures])
        for g in meas.measuregrps
    ]  # fmt: skip
    assert groups == [
        (
            grpid, arrow.get(sent["date"]), sent["attrib"], sent["category"], sent.get("deviceid"),
            [(MeasureType(m["type"]), m["value"], m["unit"]) for m in sent["measures"]],
        )
        for grpid, sent in zip(ids["grpids"], sent_groups, strict=True)
    ]  # fmt: skip
    assert all(uploaded.during(g.created.datetime) for g in meas.measuregrps)

    activity = api.measure_get_activity(startdateymd=date(2026, 11, 19), enddateymd=date(2026, 11, 20))
    assert activity.more is False and activity.offset == 0
    assert len(activity.activities) == len(batch["activity"])
    for read, sent in zip(activity.activities, batch["activity"], strict=True):
        assert (read.date, read.timezone, read.deviceid) == (
            arrow.get(sent["date"]), tz.gettz(sent["timezone"]), sent["deviceid"]
        )  # fmt: skip
        assert (read.brand, read.is_tracker) == (sent.get("brand", 1), sent.get("is_tracker", True))
        assert {name: getattr(read, name) for name in sent["data"]} == sent["data"]

    night = api.sleep_get(
        data_fields=(GetSleepField.HR, GetSleepField.RR, GetSleepField.SNORING),
        startdate=NIGHT_START,
        enddate=NIGHT_END,
    )
    assert night.model is SleepModel.SLEEP_MONITOR
    (session,) = batch["sleep"]
    assert [(s.state, s.startdate, s.enddate) for s in night.series] == [
        (SleepState(state["state"]), arrow.get(state["startdate"]), arrow.get(state["enddate"]))
        for state in session["states"]
    ]
    for name in ("hr", "rr", "snoring"):
        read = {item.timestamp.int_timestamp: item.value for serie in night.series for item in getattr(serie, name)}
        assert read == series_of(session, name), name

    summary = api.sleep_get_summary(
        data_fields=tuple(GetSleepSummaryField), startdateymd=date(2026, 11, 20), enddateymd=date(2026, 11, 20)
    )
    assert summary.more is False and summary.offset == 0
    (serie,) = summary.series
    assert serie.timezone == tz.gettz(session["timezone"]) and serie.model is SleepModel.SLEEP_MONITOR
    assert (serie.startdate, serie.enddate) == (arrow.get(session["startdate"]), arrow.get(session["enddate"]))
    local_end = moment(session["enddate"]).astimezone(ZoneInfo(session["timezone"]))
    assert serie.date.format("YYYY-MM-DD") == local_end.date().isoformat() and serie.id == ids["sleep_ids"][0]
    known = {name: value for name, value in session["summary"].items() if hasattr(serie.data, name)}
    assert {name: getattr(serie.data, name) for name in known} == known and len(known) == 6

    hearts = api.heart_list(startdate=MORNING, enddate=MORNING + timedelta(days=1))
    assert hearts.more is False and hearts.offset == 0
    (ecg,) = hearts.series
    (recording,) = batch["heart"]
    assert (ecg.ecg.signalid, ecg.ecg.afib, ecg.heart_rate) == (
        ids["signalids"][0], AfibClassification(recording["afib"]), recording["heart_rate"]
    )  # fmt: skip
    assert ecg.timestamp == arrow.get(recording["at"]) and ecg.deviceid == recording["deviceid"]
    assert ecg.bloodpressure is not None
    assert {"systole": ecg.bloodpressure.systole, "diastole": ecg.bloodpressure.diastole} == recording["bloodpressure"]
    signal = api.heart_get(ecg.ecg.signalid)
    assert (signal.signal, signal.sampling_frequency, signal.wearposition.value) == (
        tuple(recording["signal"]), recording["sampling_frequency"], recording["wearposition"]
    )  # fmt: skip


# withings-sync -------------------------------------------------------------------------------
def test_withings_sync_downloads_both_groups_of_the_same_second(
    live_server: LiveServer,
    linked: Credentials2,
    uploaded: Uploaded,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its own run: the saved credentials (refreshed at start, as it does), then getmeas by POST
    with ``action`` in the query and the token and the filters in the form."""
    monkeypatch.setattr(withings2, "TOKEN_URL", live_server.url + "/v2/oauth2")
    monkeypatch.setattr(withings2, "GETMEAS_URL", live_server.url + "/measure?action=getmeas")
    folder = tmp_path / "withings-sync"
    folder.mkdir()
    (folder / "withings_app.json").write_text(
        json.dumps({"client_id": linked.client_id, "consumer_secret": linked.consumer_secret, "callback_url": CALLBACK})
    )
    (folder / ".withings_user.json").write_text(
        json.dumps(
            {"access_token": linked.access_token, "refresh_token": linked.refresh_token, "userid": linked.userid}
        )
    )
    account = withings2.WithingsAccount(config_folder=str(folder))
    assert account.withings.user_config["access_token"] != linked.access_token  # refreshed

    start, end = epoch_of(MORNING - timedelta(days=1)), epoch_of(MORNING + timedelta(hours=1))
    groups = account.get_measurements(start, end)
    sent = [
        (grpid, group) for grpid, group in zip(uploaded.ids["grpids"], uploaded.batch["measure_groups"], strict=True)
        if start <= group["date"] <= end
    ]  # fmt: skip
    assert [(g.grpid, g.date, g.attrib, g.category) for g in groups] == [
        (grpid, group["date"], group["attrib"], group["category"]) for grpid, group in sent
    ]
    assert len(groups) == 2 and groups[0].date == groups[1].date  # the same second, both kept
    for read, (_, group) in zip(groups, sent, strict=True):
        assert [(m.type, m.value, m.unit) for m in read] == [
            (m["type"], m["value"], m["unit"]) for m in group["measures"]
        ]
        by_type = {m["type"]: rounded(m) for m in group["measures"]}
        assert (read.get_weight(), read.get_fat_ratio(), read.get_muscle_mass()) == (
            by_type.get(1), by_type.get(6), by_type.get(76)
        )  # fmt: skip
    assert [g.get_weight() for g in groups] == [72.35, 72.35]  # 7235e-2 and 72351e-3, rounded by the client


# aiowithings ---------------------------------------------------------------------------------
class ToTheFront(AbstractResolver):
    """``withings.test`` is the TLS front on this machine (aiohttp's public resolver interface)."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        assert host == API_HOST and port == 443
        return [ResolveResult(hostname=host, host="127.0.0.1", port=self.port, family=socket.AF_INET, proto=0, flags=0)]

    async def close(self) -> None:
        return None


async def tls_front(server: LiveServer, certificate: trustme.LeafCert) -> asyncio.Server:
    """TLS in, plain HTTP to the live server: bytes copied both ways."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    host, port = server.url.removeprefix("http://").split(":")

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    return await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)


def test_aiowithings_reads_back_what_was_sent(
    live_server: LiveServer, linked: Credentials2, uploaded: Uploaded
) -> None:
    authority = trustme.CA()
    results = asyncio.run(read_with_aiowithings(live_server, authority, linked.access_token, uploaded.started))
    devices, goals, in_period, since, days, days_since, workouts, night, summaries = results
    batch, ids = uploaded.batch, uploaded.ids

    assert [
        (d.device_type, d.battery, d.raw_model, d.device_id, d.hashed_device_id, d.first_session_date)
        for d in devices
    ] == [
        (DeviceType(sent["type"]), DeviceBattery(sent["battery"]) if "battery" in sent else None, sent["model"],
         paired["deviceid"], paired["hash_deviceid"], moment(min(moments_of(batch, paired["deviceid"]))))
        for sent, paired in zip(PAIRINGS, uploaded.devices, strict=True)
    ]  # fmt: skip
    weight_goal = GOALS["weight"]
    assert (goals.steps, goals.sleep, goals.weight) == (
        GOALS["steps"], GOALS["sleep"], weight_goal["value"] * pow(10, weight_goal["unit"])
    )  # fmt: skip

    expected_groups = [
        (grpid, moment(group["date"]), group.get("deviceid"),
         [(m["type"], m["value"] * pow(10, m["unit"])) for m in group["measures"]])
        for grpid, group in zip(ids["grpids"], batch["measure_groups"], strict=True)
    ]  # fmt: skip
    read = [
        (g.group_id, g.taken_at, g.device_id, [(int(m.measurement_type), m.value) for m in g.measurements])
        for g in in_period
    ]
    assert read == expected_groups[:3]  # the objective is dated before the period
    assert all(uploaded.during(g.updated_at) for g in in_period)
    assert [g.group_id for g in since] == ids["grpids"]  # all stored since the upload began
    weights = [m for g in in_period for m in g.measurements if m.measurement_type is MeasurementType.WEIGHT]
    assert [m.value for m in weights] == [
        m["value"] * pow(10, m["unit"]) for g in batch["measure_groups"][:2] for m in g["measures"] if m["type"] == 1
    ]  # 72.35 twice: 7235e-2 and 72351e-3

    # aiowithings' names for Withings' activity fields
    names = {"steps": "steps", "distance": "distance", "total_calories_burnt": "totalcalories",
             "average_heart_rate": "hr_average", "min_heart_rate": "hr_min",
             "duration_heart_rate_maximal_zone": "hr_zone_3"}  # fmt: skip
    for day, sent in zip(days, batch["activity"], strict=True):
        assert (day.date, day.is_withings_tracker) == (date.fromisoformat(sent["date"]), sent.get("is_tracker", True))
        assert {ours: getattr(day, ours) for ours, theirs in names.items() if theirs in sent["data"]} == {
            ours: sent["data"][theirs] for ours, theirs in names.items() if theirs in sent["data"]
        }
    assert len(days) == 2 and days[1].distance == 0  # none sent for the second day
    assert [day.date for day in days_since] == [date.fromisoformat(sent["date"]) for sent in batch["activity"]]

    (workout,) = workouts
    (sent_workout,) = batch["workouts"]
    assert (workout.workout_id, workout.start_date, workout.end_date, workout.date) == (
        ids["workout_ids"][0], moment(sent_workout["startdate"]), moment(sent_workout["enddate"]),
        date.fromisoformat(sent_workout["date"]),
    )  # fmt: skip
    data = sent_workout["data"]
    assert (workout.active_calories_burnt, workout.distance, workout.steps, workout.average_heart_rate) == (
        data["calories"], data["distance"], data["steps"], data["hr_average"]
    )  # fmt: skip

    (session,) = batch["sleep"]
    sleeper = uploaded.devices[2]
    assert session["deviceid"] == sleeper["deviceid"]
    assert [(s.start_date, s.end_date, int(s.state), s.hashed_device_id) for s in night] == [
        (moment(state["startdate"]), moment(state["enddate"]), state["state"], sleeper["hash_deviceid"])
        for state in session["states"]
    ]
    heart_rates = {int(p.time.timestamp()): p.value for s in night for p in (s.heart_rate or [])}
    assert heart_rates == series_of(session, "hr")

    (summary,) = summaries
    local_end = moment(session["enddate"]).astimezone(ZoneInfo(session["timezone"]))
    assert (summary.start_date, summary.end_date, summary.date, summary.hashed_device_id) == (
        moment(session["startdate"]), moment(session["enddate"]), local_end.date(), sleeper["hash_deviceid"]
    )  # fmt: skip
    sent_summary = session["summary"]
    assert (summary.total_sleep_time, summary.sleep_score, summary.sleep_efficiency) == (
        sent_summary["total_sleep_time"], sent_summary["sleep_score"], sent_summary["sleep_efficiency"]
    )  # fmt: skip


async def read_with_aiowithings(
    server: LiveServer, authority: trustme.CA, token: str, uploaded_from: datetime
) -> tuple[Any, ...]:
    front = await tls_front(server, authority.issue_cert(API_HOST))
    port = front.sockets[0].getsockname()[1]
    trust = ssl.create_default_context()
    authority.configure_trust(trust)
    try:
        connector = aiohttp.TCPConnector(resolver=ToTheFront(port), ssl=trust)
        async with aiohttp.ClientSession(connector=connector) as session:
            client = WithingsClient(session=session, api_host=API_HOST)
            client.authenticate(token)
            return (
                await client.get_devices(),
                await client.get_goals(),
                await client.get_measurement_in_period(MORNING - timedelta(hours=1), MORNING + timedelta(days=2)),
                await client.get_measurement_since(uploaded_from),
                await client.get_activities_in_period(date(2026, 11, 19), date(2026, 11, 20)),
                await client.get_activities_since(uploaded_from),
                await client.get_workouts_in_period(date(2026, 11, 19), date(2026, 11, 20)),
                await client.get_sleep(
                    NIGHT_START,
                    NIGHT_END,
                    [SleepDataFields.HEART_RATE, SleepDataFields.RESPIRATION_RATE, SleepDataFields.SNORING],
                ),
                await client.get_sleep_summary_since(uploaded_from),
            )
    finally:
        front.close()
        await front.wait_closed()
