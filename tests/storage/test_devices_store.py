"""DeviceRepository."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.storage.conftest import LATER, NOW, an_account
from tests.storage.health_records import a_device
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.health import Battery, DeviceType


def test_a_paired_device_reads_back_exactly_in_pairing_order(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    scale = a_device(ann, "dev-1")
    tracker = a_device(ann, "dev-0", type=DeviceType.ACTIVITY_TRACKER, model="ScanWatch", model_id=93,
                       battery=Battery.UNKNOWN, timezone="Pacific/Chatham", first_session=None, last_session=None)  # fmt: skip
    with store.begin() as tx:
        tx.devices.add(scale)
        tx.devices.add(tracker)
        tx.devices.add(a_device(bob, "dev-bob"))
    with store.begin() as tx:
        assert tx.devices.get(ann, "dev-1") == scale
        assert tx.devices.get(ann, "dev-0") == tracker
        assert tx.devices.for_account(ann) == [scale, tracker]  # pairing order, not the ids' order
        assert tx.devices.get(bob, "dev-1") is None  # another account's device
        assert tx.devices.get(ann, "dev-bob") is None
        assert tx.devices.for_account(bob) == [a_device(bob, "dev-bob")]


def test_an_update_stores_battery_time_zone_sessions_and_modified(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    device = a_device(ann)
    with store.begin() as tx:
        tx.devices.add(device)
    changed = replace(
        device,
        battery=Battery.LOW,
        timezone="America/Los_Angeles",
        last_session=LATER,
        modified=LATER,
        model="ignored",  # only what the contract names changes
    )
    with store.begin() as tx:
        assert tx.devices.update(changed)
        assert not tx.devices.update(replace(changed, account_id=bob))
        stored = tx.devices.get(ann, device.deviceid)
    assert stored == replace(changed, model=device.model)
    assert stored is not None and stored.created == NOW and stored.modified == LATER


def test_unpairing_hides_the_device_and_keeps_its_tombstone(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    with store.begin() as tx:
        tx.devices.add(a_device(ann, "dev-1"))
        tx.devices.add(a_device(ann, "dev-2"))
    with store.begin() as tx:
        assert not tx.devices.unpair(bob, "dev-1", LATER)  # not bob's
        assert tx.devices.unpair(ann, "dev-1", LATER)
        assert not tx.devices.unpair(ann, "dev-1", LATER + timedelta(seconds=1))  # already unpaired
        assert tx.devices.get(ann, "dev-1") is None
        assert not tx.devices.update(a_device(ann, "dev-1", modified=LATER))
        assert [device.deviceid for device in tx.devices.for_account(ann)] == ["dev-2"]
