""" "Download my data" (issue #21 item 4) on both engines with a frozen clock: the ZIP of a seeded
account holds its profile, policy, connected app, devices and every live record, the CSV files in
kg, lb and st/lb with exact numbers and the records' own time zones, and a JSON copy that reads
back equal to what was stored. A large account's export is queued (one at a time), built once by
a worker under a lease, mailed (a real SMTP server) with a link that works a day for its owner
only, then pruned; deleting the account deletes its exports."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.conftest import ContainerFactory, Mailbox, text_of
from tests.flows.test_health_ingest import PROFILE
from tests.health_seed import MORNING, NIGHT_END, NIGHT_START, Seeded, add_group, epoch, seed
from vitalkey.adapters.clock import FrozenClock
from vitalkey.adapters.mail.senders import SmtpSender
from vitalkey.container import Container
from vitalkey.domain.apps import ClientType
from vitalkey.domain.dashboard import DashboardPrefs, DisplayUnits
from vitalkey.domain.data_exports import (
    ExportExpired,
    ExportFailed,
    ExportInProgress,
    ExportNotFound,
    ExportNotReady,
    ExportStatus,
)
from vitalkey.domain.health import AfibResult, Attrib, Category, Measure
from vitalkey.flows.clients import NewClient
from vitalkey.flows.data_export import ExportWorker, collect
from vitalkey.flows.export_format import (
    ExportDocument,
    ExportedApp,
    ExportedConsent,
    ExportedDevice,
    ExportedGoals,
    from_json,
)
from vitalkey.flows.health_ingest import (
    NewActivityDay,
    NewBloodPressure,
    NewGroup,
    NewHeartRecording,
    NewMeasure,
    NewSample,
    NewSleepSession,
    NewSleepState,
    NewWorkout,
)

EMAIL = "ann.export@example.org"
SCOPES = ("user.info", "user.metrics")


def make_account(container: Container, email: str = EMAIL) -> int:
    with container.uow.begin() as tx:
        made = tx.accounts.create(email, email, "en", PROFILE, "2026-01", container.clock.now())
        assert made is not None
        return made.id


def seeded_account(container: Container) -> tuple[int, Seeded, str]:
    account_id = make_account(container)
    seeded = seed(container, account_id)
    client_id = container.apps.register(
        NewClient("Fit Portal", ClientType.CONFIDENTIAL, ("https://p.example/cb",), SCOPES)
    ).app.client_id
    with container.uow.begin() as tx:
        tx.consents.allow(account_id, client_id, SCOPES, container.clock.now())
    return account_id, seeded, client_id


def export_zip(container: Container, account_id: int) -> dict[str, bytes]:
    requested = asyncio.run(container.data_exports.request(account_id))
    assert requested.export.status is ExportStatus.READY and requested.content is not None
    with zipfile.ZipFile(io.BytesIO(requested.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rows(files: dict[str, bytes], name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(files[name].decode())))


def test_the_zip_holds_the_account_and_its_records_in_kg(container: Container) -> None:
    account_id, _, client_id = seeded_account(container)
    files = export_zip(container, account_id)
    assert list(files) == [
        "vitalkey.json", "profile.csv", "connected_apps.csv", "devices.csv", "weight.csv", "blood_pressure.csv",
        "heart_rate.csv", "activity.csv", "workouts.csv", "sleep.csv", "heart_recordings.csv", "intraday.csv",
    ]  # fmt: skip

    # Two weigh-ins at the same second (Paris time), the objective left to the JSON copy.
    assert rows(files, "weight.csv") == [
        {"Date": "2026-11-20T08:30:00+01:00", "Weight (kg)": "72.35", "Fat ratio (%)": "21.5", "Fat mass (kg)": "",
         "Fat-free mass (kg)": "", "Muscle mass (kg)": "54.12", "Hydration (kg)": "", "Bone mass (kg)": "",
         "Device": "Body+", "Comment": ""},
        {"Date": "2026-11-20T08:30:00+01:00", "Weight (kg)": "72.351", "Fat ratio (%)": "", "Fat mass (kg)": "",
         "Fat-free mass (kg)": "", "Muscle mass (kg)": "", "Hydration (kg)": "", "Bone mass (kg)": "",
         "Device": "Body+", "Comment": "after run"},
    ]  # fmt: skip
    assert rows(files, "blood_pressure.csv") == [
        {"Date": "2026-11-21T02:30:00-05:00", "Systolic (mmHg)": "121", "Diastolic (mmHg)": "80",
         "Heart rate (bpm)": "64", "Device": "ScanWatch"}
    ]  # fmt: skip
    [day1, day2] = rows(files, "activity.csv")
    assert (day1["Date"], day1["Steps"], day1["Distance (m)"], day1["Total calories (kcal)"]) == (
        "2026-11-19", "10234", "7812.5", "2480.5",
    )  # fmt: skip
    assert (day2["Date"], day2["Steps"], day2["Distance (m)"]) == ("2026-11-20", "812", "")
    [workout] = rows(files, "workouts.csv")
    assert (workout["Start"], workout["End"], workout["Duration (s)"], workout["Calories (kcal)"]) == (
        "2026-11-20T01:30:00-05:00", "2026-11-20T02:10:00-05:00", "2400", "320",
    )  # fmt: skip
    [night] = rows(files, "sleep.csv")
    assert (night["Start"], night["End"], night["Deep sleep (s)"], night["Sleep score"]) == (
        "2026-11-20T07:00:00+09:00", "2026-11-20T15:00:00+09:00", "7200", "84",
    )  # fmt: skip
    assert night["Sleep efficiency"] == "0.96"
    [ecg] = rows(files, "heart_recordings.csv")
    assert ecg == {
        "Date": "2026-11-20T10:30:00+01:00", "Heart rate (bpm)": "66", "Atrial fibrillation": "negative",
        "Systolic (mmHg)": "118", "Diastolic (mmHg)": "79", "Sampling frequency (Hz)": "500", "Samples": "6",
        "Device": "ScanWatch",
    }  # fmt: skip
    intraday = rows(files, "intraday.csv")
    assert [(r["Date"], r["steps"], r["heart_rate"]) for r in intraday] == [
        ("2026-11-20T02:30:00-05:00", "20", ""), ("2026-11-20T02:31:00-05:00", "21", ""),
        ("2026-11-20T02:32:00-05:00", "22", ""), ("2026-11-20T02:35:00-05:00", "", "88"),
    ]  # fmt: skip

    profile = {row["Field"]: row["Value"] for row in rows(files, "profile.csv")}
    assert profile["Email"] == EMAIL
    assert profile["First name"] == "Ann" and profile["Height"] == "168 cm"
    assert profile["Privacy policy version"] == "2026-01"
    assert profile["Privacy policy accepted"] == "2026-01-15T09:00:00+00:00"
    assert profile["Steps goal"] == "12000" and profile["Weight goal (kg)"] == "70.5"
    [app] = rows(files, "connected_apps.csv")
    assert (app["App"], app["Client id"], app["Allowed to read"]) == ("Fit Portal", client_id, "user.info user.metrics")
    assert [(d["Device"], d["Model"]) for d in rows(files, "devices.csv")] == [
        ("d1", "Body+"), ("d2", "ScanWatch"), ("d3", "Sleep Analyzer"),
    ]  # fmt: skip


def test_the_csv_files_in_pounds_and_in_stones(container: Container) -> None:
    account_id, _, _ = seeded_account(container)
    with container.uow.begin() as tx:
        tx.dashboard_prefs.set(account_id, DashboardPrefs(units=DisplayUnits.US))
    add_group(container, account_id, MORNING + timedelta(days=3), (Measure(71, 372, -1), Measure(8, 15125, -3)))
    us = export_zip(container, account_id)
    [first, second, third] = rows(us, "weight.csv")
    # 72.35 kg = 159.5045… lb, 54.12 kg = 119.3142… lb, 15.125 kg = 33.3448… lb: to the hundredth.
    assert (first["Weight (lb)"], first["Muscle mass (lb)"], first["Fat ratio (%)"]) == ("159.5", "119.31", "21.5")
    assert second["Weight (lb)"] == "159.51"
    assert (third["Weight (lb)"], third["Fat mass (lb)"]) == ("", "33.34")
    assert rows(us, "temperature.csv") == [
        {"Date": "2026-11-23T08:30:00+01:00", "Body temperature (°F)": "98.96", "Skin temperature (°F)": "",
         "Temperature (°F)": "", "Device": ""}
    ]  # fmt: skip
    assert {r["Field"]: r["Value"] for r in rows(us, "profile.csv")}["Weight goal (lb)"] == "155.43"

    with container.uow.begin() as tx:
        tx.dashboard_prefs.set(account_id, DashboardPrefs(units=DisplayUnits.UK))
    uk = export_zip(container, account_id)
    [first, second, third] = rows(uk, "weight.csv")
    # 159.5 lb = 11 st 5.5 lb; the other masses in pounds (as the dashboard's st/lb chart)
    assert (first["Weight (st)"], first["Weight (lb)"], first["Muscle mass (lb)"]) == ("11", "5.5", "119.31")
    assert rows(uk, "temperature.csv")[0]["Body temperature (°C)"] == "37.2"
    assert {r["Field"]: r["Value"] for r in rows(uk, "profile.csv")}["Height"] == "5 ft 6 in"


def test_the_json_copy_reads_back_equal_to_what_was_stored(container: Container) -> None:
    account_id, seeded, client_id = seeded_account(container)
    files = export_zip(container, account_id)
    document = from_json(files["vitalkey.json"])
    now = container.clock.now()
    assert isinstance(document, ExportDocument)
    assert document.exported_at == now
    assert (document.profile.email, document.profile.first_name, document.profile.display_units) == (
        EMAIL, "Ann", "metric",
    )  # fmt: skip
    assert document.consents == (ExportedConsent("2026-01", now),)
    assert document.connected_apps == (ExportedApp(client_id, "Fit Portal", SCOPES, now, None, False),)
    assert document.goals == ExportedGoals(12000, 27000, NewMeasure(1, 70500, -3))
    paired = MORNING - timedelta(days=30)
    assert document.devices == (
        ExportedDevice("d1", "Scale", "Body+", 13, "Europe/Paris", "high", paired, paired, MORNING),
        ExportedDevice("d2", "Activity Tracker", "ScanWatch", 93, "America/New_York", "medium", paired, paired, MORNING),
        ExportedDevice("d3", "Sleep Monitor", "Sleep Analyzer", 63, "Asia/Tokyo", "unknown", paired, paired, MORNING),
    )  # fmt: skip
    at = epoch(MORNING)
    assert document.measure_groups == (
        NewGroup(at - 2 * 86400, (NewMeasure(1, 68, 0),), Category.OBJECTIVE, Attrib.DEVICE, "Europe/Paris", None),
        NewGroup(
            at, (NewMeasure(1, 7235, -2), NewMeasure(6, 2150, -2), NewMeasure(76, 5412, -2)), 1, 0, "Europe/Paris", "d1"
        ),
        NewGroup(at, (NewMeasure(1, 72351, -3),), 1, Attrib.MANUAL, "Europe/Paris", "d1", "after run"),
        NewGroup(
            at + 86400, (NewMeasure(9, 80, 0), NewMeasure(10, 121, 0), NewMeasure(11, 64, 0)), 1, 0,
            "America/New_York", "d2",
        ),
    )  # fmt: skip
    [day1, day2] = document.activity
    assert day1 == NewActivityDay(date(2026, 11, 19), dict(seeded.days[0].data), "America/New_York", "d2")
    assert day2 == NewActivityDay(date(2026, 11, 20), {"steps": 812, "totalcalories": 1630}, "America/New_York",
                                  "d2", brand=18, is_tracker=False)  # fmt: skip
    assert document.workouts == (
        NewWorkout(2, at - 3600, at - 1200, dict(seeded.workouts[0].data), date(2026, 11, 20), "America/New_York",
                   "d2", Attrib.DEVICE),
    )  # fmt: skip
    start = epoch(NIGHT_START)
    assert document.sleep == (
        NewSleepSession(
            start, epoch(NIGHT_END),
            (NewSleepState(start, start + 1200, 0), NewSleepState(start + 1200, start + 3 * 3600, 1),
             NewSleepState(start + 3 * 3600, start + 5 * 3600, 2), NewSleepState(start + 5 * 3600, epoch(NIGHT_END), 3)),
            {"hr": {start + 60: 64, start + 4 * 3600: 52, start + 7 * 3600: 58},
             "rr": {start + 60: 15, start + 4 * 3600: 12}, "snoring": {start + 4 * 3600 + 60: 1}},
            dict(seeded.sessions[0].summary), "Asia/Tokyo", "d3", True,
        ),
    )  # fmt: skip
    assert document.heart == (
        NewHeartRecording(at + 7200, 66, AfibResult.NEGATIVE, (12, -40, 350, -7, 0, 15), 500, 1, "Europe/Paris", "d2",
                          NewBloodPressure(118, 79)),
    )  # fmt: skip
    steps = [NewSample(at + 60 * m, "d2", {"steps": 20 + m}) for m in range(3)]
    assert document.intraday == (*steps, NewSample(at + 300, "d2", {"heart_rate": 88}))
    with container.uow.read() as tx:  # what the JSON says is what collect reads
        assert document == collect(tx, account_id, now)


def test_unpaired_devices_stay_when_a_record_names_them(container: Container) -> None:
    account_id, seeded, _ = seeded_account(container)
    now = container.clock.now()
    with container.uow.begin() as tx:
        tx.devices.unpair(account_id, seeded.scale.deviceid, now)  # its weigh-ins remain
        for group in seeded.groups:
            if group.deviceid == seeded.sleep_monitor.deviceid:
                tx.measure_groups.delete(account_id, group.grpid, now)
        tx.sleep.delete(account_id, seeded.sessions[0].id, now)
        tx.devices.unpair(account_id, seeded.sleep_monitor.deviceid, now)  # nothing live names it any more
    with container.uow.read() as tx:
        document = collect(tx, account_id, now)
    assert [(d.ref, d.model) for d in document.devices] == [("d1", "Body+"), ("d2", "ScanWatch")]
    assert document.sleep == ()


@pytest.fixture
def mailed(make_container: ContainerFactory, clock: FrozenClock, smtp_sender: SmtpSender) -> Container:
    return make_container(clock=clock, sender=smtp_sender, export_inline_limit=5)


def build_all(container: Container) -> None:
    async def rounds() -> None:
        while await container.export_worker.run_once():
            pass
        await container.relay.run_once()

    asyncio.run(rounds())


def test_a_large_account_is_built_in_the_background_and_mailed_with_a_link_that_lasts_a_day(
    mailed: Container, clock: FrozenClock, mailbox: Mailbox
) -> None:
    account_id, _, _ = seeded_account(mailed)  # 4 groups, 2 days, 1 workout, 1 night, 1 ECG, 4 samples
    other = make_account(mailed, "someone.else@example.org")
    requested = asyncio.run(mailed.data_exports.request(account_id))
    export = requested.export
    assert (export.status, requested.content) == (ExportStatus.PENDING, None)
    with pytest.raises(ExportInProgress):  # one at a time
        asyncio.run(mailed.data_exports.request(account_id))
    with pytest.raises(ExportNotReady):
        mailed.data_exports.download(account_id, export.id)

    build_all(mailed)
    mail = mailbox.wait_for(EMAIL)
    assert mail["Subject"] == "Your VitalKey data is ready to download"
    text = text_of(mail)
    link = f"{mailed.settings.public_url.rstrip('/')}/account/data/export/{export.id}"
    assert link in text
    assert "2026-01-16 09:00 UTC" in text  # a day from now
    assert re.search(r"^Hello Ann,", text, re.M)

    download = mailed.data_exports.download(account_id, export.id)
    assert download.export.records == 13 and download.export.status is ExportStatus.READY
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert from_json(archive.read("vitalkey.json")).profile.email == EMAIL
        assert "weight.csv" in archive.namelist()
    with pytest.raises(ExportNotFound):  # only for its owner
        mailed.data_exports.download(other, export.id)
    with pytest.raises(ExportNotFound):
        mailed.data_exports.download(account_id, "not-an-export")

    clock.advance(hours=24)
    with pytest.raises(ExportExpired):
        mailed.data_exports.download(account_id, export.id)
    mailed.export_worker._next_prune = clock.now()  # the hourly prune, now
    build_all(mailed)
    with mailed.uow.read() as tx:
        assert tx.data_exports.content(export.id) is None  # the ZIP is gone, the link says "expired"
        assert tx.data_exports.get(export.id) is not None
    clock.advance(days=7)
    mailed.export_worker._next_prune = clock.now()
    build_all(mailed)
    with mailed.uow.read() as tx:
        assert tx.data_exports.get(export.id) is None
    with pytest.raises(ExportNotFound):
        mailed.data_exports.download(account_id, export.id)


def test_two_workers_never_build_one_export_and_a_lost_lease_is_taken_over(
    mailed: Container, clock: FrozenClock
) -> None:
    account_id, _, _ = seeded_account(mailed)
    asyncio.run(mailed.data_exports.request(account_id))
    first, second = mailed.export_worker, ExportWorker(mailed.data_exports)
    claimed = first._claim()
    assert claimed is not None
    assert second._claim() is None  # leased to the first
    clock.advance(seconds=61)  # the first died: its lease ran out
    taken = second._claim()
    assert taken is not None and taken.id == claimed.id
    assert not first._finish(claimed, first._build(account_id))  # no longer the first's
    assert second._finish(taken, second._build(account_id))
    assert mailed.data_exports.download(account_id, taken.id).export.status is ExportStatus.READY


def test_asking_again_replaces_the_ready_download_and_deleting_the_account_deletes_its_exports(
    container: Container,
) -> None:
    account_id, _, _ = seeded_account(container)
    first = asyncio.run(container.data_exports.request(account_id)).export
    second = asyncio.run(container.data_exports.request(account_id)).export
    with pytest.raises(ExportNotFound):
        container.data_exports.download(account_id, first.id)
    assert container.data_exports.download(account_id, second.id).content.startswith(b"PK")
    with container.uow.begin() as tx:
        assert tx.accounts.delete(account_id)
    with container.uow.read() as tx:
        assert tx.data_exports.get(second.id) is None


def test_an_empty_account_exports_its_profile_and_empty_files(container: Container) -> None:
    account_id = make_account(container)
    files = export_zip(container, account_id)
    assert list(files) == [
        "vitalkey.json", "profile.csv", "connected_apps.csv", "devices.csv", "weight.csv", "blood_pressure.csv",
        "activity.csv", "workouts.csv", "sleep.csv",
    ]  # fmt: skip
    assert files["weight.csv"].decode().splitlines() == [
        "Date,Weight (kg),Fat ratio (%),Fat mass (kg),Fat-free mass (kg),Muscle mass (kg),Hydration (kg),"
        "Bone mass (kg),Device,Comment"
    ]
    document = from_json(files["vitalkey.json"])
    assert document.measure_groups == () and document.devices == ()
    assert document.exported_at == datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def test_a_build_that_keeps_failing_is_given_up_and_a_new_one_can_be_asked_for(
    mailed: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    account_id, _, _ = seeded_account(mailed)
    export = asyncio.run(mailed.data_exports.request(account_id)).export

    def broken(owner: int) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(mailed.export_worker, "_build", broken)
    for attempt in range(1, 4):
        assert asyncio.run(mailed.export_worker.run_once())
        latest = mailed.data_exports.latest(account_id)
        assert latest is not None and latest.attempts == attempt
    assert latest.status is ExportStatus.FAILED and latest.expires == mailed.clock.now() + timedelta(days=1)
    assert not asyncio.run(mailed.export_worker.run_once())  # given up: nothing left to build
    with pytest.raises(ExportFailed):
        mailed.data_exports.download(account_id, export.id)
    monkeypatch.undo()
    again = asyncio.run(mailed.data_exports.request(account_id)).export
    assert again.status is ExportStatus.PENDING and again.id != export.id
    build_all(mailed)
    assert mailed.data_exports.download(account_id, again.id).export.records == 13
