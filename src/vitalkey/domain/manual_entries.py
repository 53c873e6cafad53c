"""Measurements the user enters by hand on the web pages: a weight (in kg, lb or st/lb) or a
blood pressure (mmHg, with an optional heart rate), read from what was typed into the exact
integer ``value`` and power-of-ten ``unit`` that devices send — through ``Decimal``, never a
float — and judged with the same plausible ranges as the companion app's data."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from vitalkey.domain.dashboard import KG_PER_LB, LB_PER_STONE, DisplayUnits
from vitalkey.domain.errors import DomainError, InvalidFields, InvalidInput
from vitalkey.domain.health import (
    CLOCK_SKEW,
    EARLIEST,
    MEASURE_TYPES,
    InFuture,
    Measure,
    TooOld,
    UnknownTimezone,
    known_timezone,
    measure_problem,
)
from vitalkey.domain.i18n import N_

WEIGHT, DIASTOLE, SYSTOLE, PULSE = 1, 9, 10, 11
BLOOD_PRESSURE = frozenset({SYSTOLE, DIASTOLE})
# A decimal number as typed: up to two decimals, with a point or a comma (German, French).
_DECIMAL = re.compile(r"\d{1,4}(?:[.,]\d{1,2})?")
_WHOLE = re.compile(r"\d{1,4}")


class MissingValue(InvalidInput):
    code = "missing_value"
    message = N_("Please enter a value.")


class NotANumber(InvalidInput):
    code = "not_a_number"
    message = N_("Please enter a number with at most two decimals, such as %(example)s.")


class NotAWholeNumber(InvalidInput):
    code = "not_a_whole_number"
    message = N_("Please enter a whole number, such as %(example)s.")


class OutsideRange(InvalidInput):
    code = "outside_range"
    message = N_("Please enter a value from %(low)s to %(high)s %(unit)s.")


class BadMoment(InvalidInput):
    code = "bad_moment"
    message = N_("Please enter a date and a time.")


class DiastoleAboveSystole(InvalidInput):
    code = "diastole_above_systole"
    message = N_("The diastolic pressure must be lower than the systolic pressure.")


@dataclass(frozen=True, slots=True)
class Entry:
    """What a form asks to store: the moment (UTC-aware) with its zone, and the measures."""

    moment: datetime
    timezone: str
    measures: tuple[Measure, ...]


def kind_of(measures: tuple[Measure, ...]) -> str:
    """``weight`` or ``pressure``: which form shows a stored group."""
    return "weight" if any(m.type == WEIGHT for m in measures) else "pressure"


def exact(number: Decimal) -> tuple[int, int]:
    """``number`` as an integer value and a power-of-ten unit (trailing zeros dropped)."""
    sign, digits, exponent = number.normalize().as_tuple()
    assert isinstance(exponent, int)  # finite: parsed from digits
    value = int("".join(map(str, digits)) or "0")
    if exponent > 0:  # 700 normalizes to 7E+2: keep the unit 0
        value, exponent = value * 10**exponent, 0
    return (-value if sign else value), exponent


def _decimal(raw: str, field: str, problems: list[DomainError], example: str = "72.5") -> Decimal | None:
    text = raw.strip()
    if not text:
        problems.append(MissingValue(field=field))
        return None
    if not _DECIMAL.fullmatch(text):
        problems.append(NotANumber(field=field, example=example))
        return None
    return Decimal(text.replace(",", "."))


def _whole(raw: str, field: str, problems: list[DomainError], required: bool = True) -> int | None:
    text = raw.strip()
    if not text:
        if required:
            problems.append(MissingValue(field=field))
        return None
    if not _WHOLE.fullmatch(text):
        problems.append(NotAWholeNumber(field=field, example="120"))
        return None
    return int(text)


def _in_range(measure: Measure, field: str, problems: list[DomainError]) -> None:
    if measure_problem(measure, field) is not None:
        kind = MEASURE_TYPES[measure.type]
        problems.append(OutsideRange(field=field, low=kind.low, high=kind.high, unit=_UNIT_NAMES[measure.type]))


_UNIT_NAMES = {WEIGHT: "kg", SYSTOLE: "mmHg", DIASTOLE: "mmHg", PULSE: "bpm"}


def weight_kg(form: dict[str, str], system: DisplayUnits, problems: list[DomainError]) -> Decimal | None:
    """The weight typed in the user's units, in kg (exact: a pound is exactly 0.45359237 kg)."""
    if system is DisplayUnits.UK:
        stones = _whole(form.get("stones", ""), "stones", problems)
        pounds = _decimal(form.get("pounds", "") or "0", "pounds", problems, "4.5")
        if stones is None or pounds is None:
            return None
        return (stones * LB_PER_STONE + pounds) * KG_PER_LB
    number = _decimal(form.get("weight", ""), "weight", problems)
    if number is None:
        return None
    return number if system is DisplayUnits.METRIC else number * KG_PER_LB


def weight_measures(form: dict[str, str], system: DisplayUnits, problems: list[DomainError]) -> tuple[Measure, ...]:
    kg = weight_kg(form, system, problems)
    if kg is None:
        return ()
    measure = Measure(WEIGHT, *exact(kg))
    field = "stones" if system is DisplayUnits.UK else "weight"
    if measure_problem(measure, field) is not None:
        kind = MEASURE_TYPES[WEIGHT]
        low, high = _weight_bounds(kind.low, kind.high, system)
        problems.append(
            OutsideRange(field=field, low=low, high=high, unit="kg" if system is DisplayUnits.METRIC else "lb")
        )
    return (measure,)


def _weight_bounds(low: Decimal, high: Decimal, system: DisplayUnits) -> tuple[Decimal, Decimal]:
    if system is DisplayUnits.METRIC:
        return low, high
    return (low / KG_PER_LB).quantize(Decimal(1)), (high / KG_PER_LB).quantize(Decimal(1))


def pressure_measures(form: dict[str, str], problems: list[DomainError]) -> tuple[Measure, ...]:
    systolic = _whole(form.get("systolic", ""), "systolic", problems)
    diastolic = _whole(form.get("diastolic", ""), "diastolic", problems)
    pulse = _whole(form.get("pulse", ""), "pulse", problems, required=False)
    measures: list[Measure] = []
    for type_, value, field in (
        (SYSTOLE, systolic, "systolic"),
        (DIASTOLE, diastolic, "diastolic"),
        (PULSE, pulse, "pulse"),
    ):
        if value is not None:
            measure = Measure(type_, value, 0)
            _in_range(measure, field, problems)
            measures.append(measure)
    if systolic is not None and diastolic is not None and diastolic >= systolic:
        problems.append(DiastoleAboveSystole(field="diastolic"))
    return tuple(measures)


def moment(form: dict[str, str], now: datetime, problems: list[DomainError]) -> tuple[datetime, str]:
    """The date and time typed, in the zone chosen (an IANA name), as an aware moment."""
    zone = form.get("timezone", "").strip() or "UTC"
    if not known_timezone(zone):
        problems.append(UnknownTimezone(field="timezone", timezone=zone[:64]))
        zone = "UTC"
    try:
        local = datetime.combine(
            date.fromisoformat(form.get("day", "").strip()), time.fromisoformat(form.get("time", "").strip())
        )
    except ValueError:
        problems.append(BadMoment(field="day"))
        return now, zone
    at = local.replace(tzinfo=ZoneInfo(zone), second=0, microsecond=0)
    if at > now + CLOCK_SKEW:
        problems.append(InFuture(field="day"))
    elif at < EARLIEST:
        problems.append(TooOld(field="day"))
    return at, zone


def entry(form: dict[str, str], kind: str, system: DisplayUnits, now: datetime) -> Entry:
    """The form as an entry to store; raises ``InvalidFields`` naming every wrong field."""
    problems: list[DomainError] = []
    measures = weight_measures(form, system, problems) if kind == "weight" else pressure_measures(form, problems)
    at, zone = moment(form, now, problems)
    if problems:
        raise InvalidFields(problems)
    return Entry(at, zone, measures)


def shown_weight(kg: Decimal, system: DisplayUnits) -> dict[str, str]:
    """A stored weight as the form's fields show it again (two decimals at most)."""
    if system is DisplayUnits.METRIC:
        return {"weight": _plain(kg)}
    pounds = kg / KG_PER_LB
    if system is DisplayUnits.US:
        return {"weight": _plain(pounds)}
    stones, rest = divmod(pounds.quantize(Decimal("0.01")), LB_PER_STONE)
    return {"stones": str(int(stones)), "pounds": _plain(rest)}


def _plain(number: Decimal) -> str:
    return format(number.quantize(Decimal("0.01")).normalize(), "f")
