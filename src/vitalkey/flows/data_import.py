"""Importing a file of health history into the user's account: a VitalKey export ("Download my
data": its ZIP, or the bare ``vitalkey.json`` — ``flows.export_format``), or a Withings account
data export (the ZIP Health Mate mails, or its CSV files one at a time — ``flows.withings_export``).

Everything is stored through ``HealthIngest``, in batches of at most ``MAX_BATCH_ITEMS`` marked
``backfill``, so the items are checked, stored and announced to partners exactly as the companion
app's. Each batch is its own unit of work (``store``), keyed by a digest of what it holds: the same
batch sent again is answered from its receipt and stores nothing.

- **Nothing twice.** Before a batch is sent, each item is looked up by its natural key in the
  account — a measure group by its second and its measures, an activity day by its date and
  device, a sleep session by its start and end, a workout by its category and start, a heart
  recording by its moment — and left out as "already in your account" when found (an activity day
  whose fields are all there already; new fields are added to the stored day). Intraday samples
  replace the stored ones of their second by nature. So the same file imported twice stores
  nothing the second time, and a VitalKey export then a Withings export of the same history do not
  double it.
- **One bad item never stops the rest.** A row that cannot be read is skipped by the reader; a
  batch that ingestion refuses names each wrong item (``measure_groups[3].measures[0].value``):
  those are left out with ingestion's own message (out of range, in the future, unknown meastype,
  …) and the rest is sent again.
- **Devices.** A VitalKey export's device ``ref`` is matched to a paired device of the account with
  the same type, model and model id, else a new device is paired with the exported time zone.
  Withings CSV data has no device. The export's goals are set when the account never set its own.
- **Size.** A file over ``max_bytes`` is refused; a ZIP with more than ``max_files`` members, or
  whose members read unpack to more than ``max_unpacked`` bytes, is refused (a ZIP bomb) — the
  unpacked size is counted while reading, not taken from the archive's word.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import msgspec

from vitalkey.domain.errors import DomainError, InvalidFields, InvalidInput
from vitalkey.domain.health import (
    MAX_BATCH_ITEMS,
    Battery,
    Device,
    MeasureFilter,
    MeasureGroup,
    Page,
    UnknownDevice,
    Window,
    known_timezone,
    timezone_problem,
)
from vitalkey.domain.i18n import N_
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.export_format import JSON_NAME, ExportDocument, ExportedDevice, from_json
from vitalkey.flows.health_ingest import Batch, HealthIngest
from vitalkey.flows.withings_export import KNOWN_FILES, read_files
from vitalkey.ports import Transaction

KINDS = ("measure_groups", "activity", "intraday", "workouts", "sleep", "heart")
Kind = Literal["measure_groups", "activity", "intraday", "workouts", "sleep", "heart"]
SHOWN_SKIPPED = 50  # the report lists this many skipped items (all are counted)
PAGE = 1_000
SAMPLES_READ = 10 * MAX_BATCH_ITEMS  # intraday samples compared at most (more: sent again, the same)
EPOCH = datetime.fromtimestamp(0, UTC)
ZIP_MAGIC = b"PK\x03\x04"
_canonical = msgspec.json.Encoder(order="sorted")
_WHERE = re.compile(r"^(measure_groups|activity|intraday|workouts|sleep|heart)\[(\d+)\]")


# Refusals of the whole file ---------------------------------------------------------------------
class ImportTooLarge(DomainError):
    code = "import_too_large"
    message = N_("This file is too large to import (at most %(limit)s MB).")


class ArchiveTooLarge(DomainError):
    code = "archive_too_large"
    message = N_("This archive is too large to import once unpacked (at most %(limit)s MB in at most %(files)s files).")


class UnreadableImport(InvalidInput):
    code = "unreadable_import"
    message = N_(
        "This file cannot be imported: choose a VitalKey export (ZIP or vitalkey.json), or the ZIP or a CSV file "
        "of a Withings data export."
    )
    field = "file"


# Reasons an item is left out --------------------------------------------------------------------
class AlreadyStored(InvalidInput):
    code = "already_stored"
    message = N_("Already in your account.")


@dataclass(frozen=True, slots=True)
class ImportLimits:
    max_bytes: int
    max_unpacked: int
    max_files: int


@dataclass(frozen=True, slots=True)
class Skipped:
    """An item left out: its file, where in it (a CSV line, or an item of the JSON), why."""

    file: str
    error: DomainError
    line: int | None = None
    item: str | None = None


@dataclass(frozen=True, slots=True)
class Planned:
    kind: Kind
    item: Any  # the New… item of its kind
    file: str
    line: int | None = None
    item_name: str | None = None  # "measure_groups[3]" in a VitalKey export

    def skipped(self, error: DomainError) -> Skipped:
        return Skipped(self.file, error, self.line, self.item_name)


@dataclass(slots=True)
class ImportReport:
    source: str  # "vitalkey" | "withings"
    imported: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    skipped_counts: dict[str, int] = field(default_factory=dict)  # reason code → count
    reasons: dict[str, DomainError] = field(default_factory=dict)  # reason code → its first case (to word it)
    skipped: list[Skipped] = field(default_factory=list)  # the first SHOWN_SKIPPED
    files: list[str] = field(default_factory=list)  # files read
    ignored_files: list[str] = field(default_factory=list)  # files of the archive not imported
    devices_paired: int = 0
    goals_set: bool = False

    def skip(self, skipped: Skipped) -> None:
        code = skipped.error.code
        self.skipped_counts[code] = self.skipped_counts.get(code, 0) + 1
        self.reasons.setdefault(code, skipped.error)
        if len(self.skipped) < SHOWN_SKIPPED:
            self.skipped.append(skipped)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped_counts.values())

    @property
    def imported_total(self) -> int:
        return sum(self.imported.values())


@dataclass(slots=True)
class ImportPlan:
    """What a file holds, read and not yet stored."""

    report: ImportReport
    items: list[Planned] = field(default_factory=list)
    document: ExportDocument | None = None  # a VitalKey export's devices and goals

    def chunks(self) -> list[list[Planned]]:
        return [self.items[i : i + MAX_BATCH_ITEMS] for i in range(0, len(self.items), MAX_BATCH_ITEMS)]


# Reading the file -------------------------------------------------------------------------------
def _megabytes(size: int) -> int:
    return max(1, size // (1024 * 1024))


def _unpack(
    content: bytes, wanted: Callable[[str], bool], limits: ImportLimits
) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The archive's members that ``wanted`` names, read within the limits; the others' names."""
    too_large = ArchiveTooLarge(limit=_megabytes(limits.max_unpacked), files=limits.max_files)
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise UnreadableImport() from exc
    with archive:
        members = archive.infolist()
        if len(members) > limits.max_files:
            raise too_large
        budget = limits.max_unpacked
        found: list[tuple[str, bytes]] = []
        others: list[str] = []
        for info in members:
            if info.is_dir():
                continue
            if not wanted(info.filename):
                others.append(info.filename)
                continue
            if info.file_size > budget:
                raise too_large
            try:
                with archive.open(info) as member:
                    data = member.read(budget + 1)  # the archive's word on sizes is not trusted
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, OSError) as exc:
                raise UnreadableImport() from exc
            if len(data) > budget:
                raise too_large
            budget -= len(data)
            found.append((info.filename, data))
    return found, others


def _basename(name: str) -> str:
    return posixpath.basename(name.replace("\\", "/")).lower()


def read(filename: str, content: bytes, timezone: str, limits: ImportLimits) -> ImportPlan:
    """What the file holds (no storage touched); refuses what it cannot read or is too large."""
    if len(content) > limits.max_bytes:
        raise ImportTooLarge(limit=_megabytes(limits.max_bytes))
    problem = timezone_problem(timezone, "timezone")
    if problem is not None:
        raise problem
    if content.startswith(ZIP_MAGIC):
        members, others = _unpack(content, lambda n: _basename(n) in KNOWN_FILES or _basename(n) == JSON_NAME, limits)
        exports = [(name, data) for name, data in members if _basename(name) == JSON_NAME]
        if exports:
            return _vitalkey_plan(exports[0][0], exports[0][1])
        if not members:
            raise UnreadableImport()
        plan = _withings_plan(members, timezone)
        plan.report.ignored_files += others
        return plan
    if _basename(filename).endswith(".json") or content.lstrip()[:1] == b"{":
        return _vitalkey_plan(_basename(filename) or JSON_NAME, content)
    if b"\x00" in content[:4096]:
        raise UnreadableImport()
    plan = _withings_plan([(_basename(filename) or "data.csv", content)], timezone)
    if not plan.report.files:
        raise UnreadableImport()
    return plan


def _vitalkey_plan(name: str, raw: bytes) -> ImportPlan:
    document = from_json(raw)
    plan = ImportPlan(ImportReport("vitalkey", files=[name]), document=document)
    sections: tuple[tuple[Kind, Sequence[Any]], ...] = (
        ("measure_groups", document.measure_groups),
        ("activity", document.activity),
        ("intraday", document.intraday),
        ("workouts", document.workouts),
        ("sleep", document.sleep),
        ("heart", document.heart),
    )
    for kind, items in sections:
        plan.items += [Planned(kind, item, name, item_name=f"{kind}[{i}]") for i, item in enumerate(items)]
    return plan


def _withings_plan(files: list[tuple[str, bytes]], timezone: str) -> ImportPlan:
    parsed = read_files(files, timezone)
    report = ImportReport("withings", files=parsed.read, ignored_files=parsed.ignored)
    plan = ImportPlan(report)
    for skip in parsed.skipped:
        report.skip(Skipped(skip.file, skip.error, line=skip.line))
    plan.items += [Planned("measure_groups", row.item, row.file, row.line) for row in parsed.groups]
    plan.items += [Planned("activity", row.item, row.file, row.line) for row in parsed.activity]
    plan.items += [Planned("workouts", row.item, row.file, row.line) for row in parsed.workouts]
    plan.items += [Planned("sleep", row.item, row.file, row.line) for row in parsed.sleep]
    return plan


# Natural keys -----------------------------------------------------------------------------------
def _measures_key(measures: Iterable[Any]) -> frozenset[tuple[int, Decimal]]:
    return frozenset((m.type, Decimal(m.value).scaleb(m.unit).normalize()) for m in measures)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


class _Existing:
    """What the account holds already around a batch's items, by natural key."""

    def __init__(self, tx: Transaction, account_id: int, items: Sequence[Planned]) -> None:
        self.groups: set[tuple[int, frozenset[tuple[int, Decimal]]]] = set()
        self.days: dict[tuple[date, str | None], dict[str, Any]] = {}
        self.sleep: set[tuple[int, int]] = set()
        self.workouts: set[tuple[int, int]] = set()
        self.heart: set[int] = set()
        self.samples: dict[tuple[str, int], dict[str, Any]] = {}
        by_kind: dict[str, list[Any]] = {kind: [] for kind in KINDS}
        for planned in items:
            by_kind[planned.kind].append(planned.item)
        if groups := by_kind["measure_groups"]:
            window = _moments([g.date for g in groups])
            for group in _all(lambda p: tx.measure_groups.find(account_id, window, MeasureFilter(), p), _grpid):
                self.groups.add((_epoch(group.date), _measures_key(group.measures)))
        if days := by_kind["activity"]:
            window = Window(first_day=min(d.date for d in days), last_day=max(d.date for d in days))
            for day in _all(lambda p: tx.activity.find(account_id, window, p), _id):
                self.days[(day.date, day.deviceid)] = dict(day.data)
        if sessions := by_kind["sleep"]:
            window = _moments([s.enddate for s in sessions])
            for session in _all(lambda p: tx.sleep.find(account_id, window, p), _id):
                self.sleep.add((_epoch(session.startdate), _epoch(session.enddate)))
        if workouts := by_kind["workouts"]:
            starts = [datetime.fromtimestamp(w.startdate, UTC).date() for w in workouts]
            window = Window(first_day=min(starts) - timedelta(days=1), last_day=max(starts) + timedelta(days=1))
            for workout in _all(lambda p: tx.workouts.find(account_id, window, p), _id):
                self.workouts.add((workout.category, _epoch(workout.startdate)))
        if recordings := by_kind["heart"]:
            window = _moments([h.at for h in recordings])
            for recording in _all(lambda p: tx.heart.find(account_id, window, p), _signalid):
                self.heart.add(_epoch(recording.at))

        if samples := by_kind["intraday"]:
            window = _moments([s.at for s in samples])
            found = tx.intraday.between(account_id, window.start or EPOCH, window.end or EPOCH, SAMPLES_READ)
            if len(found) < SAMPLES_READ:  # else too many to compare: sent again, they replace themselves
                self.samples = {(s.deviceid, _epoch(s.at)): dict(s.data) for s in found}

    def known(self, planned: Planned) -> tuple[bool, Any]:
        """Whether the item is in the account already (and remember it, so a repeat in the file is
        known too); an activity day may come back merged with the stored day's fields."""
        item = planned.item
        if planned.kind == "measure_groups":
            return self._seen(self.groups, (item.date, _measures_key(item.measures))), item
        if planned.kind == "activity":
            stored = self.days.get((item.date, item.deviceid))
            if stored is not None and all(stored.get(k) == v for k, v in item.data.items()):
                return True, item
            merged = {**(stored or {}), **item.data}
            self.days[(item.date, item.deviceid)] = merged
            return False, replace(item, data=merged) if stored is not None else item
        if planned.kind == "sleep":
            return self._seen(self.sleep, (item.startdate, item.enddate)), item
        if planned.kind == "workouts":
            return self._seen(self.workouts, (item.category, item.startdate)), item
        if planned.kind == "heart":
            return self._seen(self.heart, item.at), item
        key = (item.deviceid, item.at)  # intraday: a sample replaces the stored one of its second
        if self.samples.get(key) == dict(item.data):
            return True, item
        self.samples[key] = dict(item.data)
        return False, item

    @staticmethod
    def _seen(keys: set[Any], key: Any) -> bool:
        if key in keys:
            return True
        keys.add(key)
        return False


def _moments(seconds: Sequence[int]) -> Window:
    return Window(start=datetime.fromtimestamp(min(seconds), UTC), end=datetime.fromtimestamp(max(seconds), UTC))


def _grpid(group: MeasureGroup) -> int:
    return group.grpid


def _id(record: Any) -> int:
    return int(record.id)


def _signalid(record: Any) -> int:
    return int(record.signalid)


def _all(fetch: Callable[[Page], Sequence[Any]], key: Callable[[Any], int]) -> Iterable[Any]:
    after = 0
    while True:
        page = fetch(Page(after=after, limit=PAGE))
        yield from page
        if len(page) < PAGE:
            return
        after = key(page[-1])


# The service ------------------------------------------------------------------------------------
class DataImport:
    def __init__(self, deps: FlowDeps, ingest: HealthIngest, limits: ImportLimits) -> None:
        self.deps = deps
        self.ingest = ingest
        self.limits = limits

    def read(self, filename: str, content: bytes, timezone: str) -> ImportPlan:
        """Read the file (CPU only: run it off the event loop)."""
        return read(filename, content, timezone, self.limits)

    def default_timezone(self, account_id: int) -> str:
        """The zone of the user's first paired device, else UTC."""
        devices = self.ingest.devices(account_id)
        zones = [d.timezone for d in sorted(devices, key=lambda d: d.created) if known_timezone(d.timezone)]
        return zones[0] if zones else "UTC"

    def prepare(self, account_id: int, plan: ImportPlan) -> None:
        """A VitalKey export's devices (found or paired) and goals; items of a device that could
        not be paired are left out."""
        document = plan.document
        if document is None:
            return
        refs = self._devices(account_id, plan)
        kept: list[Planned] = []
        for planned in plan.items:
            ref = getattr(planned.item, "deviceid", None)
            if ref is None:
                kept.append(planned)
            elif ref in refs:
                kept.append(replace(planned, item=replace(planned.item, deviceid=refs[ref])))
            else:
                plan.report.skip(planned.skipped(UnknownDevice(field=f"{planned.item_name}.deviceid")))
        plan.items = kept
        goals = self.ingest.goals(account_id)
        if goals.modified is None:
            wanted = document.goals
            try:
                self.ingest.set_goals(account_id, wanted.steps, wanted.sleep, wanted.weight)
                plan.report.goals_set = True
            except DomainError as error:
                plan.report.skip(Skipped(plan.report.files[0], error, item="goals"))

    def _devices(self, account_id: int, plan: ImportPlan) -> dict[str, str]:
        """Each exported device's ``ref`` → a paired device's ``deviceid``."""
        assert plan.document is not None
        paired: list[Device] = self.ingest.devices(account_id)
        taken: set[str] = set()
        refs: dict[str, str] = {}
        for exported in plan.document.devices:
            same = [
                d
                for d in paired
                if d.deviceid not in taken
                and (d.type.value, d.model, d.model_id) == (exported.type, exported.model, exported.model_id)
            ]
            if same:
                device = same[0]
            else:
                try:
                    device = self.ingest.pair(
                        account_id,
                        exported.type,
                        exported.model,
                        exported.model_id,
                        exported.timezone,
                        _battery(exported.battery),
                    )
                except DomainError:
                    continue  # its items are left out as of an unknown device
                self._restore_sessions(device, exported)
                plan.report.devices_paired += 1
            taken.add(device.deviceid)
            refs[exported.ref] = device.deviceid
        return refs

    def _restore_sessions(self, device: Device, exported: ExportedDevice) -> None:
        """A device paired for the import keeps the first and last session it had (ingestion then
        widens them only to take in data outside them)."""
        if exported.first_session is None or exported.last_session is None:
            return
        with self.deps.uow.begin() as tx:
            tx.devices.update(replace(device, first_session=exported.first_session, last_session=exported.last_session))

    def store(self, account_id: int, chunk: Sequence[Planned], report: ImportReport) -> None:
        """One batch: what the account lacks of ``chunk``, stored through ingestion (one unit of
        work); items ingestion refuses are left out with its reason and the rest sent again."""
        with self.deps.uow.read() as tx:
            existing = _Existing(tx, account_id, chunk)
        pending: list[Planned] = []
        for planned in chunk:
            known, item = existing.known(planned)
            if known:
                report.skip(planned.skipped(AlreadyStored()))
            else:
                pending.append(replace(planned, item=item) if item is not planned.item else planned)
        while pending:
            batch, placed = _batch(pending)
            digest = hashlib.sha256(_canonical.encode(msgspec.to_builtins(batch, str_keys=True))).hexdigest()
            try:
                done = self.ingest.ingest(account_id, f"import:{digest}", digest, batch)
            except InvalidFields as refused:
                wrong = _wrong_items(refused, placed)
                if not wrong:
                    raise
                for planned, error in wrong.values():
                    report.skip(planned.skipped(error))
                pending = [p for p in pending if id(p) not in wrong]
                continue
            for planned in pending:
                if done.replayed:
                    report.skip(planned.skipped(AlreadyStored()))
                else:
                    report.imported[planned.kind] += 1
            return

    def import_file(self, account_id: int, filename: str, content: bytes, timezone: str) -> ImportReport:
        """The whole import at once (the web runs its steps itself, a batch per unit of work)."""
        plan = self.read(filename, content, timezone)
        self.prepare(account_id, plan)
        for chunk in plan.chunks():
            self.store(account_id, chunk, plan.report)
        return plan.report


def _battery(exported: str) -> str:
    """The exported battery level, or unknown when the file's is not one."""
    return exported if exported in {level.value for level in Battery} else Battery.UNKNOWN


def _batch(pending: Sequence[Planned]) -> tuple[Batch, dict[tuple[str, int], Planned]]:
    """The batch of these items, and which item is at each ``kind[index]``."""
    by_kind: dict[str, list[Any]] = {kind: [] for kind in KINDS}
    placed: dict[tuple[str, int], Planned] = {}
    for planned in pending:
        placed[(planned.kind, len(by_kind[planned.kind]))] = planned
        by_kind[planned.kind].append(planned.item)
    batch = Batch(
        measure_groups=tuple(by_kind["measure_groups"]),
        activity=tuple(by_kind["activity"]),
        intraday=tuple(by_kind["intraday"]),
        workouts=tuple(by_kind["workouts"]),
        sleep=tuple(by_kind["sleep"]),
        heart=tuple(by_kind["heart"]),
        backfill=True,
    )
    return batch, placed


def _wrong_items(
    refused: InvalidFields, placed: dict[tuple[str, int], Planned]
) -> dict[int, tuple[Planned, DomainError]]:
    """Each refused item (by ``id``) with its first problem (its field names it: ``sleep[2].…``)."""
    wrong: dict[int, tuple[Planned, DomainError]] = {}
    for problem in refused.problems:
        match = _WHERE.match(problem.field_name or "")
        planned = placed.get((match.group(1), int(match.group(2)))) if match else None
        if planned is None:
            return {}  # a problem of no one item: not ours to sort out
        wrong.setdefault(id(planned), (planned, problem))
    return wrong


__all__ = [
    "AlreadyStored",
    "ArchiveTooLarge",
    "DataImport",
    "ImportLimits",
    "ImportPlan",
    "ImportReport",
    "ImportTooLarge",
    "Skipped",
    "UnreadableImport",
]
