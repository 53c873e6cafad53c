"""The companion app's ingestion (flows/health_ingest.py) against real storage on both engines:
devices, batches judged whole and stored all or nothing, idempotency receipts, measure group
edits and tombstones, goals. Values are read back through the repositories."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.accounts import Profile, Sex, Units
from vitalkey.domain.errors import InvalidFields
from vitalkey.domain.health import (
    MAX_BATCH_ITEMS,
    AfibResult,
    Attrib,
    BatchTooLarge,
    BloodPressure,
    Brand,
    Category,
    Device,
    IdempotencyConflict,
    InvalidIdempotencyKey,
    Measure,
    MeasureFilter,
    Page,
    RecordNotFound,
    SleepStage,
    SleepState,
    UnknownDevice,
    WeightGoal,
    Window,
)
from vitalkey.flows.health_ingest import (
    Batch,
    GroupEdit,
    NewActivityDay,
    NewBloodPressure,
    NewGroup,
    NewHeartRecording,
    NewMeasure,
    NewSample,
    NewSleepSession,
    NewSleepState,
    NewWorkout,
    receipt_key,
)
from vitalkey.ports import Receipt

PROFILE = Profile("Ann", "Lee", date(1990, 5, 1), Sex.FEMALE, 168.0, Units.METRIC)
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)  # the FrozenClock's
T0 = int((NOW - timedelta(days=1)).timestamp())  # 2026-01-14 09:00 UTC


def account(container: Container, email: str) -> int:
    with container.uow.begin() as tx:
        made = tx.accounts.create(email, email, "en", PROFILE, "2026-01", container.clock.now())
        assert made is not None
        return made.id


@pytest.fixture
def ann(container: Container) -> int:
    return account(container, "ann@example.org")


def scale(container: Container, owner: int, timezone: str = "Europe/Paris") -> Device:
    return container.health_ingest.pair(owner, "Scale", "Body+", 13, timezone, "high")


def weight(at: int, value: int = 7235, **more: object) -> NewGroup:
    """A weight of ``value`` × 10^-2 kg at ``at``; in Paris unless it names a device."""
    if "deviceid" not in more:
        more.setdefault("timezone", "Europe/Paris")
    return NewGroup(date=at, measures=(NewMeasure(1, value, -2),), **more)  # type: ignore[arg-type]


def groups_of(container: Container, owner: int, *, include_deleted: bool = False) -> list:  # type: ignore[type-arg]
    with container.uow.read() as tx:
        return tx.measure_groups.find(owner, Window(), MeasureFilter(), Page(), include_deleted=include_deleted)


# Devices ------------------------------------------------------------------------------------------
def test_pair_list_update_and_unpair(container: Container, ann: int, clock: FrozenClock) -> None:
    ingest = container.health_ingest
    device = scale(container, ann)
    assert len(device.deviceid) == 40 and len(device.hash_deviceid) == 40 and device.deviceid != device.hash_deviceid
    listed = ingest.devices(ann)
    assert [(d.deviceid, d.type.value, d.model, d.model_id, d.battery.value, d.timezone) for d in listed] == [
        (device.deviceid, "Scale", "Body+", 13, "high", "Europe/Paris")
    ]
    assert listed[0].first_session is None and listed[0].created == NOW
    clock.advance(minutes=1)
    updated = ingest.update_device(ann, device.deviceid, "low", "America/New_York")
    assert ingest.devices(ann)[0] == updated
    assert (updated.battery.value, updated.timezone, updated.modified) == ("low", "America/New_York", clock.now())
    ingest.unpair(ann, device.deviceid)
    assert ingest.devices(ann) == []
    with pytest.raises(UnknownDevice):
        ingest.unpair(ann, device.deviceid)


def test_pairing_names_every_wrong_field(container: Container, ann: int) -> None:
    with pytest.raises(InvalidFields) as refused:
        container.health_ingest.pair(ann, "Toaster", "T", -1, "Mars/Olympus", "full")
    assert [(p.code, p.field_name) for p in refused.value.problems] == [
        ("not_allowed_value", "type"),
        ("out_of_range", "model_id"),
        ("unknown_timezone", "timezone"),
        ("not_allowed_value", "battery"),
    ]
    assert container.health_ingest.devices(ann) == []


def test_another_users_device_is_refused(container: Container, ann: int) -> None:
    bob = account(container, "bob@example.org")
    bobs = scale(container, bob)
    ingest = container.health_ingest
    with pytest.raises(UnknownDevice):
        ingest.update_device(ann, bobs.deviceid, "low", None)
    with pytest.raises(UnknownDevice):
        ingest.unpair(ann, bobs.deviceid)
    with pytest.raises(InvalidFields) as refused:
        ingest.ingest(ann, "k1", "d1", Batch(measure_groups=(weight(T0, deviceid=bobs.deviceid),)))
    assert [(p.code, p.field_name) for p in refused.value.problems] == [
        ("unknown_device", "measure_groups[0].deviceid")
    ]
    assert groups_of(container, ann) == [] and groups_of(container, bob) == []
    assert ingest.devices(bob)[0].battery.value == "high"  # untouched


# Batches: every kind stored exactly ------------------------------------------------------------------
def full_batch(deviceid: str) -> Batch:
    return Batch(
        measure_groups=(
            NewGroup(
                date=T0,
                measures=(
                    NewMeasure(1, 7235, -2),
                    NewMeasure(6, 2150, -2),
                    NewMeasure(174, 31, -1),
                    NewMeasure(174, 29, -1),
                ),
                deviceid=deviceid,
                comment="after breakfast",
            ),
            NewGroup(date=T0, measures=(NewMeasure(4, 168, -2),), timezone="Asia/Tokyo", category=2),
        ),
        activity=(
            NewActivityDay(
                date=date(2026, 1, 14),
                data={"steps": 10234, "distance": 7412.5, "totalcalories": 2210.25},
                deviceid=deviceid,
            ),
        ),
        intraday=(
            NewSample(at=T0 + 60, deviceid=deviceid, data={"steps": 42, "heart_rate": 88}),
            NewSample(at=T0 + 120, deviceid=deviceid, data={"steps": 17}),
        ),
        workouts=(
            NewWorkout(
                category=2,
                startdate=T0 - 3600,
                enddate=T0 - 1800,
                data={"calories": 312.5, "steps": 4100},
                deviceid=deviceid,
            ),
        ),
        sleep=(
            NewSleepSession(
                startdate=T0 - 8 * 3600,
                enddate=T0 - 3600,
                states=(
                    NewSleepState(T0 - 8 * 3600, T0 - 6 * 3600, 1),
                    NewSleepState(T0 - 6 * 3600, T0 - 3600, 3),
                ),
                series={"hr": {T0 - 7 * 3600: 52, T0 - 2 * 3600: 58}, "snoring": {T0 - 5 * 3600: 1}},
                summary={"total_sleep_time": 25200, "sleep_score": 81, "sleep_efficiency": 0.93},
                deviceid=deviceid,
            ),
        ),
        heart=(
            NewHeartRecording(
                at=T0 + 300,
                heart_rate=64,
                afib=0,
                signal=(12, -40, 350, -7),
                sampling_frequency=300,
                wearposition=1,
                deviceid=deviceid,
                bloodpressure=NewBloodPressure(121, 79),
            ),
        ),
    )


def test_a_batch_stores_every_kind_exactly(container: Container, ann: int) -> None:
    device = scale(container, ann)
    done = container.health_ingest.ingest(ann, "batch-1", "digest-1", full_batch(device.deviceid))
    answer = done.answer
    assert not done.replayed
    assert len(answer["grpids"]) == 2 and answer["grpids"][0] < answer["grpids"][1]
    assert answer["intraday_samples"] == 2
    assert [len(answer[k]) for k in ("activity_ids", "workout_ids", "sleep_ids", "signalids")] == [1, 1, 1, 1]
    at = datetime.fromtimestamp(T0, UTC)
    with container.uow.read() as tx:
        first = tx.measure_groups.get(ann, answer["grpids"][0])
        second = tx.measure_groups.get(ann, answer["grpids"][1])
        days = tx.activity.find(ann, Window(), Page())
        samples = tx.intraday.between(ann, at, at + timedelta(hours=1), 10)
        workouts = tx.workouts.find(ann, Window(), Page())
        nights = tx.sleep.find(ann, Window(), Page())
        ecg = tx.heart.get(ann, answer["signalids"][0])
        paired = tx.devices.get(ann, device.deviceid)
    assert first is not None and second is not None
    assert first.measures == (Measure(1, 7235, -2), Measure(6, 2150, -2), Measure(174, 31, -1), Measure(174, 29, -1))
    assert (first.date, first.timezone, first.deviceid, first.attrib, first.category, first.comment) == (
        at,
        "Europe/Paris",  # the device's
        device.deviceid,
        Attrib.DEVICE,
        Category.REAL,
        "after breakfast",
    )
    assert (second.timezone, second.attrib, second.category, second.deviceid) == (
        "Asia/Tokyo",
        Attrib.MANUAL,
        Category.OBJECTIVE,
        None,
    )
    assert first.created == first.modified == NOW
    [day] = days
    assert (day.id, day.date, day.timezone, day.brand, day.is_tracker) == (
        answer["activity_ids"][0],
        date(2026, 1, 14),
        "Europe/Paris",
        Brand.WITHINGS,
        True,
    )
    assert day.data == {"steps": 10234, "distance": 7412.5, "totalcalories": 2210.25}
    assert [(s.at - at, dict(s.data)) for s in samples] == [
        (timedelta(minutes=1), {"steps": 42, "heart_rate": 88}),
        (timedelta(minutes=2), {"steps": 17}),
    ]
    [workout] = workouts
    assert (workout.id, workout.category, workout.date, workout.data) == (
        answer["workout_ids"][0],
        2,
        date(2026, 1, 14),  # 08:00 in Paris
        {"calories": 312.5, "steps": 4100},
    )
    [night] = nights
    assert night.states == (
        SleepState(at - timedelta(hours=8), at - timedelta(hours=6), SleepStage.LIGHT),
        SleepState(at - timedelta(hours=6), at - timedelta(hours=1), SleepStage.REM),
    )
    assert night.series == {"hr": {T0 - 7 * 3600: 52, T0 - 2 * 3600: 58}, "snoring": {T0 - 5 * 3600: 1}}
    assert night.summary == {"total_sleep_time": 25200, "sleep_score": 81, "sleep_efficiency": 0.93}
    assert night.date == date(2026, 1, 14)
    assert ecg is not None
    assert (ecg.signal, ecg.sampling_frequency, ecg.afib, ecg.heart_rate, ecg.wearposition, ecg.bloodpressure) == (
        (12, -40, 350, -7),
        300,
        AfibResult.NEGATIVE,
        64,
        1,
        BloodPressure(121, 79),
    )
    # the device's sessions span what it measured: the night's start to the ECG
    assert paired is not None
    assert (paired.first_session, paired.last_session) == (at - timedelta(hours=8), at + timedelta(minutes=5))


def test_sessions_widen_with_later_batches(container: Container, ann: int, clock: FrozenClock) -> None:
    device = scale(container, ann)
    ingest = container.health_ingest
    ingest.ingest(ann, "a", "a", Batch(measure_groups=(weight(T0, deviceid=device.deviceid),)))
    clock.advance(hours=1)
    ingest.ingest(ann, "b", "b", Batch(measure_groups=(weight(T0 + 3000, deviceid=device.deviceid),)))
    ingest.ingest(ann, "c", "c", Batch(measure_groups=(weight(T0 - 3000, deviceid=device.deviceid),)))
    [paired] = ingest.devices(ann)
    assert paired.first_session == datetime.fromtimestamp(T0 - 3000, UTC)
    assert paired.last_session == datetime.fromtimestamp(T0 + 3000, UTC)
    assert paired.modified == clock.now() + timedelta(microseconds=1)  # two changes in one (frozen) moment


# Batches: judged whole, all or nothing -------------------------------------------------------------
def test_every_problem_is_named_by_item_and_field_and_nothing_is_stored(container: Container, ann: int) -> None:
    device = scale(container, ann)
    future = int((NOW + timedelta(minutes=6)).timestamp())
    skewed = int((NOW + timedelta(minutes=4)).timestamp())  # within the clock skew: taken
    batch = Batch(
        measure_groups=(
            weight(T0, deviceid=device.deviceid),  # good
            NewGroup(
                date=future,
                measures=(NewMeasure(1, 7235, 2), NewMeasure(999, 1, 0), NewMeasure(1, 70, 3)),
                category=3,
                attrib=6,
                timezone="Europe/Pariss",
            ),
            NewGroup(date=1000, measures=()),
            weight(skewed, deviceid="nope"),
        ),
        activity=(NewActivityDay(date=date(2026, 1, 17), data={"steps": -1, "stepz": 3}, timezone="UTC", brand=7),),
        intraday=(NewSample(at=T0, deviceid=device.deviceid, data={"heart_rate": float("inf")}),),
        workouts=(NewWorkout(category=0, startdate=T0, enddate=T0 - 1, timezone="UTC", attrib=3),),
        sleep=(
            NewSleepSession(
                startdate=T0,
                enddate=T0 + 60,
                states=(NewSleepState(T0, T0 + 120, 9),),
                series={"hr": {T0 + 600: 50}, "pulse": {T0: 1}},
                summary={"dreams": 4},
                timezone="UTC",
            ),
        ),
        heart=(
            NewHeartRecording(
                at=T0,
                heart_rate=5,
                afib=4,
                signal=(1, 2),
                sampling_frequency=0,
                timezone="UTC",
                bloodpressure=NewBloodPressure(400, 79),
            ),
        ),
    )
    with pytest.raises(InvalidFields) as refused:
        container.health_ingest.ingest(ann, "bad", "bad", batch)
    assert [(p.code, p.field_name) for p in refused.value.problems] == [
        ("in_future", "measure_groups[1].date"),
        ("unknown_timezone", "measure_groups[1].timezone"),
        ("not_allowed_value", "measure_groups[1].category"),
        ("not_allowed_value", "measure_groups[1].attrib"),
        ("implausible_value", "measure_groups[1].measures[0].value"),
        ("unknown_meastype", "measure_groups[1].measures[1].type"),
        ("implausible_value", "measure_groups[1].measures[2].value"),
        ("duplicate_meastype", "measure_groups[1].measures[2].type"),
        ("too_old", "measure_groups[2].date"),
        ("timezone_missing", "measure_groups[2].timezone"),
        ("no_measures", "measure_groups[2].measures"),
        ("unknown_device", "measure_groups[3].deviceid"),
        ("in_future", "activity[0].date"),
        ("not_allowed_value", "activity[0].brand"),
        ("out_of_range", "activity[0].data.steps"),
        ("unknown_data_field", "activity[0].data.stepz"),
        ("out_of_range", "intraday[0].data.heart_rate"),
        ("ends_before_start", "workouts[0].enddate"),
        ("out_of_range", "workouts[0].category"),
        ("not_allowed_value", "workouts[0].attrib"),
        ("not_allowed_value", "sleep[0].states[0].state"),
        ("outside_session", "sleep[0].states[0].enddate"),
        ("outside_session", f"sleep[0].series.hr.{T0 + 600}"),
        ("unknown_data_field", "sleep[0].series.pulse"),
        ("unknown_data_field", "sleep[0].summary.dreams"),
        ("out_of_range", "heart[0].heart_rate"),
        ("not_allowed_value", "heart[0].afib"),
        ("out_of_range", "heart[0].sampling_frequency"),
        ("out_of_range", "heart[0].bloodpressure.systole"),
    ]
    first = refused.value.problems[0]
    assert (refused.value.field_name, refused.value.message_id) == (first.field_name, first.message_id)
    # the good first group was not stored either, nor a receipt, nor the device's sessions
    assert groups_of(container, ann) == []
    assert container.health_ingest.devices(ann)[0].first_session is None
    with container.uow.read() as tx:
        assert tx.receipts.get(ann, receipt_key("bad")) is None


def test_one_bad_item_among_many_stores_nothing(container: Container, ann: int) -> None:
    good = tuple(weight(T0 + i) for i in range(200))
    batch = Batch(measure_groups=(*good, weight(T0, value=-5)), intraday=())
    with pytest.raises(InvalidFields) as refused:
        container.health_ingest.ingest(ann, "k", "d", batch)
    assert [p.field_name for p in refused.value.problems] == ["measure_groups[200].measures[0].value"]
    assert groups_of(container, ann) == []
    # corrected, the same key is free: a refused batch left no receipt
    fixed = container.health_ingest.ingest(ann, "k", "d2", Batch(measure_groups=good))
    assert len(fixed.answer["grpids"]) == 200 and len(groups_of(container, ann)) == 200


def test_more_than_5000_items_are_refused_whole(container: Container, ann: int) -> None:
    device = scale(container, ann)
    samples = tuple(NewSample(at=T0 + i, deviceid=device.deviceid, data={"steps": 1}) for i in range(MAX_BATCH_ITEMS))
    with pytest.raises(BatchTooLarge) as refused:
        container.health_ingest.ingest(ann, "big", "d", Batch(measure_groups=(weight(T0),), intraday=samples))
    assert refused.value.params == {"limit": 5000}
    assert groups_of(container, ann) == []
    at = datetime.fromtimestamp(T0, UTC)
    exactly = container.health_ingest.ingest(ann, "max", "d", Batch(intraday=samples))
    assert exactly.answer["intraday_samples"] == 5000
    with container.uow.read() as tx:
        assert len(tx.intraday.between(ann, at, at + timedelta(hours=2), 10_000)) == 5000


# Idempotency ---------------------------------------------------------------------------------------
def test_the_same_key_and_body_are_answered_again_and_stored_once(
    container: Container, ann: int, clock: FrozenClock
) -> None:
    ingest = container.health_ingest
    batch = Batch(measure_groups=(weight(T0), weight(T0 + 60, value=7240)))
    first = ingest.ingest(ann, "sync-2026-01-15T09:00", "digest", batch)
    clock.advance(minutes=3)
    again = ingest.ingest(ann, "sync-2026-01-15T09:00", "digest", batch)
    assert again.answer == first.answer and (first.replayed, again.replayed) == (False, True)
    assert [g.grpid for g in groups_of(container, ann)] == first.answer["grpids"]
    with pytest.raises(IdempotencyConflict):
        ingest.ingest(ann, "sync-2026-01-15T09:00", "another digest", Batch(measure_groups=(weight(T0 + 120),)))
    assert len(groups_of(container, ann)) == 2
    # keys are per account
    bob = account(container, "bob@example.org")
    assert not ingest.ingest(bob, "sync-2026-01-15T09:00", "digest", batch).replayed
    assert len(groups_of(container, bob)) == 2


@pytest.mark.parametrize("key", [None, "", "x" * 256, "naïve", "tab\tkey", "new\nline"])
def test_a_missing_or_malformed_key_is_refused_naming_the_header(
    container: Container, ann: int, key: str | None
) -> None:
    with pytest.raises(InvalidIdempotencyKey) as refused:
        container.health_ingest.ingest(ann, key, "d", Batch(measure_groups=(weight(T0),)))
    assert refused.value.field_name == "Idempotency-Key"
    assert groups_of(container, ann) == []


def test_the_longest_key_and_every_printable_character_are_taken(container: Container, ann: int) -> None:
    printable = "".join(chr(c) for c in range(0x20, 0x7F))
    for key in ("x" * 255, printable):
        assert not container.health_ingest.ingest(ann, key, "d", Batch(measure_groups=(weight(T0),))).replayed
        assert container.health_ingest.ingest(ann, key, "d", Batch(measure_groups=(weight(T0),))).replayed


def test_parallel_sends_of_one_key_store_once(container: Container, ann: int) -> None:
    batch = Batch(measure_groups=tuple(weight(T0 + i) for i in range(50)))

    def send(_: int) -> dict:  # type: ignore[type-arg]
        return container.health_ingest.ingest(ann, "parallel", "digest", batch).answer

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(send, range(8)))
    assert all(answer == answers[0] for answer in answers)
    assert [g.grpid for g in groups_of(container, ann)] == answers[0]["grpids"]


def test_a_send_that_loses_the_race_rolls_back_and_answers_the_winners_receipt(container: Container, ann: int) -> None:
    """The winner's receipt is written, not yet committed, while our send checks for it (and
    finds none) and stores its items; its own receipt then waits, finds the winner's and loses."""
    if container.uow.sqlite:
        pytest.skip("SQLite has one writer at a time: a second send waits before it reads")
    winner = {
        "grpids": [424242],
        "activity_ids": [],
        "intraday_samples": 0,
        "workout_ids": [],
        "sleep_ids": [],
        "signalids": [],
    }
    result: list[object] = []
    with container.uow.begin() as tx:
        assert tx.receipts.add(Receipt(ann, receipt_key("raced"), "digest", winner, NOW))
        loser = threading.Thread(
            target=lambda: result.append(
                container.health_ingest.ingest(ann, "raced", "digest", Batch(measure_groups=(weight(T0),)))
            )
        )
        loser.start()
        time.sleep(0.5)  # the loser has read (no receipt yet), stored its group and waits on the key
        assert loser.is_alive()
    loser.join(10)
    [ingested] = result
    assert ingested.answer == winner and ingested.replayed  # type: ignore[attr-defined]
    assert groups_of(container, ann) == []  # its group was rolled back


def test_old_receipts_are_pruned(container: Container, ann: int, clock: FrozenClock) -> None:
    ingest = container.health_ingest
    ingest.ingest(ann, "old", "d", Batch(measure_groups=(weight(T0),)))
    clock.advance(days=1)
    ingest.ingest(ann, "day-later", "d", Batch(measure_groups=(weight(T0 + 1),)))
    assert ingest.ingest(ann, "old", "d", Batch(measure_groups=(weight(T0),))).replayed  # kept a day on
    clock.advance(days=7)
    ingest.ingest(ann, "week-later", "d", Batch(measure_groups=(weight(T0 + 2),)))
    with container.uow.read() as tx:
        assert tx.receipts.get(ann, receipt_key("old")) is None
        assert tx.receipts.get(ann, receipt_key("week-later")) is not None


# Measure groups: edits and tombstones -------------------------------------------------------------
def test_an_edit_changes_the_group_and_bumps_modified(container: Container, ann: int, clock: FrozenClock) -> None:
    ingest = container.health_ingest
    [grpid] = ingest.ingest(ann, "k", "d", Batch(measure_groups=(weight(T0, comment="x"),))).answer["grpids"]
    edited = ingest.edit_group(ann, grpid, GroupEdit(measures=(NewMeasure(1, 7180, -2), NewMeasure(8, 1520, -2))))
    assert edited.modified > NOW  # even within the same microsecond
    stored = ingest.measure_group(ann, grpid)
    assert stored.measures == (Measure(1, 7180, -2), Measure(8, 1520, -2))
    assert (stored.date, stored.comment, stored.created, stored.modified) == (
        datetime.fromtimestamp(T0, UTC),
        "x",
        NOW,
        edited.modified,
    )
    clock.advance(minutes=5)
    moved = ingest.edit_group(ann, grpid, GroupEdit(date=T0 - 60, comment=""))
    assert ingest.measure_group(ann, grpid) == moved
    assert (moved.date, moved.comment, moved.modified) == (datetime.fromtimestamp(T0 - 60, UTC), None, clock.now())
    with pytest.raises(InvalidFields) as refused:
        ingest.edit_group(ann, grpid, GroupEdit(date=T0 + 10**6, measures=(NewMeasure(1, 1, 4),)))
    assert [p.field_name for p in refused.value.problems] == ["date", "measures[0].value"]
    assert ingest.measure_group(ann, grpid) == moved


def test_a_deletion_leaves_a_tombstone(container: Container, ann: int, clock: FrozenClock) -> None:
    ingest = container.health_ingest
    grpids = ingest.ingest(ann, "k", "d", Batch(measure_groups=(weight(T0), weight(T0 + 1)))).answer["grpids"]
    clock.advance(minutes=1)
    deleted_at = ingest.delete_group(ann, grpids[0])
    assert deleted_at == clock.now()
    assert [g.grpid for g in groups_of(container, ann)] == [grpids[1]]
    tombstone = next(g for g in groups_of(container, ann, include_deleted=True) if g.grpid == grpids[0])
    assert (tombstone.deleted, tombstone.modified, tombstone.measures) == (deleted_at, deleted_at, ())
    with container.uow.read() as tx:  # readers of what changed since a time see it
        changed = tx.measure_groups.find(ann, Window(updated_since=NOW), MeasureFilter(), Page(), include_deleted=True)
    assert [g.grpid for g in changed] == [grpids[0]]
    for gone in (
        lambda: ingest.delete_group(ann, grpids[0]),
        lambda: ingest.edit_group(ann, grpids[0], GroupEdit(comment="y")),
    ):
        with pytest.raises(RecordNotFound):
            gone()


def test_another_users_group_cannot_be_read_edited_or_deleted(container: Container, ann: int) -> None:
    bob = account(container, "bob@example.org")
    ingest = container.health_ingest
    [grpid] = ingest.ingest(bob, "k", "d", Batch(measure_groups=(weight(T0),))).answer["grpids"]
    for attempt in (
        lambda: ingest.measure_group(ann, grpid),
        lambda: ingest.edit_group(ann, grpid, GroupEdit(comment="mine")),
        lambda: ingest.delete_group(ann, grpid),
    ):
        with pytest.raises(RecordNotFound):
            attempt()
    assert ingest.measure_group(bob, grpid).comment is None and len(groups_of(container, bob)) == 1


# Goals ---------------------------------------------------------------------------------------------
def test_goals_round_trip(container: Container, ann: int, clock: FrozenClock) -> None:
    ingest = container.health_ingest
    defaults = ingest.goals(ann)
    assert (defaults.steps, defaults.sleep, defaults.weight, defaults.modified) == (10_000, 28_800, None, None)
    clock.advance(minutes=1)
    ingest.set_goals(ann, 12_000, 27_000, NewMeasure(1, 6850, -2))
    goals = ingest.goals(ann)
    assert (goals.steps, goals.sleep, goals.weight, goals.modified) == (
        12_000,
        27_000,
        WeightGoal(6850, -2),
        clock.now(),
    )
    ingest.set_goals(ann, 8_000, 30_000, None)
    assert replace(ingest.goals(ann), modified=None) == replace(
        goals, steps=8_000, sleep=30_000, weight=None, modified=None
    )
    with pytest.raises(InvalidFields) as refused:
        ingest.set_goals(ann, -1, 90_000, NewMeasure(1, 5, 4))
    assert [p.field_name for p in refused.value.problems] == ["steps", "sleep", "weight.value"]
    assert ingest.goals(ann).steps == 8_000
