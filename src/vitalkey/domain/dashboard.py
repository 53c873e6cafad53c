"""The Online Dashboard's rules: the ranges it shows, the unit systems it shows them in, and the
conversions from what devices store (kg, m, °C) to what the user reads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from vitalkey.domain.accounts import Units
from vitalkey.domain.errors import InvalidInput
from vitalkey.domain.health import Device, known_timezone
from vitalkey.domain.i18n import N_

RANGES = (7, 30, 90, 365)  # days a dashboard shows
DEFAULT_RANGE = 30
_RANGE_TEXTS = frozenset(str(days) for days in RANGES)
KG_PER_LB = Decimal("0.45359237")
LB_PER_STONE = 14
CM_PER_INCH = Decimal("2.54")


class DisplayUnits(StrEnum):
    """How the dashboard shows weight, height and temperature."""

    METRIC = "metric"  # kg, cm, °C
    US = "us"  # lb, ft/in, °F
    UK = "uk"  # st/lb, ft/in, °C


@dataclass(frozen=True, slots=True)
class DashboardPrefs:
    """What the user last chose; ``units`` None: follow the profile's metric or imperial."""

    days: int = DEFAULT_RANGE
    units: DisplayUnits | None = None


class UnknownRange(InvalidInput):
    code = "unknown_range"
    message = N_("Please choose 7, 30, 90 or 365 days.")


class UnknownUnits(InvalidInput):
    code = "unknown_units"
    message = N_("Please choose kilograms, pounds or stones and pounds.")


def clean_range(raw: str) -> int:
    if raw in _RANGE_TEXTS:  # exactly "7", "30", …: no other digits, signs or spaces
        return int(raw)
    raise UnknownRange(field="days")


def clean_display_units(raw: str) -> DisplayUnits:
    try:
        return DisplayUnits(raw)
    except ValueError as exc:
        raise UnknownUnits(field="units") from exc


def units_for(prefs: DashboardPrefs, profile_units: Units | None) -> DisplayUnits:
    if prefs.units is not None:
        return prefs.units
    return DisplayUnits.US if profile_units is Units.IMPERIAL else DisplayUnits.METRIC


def pounds(kg: Decimal) -> Decimal:
    return kg / KG_PER_LB


def stones_pounds(kg: Decimal) -> tuple[int, Decimal]:
    """Whole stones and the pounds left over, to a tenth (13.96 lb rounds up to the next stone)."""
    tenths = int((pounds(kg) * 10).quantize(Decimal(1)))
    stones, rest = divmod(tenths, LB_PER_STONE * 10)
    return stones, Decimal(rest) / 10


def feet_inches(cm: Decimal) -> tuple[int, int]:
    inches = int((cm / CM_PER_INCH).quantize(Decimal(1)))
    return divmod(inches, 12)


def fahrenheit(celsius: Decimal) -> Decimal:
    return celsius * 9 / 5 + 32


def user_timezone(devices: Iterable[Device], latest_measure_timezone: str | None) -> str:
    """The time zone the dashboard's days are counted in ("today", the range's first day): the
    user's own is not in the profile, so it is where they last used their things — the zone of
    the paired device that synced most recently (``last_session``; a device never synced does
    not count), else the zone of their latest measure group, else UTC. Unknown names are
    skipped."""
    used = [d for d in devices if d.last_session is not None and d.deleted is None and known_timezone(d.timezone)]
    if used:
        return max(used, key=lambda d: d.last_session or datetime.min.replace(tzinfo=UTC)).timezone
    if latest_measure_timezone is not None and known_timezone(latest_measure_timezone):
        return latest_measure_timezone
    return "UTC"


@lru_cache(maxsize=512)  # bounded: the names come from the records (validated when stored)
def zone(name: str) -> tzinfo:
    """A record's time zone, UTC for a name this server does not know."""
    return ZoneInfo(name) if known_timezone(name) else UTC
