"""Importing history (flows/data_import.py, flows/withings_export.py) against real storage on both
engines: a Withings export's ZIP and single CSV files built from the documented headers (a
byte-order mark, extra columns, empty cells, comma decimals, a future date, an implausible weight,
an unreadable row), a VitalKey export round trip, importing twice, overlapping files, and files
refused for their size. Values are read back through the repositories."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.flows.test_health_ingest import NOW, account
from vitalkey.container import Container
from vitalkey.domain.health import Attrib, MeasureFilter, Page, Window
from vitalkey.flows.data_import import (
    ArchiveTooLarge,
    DataImport,
    ImportLimits,
    ImportReport,
    ImportTooLarge,
    UnreadableImport,
)
from vitalkey.flows.export_format import (
    JSON_NAME,
    ExportDocument,
    ExportedDevice,
    ExportedGoals,
    ExportedProfile,
    to_json,
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
from vitalkey.flows.withings_export import decimal_of, exact

PARIS = "Europe/Paris"

WEIGHT_CSV = (
    "\ufeff"
    '"Date","Weight (kg)","Fat mass (kg)","Bone mass (kg)","Muscle mass (kg)","Hydration (kg)","Comments","Extra"\n'
    '"2026-01-10 07:30:00","72.35","14.2","3.1","35.8","40.1","after a run","x"\n'
    '"2026-01-11 07:31:00","72,5","","","","","",""\n'
    '"2099-03-01 07:00:00","71.0","","","","","",""\n'  # in the future (the clock says 2026-01-15)
    '"2026-01-12 07:00:00","950","","","","","",""\n'  # no one weighs 950 kg
    '"yesterday","70","","","","","",""\n'
    '"2026-01-13 07:00:00","","","","","","",""\n'
)
BP_CSV = (
    "Date,Heart rate,Systolic,Diastolic,Comments\n"
    "2026-01-10T08:00:00+01:00,64,121,79,\n"
    "2026-01-12 20:15,,118,76,evening\n"
)
STEPS_CSV = "date,value\n2026-01-10,8412\n2026-01-11,10233\n"
DISTANCE_CSV = "date,value\n2026-01-10,6012.5\n"
EARNED_CSV = "date,value\n2026-01-10,310\n"
PASSIVE_CSV = "date,value\n2026-01-10,1650\n"
SLEEP_CSV = (
    "from,to,light (s),deep (s),rem (s),awake (s),Duration to sleep (s),Duration to wake up (s),"
    "Snoring (s),Snoring episodes,Average heart rate,Heart rate (min),Heart rate (max)\n"
    "2026-01-10T23:10:00+01:00,2026-01-11T06:50:00+01:00,14400,5400,7200,600,420,300,120,3,56,48,71\n"
)
ACTIVITIES_CSV = (
    "from,to,from (manual),to (manual),Timezone,Activity type,Data,GPS,Modified\n"
    "2026-01-09T18:00:00+01:00,2026-01-09T18:45:00+01:00,,,Europe/Paris,Running,"
    '"{""calories"":412.5,""distance"":7200,""steps"":6100,""hr_average"":151,""device_startdate"":1}",,\n'
)


def withings_zip(**more: str) -> bytes:
    files = {
        "weight.csv": WEIGHT_CSV,
        "bp.csv": BP_CSV,
        "aggregates_steps.csv": STEPS_CSV,
        "aggregates_distance.csv": DISTANCE_CSV,
        "aggregates_calories_earned.csv": EARNED_CSV,
        "aggregates_calories_passive.csv": PASSIVE_CSV,
        "sleep.csv": SLEEP_CSV,
        "activities.csv": ACTIVITIES_CSV,
        "raw_tracker_steps.csv": "start,duration,value\n",  # not imported
        **more,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(f"data_PET_123/{name}", text.encode())
    return buffer.getvalue()


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def groups(container: Container, owner: int) -> dict[int, set[tuple[int, int, int]]]:
    with container.uow.read() as tx:
        found = tx.measure_groups.find(owner, Window(), MeasureFilter(), Page(limit=1000))
    return {int(g.date.timestamp()): {(m.type, m.value, m.unit) for m in g.measures} for g in found}


def stored(container: Container, owner: int) -> dict[str, list[Any]]:
    with container.uow.read() as tx:
        return {
            "groups": tx.measure_groups.find(owner, Window(), MeasureFilter(), Page(limit=1000)),
            "activity": tx.activity.find(owner, Window(), Page(limit=1000)),
            "workouts": tx.workouts.find(owner, Window(), Page(limit=1000)),
            "sleep": tx.sleep.find(owner, Window(), Page(limit=1000)),
            "heart": tx.heart.find(owner, Window(), Page(limit=1000)),
            "intraday": tx.intraday.between(owner, NOW - timedelta(days=400), NOW, 1000),
        }


@pytest.fixture
def ann(container: Container) -> int:
    return account(container, "ann@example.org")


# Withings ---------------------------------------------------------------------------------------
def test_decimals_are_exact() -> None:
    assert exact(Decimal("72.35")) == (7235, -2)
    assert exact(Decimal("72.50")) == (725, -1)
    assert exact(Decimal("1650")) == (165, 1)
    assert decimal_of("72,5") == Decimal("72.5")
    assert decimal_of("") is None


def test_a_withings_zip_is_imported_with_exact_values_and_bad_rows_reported(container: Container, ann: int) -> None:
    report = container.data_import.import_file(ann, "withings.zip", withings_zip(), PARIS)

    assert report.source == "withings"
    assert report.imported == {
        "measure_groups": 4,
        "activity": 2,
        "intraday": 0,
        "workouts": 1,
        "sleep": 1,
        "heart": 0,
    }
    assert report.skipped_counts == {"unreadable_date": 1, "empty_row": 1, "in_future": 1, "implausible_value": 1}
    assert [(s.file, s.line, s.error.code) for s in report.skipped] == [
        ("data_PET_123/weight.csv", 6, "unreadable_date"),
        ("data_PET_123/weight.csv", 7, "empty_row"),
        ("data_PET_123/weight.csv", 4, "in_future"),
        ("data_PET_123/weight.csv", 5, "implausible_value"),
    ]
    assert report.ignored_files == ["data_PET_123/raw_tracker_steps.csv"]

    assert groups(container, ann) == {
        epoch("2026-01-10T07:30:00+01:00"): {(1, 7235, -2), (8, 142, -1), (88, 31, -1), (76, 358, -1), (77, 401, -1)},
        epoch("2026-01-11T07:31:00+01:00"): {(1, 725, -1)},
        epoch("2026-01-10T08:00:00+01:00"): {(11, 64, 0), (10, 121, 0), (9, 79, 0)},
        epoch("2026-01-12T20:15:00+01:00"): {(10, 118, 0), (9, 76, 0)},
    }
    records = stored(container, ann)
    weight = next(g for g in records["groups"] if g.comment)
    assert (weight.comment, weight.timezone, weight.attrib, weight.deviceid) == (
        "after a run",
        PARIS,
        Attrib.DEVICE,
        None,
    )
    days = {d.date: dict(d.data) for d in records["activity"]}
    assert days == {
        date(2026, 1, 10): {"steps": 8412, "distance": 6012.5, "calories": 310, "totalcalories": 1960},
        date(2026, 1, 11): {"steps": 10233},
    }
    (night,) = records["sleep"]
    assert (int(night.startdate.timestamp()), int(night.enddate.timestamp())) == (
        epoch("2026-01-10T23:10:00+01:00"),
        epoch("2026-01-11T06:50:00+01:00"),
    )
    assert night.summary["deepsleepduration"] == 5400
    assert night.summary["total_sleep_time"] == 27000
    assert night.summary["hr_max"] == 71
    (run,) = records["workouts"]
    assert (run.category, dict(run.data)) == (
        2,
        {"calories": 412.5, "distance": 7200, "steps": 6100, "hr_average": 151},
    )

    again = container.data_import.import_file(ann, "withings.zip", withings_zip(), PARIS)
    assert again.imported_total == 0
    assert again.skipped_counts["already_stored"] == 8
    assert stored(container, ann)["groups"] == records["groups"]


def test_single_csv_files_one_at_a_time_merge_into_the_day(container: Container, ann: int) -> None:
    importer = container.data_import
    first = importer.import_file(ann, "aggregates_steps.csv", STEPS_CSV.encode(), PARIS)
    second = importer.import_file(ann, "aggregates_distance.csv", DISTANCE_CSV.encode(), PARIS)
    assert (first.imported["activity"], second.imported["activity"]) == (2, 1)
    days = {d.date: dict(d.data) for d in stored(container, ann)["activity"]}
    assert days[date(2026, 1, 10)] == {"steps": 8412, "distance": 6012.5}
    # a blood pressure file with a BOM, named by its header only, in another zone
    unnamed = importer.import_file(ann, "export (1).csv", ("\ufeff" + BP_CSV).encode("utf-8"), "America/New_York")
    assert unnamed.imported["measure_groups"] == 2
    assert epoch("2026-01-12T20:15:00-05:00") in groups(container, ann)


def test_spreadsheet_resaves_and_older_layouts(container: Container, ann: int) -> None:
    """Semicolons and comma decimals (a spreadsheet in a French locale), Windows-1252, the older
    "6:36 AM" times and "Lean mass", a NUL byte, a cell too long for the CSV reader (which stops
    it): what can be read is, the rest is reported."""
    resaved = "Date;Weight (kg);Fat mass (kg);Comments\n2026-01-05 08:00:00;68,45;12,1;après dîner\n"
    report = container.data_import.import_file(ann, "weight.csv", resaved.encode("cp1252"), PARIS)
    assert report.imported["measure_groups"] == 1
    older = '"Date","Weight (kg)","Fat mass (kg)","Lean mass (kg)","Comments"\n"2016-05-31 6:36 AM","62.77","8.37","54.4",""\n'
    broken = older + '"2016-05-30 10:28 PM","63.82","8.39","55.43",""\n"2016-05-30 7:16 AM","63\x0024","",""\n'
    broken += '"2016-05-29 7:00 AM","' + "9" * 200_000 + '","",""\n"2016-05-28 7:00 AM","64","",""\n'
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("weight.csv", broken)
    report = container.data_import.import_file(ann, "export.zip", packed.getvalue(), "America/Los_Angeles")
    assert report.imported["measure_groups"] == 2
    assert report.skipped_counts == {"unreadable_number": 1, "unreadable_row": 1}
    assert [(s.line, s.error.code) for s in report.skipped] == [(4, "unreadable_number"), (5, "unreadable_row")]
    found = groups(container, ann)
    assert found[epoch("2026-01-05T08:00:00+01:00")] == {(1, 6845, -2), (8, 121, -1)}
    assert found[epoch("2016-05-31T06:36:00-07:00")] == {(1, 6277, -2), (8, 837, -2), (5, 544, -1)}
    assert found[epoch("2016-05-30T22:28:00-07:00")] == {(1, 6382, -2), (8, 839, -2), (5, 5543, -2)}
    (comment,) = [g.comment for g in stored(container, ann)["groups"] if g.comment]
    assert comment == "après dîner"


def test_refused_files(container: Container, ann: int) -> None:
    small = DataImport(container.deps, container.health_ingest, ImportLimits(50_000, 200_000, 20))
    with pytest.raises(ImportTooLarge):
        small.import_file(ann, "big.csv", b"date,value\n" + b"2026-01-01,1\n" * 10_000, PARIS)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("weight.csv", b"0" * 5_000_000)  # a few KB packed
    assert len(bomb.getvalue()) < 50_000
    with pytest.raises(ArchiveTooLarge):
        small.import_file(ann, "bomb.zip", bomb.getvalue(), PARIS)
    crowded = io.BytesIO()
    with zipfile.ZipFile(crowded, "w") as archive:
        for n in range(30):
            archive.writestr(f"f{n}.txt", b"")
    with pytest.raises(ArchiveTooLarge):
        small.import_file(ann, "many.zip", crowded.getvalue(), PARIS)
    with pytest.raises(UnreadableImport):
        small.import_file(ann, "photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00", PARIS)
    with pytest.raises(UnreadableImport):
        small.import_file(ann, "notes.csv", b"shopping,list\nmilk,2\n", PARIS)
    assert stored(container, ann)["groups"] == []


# VitalKey export ----------------------------------------------------------------------------------
T = epoch("2026-01-10T07:00:00+01:00")


def document() -> ExportDocument:
    return ExportDocument(
        exported_at=NOW,
        profile=ExportedProfile(email="ann@example.org", language="en", created_at=NOW - timedelta(days=90)),
        goals=ExportedGoals(steps=12_000, sleep=27_000, weight=NewMeasure(1, 700, -1)),
        devices=(
            ExportedDevice("d1", "Scale", "Body+", 13, PARIS),
            ExportedDevice("d2", "Activity Tracker", "ScanWatch", 93, PARIS),
        ),
        measure_groups=(
            NewGroup(T, (NewMeasure(1, 7235, -2), NewMeasure(6, 215, -1)), 1, 0, PARIS, "d1"),
            NewGroup(T + 3600, (NewMeasure(1, 725, -1),), 1, 2, PARIS, None, "by hand"),
        ),
        activity=(NewActivityDay(date(2026, 1, 10), {"steps": 9001, "distance": 6400.5}, PARIS, "d2"),),
        intraday=(NewSample(T + 60, "d2", {"steps": 42, "heart_rate": 88}),),
        workouts=(NewWorkout(1, T + 7200, T + 9000, {"calories": 120}, date(2026, 1, 10), PARIS, "d2"),),
        sleep=(
            NewSleepSession(
                T - 30_000,
                T - 3_000,
                (NewSleepState(T - 30_000, T - 20_000, 1), NewSleepState(T - 20_000, T - 3_000, 2)),
                {"hr": {T - 29_000: 55}},
                {"deepsleepduration": 17_000},
                PARIS,
                "d2",
            ),
        ),
        heart=(NewHeartRecording(T + 600, 61, 0, (1, -2, 3), 300, 1, PARIS, "d2", NewBloodPressure(120, 80)),),
    )


def shapes(records: dict[str, list[Any]], devices: dict[str, str]) -> dict[str, Any]:
    """The live records without ids, created/modified, and with each device named by its model."""

    def model(deviceid: str | None) -> str | None:
        return devices.get(deviceid) if deviceid else None

    return {
        "groups": sorted(
            (
                int(g.date.timestamp()),
                g.timezone,
                int(g.attrib),
                int(g.category),
                g.comment,
                model(g.deviceid),
                sorted((m.type, m.value, m.unit) for m in g.measures),
            )
            for g in records["groups"]
        ),
        "activity": [(d.date, d.timezone, dict(d.data), model(d.deviceid)) for d in records["activity"]],
        "intraday": [(s.at, dict(s.data), model(s.deviceid)) for s in records["intraday"]],
        "workouts": [
            (w.category, w.startdate, w.enddate, w.date, dict(w.data), model(w.deviceid)) for w in records["workouts"]
        ],
        "sleep": [
            (
                s.startdate,
                s.enddate,
                s.states,
                {k: dict(v) for k, v in s.series.items()},
                dict(s.summary),
                model(s.deviceid),
            )
            for s in records["sleep"]
        ],
        "heart": [
            (
                h.at,
                h.heart_rate,
                h.afib,
                h.signal,
                h.sampling_frequency,
                h.wearposition,
                h.bloodpressure,
                model(h.deviceid),
            )
            for h in records["heart"]
        ],
    }


def test_a_vitalkey_export_round_trips_into_a_new_account(container: Container, ann: int) -> None:
    raw = to_json(document())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("weight.csv", "Date,Weight (kg)\n")  # the export's CSV files are not read
        archive.writestr(JSON_NAME, raw)
    report = container.data_import.import_file(ann, "vitalkey-export.zip", buffer.getvalue(), "UTC")

    assert (report.source, report.devices_paired, report.goals_set) == ("vitalkey", 2, True)
    assert report.imported == {
        "measure_groups": 2,
        "activity": 1,
        "intraday": 1,
        "workouts": 1,
        "sleep": 1,
        "heart": 1,
    }
    assert report.skipped_total == 0
    devices = {d.deviceid: d.model for d in container.health_ingest.devices(ann)}
    assert sorted(devices.values()) == ["Body+", "ScanWatch"]
    goals = container.health_ingest.goals(ann)
    assert (goals.steps, goals.sleep, goals.weight and (goals.weight.value, goals.weight.unit)) == (
        12_000,
        27_000,
        (700, -1),
    )

    # a second account that imports the same export holds the same records
    bob = account(container, "bob@example.org")
    container.data_import.import_file(bob, JSON_NAME, raw, "UTC")
    bob_devices = {d.deviceid: d.model for d in container.health_ingest.devices(bob)}
    mine, theirs = shapes(stored(container, ann), devices), shapes(stored(container, bob), bob_devices)
    assert mine == theirs
    assert mine["groups"][0] == (T, PARIS, 0, 1, None, "Body+", [(1, 7235, -2), (6, 215, -1)])
    assert mine["activity"] == [(date(2026, 1, 10), PARIS, {"steps": 9001, "distance": 6400.5}, "ScanWatch")]

    # importing again stores nothing, pairs nothing, and says why each item was left out
    again = container.data_import.import_file(ann, JSON_NAME, raw, "UTC")
    assert again.imported_total == 0
    assert again.devices_paired == 0
    assert again.skipped_counts == {"already_stored": 7}
    assert shapes(stored(container, ann), devices) == mine


def test_overlapping_vitalkey_then_withings_does_not_double(container: Container, ann: int) -> None:
    weighed = epoch("2026-01-10T07:30:00+01:00")
    exported = ExportDocument(
        exported_at=NOW,
        profile=ExportedProfile(email="ann@example.org", language="en", created_at=NOW),
        goals=ExportedGoals(steps=10_000, sleep=28_800),
        measure_groups=(
            NewGroup(
                weighed,
                (
                    NewMeasure(1, 72350, -3),
                    NewMeasure(8, 142, -1),
                    NewMeasure(88, 31, -1),
                    NewMeasure(76, 358, -1),
                    NewMeasure(77, 401, -1),
                ),
                timezone=PARIS,
            ),
        ),
    )
    container.data_import.import_file(ann, JSON_NAME, to_json(exported), "UTC")
    report = container.data_import.import_file(ann, "weight.csv", WEIGHT_CSV.encode(), PARIS)
    assert report.imported["measure_groups"] == 1  # 2026-01-11 only
    assert report.skipped_counts["already_stored"] == 1
    assert len(groups(container, ann)) == 2


def test_the_report_counts_every_skip_and_lists_the_first_fifty(container: Container, ann: int) -> None:
    rows = "".join(f"2026-01-{1 + n % 9:02d} 07:{n % 60:02d}:00,abc\n" for n in range(80))
    report: ImportReport = container.data_import.import_file(
        ann, "weight.csv", ("Date,Weight (kg)\n" + rows).encode(), PARIS
    )
    assert report.skipped_counts == {"unreadable_number": 80}
    assert len(report.skipped) == 50
    assert report.skipped[0].line == 2


def test_an_unknown_time_zone_is_refused(container: Container, ann: int) -> None:
    with pytest.raises(Exception) as raised:
        container.data_import.import_file(ann, "weight.csv", WEIGHT_CSV.encode(), "Mars/Olympus")
    assert getattr(raised.value, "code", None) == "unknown_timezone"
    assert datetime.now(UTC) > NOW  # (the frozen clock is in the past)


def test_the_accounts_own_goals_stay_and_an_unlisted_device_is_reported(container: Container, ann: int) -> None:
    container.health_ingest.set_goals(ann, 6_000, 25_200, None)
    exported = replace(
        document(),
        devices=(ExportedDevice("d1", "Scale", "Body+", 13, PARIS),),  # d2 is not listed
    )
    scale = container.health_ingest.pair(ann, "Scale", "Body+", 13, "UTC")
    report = container.data_import.import_file(ann, JSON_NAME, to_json(exported), "UTC")
    assert (report.goals_set, report.devices_paired) == (False, 0)  # the paired Body+ is d1
    assert report.imported == {
        "measure_groups": 2,
        "activity": 0,
        "intraday": 0,
        "workouts": 0,
        "sleep": 0,
        "heart": 0,
    }
    assert report.skipped_counts == {"unknown_device": 5}
    assert {s.item for s in report.skipped} == {"activity[0]", "intraday[0]", "workouts[0]", "sleep[0]", "heart[0]"}
    goals = container.health_ingest.goals(ann)
    assert (goals.steps, goals.sleep, goals.weight) == (6_000, 25_200, None)
    assert {g.deviceid for g in stored(container, ann)["groups"]} == {scale.deviceid, None}
