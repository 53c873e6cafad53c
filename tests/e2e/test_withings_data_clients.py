"""Real Withings clients read a user's health data from a live ``vitalkey serve`` process,
unmodified but for their base URL: withings-api 2.4.0, withings-sync 6.1.0 and aiowithings (the
client Home Assistant uses). The user links the partner app on the consent page (``WebUser``), the
data is stored through the repositories (what the companion app's ingestion stores), and each
client must read back exactly that: values and units, dates, time zones, device ids.

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
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

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

from tests.conftest import LiveServer, Mailbox, make_settings
from tests.e2e.live_oauth import WebUser, query_of, register, sign_up
from tests.health_seed import MORNING, NIGHT_END, NIGHT_START, Seeded, seed
from vitalkey.container import build

EMAIL = "ann@example.org"
CALLBACK = "https://portal.example.com/withings/callback"
API_HOST = "withings.test"


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
def linked(
    live_server: LiveServer, sqlite_url: str, user: WebUser, monkeypatch: pytest.MonkeyPatch, closer: ExitStack
) -> Credentials2:
    """withings-api's own link (authorize, consent, code exchange) for the three data scopes."""
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
    return auth.get_credentials(query_of(user.link(auth.get_authorize_url()))["code"])


@pytest.fixture
def stored(tmp_path: Path, sqlite_url: str, linked: Credentials2) -> Seeded:
    """The user's data, stored in the live server's database."""
    container = build(make_settings(tmp_path / "seeding", sqlite_url))
    try:
        return seed(container, linked.userid)
    finally:
        container.close()


# withings-api --------------------------------------------------------------------------------
def test_withings_api_reads_back_what_was_stored(linked: Credentials2, stored: Seeded, closer: ExitStack) -> None:
    api = WithingsApi(linked)
    closer.callback(api._client.close)

    devices = api.user_get_device().devices
    assert [(d.type, d.model, d.battery, d.deviceid, d.timezone) for d in devices] == [
        ("Scale", "Body+", "high", stored.scale.deviceid, tz.gettz("Europe/Paris")),
        ("Activity Tracker", "ScanWatch", "medium", stored.tracker.deviceid, tz.gettz("America/New_York")),
        ("Sleep Monitor", "Sleep Analyzer", "unknown", stored.sleep_monitor.deviceid, tz.gettz("Asia/Tokyo")),
    ]

    # Its lastupdate defaults to when it was imported; the window is what it asks for.
    meas = api.measure_get_meas(startdate=MORNING - timedelta(days=3), enddate=MORNING + timedelta(days=2))
    assert meas.timezone == tz.gettz("Europe/Paris") and meas.more is False and meas.offset == 0
    groups = [
        (g.grpid, g.date, g.created, g.attrib.value, g.category.value, g.deviceid,
         [(m.type, m.value, m.unit) for m in g.measures])
        for g in meas.measuregrps
    ]  # fmt: skip
    assert groups == [
        (
            g.grpid, arrow.get(g.date), arrow.get(g.created), g.attrib.value, g.category.value, g.deviceid,
            [(MeasureType(m.type), m.value, m.unit) for m in g.measures],
        )
        for g in stored.groups
    ]  # fmt: skip

    activity = api.measure_get_activity(startdateymd=date(2026, 11, 19), enddateymd=date(2026, 11, 20))
    assert activity.more is False and activity.offset == 0
    first, second = activity.activities
    assert first.date == arrow.get("2026-11-19") and first.timezone == tz.gettz("America/New_York")
    assert (first.steps, first.distance, first.calories, first.totalcalories) == (10234, 7812.5, 512.25, 2480.5)
    assert (first.hr_average, first.hr_min, first.hr_max, first.hr_zone_3) == (71, 52, 151, 60)
    assert (first.deviceid, first.brand, first.is_tracker) == (stored.tracker.deviceid, 1, True)
    assert (second.steps, second.totalcalories, second.brand, second.is_tracker) == (812, 1630, 18, False)

    night = api.sleep_get(
        data_fields=(GetSleepField.HR, GetSleepField.RR, GetSleepField.SNORING),
        startdate=NIGHT_START,
        enddate=NIGHT_END,
    )
    assert night.model is SleepModel.SLEEP_MONITOR
    session = stored.sessions[0]
    assert [(s.state, s.startdate, s.enddate) for s in night.series] == [
        (SleepState(int(state.state)), arrow.get(state.startdate), arrow.get(state.enddate)) for state in session.states
    ]
    for name in ("hr", "rr", "snoring"):
        read = {item.timestamp.int_timestamp: item.value for serie in night.series for item in getattr(serie, name)}
        assert read == dict(session.series[name]), name

    summary = api.sleep_get_summary(
        data_fields=tuple(GetSleepSummaryField), startdateymd=date(2026, 11, 20), enddateymd=date(2026, 11, 20)
    )
    assert summary.more is False and summary.offset == 0
    (serie,) = summary.series
    assert serie.timezone == tz.gettz("Asia/Tokyo") and serie.model is SleepModel.SLEEP_MONITOR
    assert (serie.startdate, serie.enddate) == (arrow.get(NIGHT_START), arrow.get(NIGHT_END))
    assert serie.date.format("YYYY-MM-DD") == "2026-11-20" and serie.id == session.id
    assert (serie.data.lightsleepduration, serie.data.deepsleepduration, serie.data.sleep_score) == (9600, 7200, 84)
    assert (serie.data.remsleepduration, serie.data.wakeupcount, serie.data.hr_average) == (10800, 1, 57)

    hearts = api.heart_list(startdate=MORNING, enddate=MORNING + timedelta(days=1))
    assert hearts.more is False and hearts.offset == 0
    (ecg,) = hearts.series
    recording = stored.recordings[0]
    assert (ecg.ecg.signalid, ecg.ecg.afib, ecg.heart_rate) == (recording.signalid, AfibClassification.NEGATIVE, 66)
    assert ecg.timestamp == arrow.get(recording.at) and ecg.deviceid == stored.tracker.deviceid
    assert ecg.bloodpressure is not None and (ecg.bloodpressure.systole, ecg.bloodpressure.diastole) == (118, 79)
    signal = api.heart_get(recording.signalid)
    assert (signal.signal, signal.sampling_frequency, signal.wearposition.value) == ((12, -40, 350, -7, 0, 15), 500, 1)


# withings-sync -------------------------------------------------------------------------------
def test_withings_sync_downloads_both_groups_of_the_same_second(
    live_server: LiveServer,
    linked: Credentials2,
    stored: Seeded,
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

    groups = account.get_measurements(epoch_of(MORNING - timedelta(days=1)), epoch_of(MORNING + timedelta(hours=1)))
    assert [(g.grpid, g.date, g.attrib, g.category) for g in groups] == [
        (g.grpid, epoch_of(MORNING), g.attrib.value, 1) for g in stored.groups[:2]
    ]
    assert groups[0].date == groups[1].date  # the same second, both kept
    assert [g.get_weight() for g in groups] == [72.35, 72.35]  # 7235e-2 and 72351e-3, rounded by the client
    assert [(m.type, m.value, m.unit) for m in groups[0]] == [(1, 7235, -2), (6, 2150, -2), (76, 5412, -2)]
    assert [(m.type, m.value, m.unit) for m in groups[1]] == [(1, 72351, -3)]
    assert groups[0].get_fat_ratio() == 21.5 and groups[0].get_muscle_mass() == 54.12


def epoch_of(moment: datetime) -> int:
    return int(moment.timestamp())


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


def test_aiowithings_reads_back_what_was_stored(live_server: LiveServer, linked: Credentials2, stored: Seeded) -> None:
    authority = trustme.CA()
    results = asyncio.run(read_with_aiowithings(live_server, authority, linked.access_token))
    devices, goals, in_period, since, days, days_since, workouts, night, summaries = results

    assert [
        (d.device_type, d.battery, d.raw_model, d.device_id, d.hashed_device_id, d.first_session_date)
        for d in devices
    ] == [
        (DeviceType.SCALE, DeviceBattery.HIGH, "Body+", stored.scale.deviceid, stored.scale.hash_deviceid,
         stored.scale.first_session),
        (DeviceType.ACTIVITY_TRACKER, DeviceBattery.MEDIUM, "ScanWatch", stored.tracker.deviceid,
         stored.tracker.hash_deviceid, stored.tracker.first_session),
        (DeviceType.SLEEP_MONITOR, None, "Sleep Analyzer", stored.sleep_monitor.deviceid,
         stored.sleep_monitor.hash_deviceid, stored.sleep_monitor.first_session),
    ]  # fmt: skip
    assert (goals.steps, goals.sleep, goals.weight) == (12000, 27000, 70500 * pow(10, -3))

    expected_groups = [
        (g.grpid, g.date, g.modified, g.deviceid, [(m.type, m.value * pow(10, m.unit)) for m in g.measures])
        for g in stored.groups
    ]
    read = [
        (g.group_id, g.taken_at, g.updated_at, g.device_id,
         [(int(m.measurement_type), m.value) for m in g.measurements])
        for g in in_period
    ]  # fmt: skip
    assert read == expected_groups[:3]  # the objective is dated before the period
    assert [g.group_id for g in since] == [g.grpid for g in stored.groups[:3]]  # modified after MORNING - 1 h
    weights = [m for g in in_period for m in g.measurements if m.measurement_type is MeasurementType.WEIGHT]
    assert [m.value for m in weights] == [7235 * pow(10, -2), 72351 * pow(10, -3)]

    first, second = days
    assert (first.date, first.steps, first.distance, first.total_calories_burnt) == (
        date(2026, 11, 19), 10234, 7812.5, 2480.5
    )  # fmt: skip
    assert (first.average_heart_rate, first.min_heart_rate, first.duration_heart_rate_maximal_zone) == (71, 52, 60)
    assert (second.date, second.steps, second.distance, second.is_withings_tracker) == (
        date(2026, 11, 20), 812, 0, False
    )  # fmt: skip
    assert [day.date for day in days_since] == [date(2026, 11, 19), date(2026, 11, 20)]

    (workout,) = workouts
    stored_workout = stored.workouts[0]
    assert (workout.workout_id, workout.start_date, workout.end_date, workout.date) == (
        stored_workout.id, stored_workout.startdate, stored_workout.enddate, date(2026, 11, 20)
    )  # fmt: skip
    assert (workout.active_calories_burnt, workout.distance, workout.steps, workout.average_heart_rate) == (
        320, 6100, 7020, 148
    )  # fmt: skip

    session = stored.sessions[0]
    assert [(s.start_date, s.end_date, int(s.state), s.hashed_device_id) for s in night] == [
        (state.startdate, state.enddate, int(state.state), stored.sleep_monitor.hash_deviceid)
        for state in session.states
    ]
    heart_rates = {int(p.time.timestamp()): p.value for s in night for p in (s.heart_rate or [])}
    assert heart_rates == dict(session.series["hr"])

    (summary,) = summaries
    assert (summary.start_date, summary.end_date, summary.date, summary.hashed_device_id) == (
        NIGHT_START, NIGHT_END, date(2026, 11, 20), stored.sleep_monitor.hash_deviceid
    )  # fmt: skip
    assert (summary.total_sleep_time, summary.sleep_score, summary.sleep_efficiency) == (27600, 84, 0.96)


async def read_with_aiowithings(server: LiveServer, authority: trustme.CA, token: str) -> tuple[Any, ...]:
    front = await tls_front(server, authority.issue_cert(API_HOST))
    port = front.sockets[0].getsockname()[1]
    trust = ssl.create_default_context()
    authority.configure_trust(trust)
    since = MORNING - timedelta(hours=1)
    try:
        connector = aiohttp.TCPConnector(resolver=ToTheFront(port), ssl=trust)
        async with aiohttp.ClientSession(connector=connector) as session:
            client = WithingsClient(session=session, api_host=API_HOST)
            client.authenticate(token)
            return (
                await client.get_devices(),
                await client.get_goals(),
                await client.get_measurement_in_period(MORNING - timedelta(hours=1), MORNING + timedelta(days=2)),
                await client.get_measurement_since(since),
                await client.get_activities_in_period(date(2026, 11, 19), date(2026, 11, 20)),
                await client.get_activities_since(since - timedelta(days=1)),
                await client.get_workouts_in_period(date(2026, 11, 19), date(2026, 11, 20)),
                await client.get_sleep(
                    NIGHT_START,
                    NIGHT_END,
                    [SleepDataFields.HEART_RATE, SleepDataFields.RESPIRATION_RATE, SleepDataFields.SNORING],
                ),
                await client.get_sleep_summary_since(NIGHT_START - timedelta(days=1)),
            )
    finally:
        front.close()
        await front.wait_closed()
