"""Health records for the repositories' contract suites: every field set to something that
would show if storage changed it (time zones, microseconds, negative units, JSON floats)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from tests.storage.conftest import NOW
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.uow import SqlUnitOfWork
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
    HeartRecording,
    Measure,
    MeasureGroup,
    SleepSession,
    SleepStage,
    SleepState,
    Workout,
)

DAY = date(2026, 11, 21)
HOUR = timedelta(hours=1)


def a_device(account_id: int, deviceid: str = "dev-1", **changes: object) -> Device:
    fields: dict[str, object] = {
        "deviceid": deviceid,
        "hash_deviceid": f"hash-{deviceid}",
        "account_id": account_id,
        "type": DeviceType.SCALE,
        "model": "Body Cardio",
        "model_id": 6,
        "battery": Battery.HIGH,
        "timezone": "Europe/Paris",
        "created": NOW,
        "modified": NOW,
        "first_session": NOW - timedelta(days=30, microseconds=7),
        "last_session": NOW - timedelta(seconds=1),
    }
    fields.update(changes)
    return Device(**fields)  # type: ignore[arg-type]


def a_group(account_id: int, when: datetime = NOW, **changes: object) -> MeasureGroup:
    fields: dict[str, object] = {
        "grpid": 0,
        "account_id": account_id,
        "date": when,
        "timezone": "America/New_York",
        "attrib": Attrib.DEVICE,
        "category": Category.REAL,
        "measures": (Measure(1, 72345, -3), Measure(6, 2150, -2), Measure(11, 64, 0)),
        "created": NOW,
        "modified": NOW,
        "deviceid": "dev-1",
        "comment": "after breakfast",
    }
    fields.update(changes)
    return MeasureGroup(**fields)  # type: ignore[arg-type]


def a_day(account_id: int, day: date = DAY, **changes: object) -> ActivityDay:
    fields: dict[str, object] = {
        "id": 0,
        "account_id": account_id,
        "date": day,
        "timezone": "Asia/Tokyo",
        "data": {"steps": 10234, "distance": 7012.35, "calories": 412.5, "hr_average": 71},
        "created": NOW,
        "modified": NOW,
        "deviceid": "dev-1",
        "brand": Brand.WITHINGS,
        "is_tracker": True,
    }
    fields.update(changes)
    return ActivityDay(**fields)  # type: ignore[arg-type]


def a_workout(account_id: int, day: date = DAY, **changes: object) -> Workout:
    fields: dict[str, object] = {
        "id": 0,
        "account_id": account_id,
        "category": 2,
        "startdate": NOW - HOUR,
        "enddate": NOW,
        "date": day,
        "timezone": "Australia/Sydney",
        "data": {"calories": 512.25, "steps": 6012, "distance": 5000, "hr_max": 171},
        "created": NOW,
        "modified": NOW,
        "deviceid": "dev-1",
        "attrib": Attrib.MANUAL,
    }
    fields.update(changes)
    return Workout(**fields)  # type: ignore[arg-type]


def a_session(account_id: int, end: datetime = NOW, day: date = DAY, **changes: object) -> SleepSession:
    start = end - 8 * HOUR
    fields: dict[str, object] = {
        "id": 0,
        "account_id": account_id,
        "startdate": start,
        "enddate": end,
        "date": day,
        "timezone": "Europe/Berlin",
        "states": (
            SleepState(start, start + 3 * HOUR, SleepStage.LIGHT),
            SleepState(start + 3 * HOUR, start + 5 * HOUR, SleepStage.DEEP),
            SleepState(start + 5 * HOUR, end, SleepStage.REM),
        ),
        "series": {"hr": {1763700000: 58, 1763700060: 61}, "snoring": {1763700000: 0}},
        "summary": {"total_sleep_time": 27000, "sleep_score": 83, "sleep_efficiency": 0.93},
        "created": NOW,
        "modified": NOW,
        "deviceid": "dev-1",
        "completed": False,
    }
    fields.update(changes)
    return SleepSession(**fields)  # type: ignore[arg-type]


def a_recording(account_id: int, when: datetime = NOW, **changes: object) -> HeartRecording:
    fields: dict[str, object] = {
        "signalid": 0,
        "account_id": account_id,
        "at": when,
        "timezone": "America/Sao_Paulo",
        "heart_rate": 67,
        "afib": AfibResult.INCONCLUSIVE,
        "signal": (12, -340, 1022, 0, -7),
        "sampling_frequency": 300,
        "wearposition": 1,
        "created": NOW,
        "modified": NOW,
        "deviceid": "dev-1",
        "bloodpressure": BloodPressure(128, 81),
    }
    fields.update(changes)
    return HeartRecording(**fields)  # type: ignore[arg-type]


def rows_of(store: SqlUnitOfWork, table_name: str) -> int:
    """How many rows a table holds (to see what a deletion left)."""
    table = t.metadata.tables[table_name]
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
