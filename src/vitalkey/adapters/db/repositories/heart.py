"""Heart recordings (ECG) (Core): the signal as a JSON list of µV samples."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert, select

from vitalkey.adapters.db.repositories.health_rows import (
    Listing,
    device_of,
    device_param,
    dumps,
    first_int,
    loads,
    tombstone,
)
from vitalkey.adapters.db.schema import heart_recordings
from vitalkey.adapters.db.statements import Columns, Db, Row, at, at_or_none, core, us
from vitalkey.domain.health import AfibResult, BloodPressure, HeartRecording, Page, Window

_c = heart_recordings.c
_COLUMNS = (
    "account_id",
    "at",
    "timezone",
    "deviceid",
    "heart_rate",
    "afib",
    "sampling_frequency",
    "wearposition",
    "systole",
    "diastole",
    "signal",
    "created",
    "modified",
)
_live = (_c.signalid == bindparam("signalid"), _c.account_id == bindparam("account_id"), _c.deleted.is_(None))
ADD = core(insert(heart_recordings).values({name: bindparam(name) for name in _COLUMNS}).returning(_c.signalid))
GET = core(select(heart_recordings).where(*_live))
DELETE = tombstone(heart_recordings, _c.signalid, signal="[]", systole=None, diastole=None)
FIND = Listing(heart_recordings, _c.signalid, moment=_c.at)


class SqlHeart:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, recording: HeartRecording) -> int:
        pressure = recording.bloodpressure
        params = {
            "account_id": recording.account_id,
            "at": us(recording.at),
            "timezone": recording.timezone,
            "deviceid": device_param(recording.deviceid),
            "heart_rate": recording.heart_rate,
            "afib": recording.afib.value,
            "sampling_frequency": recording.sampling_frequency,
            "wearposition": recording.wearposition,
            "systole": None if pressure is None else pressure.systole,
            "diastole": None if pressure is None else pressure.diastole,
            "signal": dumps(list(recording.signal)),
            "created": us(recording.created),
            "modified": us(recording.modified),
        }
        signalid = self.db.one(ADD, params, first_int)
        assert signalid is not None  # RETURNING always answers a row
        return signalid

    def get(self, account_id: int, signalid: int) -> HeartRecording | None:
        return self.db.one(GET, {"account_id": account_id, "signalid": signalid}, _recording)

    def delete(self, account_id: int, signalid: int, now: datetime) -> bool:
        return self.db.run(DELETE, {"account_id": account_id, "signalid": signalid, "now": us(now)}) == 1

    def find(
        self, account_id: int, window: Window, page: Page, *, include_deleted: bool = False
    ) -> list[HeartRecording]:
        statement = FIND.statement(FIND.variant(window, include_deleted))
        return self.db.all(statement, FIND.params(account_id, window, page), _recording)


def _recording(row: Row, c: Columns) -> HeartRecording:
    systole, diastole = row[c["systole"]], row[c["diastole"]]
    return HeartRecording(
        signalid=int(row[c["signalid"]]),
        account_id=int(row[c["account_id"]]),
        at=at(row[c["at"]]),
        timezone=row[c["timezone"]],
        heart_rate=int(row[c["heart_rate"]]),
        afib=AfibResult(row[c["afib"]]),
        signal=tuple(loads(row[c["signal"]])),
        sampling_frequency=int(row[c["sampling_frequency"]]),
        wearposition=int(row[c["wearposition"]]),
        created=at(row[c["created"]]),
        modified=at(row[c["modified"]]),
        deviceid=device_of(row[c["deviceid"]]),
        bloodpressure=None if systole is None else BloodPressure(int(systole), int(diastole)),
        deleted=at_or_none(row[c["deleted"]]),
    )
