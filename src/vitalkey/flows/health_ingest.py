"""The companion app's way in for health data: pair and unpair devices, send batches of measure
groups, activity days, intraday samples, workouts, sleep sessions and heart recordings, edit and
delete a measure group, read and set the goals.

A batch is judged whole: every item is checked (known meastype, plausible value, moments neither
in the future beyond the clock skew nor before 1970, end after start, IANA time zone, a device of
this user, values from the enums) and every problem is reported at once, each naming its item and
field (``measure_groups[3].measures[0].value``). Then it is stored all or nothing, in one
transaction, with its receipt: the idempotency key the client chose and the SHA-256 digest of the
request. The same key with the same request gets the stored answer again and stores nothing; with
another request it is refused (``IdempotencyConflict``). A refused batch stores nothing, receipt
included, so the client may correct it and send it again under the same key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import IntEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from vitalkey.domain.errors import DomainError, InvalidFields
from vitalkey.domain.health import (
    ACTIVITY_FIELDS,
    INTRADAY_FIELDS,
    MAX_BATCH_ITEMS,
    MAX_SAMPLING_FREQUENCY,
    MAX_SLEEP_GOAL,
    MAX_STEPS_GOAL,
    MAX_VALUE,
    MAX_WEARPOSITION,
    MAX_WORKOUT_CATEGORY,
    MEASURE_TYPES,
    SLEEP_SERIES,
    SLEEP_SUMMARY_FIELDS,
    WORKOUT_FIELDS,
    ActivityDay,
    AfibResult,
    Attrib,
    BatchTooLarge,
    Battery,
    BloodPressure,
    Brand,
    Category,
    Device,
    DeviceType,
    EndsBeforeStart,
    Goals,
    HeartRecording,
    IdempotencyConflict,
    IntradaySample,
    InvalidIdempotencyKey,
    Measure,
    MeasureGroup,
    NoMeasures,
    Number,
    OutsideSession,
    RecordNotFound,
    SleepSession,
    SleepStage,
    SleepState,
    TimezoneMissing,
    UnknownDataField,
    UnknownDevice,
    WeightGoal,
    Workout,
    data_problems,
    day_problem,
    duplicate_types,
    enum_problem,
    epoch_problem,
    idempotency_key_problem,
    known_timezone,
    measure_problem,
    new_device_ids,
    range_problem,
    timezone_problem,
)
from vitalkey.domain.notifications import Change, Notice
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.notify_outbox import (
    ChangeNotifier,
    day_notice,
    group_notices,
    heart_notice,
    sleep_notice,
    workout_notice,
)
from vitalkey.ports import Receipt, Transaction

E = TypeVar("E", bound=IntEnum)

RECEIPTS_KEPT = timedelta(days=7)  # a retry comes within minutes; at least a day is promised
PRUNE_EVERY = timedelta(hours=1)
RACE_ATTEMPTS = 3
TICK = timedelta(microseconds=1)  # the storage's precision: an edit moves ``modified`` on by at least this


# What the companion app sends (moments in Unix seconds, local days as dates) ---------------------
@dataclass(frozen=True, slots=True)
class NewMeasure:
    type: int
    value: int
    unit: int


@dataclass(frozen=True, slots=True)
class NewGroup:
    date: int
    measures: tuple[NewMeasure, ...]
    category: int = Category.REAL
    attrib: int | None = None  # None: 0 (a device's) with a device, 2 (manual) without
    timezone: str | None = None  # None: the device's
    deviceid: str | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class NewActivityDay:
    date: date
    data: Mapping[str, Number]
    timezone: str | None = None
    deviceid: str | None = None
    brand: int = Brand.WITHINGS
    is_tracker: bool = True


@dataclass(frozen=True, slots=True)
class NewSample:
    at: int
    deviceid: str
    data: Mapping[str, Number]


@dataclass(frozen=True, slots=True)
class NewWorkout:
    category: int
    startdate: int
    enddate: int
    data: Mapping[str, Number] = field(default_factory=dict)
    date: date | None = None  # None: the local day it starts on
    timezone: str | None = None
    deviceid: str | None = None
    attrib: int = Attrib.DEVICE


@dataclass(frozen=True, slots=True)
class NewSleepState:
    startdate: int
    enddate: int
    state: int


@dataclass(frozen=True, slots=True)
class NewSleepSession:
    startdate: int
    enddate: int
    states: tuple[NewSleepState, ...] = ()
    series: Mapping[str, Mapping[int, int]] = field(default_factory=dict)
    summary: Mapping[str, Number] = field(default_factory=dict)
    timezone: str | None = None
    deviceid: str | None = None
    completed: bool = True


@dataclass(frozen=True, slots=True)
class NewBloodPressure:
    systole: int
    diastole: int


@dataclass(frozen=True, slots=True)
class NewHeartRecording:
    at: int
    heart_rate: int
    afib: int
    signal: tuple[int, ...]
    sampling_frequency: int
    wearposition: int = 0
    timezone: str | None = None
    deviceid: str | None = None
    bloodpressure: NewBloodPressure | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    measure_groups: tuple[NewGroup, ...] = ()
    activity: tuple[NewActivityDay, ...] = ()
    intraday: tuple[NewSample, ...] = ()
    workouts: tuple[NewWorkout, ...] = ()
    sleep: tuple[NewSleepSession, ...] = ()
    heart: tuple[NewHeartRecording, ...] = ()
    backfill: bool = False  # history the app imports (a device's stored readings), not live data

    def size(self) -> int:
        return sum(map(len, (self.measure_groups, self.activity, self.intraday, self.workouts, self.sleep, self.heart)))


@dataclass(frozen=True, slots=True)
class GroupEdit:
    """What an edit changes (None: kept). ``comment=""`` removes the comment."""

    date: int | None = None
    measures: tuple[NewMeasure, ...] | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Ingested:
    """A batch's answer (the ids given, per kind; the same on a replay) and whether it was
    answered from the receipt of an earlier send."""

    answer: dict[str, Any]
    replayed: bool


class _LostRace(Exception):
    """A parallel send of the same key stored its batch first: ours is rolled back."""


# Checking a batch --------------------------------------------------------------------------------
class _Check:
    """The problems found so far, and the account's paired devices (by ``deviceid``)."""

    def __init__(self, now: datetime, devices: Mapping[str, Device]) -> None:
        self.now = now
        self.devices = devices
        self.problems: list[DomainError] = []
        self.sessions: dict[str, tuple[datetime, datetime]] = {}  # deviceid → first and last moment in the batch

    def add(self, problem: DomainError | None) -> bool:
        if problem is None:
            return True
        self.problems.append(problem)
        return False

    def extend(self, problems: Iterable[DomainError]) -> None:
        self.problems.extend(problems)

    def moment(self, seconds: int, where: str) -> datetime:
        """The moment (UTC); a refused one counts as a problem and answers the epoch's start."""
        if self.add(epoch_problem(seconds, self.now, where)):
            return datetime.fromtimestamp(seconds, UTC)
        return datetime.fromtimestamp(0, UTC)

    def device(self, deviceid: str | None, where: str) -> Device | None:
        if deviceid is None:
            return None
        device = self.devices.get(deviceid)
        if device is None:
            self.add(UnknownDevice(field=f"{where}.deviceid"))
        return device

    def timezone(self, given: str | None, deviceid: str | None, where: str) -> str:
        """The item's zone, else its device's; one must be given (an unknown device is
        reported already)."""
        if given is not None:
            self.add(timezone_problem(given, f"{where}.timezone"))
            return given
        if deviceid is None:
            self.add(TimezoneMissing(field=f"{where}.timezone"))
        device = self.devices.get(deviceid) if deviceid is not None else None
        return device.timezone if device is not None else "UTC"

    def span(self, start: int, end: int, where: str) -> tuple[datetime, datetime]:
        first, last = self.moment(start, f"{where}.startdate"), self.moment(end, f"{where}.enddate")
        if end < start:
            self.add(EndsBeforeStart(field=f"{where}.enddate"))
        return first, last

    def measures(self, given: Sequence[NewMeasure], where: str) -> tuple[Measure, ...]:
        measures = tuple(Measure(m.type, m.value, m.unit) for m in given)
        if not measures:
            self.add(NoMeasures(field=where))
        for index, measure in enumerate(measures):
            self.add(measure_problem(measure, f"{where}[{index}]"))
        self.extend(duplicate_types(measures, where))
        return measures

    def seen(self, device: Device | None, *moments: datetime) -> None:
        """The device was in use at these moments (its first and last session follow)."""
        if device is None:
            return
        first, last = self.sessions.get(device.deviceid, (moments[0], moments[0]))
        self.sessions[device.deviceid] = (min(first, *moments), max(last, *moments))

    def done(self) -> None:
        if self.problems:
            raise InvalidFields(self.problems)


def _local_day(moment: datetime, timezone: str) -> date:
    """The day ``moment`` fell on where it happened (a refused zone, reported already: UTC's)."""
    return moment.astimezone(ZoneInfo(timezone) if known_timezone(timezone) else UTC).date()


def _group(check: _Check, item: NewGroup, where: str, account_id: int) -> MeasureGroup:
    device = check.device(item.deviceid, where)
    moment = check.moment(item.date, f"{where}.date")
    timezone = check.timezone(item.timezone, item.deviceid, where)
    check.add(enum_problem(item.category, Category, f"{where}.category"))
    attrib = item.attrib if item.attrib is not None else (Attrib.DEVICE if item.deviceid else Attrib.MANUAL)
    check.add(enum_problem(attrib, Attrib, f"{where}.attrib"))
    measures = check.measures(item.measures, f"{where}.measures")
    check.seen(device, moment)
    now = check.now
    return MeasureGroup(
        0,
        account_id,
        moment,
        timezone,
        _member(Attrib, attrib, Attrib.DEVICE),
        _member(Category, item.category, Category.REAL),
        measures,
        now,
        now,
        item.deviceid,
        item.comment or None,
    )


def _activity(check: _Check, item: NewActivityDay, where: str, account_id: int) -> ActivityDay:
    check.device(item.deviceid, where)  # a day has no moment: it leaves the sessions as they are
    timezone = check.timezone(item.timezone, item.deviceid, where)
    check.add(day_problem(item.date, timezone, check.now, f"{where}.date"))
    check.add(enum_problem(item.brand, Brand, f"{where}.brand"))
    check.extend(data_problems(item.data, ACTIVITY_FIELDS, f"{where}.data"))
    now = check.now
    brand = _member(Brand, item.brand, Brand.WITHINGS)
    return ActivityDay(
        0, account_id, item.date, timezone, dict(item.data), now, now, item.deviceid, brand, item.is_tracker
    )


def _member(kind: type[E], value: int, fallback: E) -> E:
    """``value`` as a member of ``kind`` (a refused value, reported already, as ``fallback``)."""
    try:
        return kind(value)
    except ValueError:
        return fallback


def _sample(check: _Check, item: NewSample, where: str, account_id: int) -> IntradaySample:
    device = check.device(item.deviceid, where)
    moment = check.moment(item.at, f"{where}.at")
    check.extend(data_problems(item.data, INTRADAY_FIELDS, f"{where}.data"))
    check.seen(device, moment)
    return IntradaySample(account_id, item.deviceid, moment, dict(item.data))


def _workout(check: _Check, item: NewWorkout, where: str, account_id: int) -> Workout:
    device = check.device(item.deviceid, where)
    start, end = check.span(item.startdate, item.enddate, where)
    timezone = check.timezone(item.timezone, item.deviceid, where)
    check.add(range_problem(item.category, 1, MAX_WORKOUT_CATEGORY, f"{where}.category"))
    check.add(enum_problem(item.attrib, Attrib, f"{where}.attrib"))
    day = item.date if item.date is not None else _local_day(start, timezone)
    if item.date is not None:
        check.add(day_problem(item.date, timezone, check.now, f"{where}.date"))
    check.extend(data_problems(item.data, WORKOUT_FIELDS, f"{where}.data"))
    check.seen(device, start, end)
    now = check.now
    attrib = _member(Attrib, item.attrib, Attrib.DEVICE)
    return Workout(
        0, account_id, item.category, start, end, day, timezone, dict(item.data), now, now, item.deviceid, attrib
    )


def _sleep(check: _Check, item: NewSleepSession, where: str, account_id: int) -> SleepSession:
    device = check.device(item.deviceid, where)
    start, end = check.span(item.startdate, item.enddate, where)
    timezone = check.timezone(item.timezone, item.deviceid, where)
    states: list[SleepState] = []
    for index, state in enumerate(item.states):
        at = f"{where}.states[{index}]"
        first, last = check.span(state.startdate, state.enddate, at)
        if check.add(enum_problem(state.state, SleepStage, f"{at}.state")):
            states.append(SleepState(first, last, SleepStage(state.state)))
        if state.startdate < item.startdate or state.enddate > item.enddate:
            check.add(OutsideSession(field=f"{at}.startdate" if state.startdate < item.startdate else f"{at}.enddate"))
    for name, points in item.series.items():
        if name not in SLEEP_SERIES:
            check.add(UnknownDataField(field=f"{where}.series.{name}", name=name))
            continue
        for second, value in points.items():
            at = f"{where}.series.{name}.{second}"
            if not item.startdate <= second <= item.enddate:
                check.add(OutsideSession(field=at))
            check.add(range_problem(value, 0, MAX_VALUE, at))
    check.extend(data_problems(item.summary, SLEEP_SUMMARY_FIELDS, f"{where}.summary"))
    check.seen(device, start, end)
    now = check.now
    series = {name: dict(points) for name, points in item.series.items()}
    return SleepSession(
        0,
        account_id,
        start,
        end,
        _local_day(end, timezone),
        timezone,
        tuple(states),
        series,
        dict(item.summary),
        now,
        now,
        item.deviceid,
        item.completed,
    )


HEART_PULSE = MEASURE_TYPES[11]
SYSTOLE, DIASTOLE = MEASURE_TYPES[10], MEASURE_TYPES[9]


def _heart(check: _Check, item: NewHeartRecording, where: str, account_id: int) -> HeartRecording:
    device = check.device(item.deviceid, where)
    moment = check.moment(item.at, f"{where}.at")
    timezone = check.timezone(item.timezone, item.deviceid, where)
    check.add(range_problem(item.heart_rate, int(HEART_PULSE.low), int(HEART_PULSE.high), f"{where}.heart_rate"))
    afib_known = check.add(enum_problem(item.afib, AfibResult, f"{where}.afib"))
    check.add(range_problem(item.sampling_frequency, 1, MAX_SAMPLING_FREQUENCY, f"{where}.sampling_frequency"))
    check.add(range_problem(item.wearposition, 0, MAX_WEARPOSITION, f"{where}.wearposition"))
    for index, sample in enumerate(item.signal):
        if not check.add(range_problem(sample, -MAX_VALUE, MAX_VALUE, f"{where}.signal[{index}]")):
            break  # one is enough to name
    pressure = None
    if item.bloodpressure is not None:
        at = f"{where}.bloodpressure"
        check.add(range_problem(item.bloodpressure.systole, int(SYSTOLE.low), int(SYSTOLE.high), f"{at}.systole"))
        check.add(range_problem(item.bloodpressure.diastole, int(DIASTOLE.low), int(DIASTOLE.high), f"{at}.diastole"))
        pressure = BloodPressure(item.bloodpressure.systole, item.bloodpressure.diastole)
    check.seen(device, moment)
    now = check.now
    return HeartRecording(
        0,
        account_id,
        moment,
        timezone,
        item.heart_rate,
        AfibResult(item.afib) if afib_known else AfibResult.INCONCLUSIVE,
        tuple(item.signal),
        item.sampling_frequency,
        item.wearposition,
        now,
        now,
        item.deviceid,
        pressure,
    )


@dataclass(frozen=True, slots=True)
class _Records:
    groups: list[MeasureGroup]
    days: list[ActivityDay]
    samples: list[IntradaySample]
    workouts: list[Workout]
    sleep: list[SleepSession]
    heart: list[HeartRecording]


def _records(check: _Check, batch: Batch, account_id: int) -> _Records:
    """Every item as the record to store; raises ``InvalidFields`` with every problem found."""
    records = _Records(
        groups=[_group(check, g, f"measure_groups[{i}]", account_id) for i, g in enumerate(batch.measure_groups)],
        days=[_activity(check, d, f"activity[{i}]", account_id) for i, d in enumerate(batch.activity)],
        samples=[_sample(check, s, f"intraday[{i}]", account_id) for i, s in enumerate(batch.intraday)],
        workouts=[_workout(check, w, f"workouts[{i}]", account_id) for i, w in enumerate(batch.workouts)],
        sleep=[_sleep(check, s, f"sleep[{i}]", account_id) for i, s in enumerate(batch.sleep)],
        heart=[_heart(check, h, f"heart[{i}]", account_id) for i, h in enumerate(batch.heart)],
    )
    check.done()
    return records


def receipt_key(key: str) -> str:
    """What a receipt is stored under: the key's SHA-256 (a fixed length, whatever the client chose)."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


# The service --------------------------------------------------------------------------------------
class HealthIngest:
    """``notifier`` queues the partners' notifications of each change in its transaction."""

    def __init__(self, deps: FlowDeps, notifier: ChangeNotifier) -> None:
        self.deps = deps
        self.notifier = notifier
        self._next_prune = datetime.min.replace(tzinfo=UTC)

    # Devices -------------------------------------------------------------------------------------
    def pair(
        self, account_id: int, type: str, model: str, model_id: int, timezone: str, battery: str = Battery.UNKNOWN
    ) -> Device:
        """A new device of the account; the server makes its opaque ids."""
        problems = [
            enum_problem(type, DeviceType, "type"),
            range_problem(model_id, 0, 2**31 - 1, "model_id"),
            timezone_problem(timezone, "timezone"),
            enum_problem(battery, Battery, "battery"),
        ]
        _raise_all(problems)
        now = self.deps.clock.now()
        deviceid, hashed = new_device_ids()
        device = Device(
            deviceid, hashed, account_id, DeviceType(type), model, model_id, Battery(battery), timezone, now, now
        )
        with self.deps.uow.begin() as tx:
            tx.devices.add(device)
            tx.audit.record("health.device_paired", now, account_id, device_type=device.type.value)
        return device

    def devices(self, account_id: int) -> list[Device]:
        with self.deps.uow.read() as tx:
            return tx.devices.for_account(account_id)

    def update_device(self, account_id: int, deviceid: str, battery: str | None, timezone: str | None) -> Device:
        problems = [
            enum_problem(battery, Battery, "battery") if battery is not None else None,
            timezone_problem(timezone, "timezone") if timezone is not None else None,
        ]
        _raise_all(problems)
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            device = tx.devices.get(account_id, deviceid)
            if device is None:
                raise UnknownDevice()
            changed = replace(
                device,
                battery=Battery(battery) if battery is not None else device.battery,
                timezone=timezone if timezone is not None else device.timezone,
                modified=max(now, device.modified + TICK),
            )
            if not tx.devices.update(changed):
                raise UnknownDevice()
        return changed

    def unpair(self, account_id: int, deviceid: str) -> None:
        """The device is no longer the account's; what it measured stays."""
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            if not tx.devices.unpair(account_id, deviceid, now):
                raise UnknownDevice()
            tx.audit.record("health.device_unpaired", now, account_id)

    # Batches -------------------------------------------------------------------------------------
    def ingest(self, account_id: int, key: str | None, digest: str, batch: Batch) -> Ingested:
        """Store ``batch`` whole, or nothing; ``digest`` is the request's (same key, same digest:
        the same answer again, nothing stored twice)."""
        if key is None or idempotency_key_problem(key) is not None:
            raise InvalidIdempotencyKey()
        if batch.size() > MAX_BATCH_ITEMS:
            raise BatchTooLarge(limit=MAX_BATCH_ITEMS)
        stored_under = receipt_key(key)
        for _ in range(RACE_ATTEMPTS):
            try:
                return self._ingest(account_id, stored_under, digest, batch)
            except _LostRace:  # rolled back: answer as the winner was answered
                with self.deps.uow.read() as tx:
                    receipt = tx.receipts.get(account_id, stored_under)
                if receipt is not None:
                    return _replay(receipt, digest)
                # the winner's receipt is gone already (pruned): this send may store its batch
        raise IdempotencyConflict()

    def _ingest(self, account_id: int, stored_under: str, digest: str, batch: Batch) -> Ingested:
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            receipt = tx.receipts.get(account_id, stored_under)
            if receipt is not None:
                return _replay(receipt, digest)
            devices = {device.deviceid: device for device in tx.devices.for_account(account_id)}
            check = _Check(now, devices)
            records = _records(check, batch, account_id)
            answer = _store(tx, records)
            self.notifier.changed(tx, _notices(records, batch.backfill), now)
            _touch_devices(tx, check, now)
            if not tx.receipts.add(Receipt(account_id, stored_under, digest, answer, now)):
                raise _LostRace()
            if now >= self._next_prune:
                self._next_prune = now + PRUNE_EVERY
                tx.receipts.prune(now - RECEIPTS_KEPT)
        return Ingested(answer, replayed=False)

    # Measure groups -------------------------------------------------------------------------------
    def measure_group(self, account_id: int, grpid: int) -> MeasureGroup:
        with self.deps.uow.read() as tx:
            return _live_group(tx, account_id, grpid)

    def edit_group(self, account_id: int, grpid: int, edit: GroupEdit) -> MeasureGroup:
        """Change a group's date, measures or comment; ``modified`` moves on."""
        now = self.deps.clock.now()
        check = _Check(now, {})
        moment = check.moment(edit.date, "date") if edit.date is not None else None
        measures = check.measures(edit.measures, "measures") if edit.measures is not None else None
        check.done()
        with self.deps.uow.begin() as tx:
            group = _live_group(tx, account_id, grpid)
            comment = group.comment if edit.comment is None else (edit.comment or None)
            changed = replace(
                group,
                date=moment if moment is not None else group.date,
                measures=measures if measures is not None else group.measures,
                comment=comment,
                modified=max(now, group.modified + TICK),
            )
            if not tx.measure_groups.replace(changed):
                raise RecordNotFound()
            self.notifier.changed(tx, group_notices(changed, Change.EDIT, before=group), now)
            tx.audit.record("health.measure_group_edited", now, account_id, grpid=grpid)
        return changed

    def delete_group(self, account_id: int, grpid: int) -> datetime:
        """Leave a tombstone (``lastupdate`` readers learn of it); the moment of the deletion."""
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            group = _live_group(tx, account_id, grpid)
            deleted = max(now, group.modified + TICK)
            if not tx.measure_groups.delete(account_id, grpid, deleted):
                raise RecordNotFound()
            self.notifier.changed(tx, group_notices(group, Change.DELETE), now)
            tx.audit.record("health.measure_group_deleted", now, account_id, grpid=grpid)
        return deleted

    # Goals ----------------------------------------------------------------------------------------
    def goals(self, account_id: int) -> Goals:
        with self.deps.uow.read() as tx:
            return tx.goals.get(account_id)

    def set_goals(self, account_id: int, steps: int, sleep: int, weight: NewMeasure | None) -> Goals:
        """Set all three goals (``weight`` None: none)."""
        problems = [
            range_problem(steps, 0, MAX_STEPS_GOAL, "steps"),
            range_problem(sleep, 0, MAX_SLEEP_GOAL, "sleep"),
        ]
        if weight is not None:
            problems.append(measure_problem(Measure(1, weight.value, weight.unit), "weight"))
        _raise_all(problems)
        now = self.deps.clock.now()
        goals = Goals(steps, sleep, WeightGoal(weight.value, weight.unit) if weight else None, now)
        with self.deps.uow.begin() as tx:
            tx.goals.set(account_id, goals)
        return goals


def _raise_all(problems: Iterable[DomainError | None]) -> None:
    found = [problem for problem in problems if problem is not None]
    if found:
        raise InvalidFields(found)


def _replay(receipt: Receipt, digest: str) -> Ingested:
    if receipt.digest != digest:
        raise IdempotencyConflict()
    return Ingested(receipt.answer, replayed=True)


def _live_group(tx: Transaction, account_id: int, grpid: int) -> MeasureGroup:
    group = tx.measure_groups.get(account_id, grpid)
    if group is None or group.deleted is not None:
        raise RecordNotFound()
    return group


def _store(tx: Transaction, records: _Records) -> dict[str, Any]:
    """Store the records; the answer: the ids given, in the batch's order."""
    grpids = tx.measure_groups.add_many(records.groups)
    day_ids = [tx.activity.put(day).id for day in records.days]
    if records.samples:
        tx.intraday.put(records.samples)
    workout_ids = [tx.workouts.add(workout) for workout in records.workouts]
    sleep_ids = [tx.sleep.add(session) for session in records.sleep]
    signalids = [tx.heart.add(recording) for recording in records.heart]
    return {
        "grpids": grpids,
        "activity_ids": day_ids,
        "intraday_samples": len(records.samples),
        "workout_ids": workout_ids,
        "sleep_ids": sleep_ids,
        "signalids": signalids,
    }


def _notices(records: _Records, backfill: bool) -> Iterator[Notice]:
    """What the stored records tell the partners (intraday samples are read, not announced)."""
    notices: list[Notice] = [notice for group in records.groups for notice in group_notices(group, Change.NEW)]
    notices += [day_notice(day) for day in records.days]
    notices += [workout_notice(workout) for workout in records.workouts]
    notices += [sleep_notice(session) for session in records.sleep]
    notices += [heart_notice(recording) for recording in records.heart]
    return (replace(notice, backfill=backfill) for notice in notices)


def _touch_devices(tx: Transaction, check: _Check, now: datetime) -> None:
    """The devices' first and last session take in the batch's moments."""
    for deviceid, (first, last) in sorted(check.sessions.items()):  # one order: no deadlock between batches
        device = check.devices[deviceid]
        widened = replace(
            device,
            first_session=min(first, device.first_session) if device.first_session else first,
            last_session=max(last, device.last_session) if device.last_session else last,
        )
        if widened != device:
            tx.devices.update(replace(widened, modified=max(now, device.modified + TICK)))


__all__ = [
    "Batch",
    "GroupEdit",
    "HealthIngest",
    "Ingested",
    "NewActivityDay",
    "NewBloodPressure",
    "NewGroup",
    "NewHeartRecording",
    "NewMeasure",
    "NewSample",
    "NewSleepSession",
    "NewSleepState",
    "NewWorkout",
]
