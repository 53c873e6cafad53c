"""The CSV files of a Withings account data export, read into the companion app's batch shapes.

Health Mate's "Download your data" mails a ZIP of one CSV file per kind of data. The layouts read
here, as described by the ``README`` Withings ships in the archive ("Below are the details of the
data you've exported from Health Mate") and as parsed by public readers of the archive (qcri/tasrif
``tasrif/data_readers/withings_dataset.py``; the Charité Withings dataset's README; open-source
dashboards reading ``weight.csv``, ``bp.csv``, ``sleep.csv`` and ``aggregates_steps.csv``):

- ``weight.csv`` — ``Date,Weight (kg),Fat mass (kg),Bone mass (kg),Muscle mass (kg),Hydration (kg),
  Comments`` (some exports add ``Fat free mass (kg)`` or ``Lean mass (kg)`` and ``Fat Ratio (%)``
  or ``Fat mass (%)``; masses in pounds, ``(lb)``, are converted exactly) → a measure group per row
  (meastypes 1, 8, 88, 76, 77, 5, 6).
- ``bp.csv`` — ``Date,Heart rate,Systolic,Diastolic,Comments`` (also spelled with units:
  ``Systolic (mmHg)``, ``Heart rate (bpm)``) → a group of meastypes 10, 9 and 11.
- ``aggregates_steps.csv``, ``aggregates_distance.csv`` (metres), ``aggregates_elevation.csv``
  (floors), ``aggregates_calories_earned.csv`` and ``aggregates_calories_passive.csv`` (kcal) —
  ``date,value``, one local day a row → one activity day per date (``steps``, ``distance``,
  ``elevation``, ``calories``; ``totalcalories`` = earned + passive when both files come
  together).
- ``sleep.csv`` — ``from,to,light (s),deep (s),rem (s),awake (s),Duration to sleep (s),Duration to
  wake up (s),Snoring (s),Snoring episodes,Average heart rate,Heart rate (min),Heart rate (max)``
  → a sleep session with its summary (``lightsleepduration``, …, ``hr_max``).
- ``activities.csv`` — ``from,to,Timezone,Activity type,Data,GPS`` (``Data`` a JSON object of
  ``calories``, ``intensity``, ``hr_zone_0``…, ``distance``, ``elevation``, ``steps``) → a workout.

Columns are found by name (case, spacing and a byte-order mark aside), in any order; unknown ones
are ignored. Times carry an offset in recent exports (``2022-04-11T00:00:40+02:00``); without one
(``2024-01-15 07:30:00``, ``2016-05-31 6:36 AM``) they are read in the time zone the user gives.
Measures are read as exact decimals (a comma as the decimal mark too) into an integer ``value``
and a power-of-ten ``unit``, never through a float. A row that cannot be read is skipped with its
line and why; plausibility and dates are judged later, by ingestion's own checks.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from vitalkey.domain.errors import DomainError, InvalidInput
from vitalkey.domain.health import WORKOUT_FIELDS, Attrib, Brand, Category, Number, known_timezone
from vitalkey.domain.i18n import N_
from vitalkey.flows.health_ingest import NewActivityDay, NewGroup, NewMeasure, NewSleepSession, NewWorkout

T = TypeVar("T")
POUND = Decimal("0.45359237")  # kg, exactly
SHOWN_VALUE = 40  # characters of a cell quoted in a message


class UnreadableDate(InvalidInput):
    code = "unreadable_date"
    message = N_("“%(value)s” is not a date and time that can be read.")


class UnreadableNumber(InvalidInput):
    code = "unreadable_number"
    message = N_("“%(value)s” is not a number.")


class NothingToImport(InvalidInput):
    code = "empty_row"
    message = N_("This row holds no value to import.")


class UnreadableRow(InvalidInput):
    code = "unreadable_row"
    message = N_("This row could not be read.")


@dataclass(frozen=True, slots=True)
class Skip:
    """A row left out: its file, its line (1 is the header), why."""

    file: str
    line: int
    error: DomainError


@dataclass(frozen=True, slots=True)
class Row(Generic[T]):
    file: str
    line: int
    item: T


@dataclass(slots=True)
class Parsed:
    groups: list[Row[NewGroup]] = field(default_factory=list)
    activity: list[Row[NewActivityDay]] = field(default_factory=list)
    workouts: list[Row[NewWorkout]] = field(default_factory=list)
    sleep: list[Row[NewSleepSession]] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    read: list[str] = field(default_factory=list)  # the files read
    ignored: list[str] = field(default_factory=list)  # files of the export not imported


# File kinds --------------------------------------------------------------------------------------
WEIGHT, BP, SLEEP, ACTIVITIES = "weight.csv", "bp.csv", "sleep.csv", "activities.csv"
AGGREGATES = {  # file → the activity field its ``value`` fills
    "aggregates_steps.csv": "steps",
    "aggregates_distance.csv": "distance",
    "aggregates_elevation.csv": "elevation",
    "aggregates_calories_earned.csv": "calories",
    "aggregates_calories_passive.csv": "passive",  # only to make totalcalories
}
KNOWN_FILES = frozenset({WEIGHT, BP, SLEEP, ACTIVITIES, *AGGREGATES})


def kind_of(filename: str, header: str = "") -> str | None:
    """Which export file this is: by its name (inside any folder), else by its header line."""
    name = posixpath.basename(filename.replace("\\", "/")).lower()
    if name in KNOWN_FILES:
        return name
    columns = set(_columns(header))
    if {"systolic", "diastolic"} <= columns:
        return BP
    if "date" in columns and any(c.startswith("weight") for c in columns):
        return WEIGHT
    if {"from", "to", "light"} <= columns or {"from", "to", "deep"} <= columns:
        return SLEEP
    if {"from", "to", "activity type"} <= columns:
        return ACTIVITIES
    return None


def _normal(header: str) -> str:
    """A column's name without case, spacing or byte-order mark."""
    return " ".join(header.replace("\ufeff", "").strip().lower().split())


def _bare(header: str) -> str:
    """The name without its unit: ``weight (kg)`` → ``weight``."""
    name = _normal(header)
    return name.split(" (")[0] if name.endswith(")") and " (" in name else name


def _columns(header: str) -> list[str]:
    try:
        first = next(csv.reader([header.replace("\ufeff", "")], delimiter=_delimiter(header)), [])
    except csv.Error:
        return []
    return [_bare(h) for h in first]


# Cells -------------------------------------------------------------------------------------------
def _shown(text: str) -> str:
    return text if len(text) <= SHOWN_VALUE else text[: SHOWN_VALUE - 1] + "…"


def decimal_of(text: str) -> Decimal | None:
    """An exact decimal; a comma as the decimal mark is taken; empty (or ``-``) is None."""
    cell = text.strip().replace(" ", "").replace("\u00a0", "")
    if cell in ("", "-", "--", "null", "NaN", "nan"):
        return None
    if "," in cell and "." not in cell and cell.count(",") == 1:
        cell = cell.replace(",", ".")
    try:
        number = Decimal(cell)
    except InvalidOperation as exc:
        raise UnreadableNumber(value=_shown(text.strip())) from exc
    if not number.is_finite():
        raise UnreadableNumber(value=_shown(text.strip()))
    return number


def exact(number: Decimal) -> tuple[int, int]:
    """``value × 10^unit`` = ``number`` exactly, with the fewest digits (72.50 → 725, -1)."""
    number = number.normalize() if number != 0 else Decimal(0)
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite, checked by decimal_of
    value = int("".join(map(str, digits)) or "0")
    return (-value if sign else value), exponent


def plain_number(number: Decimal) -> Number:
    """A count, duration or distance for an activity, workout or sleep field (an int when whole)."""
    return int(number) if number == number.to_integral_value() else float(number)


TIME_FORMATS = ("%Y-%m-%d %I:%M %p", "%Y-%m-%d %I:%M:%S %p")  # older exports: "2016-05-31 6:36 AM"


def moment_of(text: str, zone: ZoneInfo) -> datetime:
    """A moment: with its offset when written, else local to ``zone``."""
    cell = text.strip()
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(cell[:-1] + "+00:00" if cell.endswith("Z") else cell)
    except ValueError:
        for pattern in TIME_FORMATS:
            try:
                parsed = datetime.strptime(cell, pattern)
                break
            except ValueError:
                continue
    if parsed is None or not cell:
        raise UnreadableDate(value=_shown(cell))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def day_of(text: str) -> date:
    cell = text.strip()
    try:
        return date.fromisoformat(cell[:10])
    except ValueError as exc:
        raise UnreadableDate(value=_shown(cell)) from exc


# Reading a file ----------------------------------------------------------------------------------
def decode(content: bytes) -> str:
    """UTF-8 (with or without a byte-order mark), else Windows-1252 (a spreadsheet's re-save)."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace")


def _delimiter(header: str) -> str:
    """A comma, or the semicolon a spreadsheet re-saving the file in a comma-decimal locale uses."""
    return ";" if header.count(";") > header.count(",") else ","


def _rows(text: str) -> Iterator[tuple[int, dict[str, str] | None]]:
    """The data rows as ``{normalised column: cell}`` with their line numbers (the header is 1);
    None for a line the CSV reader cannot read, after which the file is not read further."""
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(text.split("\n", 1)[0]))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return
    names = [_normal(h) for h in header]
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error:  # a NUL byte, a field past the reader's limit, …
            yield reader.line_num, None
            return
        if any(cell.strip() for cell in cells):
            yield reader.line_num, {name: cell for name, cell in zip(names, cells, strict=False)}


def _span(row: Mapping[str, str]) -> tuple[str, str]:
    """A session's start and end cells (``from``/``to``, or ``start``/``end``)."""
    start, end = _cell(row, "from", "start"), _cell(row, "to", "end")
    if start is None or end is None:
        raise UnreadableDate(value="")
    return start[1], end[1]


def _cell(row: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    """The first non-empty cell among the columns named (exactly, after normalising)."""
    for name in names:
        value = row.get(name)
        if value is not None and value.strip():
            return name, value
    return None


WEIGHT_COLUMNS: tuple[tuple[int, tuple[str, ...]], ...] = (  # meastype, then its columns (kg; lb converted)
    (1, ("weight (kg)", "weight (lb)", "weight")),
    (8, ("fat mass (kg)", "fat mass (lb)")),
    (5, ("fat free mass (kg)", "fat free mass (lb)", "lean mass (kg)", "lean mass (lb)")),
    (6, ("fat ratio (%)", "fat mass (%)", "fat ratio")),
    (88, ("bone mass (kg)", "bone mass (lb)")),
    (76, ("muscle mass (kg)", "muscle mass (lb)")),
    (77, ("hydration (kg)", "hydration (lb)")),
)
BP_COLUMNS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (10, ("systolic", "systolic (mmhg)")),
    (9, ("diastolic", "diastolic (mmhg)")),
    (11, ("heart rate", "heart rate (bpm)", "pulse")),
)
SLEEP_COLUMNS = {  # column → sleep summary field (seconds, counts, bpm)
    "light (s)": "lightsleepduration",
    "deep (s)": "deepsleepduration",
    "rem (s)": "remsleepduration",
    "awake (s)": "wakeupduration",
    "duration to sleep (s)": "durationtosleep",
    "duration to wake up (s)": "durationtowakeup",
    "snoring (s)": "snoring",
    "snoring episodes": "snoringepisodecount",
    "average heart rate": "hr_average",
    "heart rate (min)": "hr_min",
    "heart rate (max)": "hr_max",
}
ACTIVITY_TYPES = {  # Health Mate's names → Withings workout categories
    "walking": 1,
    "walk": 1,
    "running": 2,
    "run": 2,
    "hiking": 3,
    "skating": 4,
    "cycling": 6,
    "bicycling": 6,
    "swimming": 7,
    "surfing": 8,
    "tennis": 12,
    "table tennis": 13,
    "squash": 14,
    "badminton": 15,
    "weights": 16,
    "lift weights": 16,
    "calisthenics": 17,
    "elliptical": 18,
    "pilates": 19,
    "basketball": 20,
    "soccer": 21,
    "football": 22,
    "rugby": 23,
    "volleyball": 24,
    "horse riding": 26,
    "golf": 27,
    "yoga": 28,
    "dancing": 29,
    "boxing": 30,
    "martial arts": 33,
    "skiing": 34,
    "snowboarding": 35,
    "other": 36,
    "rowing": 187,
    "zumba": 188,
    "climbing": 195,
    "ice skating": 196,
    "multi sport": 272,
    "multi-sport": 272,
    "indoor walking": 306,
    "indoor running": 307,
    "indoor cycling": 308,
    "gym class": 36,
}
OTHER_ACTIVITY = 36


def _measures(row: Mapping[str, str], columns: tuple[tuple[int, tuple[str, ...]], ...]) -> tuple[NewMeasure, ...]:
    measures = []
    for meastype, names in columns:
        found = _cell(row, *names)
        if found is None:
            continue
        name, text = found
        number = decimal_of(text)
        if number is None:
            continue
        if name.endswith("(lb)"):
            number *= POUND
        value, unit = exact(number)
        measures.append(NewMeasure(meastype, value, unit))
    return tuple(measures)


def _group_rows(
    parsed: Parsed, file: str, text: str, zone: ZoneInfo, columns: tuple[tuple[int, tuple[str, ...]], ...]
) -> None:
    for line, row in _rows(text):
        try:
            if row is None:
                raise UnreadableRow()
            when = _cell(row, "date", "datetime", "time")
            if when is None:
                raise UnreadableDate(value="")
            moment = moment_of(when[1], zone)
            measures = _measures(row, columns)
            if not measures:
                raise NothingToImport()
        except DomainError as error:
            parsed.skipped.append(Skip(file, line, error))
            continue
        comment = (_cell(row, "comments", "comment") or ("", ""))[1].strip()[:500] or None
        group = NewGroup(int(moment.timestamp()), measures, Category.REAL, Attrib.DEVICE, zone.key, None, comment)
        parsed.groups.append(Row(file, line, group))


def _sleep_rows(parsed: Parsed, file: str, text: str, zone: ZoneInfo) -> None:
    for line, row in _rows(text):
        try:
            if row is None:
                raise UnreadableRow()
            start, end = _span(row)
            first, last = moment_of(start, zone), moment_of(end, zone)
            summary: dict[str, Number] = {}
            for column, name in SLEEP_COLUMNS.items():
                number = decimal_of(row.get(column, ""))
                if number is not None:
                    summary[name] = plain_number(number)
        except DomainError as error:
            parsed.skipped.append(Skip(file, line, error))
            continue
        stages = [summary.get(part) for part in ("lightsleepduration", "deepsleepduration", "remsleepduration")]
        if all(stage is not None for stage in stages):  # asleep: the three stages, as Withings counts it
            summary["total_sleep_time"] = sum(stage for stage in stages if stage is not None)
        session = NewSleepSession(int(first.timestamp()), int(last.timestamp()), summary=summary, timezone=zone.key)
        parsed.sleep.append(Row(file, line, session))


def _workout_rows(parsed: Parsed, file: str, text: str, zone: ZoneInfo) -> None:
    for line, row in _rows(text):
        try:
            if row is None:
                raise UnreadableRow()
            start, end = _span(row)
            own_zone = (_cell(row, "timezone") or ("", ""))[1].strip()
            where = ZoneInfo(own_zone) if known_timezone(own_zone) else zone
            first, last = moment_of(start, where), moment_of(end, where)
            data = _workout_data((_cell(row, "data") or ("", "{}"))[1])
        except DomainError as error:
            parsed.skipped.append(Skip(file, line, error))
            continue
        kind = " ".join((_cell(row, "activity type", "type") or ("", ""))[1].strip().lower().split())
        category = ACTIVITY_TYPES.get(kind, OTHER_ACTIVITY)
        workout = NewWorkout(category, int(first.timestamp()), int(last.timestamp()), data, timezone=where.key)
        parsed.workouts.append(Row(file, line, workout))


def _workout_data(text: str) -> dict[str, Number]:
    """The ``Data`` cell's known numeric fields (others, and GPS, are not kept)."""
    try:
        raw = json.loads(text or "{}", parse_float=Decimal, parse_int=Decimal)
    except (ValueError, RecursionError) as exc:
        raise UnreadableRow() from exc
    if not isinstance(raw, dict):
        raise UnreadableRow()
    return {
        name: plain_number(value)
        for name, value in raw.items()
        if name in WORKOUT_FIELDS and isinstance(value, Decimal) and value.is_finite()
    }


def _aggregate_rows(
    file: str, text: str, days: dict[date, dict[str, Number]], lines: dict[date, tuple[str, int]], parsed: Parsed
) -> None:
    name = AGGREGATES[kind_of(file) or ""]
    for line, row in _rows(text):
        try:
            if row is None:
                raise UnreadableRow()
            when = _cell(row, "date", "day")
            if when is None:
                raise UnreadableDate(value="")
            day = day_of(when[1])
            number = decimal_of(row.get("value", ""))
            if number is None:
                raise NothingToImport()
        except DomainError as error:
            parsed.skipped.append(Skip(file, line, error))
            continue
        data = days.setdefault(day, {})
        data[name] = plain_number(Decimal(str(data.get(name, 0))) + number)  # a day twice: summed
        lines.setdefault(day, (file, line))


def read_files(files: Iterable[tuple[str, bytes]], timezone: str) -> Parsed:
    """Read the export's files (name, content) in ``timezone`` (an IANA name, checked by the caller)."""
    zone = ZoneInfo(timezone)
    parsed = Parsed()
    days: dict[date, dict[str, Number]] = {}
    day_lines: dict[date, tuple[str, int]] = {}
    for name, content in files:
        text = decode(content)
        kind = kind_of(name, text.split("\n", 1)[0])
        if kind is None:
            parsed.ignored.append(name)
            continue
        parsed.read.append(name)
        if kind == WEIGHT:
            _group_rows(parsed, name, text, zone, WEIGHT_COLUMNS)
        elif kind == BP:
            _group_rows(parsed, name, text, zone, BP_COLUMNS)
        elif kind == SLEEP:
            _sleep_rows(parsed, name, text, zone)
        elif kind == ACTIVITIES:
            _workout_rows(parsed, name, text, zone)
        else:
            _aggregate_rows(name, text, days, day_lines, parsed)
    for day in sorted(days):
        data = dict(days[day])
        passive = data.pop("passive", None)
        if passive is not None and "calories" in data:
            data["totalcalories"] = plain_number(Decimal(str(data["calories"])) + Decimal(str(passive)))
        if not data:  # passive calories alone make no field
            file, line = day_lines[day]
            parsed.skipped.append(Skip(file, line, NothingToImport()))
            continue
        file, line = day_lines[day]
        item = NewActivityDay(day, data, timezone=timezone, deviceid=None, brand=Brand.WITHINGS, is_tracker=True)
        parsed.activity.append(Row(file, line, item))
    return parsed


__all__ = [
    "KNOWN_FILES",
    "NothingToImport",
    "Parsed",
    "Row",
    "Skip",
    "UnreadableDate",
    "UnreadableNumber",
    "UnreadableRow",
    "decimal_of",
    "exact",
    "kind_of",
    "moment_of",
    "read_files",
]
