"""Health data: devices and what they measure — body measures, daily activity, intraday samples,
workouts, sleep and heart recordings — and the user's goals.

Values are kept as the devices send them. A body measure is an integer ``value`` and a
power-of-ten ``unit`` (the real value is ``value × 10^unit``: 72.35 kg is ``7235, -2``), never a
float, so what a partner reads back is exactly what was stored. Every record keeps when it was
created and last modified; an edit bumps ``modified`` and a deletion keeps the record as a
tombstone (``deleted`` set, contents emptied) so that readers asking for what changed since a
time (``lastupdate``) and the notifications learn of it. Ids (``grpid``, ``id``, ``signalid``) are
0 until the record is stored; storage gives them, increasing.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import IntEnum, StrEnum
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vitalkey.domain.errors import DomainError, InvalidInput
from vitalkey.domain.i18n import N_

# A client's clock may run a little ahead of ours: data dated up to this far in the future is taken.
CLOCK_SKEW = timedelta(minutes=5)
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)  # nothing a device measured is older than the epoch
MAX_BATCH_ITEMS = 5_000

Number = int | float  # activity, workout and sleep fields, as Withings sends them (counts, seconds, kcal, metres)


class DeviceType(StrEnum):
    SCALE = "Scale"
    ACTIVITY_TRACKER = "Activity Tracker"
    BLOOD_PRESSURE_MONITOR = "Blood Pressure Monitor"
    SLEEP_MONITOR = "Sleep Monitor"
    THERMOMETER = "Smart Connected Thermometer"


class Battery(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    UNKNOWN = "unknown"


class Category(IntEnum):
    """A measure group holds real measurements or the user's objectives."""

    REAL = 1
    OBJECTIVE = 2


class Attrib(IntEnum):
    """How a measure group was captured (Withings' ``attrib``)."""

    DEVICE = 0
    AMBIGUOUS = 1
    MANUAL = 2
    MANUAL_AT_CREATION = 4
    AUTO = 5
    CONFIRMED = 7
    DEVICE_SAME_USER = 8
    GUIDED = 15


class SleepStage(IntEnum):
    AWAKE = 0
    LIGHT = 1
    DEEP = 2
    REM = 3
    MANUAL = 4
    UNSPECIFIED = 5
    OUT_OF_BED = 15


class AfibResult(IntEnum):
    NEGATIVE = 0
    POSITIVE = 1
    INCONCLUSIVE = 2


class Brand(IntEnum):
    WITHINGS = 1
    EXTERNAL = 18


@dataclass(frozen=True, slots=True)
class MeasureType:
    """A Withings meastype code, its name, and the plausible range of its real value."""

    code: int
    name: str
    low: Decimal
    high: Decimal


def _types(*rows: tuple[int, str, str, str]) -> Mapping[int, MeasureType]:
    return {code: MeasureType(code, name, Decimal(low), Decimal(high)) for code, name, low, high in rows}


MEASURE_TYPES: Mapping[int, MeasureType] = _types(
    (1, "weight (kg)", "0.5", "700"),
    (4, "height (m)", "0.2", "3"),
    (5, "fat-free mass (kg)", "0.1", "700"),
    (6, "fat ratio (%)", "0", "100"),
    (8, "fat mass (kg)", "0", "700"),
    (9, "diastolic blood pressure (mmHg)", "10", "300"),
    (10, "systolic blood pressure (mmHg)", "20", "350"),
    (11, "heart pulse (bpm)", "10", "300"),
    (12, "temperature (°C)", "-60", "70"),
    (54, "SpO2 (%)", "0", "100"),
    (71, "body temperature (°C)", "20", "47"),
    (73, "skin temperature (°C)", "10", "47"),
    (76, "muscle mass (kg)", "0", "700"),
    (77, "hydration (kg)", "0", "700"),
    (88, "bone mass (kg)", "0", "100"),
    (91, "pulse wave velocity (m/s)", "0", "50"),
    (123, "VO2 max (ml/min/kg)", "0", "150"),
    (130, "atrial fibrillation result", "0", "3"),
    (135, "QRS interval (ms)", "0", "1000"),
    (136, "PR interval (ms)", "0", "1000"),
    (137, "QT interval (ms)", "0", "1000"),
    (138, "corrected QT interval (ms)", "0", "1000"),
    (139, "atrial fibrillation from PPG", "0", "3"),
    (155, "vascular age (years)", "0", "150"),
    (167, "nerve health score feet", "0", "100"),
    (168, "extracellular water (kg)", "0", "700"),
    (169, "intracellular water (kg)", "0", "700"),
    (170, "visceral fat", "0", "100"),
    (173, "fat-free mass per segment (kg)", "0", "700"),
    (174, "fat mass per segment (kg)", "0", "700"),
    (175, "muscle mass per segment (kg)", "0", "700"),
    (196, "electrodermal activity feet", "0", "100"),
    (226, "basal metabolic rate (kcal)", "0", "20000"),
    (227, "metabolic age (years)", "0", "150"),
    (229, "electrochemical skin conductance", "0", "100"),
)
MAX_UNIT = 10  # |unit| beyond this is no device's precision
MAX_VALUE = 10**15  # fits both engines' 64-bit integers with room


@dataclass(frozen=True, slots=True)
class Measure:
    type: int
    value: int
    unit: int

    def real(self) -> Decimal:
        """The exact real value."""
        return Decimal(self.value).scaleb(self.unit)


@dataclass(frozen=True, slots=True)
class Device:
    deviceid: str  # opaque, made by the server at pairing
    hash_deviceid: str
    account_id: int
    type: DeviceType
    model: str
    model_id: int
    battery: Battery
    timezone: str  # an IANA name
    created: datetime
    modified: datetime
    first_session: datetime | None = None
    last_session: datetime | None = None
    deleted: datetime | None = None  # unpaired at


@dataclass(frozen=True, slots=True)
class MeasureGroup:
    grpid: int
    account_id: int
    date: datetime
    timezone: str
    attrib: Attrib
    category: Category
    measures: tuple[Measure, ...]
    created: datetime
    modified: datetime
    deviceid: str | None = None
    comment: str | None = None
    deleted: datetime | None = None


@dataclass(frozen=True, slots=True)
class ActivityDay:
    """One local day of activity (steps, distance, calories, heart-rate zones …) from one device."""

    id: int
    account_id: int
    date: date
    timezone: str
    data: Mapping[str, Number]
    created: datetime
    modified: datetime
    deviceid: str | None = None
    brand: Brand = Brand.WITHINGS
    is_tracker: bool = True
    deleted: datetime | None = None


@dataclass(frozen=True, slots=True)
class IntradaySample:
    """What a device recorded at one second (steps, heart rate, …); a later sample for the same
    second and device replaces it."""

    account_id: int
    deviceid: str
    at: datetime
    data: Mapping[str, Number]


@dataclass(frozen=True, slots=True)
class Workout:
    id: int
    account_id: int
    category: int  # Withings' workout category (1 walk, 2 run, …)
    startdate: datetime
    enddate: datetime
    date: date
    timezone: str
    data: Mapping[str, Number]
    created: datetime
    modified: datetime
    deviceid: str | None = None
    attrib: Attrib = Attrib.DEVICE
    deleted: datetime | None = None


@dataclass(frozen=True, slots=True)
class SleepState:
    startdate: datetime
    enddate: datetime
    state: SleepStage


@dataclass(frozen=True, slots=True)
class SleepSession:
    """One night (or nap): the stages, the per-second series (hr, rr, snoring, …, each
    ``{epoch second: value}``), and its summary (total sleep time, stage durations, score, …)."""

    id: int
    account_id: int
    startdate: datetime
    enddate: datetime
    date: date  # the local day the session ends on
    timezone: str
    states: tuple[SleepState, ...]
    series: Mapping[str, Mapping[int, int]]
    summary: Mapping[str, Number]
    created: datetime
    modified: datetime
    deviceid: str | None = None
    completed: bool = True
    deleted: datetime | None = None


@dataclass(frozen=True, slots=True)
class SleepNight:
    """A live session's day, start and summary alone: what the dashboard draws of a night
    (its states and series are not read)."""

    date: date
    startdate: datetime
    summary: Mapping[str, Number]


@dataclass(frozen=True, slots=True)
class MeasureValue:
    """One measure of a live group with its group's id, date and time zone alone: what the
    dashboard draws (no group is built around it)."""

    grpid: int
    at: datetime  # the group's date (UTC)
    timezone: str  # the group's, where it was measured
    type: int
    value: Decimal  # the real value


@dataclass(frozen=True, slots=True)
class BloodPressure:
    systole: int
    diastole: int


@dataclass(frozen=True, slots=True)
class HeartRecording:
    """An ECG: the signal (µV samples at ``sampling_frequency`` Hz), its AFib classification and
    the heart rate."""

    signalid: int
    account_id: int
    at: datetime
    timezone: str
    heart_rate: int
    afib: AfibResult
    signal: tuple[int, ...]
    sampling_frequency: int
    wearposition: int
    created: datetime
    modified: datetime
    deviceid: str | None = None
    bloodpressure: BloodPressure | None = None
    deleted: datetime | None = None


@dataclass(frozen=True, slots=True)
class WeightGoal:
    value: int
    unit: int


@dataclass(frozen=True, slots=True)
class Goals:
    steps: int = 10_000
    sleep: int = 28_800  # seconds
    weight: WeightGoal | None = None
    modified: datetime | None = None  # None: never set (the defaults)


# Checks ----------------------------------------------------------------------------------------
class UnknownMeasureType(InvalidInput):
    code = "unknown_meastype"
    message = N_("%(type)s is not a known measure type.")


class ImplausibleValue(InvalidInput):
    code = "implausible_value"
    message = N_("This value is outside the plausible range of %(name)s (%(low)s to %(high)s).")


class InFuture(InvalidInput):
    code = "in_future"
    message = N_("This date is in the future.")


class TooOld(InvalidInput):
    code = "too_old"
    message = N_("This date is before 1970.")


class UnknownTimezone(InvalidInput):
    code = "unknown_timezone"
    message = N_("%(timezone)s is not a known time zone (use an IANA name such as Europe/Paris).")


class UnknownDevice(InvalidInput):
    code = "unknown_device"
    message = N_("No paired device of yours has this id.")


class EndsBeforeStart(InvalidInput):
    code = "ends_before_start"
    message = N_("The end is before the start.")


class BatchTooLarge(DomainError):
    code = "batch_too_large"
    message = N_("A batch holds at most %(limit)s items.")


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"
    message = N_("This idempotency key was already used for a different batch.")


class RecordNotFound(DomainError):
    code = "not_found"
    message = N_("Nothing of yours has this id.")


def measure_problem(measure: Measure, field: str) -> DomainError | None:
    """Why ``measure`` cannot be stored (``field`` names it in the batch), or None."""
    kind = MEASURE_TYPES.get(measure.type)
    if kind is None:
        return UnknownMeasureType(field=f"{field}.type", type=measure.type)
    if abs(measure.unit) > MAX_UNIT or abs(measure.value) > MAX_VALUE:
        return ImplausibleValue(field=f"{field}.value", name=kind.name, low=kind.low, high=kind.high)
    if not kind.low <= measure.real() <= kind.high:
        return ImplausibleValue(field=f"{field}.value", name=kind.name, low=kind.low, high=kind.high)
    return None


def moment_problem(moment: datetime, now: datetime, field: str) -> DomainError | None:
    """A measured moment must be after 1970 and not ahead of ``now`` beyond the clock skew."""
    if moment > now + CLOCK_SKEW:
        return InFuture(field=field)
    if moment < EARLIEST:
        return TooOld(field=field)
    return None


@lru_cache(maxsize=1024)  # bounded: the names tried come from clients
def known_timezone(name: str) -> bool:
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones ("America")
        return False
    return True


def timezone_problem(name: str, field: str) -> DomainError | None:
    return None if known_timezone(name) else UnknownTimezone(field=field, timezone=name)


# Checks of ingested items (the companion app's batches) -------------------------------------
SEGMENT_TYPES = frozenset({173, 174, 175})  # kept once per body segment: a group may repeat them
EPOCH_EARLIEST = int(EARLIEST.timestamp())

# The data fields each kind of record may hold (Withings' names, drift included: ``sdnn_1`` in
# sleep, ``sdnn1`` intraday): anything else is refused by name rather than stored unread. The
# activity and sleep-series names are in Withings' order, the order partners get them in.
HR_ZONES = ("hr_zone_0", "hr_zone_1", "hr_zone_2", "hr_zone_3")
ACTIVITY_FIELDS = (
    "steps",
    "distance",
    "elevation",
    "soft",
    "moderate",
    "intense",
    "active",
    "calories",
    "totalcalories",
    "hr_average",
    "hr_min",
    "hr_max",
    *HR_ZONES,
)
INTRADAY_FIELDS = frozenset(
    {
        "steps",
        "elevation",
        "calories",
        "distance",
        "stroke",
        "pool_lap",
        "duration",
        "heart_rate",
        "spo2_auto",
        "rmssd",
        "sdnn1",
        "hrv_quality",
        "core_body_temperature",
        "rr",
        "chest_movement_rate",
    }
)
WORKOUT_FIELDS = frozenset(
    {
        "calories",
        "intensity",
        "manual_distance",
        "manual_calories",
        "hr_average",
        "hr_min",
        "hr_max",
        *HR_ZONES,
        "pause_duration",
        "algo_pause_duration",
        "spo2_average",
        "steps",
        "distance",
        "elevation",
        "pool_laps",
        "strokes",
        "pool_length",
    }
)
SLEEP_SERIES = (
    "hr",
    "rr",
    "snoring",
    "sdnn_1",
    "rmssd",
    "hrv_quality",
    "mvt_score",
    "chest_movement_rate",
    "withings_index",
    "breathing_sounds",
)
SLEEP_SUMMARY_FIELDS = frozenset(
    {
        "total_timeinbed",
        "total_sleep_time",
        "asleepduration",
        "lightsleepduration",
        "deepsleepduration",
        "remsleepduration",
        "wakeupcount",
        "wakeupduration",
        "durationtosleep",
        "durationtowakeup",
        "sleep_efficiency",
        "sleep_latency",
        "wakeup_latency",
        "waso",
        "nb_rem_episodes",
        "out_of_bed_count",
        "apnea_hypopnea_index",
        "breathing_disturbances_intensity",
        "snoring",
        "snoringepisodecount",
        "sleep_score",
        "hr_average",
        "hr_min",
        "hr_max",
        "rr_average",
        "rr_min",
        "rr_max",
        "mvt_score_avg",
        "mvt_active_duration",
        "rmssd_start_avg",
        "rmssd_end_avg",
        "withings_index",
    }
)
MAX_WORKOUT_CATEGORY = 1_000  # Withings' categories are small positive codes (1 walk, 2 run, …)
MAX_STEPS_GOAL = 1_000_000
MAX_SLEEP_GOAL = 86_400  # seconds: a day
MAX_SAMPLING_FREQUENCY = 10_000  # Hz
MAX_WEARPOSITION = 20
IDEMPOTENCY_KEY_MAX = 255


class DuplicateMeasureType(InvalidInput):
    code = "duplicate_meastype"
    message = N_("This group already holds a measure of type %(type)s.")


class NoMeasures(InvalidInput):
    code = "no_measures"
    message = N_("A measure group holds at least one measure.")


class NotAllowedValue(InvalidInput):
    code = "not_allowed_value"
    message = N_("%(value)s is not an allowed value here (allowed: %(allowed)s).")


class UnknownDataField(InvalidInput):
    code = "unknown_data_field"
    message = N_("%(name)s is not a known field here.")


class OutOfRange(InvalidInput):
    code = "out_of_range"
    message = N_("This value must be from %(low)s to %(high)s.")


class TimezoneMissing(InvalidInput):
    code = "timezone_missing"
    message = N_(
        "Please give the time zone (an IANA name such as Europe/Paris), or the device whose time zone applies."
    )


class OutsideSession(InvalidInput):
    code = "outside_session"
    message = N_("This moment is outside the session's start and end.")


class InvalidIdempotencyKey(InvalidInput):
    code = "invalid_idempotency_key"
    message = N_(
        "Send an Idempotency-Key header of 1 to 255 printable ASCII characters, the same for every retry of this batch."
    )
    field = "Idempotency-Key"


def enum_problem(value: int | str, allowed: type[IntEnum] | type[StrEnum], field: str) -> DomainError | None:
    """``value`` must be one of ``allowed``'s values."""
    values = _values_of(allowed)
    if value in values:
        return None
    return NotAllowedValue(field=field, value=value, allowed=", ".join(str(v) for v in values))


@cache
def _values_of(allowed: type[IntEnum] | type[StrEnum]) -> tuple[int | str, ...]:
    return tuple(member.value for member in allowed)  # a batch checks thousands of values


def range_problem(value: Number, low: Number, high: Number, field: str) -> DomainError | None:
    """A number outside ``low``..``high`` (or not finite) cannot be stored."""
    if isinstance(value, float) and not math.isfinite(value):
        return OutOfRange(field=field, low=low, high=high)
    return None if low <= value <= high else OutOfRange(field=field, low=low, high=high)


def data_problems(data: Mapping[str, Number], known: Collection[str], field: str) -> list[DomainError]:
    """A record's data fields: known names, finite values from 0 on."""
    problems: list[DomainError] = []
    for name, value in data.items():
        if name not in known:
            problems.append(UnknownDataField(field=f"{field}.{name}", name=name))
        elif (problem := range_problem(value, 0, MAX_VALUE, f"{field}.{name}")) is not None:
            problems.append(problem)
    return problems


def epoch_problem(seconds: int, now: datetime, field: str) -> DomainError | None:
    """A moment given in Unix seconds: after 1970 and not ahead of ``now`` beyond the clock skew
    (compared as integers, so no value overflows a datetime)."""
    if seconds > (now + CLOCK_SKEW).timestamp():
        return InFuture(field=field)
    if seconds < EPOCH_EARLIEST:
        return TooOld(field=field)
    return None


def day_problem(day: date, timezone: str, now: datetime, field: str) -> DomainError | None:
    """A local day: after 1970 and not after today where it was lived (with the clock skew)."""
    if day < EARLIEST.date():
        return TooOld(field=field)
    if known_timezone(timezone):
        latest = (now + CLOCK_SKEW).astimezone(ZoneInfo(timezone)).date()
    else:  # the zone is refused by its own check: judge the day by the zone furthest ahead (UTC+14)
        latest = (now.astimezone(UTC) + CLOCK_SKEW + timedelta(hours=14)).date()
    return InFuture(field=field) if day > latest else None


def idempotency_key_problem(key: str | None) -> DomainError | None:
    """A client's idempotency key: 1 to 255 printable ASCII characters."""
    if key is None or not 0 < len(key) <= IDEMPOTENCY_KEY_MAX or not all(" " <= c <= "~" for c in key):
        return InvalidIdempotencyKey()
    return None


def duplicate_types(measures: tuple[Measure, ...] | list[Measure], field: str) -> list[DomainError]:
    """A group holds each meastype once (the per-segment ones aside)."""
    seen: set[int] = set()
    problems: list[DomainError] = []
    for index, measure in enumerate(measures):
        if measure.type in seen and measure.type not in SEGMENT_TYPES:
            problems.append(DuplicateMeasureType(field=f"{field}[{index}].type", type=measure.type))
        seen.add(measure.type)
    return problems


def new_device_ids() -> tuple[str, str]:
    """A device's opaque ``deviceid`` and ``hash_deviceid`` (random: they tell nothing of the
    device, the user or the order of pairing)."""
    return secrets.token_hex(20), secrets.token_hex(20)


@dataclass(frozen=True, slots=True)
class Page:
    """Where a listing starts and how much it holds: records after ``after`` (an id; 0 from the
    start) in id order, at most ``limit``. Ids only grow, so a page never shifts when new data
    arrives while a partner pages through."""

    after: int = 0
    limit: int = 200


@dataclass(frozen=True, slots=True)
class Window:
    """Which records a partner asks for: measured between ``start`` and ``end`` (inclusive), or,
    for day-based records, on the local days ``first_day`` to ``last_day``; and/or changed since
    ``updated_since``. Unset bounds are open."""

    start: datetime | None = None
    end: datetime | None = None
    first_day: date | None = None
    last_day: date | None = None
    updated_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class MeasureFilter:
    types: frozenset[int] = field(default_factory=frozenset)  # empty: every type
    category: Category | None = None
