"""The files inside "Download my data": ``vitalkey.json`` (the whole account, SI units, Withings
codes: ``export_format``) and one CSV per kind of data for people and spreadsheets.

Pure functions of an ``ExportDocument`` and the user's units. Every CSV starts with a header line
(English column names, each naming its unit); moments are ISO 8601 in the record's own time zone
(intraday samples: their device's), local days ISO dates. Numbers are exact: a measure is
``value × 10^unit`` as a Decimal, written without exponent or float noise; a conversion to pounds
is rounded to 0.01 lb (stones and pounds: the pounds to 0.1, as the dashboard shows them), °F is
exact. Masses, heights and temperatures follow the dashboard's units (``DisplayUnits``: kg, lb or
st/lb); distances, durations and energies stay in metres, seconds and kcal (as devices count
them). Only real measurements are in the CSV files; objectives are in the JSON copy. A file whose
kind of data the account never recorded is left out, save the main ones (weight, blood pressure,
activity, sleep, workouts), which are always there.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vitalkey.domain import dashboard as convert
from vitalkey.domain.dashboard import DisplayUnits
from vitalkey.domain.health import ACTIVITY_FIELDS, MEASURE_TYPES, AfibResult, Category, Number
from vitalkey.flows.export_format import JSON_NAME, ExportDocument, ExportedDevice, to_json
from vitalkey.flows.health_ingest import NewGroup, NewMeasure

WEIGHT, HEIGHT, FAT_FREE, FAT_RATIO, FAT_MASS, DIASTOLIC, SYSTOLIC, PULSE = 1, 4, 5, 6, 8, 9, 10, 11
TEMPERATURE, BODY_TEMPERATURE, SKIN_TEMPERATURE = 12, 71, 73
MUSCLE, HYDRATION, BONE = 76, 77, 88
MASSES = ((FAT_MASS, "Fat mass"), (FAT_FREE, "Fat-free mass"), (MUSCLE, "Muscle mass"), (HYDRATION, "Hydration"), (BONE, "Bone mass"))  # fmt: skip
TEMPERATURES = ((BODY_TEMPERATURE, "Body temperature"), (SKIN_TEMPERATURE, "Skin temperature"), (TEMPERATURE, "Temperature"))  # fmt: skip
BODY = frozenset({WEIGHT, FAT_RATIO, *(kind for kind, _ in MASSES)})
SHOWN = BODY | {DIASTOLIC, SYSTOLIC, PULSE} | {kind for kind, _ in TEMPERATURES}
POUND = Decimal("0.01")

ACTIVITY_LABELS = {
    "steps": "Steps", "distance": "Distance (m)", "elevation": "Elevation (m)", "soft": "Light activity (s)",
    "moderate": "Moderate activity (s)", "intense": "Intense activity (s)", "active": "Active time (s)",
    "calories": "Active calories (kcal)", "totalcalories": "Total calories (kcal)",
    "hr_average": "Heart rate average (bpm)", "hr_min": "Heart rate min (bpm)", "hr_max": "Heart rate max (bpm)",
    "hr_zone_0": "Heart rate zone 0 (s)", "hr_zone_1": "Heart rate zone 1 (s)", "hr_zone_2": "Heart rate zone 2 (s)",
    "hr_zone_3": "Heart rate zone 3 (s)",
}  # fmt: skip
WORKOUT_FIELDS = (
    ("calories", "Calories (kcal)"), ("distance", "Distance (m)"), ("steps", "Steps"), ("elevation", "Elevation (m)"),
    ("intensity", "Intensity"), ("hr_average", "Heart rate average (bpm)"), ("hr_min", "Heart rate min (bpm)"),
    ("hr_max", "Heart rate max (bpm)"), ("pause_duration", "Pause (s)"), ("spo2_average", "SpO2 average (%)"),
    ("pool_laps", "Pool laps"), ("strokes", "Strokes"), ("pool_length", "Pool length (m)"),
    ("manual_distance", "Manual distance (m)"), ("manual_calories", "Manual calories (kcal)"),
)  # fmt: skip
SLEEP_FIELDS = (
    ("total_timeinbed", "Time in bed (s)"), ("total_sleep_time", "Total sleep (s)"),
    ("lightsleepduration", "Light sleep (s)"), ("deepsleepduration", "Deep sleep (s)"),
    ("remsleepduration", "REM sleep (s)"), ("wakeupduration", "Awake (s)"), ("wakeupcount", "Wake-ups"),
    ("durationtosleep", "Time to fall asleep (s)"), ("durationtowakeup", "Time to get up (s)"),
    ("sleep_efficiency", "Sleep efficiency"), ("sleep_score", "Sleep score"), ("hr_average", "Heart rate average (bpm)"),
    ("hr_min", "Heart rate min (bpm)"), ("hr_max", "Heart rate max (bpm)"), ("rr_average", "Breathing rate average"),
    ("snoring", "Snoring (s)"), ("apnea_hypopnea_index", "Apnea-hypopnea index"),
)  # fmt: skip
AFIB: dict[int, str] = {
    AfibResult.NEGATIVE: "negative", AfibResult.POSITIVE: "positive", AfibResult.INCONCLUSIVE: "inconclusive",
}  # fmt: skip

Rows = list[list[str]]


def build_zip(document: ExportDocument, units: DisplayUnits) -> bytes:
    """The ZIP: the JSON copy, then the CSV files (in a fixed order, with the export's time)."""
    stamp = document.exported_at.astimezone(UTC).timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files(document, units):
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def files(document: ExportDocument, units: DisplayUnits) -> list[tuple[str, bytes]]:
    """Every file of the ZIP as (name, bytes), in order."""
    devices = {device.ref: device for device in document.devices}
    real = [g for g in document.measure_groups if g.category == Category.REAL]
    tables: list[tuple[str, Rows, bool]] = [
        ("profile.csv", profile_rows(document, units), True),
        ("connected_apps.csv", connected_app_rows(document), True),
        ("devices.csv", device_rows(document), True),
        ("weight.csv", weight_rows(real, units, devices), True),
        ("blood_pressure.csv", pressure_rows(real, devices), True),
        ("heart_rate.csv", pulse_rows(real, devices), False),
        ("temperature.csv", temperature_rows(real, units, devices), False),
        ("other_measures.csv", other_measure_rows(real, devices), False),
        ("activity.csv", activity_rows(document, devices), True),
        ("workouts.csv", workout_rows(document, devices), True),
        ("sleep.csv", sleep_rows(document, devices), True),
        ("heart_recordings.csv", recording_rows(document, devices), False),
        ("intraday.csv", intraday_rows(document, devices), False),
    ]
    out = [(JSON_NAME, to_json(document))]
    out += [(name, csv_bytes(rows)) for name, rows, always in tables if always or len(rows) > 1]
    return out


def csv_bytes(rows: Rows) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return text.getvalue().encode()


# Numbers and moments --------------------------------------------------------------------------
def plain(value: Decimal) -> str:
    """A Decimal as written by hand: no exponent, no trailing zeros after the point."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def number(value: Number | None) -> str:
    """A device's count or amount as sent (a float in its shortest exact form)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def real(measure: NewMeasure) -> Decimal:
    return Decimal(measure.value).scaleb(measure.unit)


def mass_header(name: str, units: DisplayUnits, *, split: bool = False) -> list[str]:
    """A mass column's header (two columns, stones and the pounds left, for ``split`` in st/lb)."""
    if units is DisplayUnits.METRIC:
        return [f"{name} (kg)"]
    if units is DisplayUnits.UK and split:
        return [f"{name} (st)", f"{name} (lb)"]
    return [f"{name} (lb)"]


def mass(kg: Decimal | None, units: DisplayUnits, *, split: bool = False) -> list[str]:
    if units is DisplayUnits.UK and split:
        if kg is None:
            return ["", ""]
        stones, pounds = convert.stones_pounds(kg)
        return [str(stones), plain(pounds)]
    if kg is None:
        return [""]
    return [plain(kg if units is DisplayUnits.METRIC else convert.pounds(kg).quantize(POUND))]


def temperature_unit(units: DisplayUnits) -> str:
    return "°F" if units is DisplayUnits.US else "°C"


def temperature(celsius: Decimal | None, units: DisplayUnits) -> str:
    if celsius is None:
        return ""
    return plain(convert.fahrenheit(celsius) if units is DisplayUnits.US else celsius)


def height(cm: float | None, units: DisplayUnits) -> str:
    if cm is None:
        return ""
    exact = Decimal(str(cm))
    if units is DisplayUnits.METRIC:
        return f"{plain(exact)} cm"
    feet, inches = convert.feet_inches(exact)
    return f"{feet} ft {inches} in"


@lru_cache(maxsize=256)
def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local(epoch: int, timezone: str | None) -> str:
    """A moment in Unix seconds, in ISO 8601 in ``timezone`` (UTC when unknown)."""
    return datetime.fromtimestamp(epoch, zone(timezone)).isoformat()


def moment(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat()


def model(devices: Mapping[str, ExportedDevice], ref: str | None) -> str:
    device = devices.get(ref or "")
    return device.model if device else ""


def _values(group: NewGroup) -> dict[int, Decimal]:
    return {m.type: real(m) for m in group.measures}


# The files ------------------------------------------------------------------------------------
def profile_rows(document: ExportDocument, units: DisplayUnits) -> Rows:
    p, goals = document.profile, document.goals
    consent = document.consents[-1] if document.consents else None
    weight_goal = real(goals.weight) if goals.weight else None
    rows = [
        ["Field", "Value"],
        ["Email", p.email],
        ["Language", p.language],
        ["Account created", moment(p.created_at)],
        ["First name", p.first_name],
        ["Last name", p.last_name],
        ["Birth date", p.birth_date.isoformat() if p.birth_date else ""],
        ["Sex", p.sex or ""],
        ["Height", height(p.height_cm, units)],
        ["Units", units.value],
        ["Password set", _yes(p.password_set)],
        ["Two-factor authentication", _yes(p.two_factor)],
        ["Privacy policy version", consent.policy_version if consent else ""],
        ["Privacy policy accepted", moment(consent.accepted_at) if consent else ""],
        ["Steps goal", str(goals.steps)],
        ["Sleep goal (s)", str(goals.sleep)],
        [f"Weight goal ({'kg' if units is DisplayUnits.METRIC else 'lb'})", _goal(weight_goal, units)],
        ["Exported", moment(document.exported_at)],
    ]
    return rows


def _goal(kg: Decimal | None, units: DisplayUnits) -> str:
    if kg is None:
        return ""
    return plain(kg if units is DisplayUnits.METRIC else convert.pounds(kg).quantize(POUND))


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def connected_app_rows(document: ExportDocument) -> Rows:
    rows = [["App", "Client id", "Allowed to read", "First allowed", "Last used", "Receives notifications"]]
    for app in document.connected_apps:
        rows.append(
            [app.name, app.client_id, " ".join(app.scopes), moment(app.first_allowed_at), moment(app.last_used_at),
             _yes(app.notified)]
        )  # fmt: skip
    return rows


def device_rows(document: ExportDocument) -> Rows:
    rows = [["Device", "Type", "Model", "Time zone", "Battery", "Paired", "First session", "Last session"]]
    for d in document.devices:
        rows.append(
            [d.ref, d.type, d.model, d.timezone, d.battery, moment(d.paired_at), moment(d.first_session),
             moment(d.last_session)]
        )  # fmt: skip
    return rows


def weight_rows(groups: Sequence[NewGroup], units: DisplayUnits, devices: Mapping[str, ExportedDevice]) -> Rows:
    head = ["Date", *mass_header("Weight", units, split=True), "Fat ratio (%)"]
    for _, name in MASSES:
        head += mass_header(name, units)
    rows = [[*head, "Device", "Comment"]]
    for group in groups:
        values = _values(group)
        if not BODY & values.keys():
            continue
        row = [local(group.date, group.timezone), *mass(values.get(WEIGHT), units, split=True)]
        row.append(plain(values[FAT_RATIO]) if FAT_RATIO in values else "")
        for kind, _ in MASSES:
            row += mass(values.get(kind), units)
        rows.append([*row, model(devices, group.deviceid), group.comment or ""])
    return rows


def pressure_rows(groups: Sequence[NewGroup], devices: Mapping[str, ExportedDevice]) -> Rows:
    rows = [["Date", "Systolic (mmHg)", "Diastolic (mmHg)", "Heart rate (bpm)", "Device"]]
    for group in groups:
        values = _values(group)
        if SYSTOLIC in values or DIASTOLIC in values:
            rows.append(
                [local(group.date, group.timezone), *(_cell(values, kind) for kind in (SYSTOLIC, DIASTOLIC, PULSE)),
                 model(devices, group.deviceid)]
            )  # fmt: skip
    return rows


def pulse_rows(groups: Sequence[NewGroup], devices: Mapping[str, ExportedDevice]) -> Rows:
    rows = [["Date", "Heart rate (bpm)", "Device"]]
    for group in groups:
        values = _values(group)
        if PULSE in values:
            rows.append([local(group.date, group.timezone), plain(values[PULSE]), model(devices, group.deviceid)])
    return rows


def temperature_rows(groups: Sequence[NewGroup], units: DisplayUnits, devices: Mapping[str, ExportedDevice]) -> Rows:
    unit = temperature_unit(units)
    rows = [["Date", *(f"{name} ({unit})" for _, name in TEMPERATURES), "Device"]]
    for group in groups:
        values = _values(group)
        if any(kind in values for kind, _ in TEMPERATURES):
            cells = [temperature(values.get(kind), units) for kind, _ in TEMPERATURES]
            rows.append([local(group.date, group.timezone), *cells, model(devices, group.deviceid)])
    return rows


def other_measure_rows(groups: Sequence[NewGroup], devices: Mapping[str, ExportedDevice]) -> Rows:
    """Every other measure (height, SpO2, VO2 max, …) in SI units, named by its Withings type."""
    rows = [["Date", "Type", "Name", "Value", "Device"]]
    for group in groups:
        for measure in group.measures:
            if measure.type not in SHOWN:
                kind = MEASURE_TYPES.get(measure.type)
                rows.append(
                    [local(group.date, group.timezone), str(measure.type), kind.name if kind else "",
                     plain(real(measure)), model(devices, group.deviceid)]
                )  # fmt: skip
    return rows


def _cell(values: Mapping[int, Decimal], kind: int) -> str:
    return plain(values[kind]) if kind in values else ""


def activity_rows(document: ExportDocument, devices: Mapping[str, ExportedDevice]) -> Rows:
    rows = [["Date", *(ACTIVITY_LABELS[name] for name in ACTIVITY_FIELDS), "Time zone", "Device"]]
    for day in document.activity:
        cells = [number(day.data.get(name)) for name in ACTIVITY_FIELDS]
        rows.append([day.date.isoformat(), *cells, day.timezone or "", model(devices, day.deviceid)])
    return rows


def workout_rows(document: ExportDocument, devices: Mapping[str, ExportedDevice]) -> Rows:
    rows = [["Start", "End", "Date", "Category", "Duration (s)", *(label for _, label in WORKOUT_FIELDS), "Device"]]
    for w in document.workouts:
        cells = [number(w.data.get(name)) for name, _ in WORKOUT_FIELDS]
        rows.append(
            [local(w.startdate, w.timezone), local(w.enddate, w.timezone), w.date.isoformat() if w.date else "",
             str(w.category), str(w.enddate - w.startdate), *cells, model(devices, w.deviceid)]
        )  # fmt: skip
    return rows


def sleep_rows(document: ExportDocument, devices: Mapping[str, ExportedDevice]) -> Rows:
    rows = [["Start", "End", *(label for _, label in SLEEP_FIELDS), "Completed", "Device"]]
    for s in document.sleep:
        cells = [number(s.summary.get(name)) for name, _ in SLEEP_FIELDS]
        rows.append(
            [local(s.startdate, s.timezone), local(s.enddate, s.timezone), *cells, _yes(s.completed),
             model(devices, s.deviceid)]
        )  # fmt: skip
    return rows


def recording_rows(document: ExportDocument, devices: Mapping[str, ExportedDevice]) -> Rows:
    """The ECGs without their signal (it is in the JSON copy)."""
    rows = [
        ["Date", "Heart rate (bpm)", "Atrial fibrillation", "Systolic (mmHg)", "Diastolic (mmHg)",
         "Sampling frequency (Hz)", "Samples", "Device"]
    ]  # fmt: skip
    for r in document.heart:
        pressure = r.bloodpressure
        rows.append(
            [local(r.at, r.timezone), str(r.heart_rate), AFIB.get(r.afib, str(r.afib)),
             str(pressure.systole) if pressure else "", str(pressure.diastole) if pressure else "",
             str(r.sampling_frequency), str(len(r.signal)), model(devices, r.deviceid)]
        )  # fmt: skip
    return rows


def intraday_rows(document: ExportDocument, devices: Mapping[str, ExportedDevice]) -> Rows:
    """One row per sample, a column per field any sample holds (alphabetical), in the device's zone."""
    names = sorted({name for sample in document.intraday for name in sample.data})
    rows = [["Date", *names, "Device"]]
    for sample in document.intraday:
        device = devices.get(sample.deviceid)
        cells = [number(sample.data.get(name)) for name in names]
        rows.append([local(sample.at, device.timezone if device else None), *cells, device.model if device else ""])
    return rows


__all__ = ["build_zip", "files", "plain"]
