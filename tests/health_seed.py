"""One account's health data, stored straight through the repositories in a unit of work (what the
companion app's ingestion would have stored), for the tests of the partner read API. The records
are built with ``tests/health_records.py``, every field that matters here named."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from tests.health_records import a_day, a_device, a_group, a_recording, a_session, a_workout
from vitalkey.container import Container
from vitalkey.domain.health import (
    ActivityDay,
    AfibResult,
    Attrib,
    Battery,
    BloodPressure,
    Brand,
    Category,
    Device,
    DeviceType,
    Goals,
    HeartRecording,
    IntradaySample,
    Measure,
    MeasureGroup,
    SleepSession,
    SleepStage,
    SleepState,
    WeightGoal,
    Workout,
    new_device_ids,
)

# A morning in the past (the server's clock is the real one): the scale's weigh-in.
MORNING = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)
NIGHT_START = datetime(2026, 11, 19, 22, 0, tzinfo=UTC)
NIGHT_END = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass
class Seeded:
    account_id: int
    scale: Device
    tracker: Device
    sleep_monitor: Device
    groups: list[MeasureGroup] = field(default_factory=list)
    days: list[ActivityDay] = field(default_factory=list)
    workouts: list[Workout] = field(default_factory=list)
    sessions: list[SleepSession] = field(default_factory=list)
    samples: list[IntradaySample] = field(default_factory=list)
    recordings: list[HeartRecording] = field(default_factory=list)
    goals: Goals | None = None


def device(account_id: int, kind: DeviceType, model: str, model_id: int, battery: Battery, zone: str) -> Device:
    deviceid, hashed = new_device_ids()
    paired = MORNING - timedelta(days=30)
    return a_device(
        account_id, deviceid, hash_deviceid=hashed, type=kind, model=model, model_id=model_id, battery=battery,
        timezone=zone, created=paired, modified=paired, first_session=paired, last_session=MORNING,
    )  # fmt: skip


def group(
    account_id: int, at: datetime, measures: tuple[Measure, ...], deviceid: str | None, **extra: object
) -> MeasureGroup:
    values: dict[str, object] = {
        "timezone": "Europe/Paris", "attrib": Attrib.DEVICE, "category": Category.REAL, "measures": measures,
        "created": at + timedelta(seconds=5), "modified": at + timedelta(seconds=5), "deviceid": deviceid,
        "comment": None,
    }  # fmt: skip
    values.update(extra)
    return a_group(account_id, at, **values)


def seed(container: Container, account_id: int) -> Seeded:
    """Three devices, four measure groups (two of them at the same second), two activity days, a
    workout, a night with its states, series and summary, intraday samples, an ECG and goals."""
    scale = device(account_id, DeviceType.SCALE, "Body+", 13, Battery.HIGH, "Europe/Paris")
    tracker = device(account_id, DeviceType.ACTIVITY_TRACKER, "ScanWatch", 93, Battery.MEDIUM, "America/New_York")
    sleeper = device(account_id, DeviceType.SLEEP_MONITOR, "Sleep Analyzer", 63, Battery.UNKNOWN, "Asia/Tokyo")
    seeded = Seeded(account_id, scale, tracker, sleeper)
    seeded.groups = [
        group(account_id, MORNING, (Measure(1, 7235, -2), Measure(6, 2150, -2), Measure(76, 5412, -2)), scale.deviceid),
        group(account_id, MORNING, (Measure(1, 72351, -3),), scale.deviceid, attrib=Attrib.MANUAL, comment="after run"),
        group(
            account_id,
            MORNING + timedelta(days=1),
            (Measure(9, 80, 0), Measure(10, 121, 0), Measure(11, 64, 0)),
            tracker.deviceid,
            timezone="America/New_York",
        ),
        group(account_id, MORNING - timedelta(days=2), (Measure(1, 68, 0),), None, category=Category.OBJECTIVE),
    ]
    stored = {"created": MORNING, "modified": MORNING}
    seeded.days = [
        a_day(
            account_id, date(2026, 11, 19), timezone="America/New_York",
            data={"steps": 10234, "distance": 7812.5, "elevation": 42, "soft": 3600, "moderate": 1800,
                  "intense": 600, "active": 2400, "calories": 512.25, "totalcalories": 2480.5, "hr_average": 71,
                  "hr_min": 52, "hr_max": 151, "hr_zone_0": 30000, "hr_zone_1": 3000, "hr_zone_2": 900,
                  "hr_zone_3": 60},
            deviceid=tracker.deviceid, **stored,
        ),
        a_day(
            account_id, date(2026, 11, 20), timezone="America/New_York", data={"steps": 812, "totalcalories": 1630},
            deviceid=tracker.deviceid, brand=Brand.EXTERNAL, is_tracker=False, **stored,
        ),
    ]  # fmt: skip
    seeded.workouts = [
        a_workout(
            account_id, date(2026, 11, 20), category=2, startdate=MORNING - timedelta(hours=1),
            enddate=MORNING - timedelta(minutes=20), timezone="America/New_York",
            data={"calories": 320, "distance": 6100, "steps": 7020, "hr_average": 148, "hr_min": 96, "hr_max": 178,
                  "intensity": 60, "elevation": 35},
            deviceid=tracker.deviceid, attrib=Attrib.DEVICE, **stored,
        )
    ]  # fmt: skip
    states = (
        SleepState(NIGHT_START, NIGHT_START + timedelta(minutes=20), SleepStage.AWAKE),
        SleepState(NIGHT_START + timedelta(minutes=20), NIGHT_START + timedelta(hours=3), SleepStage.LIGHT),
        SleepState(NIGHT_START + timedelta(hours=3), NIGHT_START + timedelta(hours=5), SleepStage.DEEP),
        SleepState(NIGHT_START + timedelta(hours=5), NIGHT_END, SleepStage.REM),
    )
    second = epoch(NIGHT_START)
    seeded.sessions = [
        a_session(
            account_id, NIGHT_END, date(2026, 11, 20), startdate=NIGHT_START, timezone="Asia/Tokyo", states=states,
            series={"hr": {second + 60: 64, second + 4 * 3600: 52, second + 7 * 3600: 58},
                    "rr": {second + 60: 15, second + 4 * 3600: 12},
                    "snoring": {second + 4 * 3600 + 60: 1}},
            summary={"total_timeinbed": 28800, "total_sleep_time": 27600, "lightsleepduration": 9600,
                     "deepsleepduration": 7200, "remsleepduration": 10800, "wakeupcount": 1, "sleep_score": 84,
                     "hr_average": 57, "sleep_efficiency": 0.96},
            created=NIGHT_END, modified=NIGHT_END, deviceid=sleeper.deviceid, completed=True,
        )
    ]  # fmt: skip
    seeded.samples = [
        IntradaySample(account_id, tracker.deviceid, MORNING + timedelta(minutes=minute), {"steps": 20 + minute})
        for minute in range(3)
    ] + [IntradaySample(account_id, tracker.deviceid, MORNING + timedelta(minutes=5), {"heart_rate": 88})]
    recorded = MORNING + timedelta(hours=2)
    seeded.recordings = [
        a_recording(
            account_id, recorded, timezone="Europe/Paris", heart_rate=66, afib=AfibResult.NEGATIVE,
            signal=(12, -40, 350, -7, 0, 15), sampling_frequency=500, wearposition=1, created=recorded,
            modified=recorded, deviceid=tracker.deviceid, bloodpressure=BloodPressure(systole=118, diastole=79),
        )
    ]  # fmt: skip
    seeded.goals = Goals(steps=12000, sleep=27000, weight=WeightGoal(70500, -3), modified=MORNING)
    with container.uow.begin() as tx:
        for paired in (scale, tracker, sleeper):
            tx.devices.add(paired)
        seeded.groups = [replace(g, grpid=tx.measure_groups.add(g)) for g in seeded.groups]
        seeded.days = [tx.activity.put(day) for day in seeded.days]
        seeded.workouts = [replace(w, id=tx.workouts.add(w)) for w in seeded.workouts]
        seeded.sessions = [replace(s, id=tx.sleep.add(s)) for s in seeded.sessions]
        tx.intraday.put(seeded.samples)
        seeded.recordings = [replace(r, signalid=tx.heart.add(r)) for r in seeded.recordings]
        tx.goals.set(account_id, seeded.goals)
    return seeded


def add_group(container: Container, account_id: int, at: datetime, measures: tuple[Measure, ...]) -> int:
    """A group measured at ``at`` and stored now (its ``created`` and ``modified``)."""
    now = container.clock.now()
    with container.uow.begin() as tx:
        return tx.measure_groups.add(group(account_id, at, measures, None, created=now, modified=now))
