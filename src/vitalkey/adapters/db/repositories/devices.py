"""Paired devices (Core). Unpairing keeps the row as a tombstone: the data it measured keeps
naming it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert, select, update

from vitalkey.adapters.db.schema import devices
from vitalkey.adapters.db.statements import Columns, Db, Row, at, at_or_none, core, us
from vitalkey.domain.health import Battery, Device, DeviceType

_c = devices.c
_owned = (_c.account_id == bindparam("account_id"), _c.deleted.is_(None))
_this = _c.deviceid == bindparam("deviceid")
_COLUMNS = (
    "account_id",
    "deviceid",
    "hash_deviceid",
    "type",
    "model",
    "model_id",
    "battery",
    "timezone",
    "first_session",
    "last_session",
    "created",
    "modified",
)
ADD = core(insert(devices).values({name: bindparam(name) for name in _COLUMNS}))
GET = core(select(devices).where(*_owned, _this))
FOR_ACCOUNT = core(select(devices).where(*_owned).order_by(_c.id))
EVER_PAIRED = core(select(devices).where(_c.account_id == bindparam("account_id")).order_by(_c.id))
UPDATE = core(
    update(devices)
    .where(*_owned, _this)
    .values(
        battery=bindparam("battery"),
        timezone=bindparam("timezone"),
        first_session=bindparam("first_session"),
        last_session=bindparam("last_session"),
        modified=bindparam("modified"),
    )
)
UNPAIR = core(update(devices).where(*_owned, _this).values(deleted=bindparam("now"), modified=bindparam("now")))


class SqlDevices:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, device: Device) -> None:
        self.db.run(ADD, {**_sessions(device), **_params(device)})

    def get(self, account_id: int, deviceid: str) -> Device | None:
        return self.db.one(GET, {"account_id": account_id, "deviceid": deviceid}, _device)

    def for_account(self, account_id: int) -> list[Device]:
        return self.db.all(FOR_ACCOUNT, {"account_id": account_id}, _device)

    def ever_paired(self, account_id: int) -> list[Device]:
        return self.db.all(EVER_PAIRED, {"account_id": account_id}, _device)

    def update(self, device: Device) -> bool:
        params = {
            "account_id": device.account_id,
            "deviceid": device.deviceid,
            "battery": device.battery.value,
            "timezone": device.timezone,
            "modified": us(device.modified),
            **_sessions(device),
        }
        return self.db.run(UPDATE, params) == 1

    def unpair(self, account_id: int, deviceid: str, now: datetime) -> bool:
        return self.db.run(UNPAIR, {"account_id": account_id, "deviceid": deviceid, "now": us(now)}) == 1


def _sessions(device: Device) -> dict[str, int | None]:
    first, last = device.first_session, device.last_session
    return {
        "first_session": None if first is None else us(first),
        "last_session": None if last is None else us(last),
    }


def _params(device: Device) -> dict[str, object]:
    return {
        "account_id": device.account_id,
        "deviceid": device.deviceid,
        "hash_deviceid": device.hash_deviceid,
        "type": device.type.value,
        "model": device.model,
        "model_id": device.model_id,
        "battery": device.battery.value,
        "timezone": device.timezone,
        "created": us(device.created),
        "modified": us(device.modified),
    }


def _device(row: Row, c: Columns) -> Device:
    return Device(
        deviceid=row[c["deviceid"]],
        hash_deviceid=row[c["hash_deviceid"]],
        account_id=int(row[c["account_id"]]),
        type=DeviceType(row[c["type"]]),
        model=row[c["model"]],
        model_id=int(row[c["model_id"]]),
        battery=Battery(row[c["battery"]]),
        timezone=row[c["timezone"]],
        created=at(row[c["created"]]),
        modified=at(row[c["modified"]]),
        first_session=at_or_none(row[c["first_session"]]),
        last_session=at_or_none(row[c["last_session"]]),
        deleted=at_or_none(row[c["deleted"]]),
    )
