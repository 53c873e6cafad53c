"""The JSON copy inside "Download my data" (``vitalkey.json``), the file an import reads back.

Its health data is written in the shapes the companion app sends (``flows.health_ingest``'s
``NewGroup``, ``NewActivityDay``, … : moments in Unix seconds, local days as dates, measures as an
integer ``value`` and a power-of-ten ``unit`` in SI units under the Withings ``meastype`` codes),
so an import is a series of ingestion batches of what the file holds. Records name their device by
the export's own ``ref`` ("d1", "d2", …), never by the opaque ``deviceid`` a partner saw: an import
into another account pairs (or finds) a device per ``ref``. Only live records are written, no
tombstones. ``version`` grows when a field is added that an older reader cannot ignore.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import msgspec

from vitalkey.domain.errors import InvalidInput
from vitalkey.domain.i18n import N_
from vitalkey.flows.health_ingest import (
    NewActivityDay,
    NewGroup,
    NewHeartRecording,
    NewMeasure,
    NewSample,
    NewSleepSession,
    NewWorkout,
)

FORMAT = "vitalkey-export"
VERSION = 1
JSON_NAME = "vitalkey.json"  # its name inside the ZIP


@dataclass(frozen=True, slots=True)
class ExportedProfile:
    email: str
    language: str
    created_at: datetime
    first_name: str = ""
    last_name: str = ""
    birth_date: date | None = None
    sex: str | None = None  # "female" | "male"
    height_cm: float | None = None
    units: str | None = None  # the profile's "metric" | "imperial"
    display_units: str | None = None  # the dashboard's "metric" | "us" | "uk" (the CSV files' units)
    password_set: bool = False
    two_factor: bool = False


@dataclass(frozen=True, slots=True)
class ExportedConsent:
    """The privacy policy the user accepted."""

    policy_version: str
    accepted_at: datetime


@dataclass(frozen=True, slots=True)
class ExportedApp:
    """A connected app: what it may read, since when."""

    client_id: str
    name: str
    scopes: tuple[str, ...]
    first_allowed_at: datetime
    last_used_at: datetime | None = None
    notified: bool = False


@dataclass(frozen=True, slots=True)
class ExportedDevice:
    ref: str  # "d1", "d2", …: what the records' ``deviceid`` holds in this file
    type: str  # a domain.health.DeviceType value
    model: str
    model_id: int
    timezone: str
    battery: str = "unknown"
    paired_at: datetime | None = None
    first_session: datetime | None = None
    last_session: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExportedGoals:
    steps: int
    sleep: int  # seconds
    weight: NewMeasure | None = None  # meastype 1


@dataclass(frozen=True, slots=True)
class ExportDocument:
    exported_at: datetime
    profile: ExportedProfile
    goals: ExportedGoals
    format: str = FORMAT
    version: int = VERSION
    consents: tuple[ExportedConsent, ...] = ()
    connected_apps: tuple[ExportedApp, ...] = ()
    devices: tuple[ExportedDevice, ...] = ()
    measure_groups: tuple[NewGroup, ...] = ()
    activity: tuple[NewActivityDay, ...] = ()
    intraday: tuple[NewSample, ...] = ()
    workouts: tuple[NewWorkout, ...] = ()
    sleep: tuple[NewSleepSession, ...] = ()
    heart: tuple[NewHeartRecording, ...] = ()


class UnreadableExport(InvalidInput):
    code = "unreadable_export"
    message = N_("This file is not a VitalKey export that can be read (%(reason)s).")


def to_json(document: ExportDocument) -> bytes:
    """The document as UTF-8 JSON (keys in declaration order, nulls written)."""
    return msgspec.json.format(msgspec.json.encode(document), indent=1)


def from_json(raw: bytes) -> ExportDocument:
    """Read a document back; UnreadableExport (field ``file``) naming the first problem."""
    try:
        document = msgspec.json.decode(raw, type=ExportDocument)
    except msgspec.ValidationError as exc:
        raise UnreadableExport(field="file", reason=str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise UnreadableExport(field="file", reason="not JSON") from exc
    if document.format != FORMAT:
        raise UnreadableExport(field="file", reason=f"format {document.format!r}")
    if document.version > VERSION:
        raise UnreadableExport(field="file", reason=f"version {document.version} is newer than this server's")
    return document


__all__ = [
    "FORMAT",
    "JSON_NAME",
    "VERSION",
    "ExportDocument",
    "ExportedApp",
    "ExportedConsent",
    "ExportedDevice",
    "ExportedGoals",
    "ExportedProfile",
    "UnreadableExport",
    "from_json",
    "to_json",
]
