""" "Download my data" (issue #21 item 4): a ZIP of the user's whole account.

``collect`` reads the account page after page through the repositories into an
``ExportDocument`` (``flows/export_format``: the profile, the accepted privacy policy, the
connected apps, the goals, the devices — the paired ones and any unpaired one a live record still
names — and every live record); ``export_files.build_zip`` turns it into the ZIP. An account of
at most ``inline_limit`` health records is built at once, in the request (in a worker thread:
reading and zipping would hold the event loop), and stored ready; a larger one is queued
(``pending``, one per account at a time) and built by the :class:`ExportWorker`, which mails
the user a link once it is ready. Either way the ZIP is kept for ``link_ttl`` and handed only to
its signed-in owner; expired ZIPs are emptied and their rows forgotten a week later.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from vitalkey.domain.accounts import mail_names
from vitalkey.domain.dashboard import DisplayUnits, units_for
from vitalkey.domain.data_exports import (
    MAX_ATTEMPTS,
    DataExport,
    ExportExpired,
    ExportFailed,
    ExportInProgress,
    ExportNotFound,
    ExportNotReady,
    ExportStatus,
    new_export_id,
)
from vitalkey.domain.health import (
    ActivityDay,
    Device,
    HeartRecording,
    IntradaySample,
    MeasureFilter,
    MeasureGroup,
    Page,
    SleepSession,
    Window,
    Workout,
)
from vitalkey.flows import second_factor
from vitalkey.flows.connected_apps import connected
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.export_files import build_zip
from vitalkey.flows.export_format import (
    ExportDocument,
    ExportedApp,
    ExportedConsent,
    ExportedDevice,
    ExportedGoals,
    ExportedProfile,
)
from vitalkey.flows.health_ingest import (
    NewActivityDay,
    NewBloodPressure,
    NewGroup,
    NewHeartRecording,
    NewMeasure,
    NewSample,
    NewSleepSession,
    NewSleepState,
    NewWorkout,
)
from vitalkey.observability import logger
from vitalkey.ports import OutgoingMail, Pending, StorageUnavailable, Transaction

T = TypeVar("T")
log = logger("vitalkey.export")

MAIL_TEMPLATE = "data_export_ready"
PAGE = 1_000
INTRADAY_START = datetime(1970, 1, 1, tzinfo=UTC)
INTRADAY_END = datetime(9999, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=60)  # renewed every quarter while a build goes on
KEPT_EXPIRED = timedelta(days=7)  # an expired link says "expired" this long, then the row goes
PRUNE_EVERY = timedelta(hours=1)


class TooLarge(Exception):
    """The account holds more records than may be built at once (internal: queue it)."""


@dataclass(frozen=True, slots=True)
class Built:
    records: int
    content: bytes


@dataclass(frozen=True, slots=True)
class Download:
    export: DataExport
    content: bytes

    @property
    def filename(self) -> str:
        return f"vitalkey-data-{self.export.created.date().isoformat()}.zip"


@dataclass(frozen=True, slots=True)
class Requested:
    """What asking for a download did: built at once (``content`` set) or queued."""

    export: DataExport
    content: bytes | None = None


def collect(tx: Transaction, account_id: int, now: datetime, limit: int | None = None) -> ExportDocument:
    """The whole account as an ``ExportDocument`` (raises :class:`TooLarge` past ``limit``
    health records, having read at most a page more)."""
    account = tx.accounts.get(account_id)
    if account is None:
        raise ExportNotFound()
    counted = _Counter(limit)
    everything = MeasureFilter()  # every type, both categories
    groups = counted.pages(lambda page: tx.measure_groups.find(account_id, Window(), everything, page), _grpid)
    activity = counted.pages(lambda page: tx.activity.find(account_id, Window(), page), _id)
    workouts = counted.pages(lambda page: tx.workouts.find(account_id, Window(), page), _id)
    sleep = counted.pages(lambda page: tx.sleep.find(account_id, Window(), page), _id)
    heart = counted.pages(lambda page: tx.heart.find(account_id, Window(), page), _signalid)
    samples = _samples(tx, account_id, counted)
    devices = _devices(tx.devices.for_account(account_id), tx.devices.ever_paired(account_id), [
        *groups, *activity, *workouts, *sleep, *heart, *samples,
    ])  # fmt: skip
    refs = {device.deviceid: f"d{n}" for n, device in enumerate(devices, 1)}
    profile = account.profile
    prefs = tx.dashboard_prefs.get(account_id)
    goals = tx.goals.get(account_id)
    apps = connected(tx, account_id)
    return ExportDocument(
        exported_at=now,
        profile=ExportedProfile(
            email=account.email,
            language=account.language,
            created_at=account.created_at,
            first_name=profile.first_name if profile else "",
            last_name=profile.last_name if profile else "",
            birth_date=profile.birth_date if profile else None,
            sex=profile.sex.value if profile else None,
            height_cm=profile.height_cm if profile else None,
            units=profile.units.value if profile else None,
            display_units=units_for(prefs, profile.units if profile else None).value,
            password_set=account.password_changed_at is not None,
            two_factor=second_factor.two_factor(tx, account_id) is not None,
        ),
        goals=ExportedGoals(
            steps=goals.steps,
            sleep=goals.sleep,
            weight=NewMeasure(1, goals.weight.value, goals.weight.unit) if goals.weight else None,
        ),
        consents=(
            (ExportedConsent(account.policy_version, account.policy_accepted_at),)
            if account.policy_version and account.policy_accepted_at
            else ()
        ),
        connected_apps=tuple(
            ExportedApp(a.app.client_id, a.app.name, a.scopes, a.first_allowed_at, a.last_used_at, a.notified)
            for a in apps
        ),
        devices=tuple(_device(device, refs[device.deviceid]) for device in devices),
        measure_groups=tuple(_group(g, refs) for g in sorted(groups, key=lambda g: (g.date, g.grpid))),
        activity=tuple(_day(d, refs) for d in sorted(activity, key=lambda d: (d.date, d.id))),
        intraday=tuple(NewSample(_epoch(s.at), refs[s.deviceid], s.data) for s in samples if s.deviceid in refs),
        workouts=tuple(_workout(w, refs) for w in sorted(workouts, key=lambda w: (w.startdate, w.id))),
        sleep=tuple(_sleep(s, refs) for s in sorted(sleep, key=lambda s: (s.startdate, s.id))),
        heart=tuple(_recording(r, refs) for r in sorted(heart, key=lambda r: (r.at, r.signalid))),
    )


def records_of(document: ExportDocument) -> int:
    """The health records a document holds (what ``inline_limit`` counts)."""
    kinds = (document.measure_groups, document.activity, document.intraday, document.workouts)
    return sum(map(len, kinds)) + len(document.sleep) + len(document.heart)


def csv_units(document: ExportDocument) -> DisplayUnits:
    return DisplayUnits(document.profile.display_units or DisplayUnits.METRIC.value)


def _grpid(group: MeasureGroup) -> int:
    return group.grpid


def _id(record: ActivityDay | Workout | SleepSession) -> int:
    return record.id


def _signalid(recording: HeartRecording) -> int:
    return recording.signalid


class _Counter:
    """Counts the records read, and stops the reading past ``limit``."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.seen = 0

    def pages(self, find: Callable[[Page], Sequence[T]], id_of: Callable[[T], int]) -> list[T]:
        """Every live record of a listing, page after page (ids only grow: stable while data arrives)."""
        found: list[T] = []
        after = 0
        while True:
            page = list(find(Page(after=after, limit=PAGE)))
            found.extend(page)
            self.add(len(page))
            if len(page) < PAGE:
                return found
            after = id_of(page[-1])

    def add(self, count: int) -> None:
        self.seen += count
        if self.limit is not None and self.seen > self.limit:
            raise TooLarge()


def _samples(tx: Transaction, account_id: int, counted: _Counter) -> list[IntradaySample]:
    """Every intraday sample, oldest first: ``between`` pages by time, so the next page starts
    at the last second read and skips what was already read of it ((second, device) is the key)."""
    found: list[IntradaySample] = []
    start = INTRADAY_START
    while True:
        page = tx.intraday.between(account_id, start, INTRADAY_END, PAGE)
        if found:
            last = (found[-1].at, found[-1].deviceid)
            page = [s for s in page if (s.at, s.deviceid) > last]
        found.extend(page)
        counted.add(len(page))
        if not page:
            return found
        start = page[-1].at


def _devices(paired: list[Device], every: list[Device], records: Iterable[object]) -> list[Device]:
    """The paired devices and the unpaired ones a live record names, in pairing order."""
    named = {getattr(record, "deviceid", None) for record in records}
    keep = {device.deviceid for device in paired} | (named - {None, ""})
    return [device for device in every if device.deviceid in keep]


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _ref(refs: dict[str, str], deviceid: str | None) -> str | None:
    return refs.get(deviceid) if deviceid else None


def _device(device: Device, ref: str) -> ExportedDevice:
    return ExportedDevice(
        ref=ref,
        type=device.type.value,
        model=device.model,
        model_id=device.model_id,
        timezone=device.timezone,
        battery=device.battery.value,
        paired_at=device.created,
        first_session=device.first_session,
        last_session=device.last_session,
    )


def _group(group: MeasureGroup, refs: dict[str, str]) -> NewGroup:
    return NewGroup(
        date=_epoch(group.date),
        measures=tuple(NewMeasure(m.type, m.value, m.unit) for m in group.measures),
        category=int(group.category),
        attrib=int(group.attrib),
        timezone=group.timezone,
        deviceid=_ref(refs, group.deviceid),
        comment=group.comment,
    )


def _day(day: ActivityDay, refs: dict[str, str]) -> NewActivityDay:
    return NewActivityDay(
        date=day.date,
        data=dict(day.data),
        timezone=day.timezone,
        deviceid=_ref(refs, day.deviceid),
        brand=int(day.brand),
        is_tracker=day.is_tracker,
    )


def _workout(workout: Workout, refs: dict[str, str]) -> NewWorkout:
    return NewWorkout(
        category=workout.category,
        startdate=_epoch(workout.startdate),
        enddate=_epoch(workout.enddate),
        data=dict(workout.data),
        date=workout.date,
        timezone=workout.timezone,
        deviceid=_ref(refs, workout.deviceid),
        attrib=int(workout.attrib),
    )


def _sleep(session: SleepSession, refs: dict[str, str]) -> NewSleepSession:
    return NewSleepSession(
        startdate=_epoch(session.startdate),
        enddate=_epoch(session.enddate),
        states=tuple(NewSleepState(_epoch(s.startdate), _epoch(s.enddate), int(s.state)) for s in session.states),
        series={name: dict(values) for name, values in session.series.items()},
        summary=dict(session.summary),
        timezone=session.timezone,
        deviceid=_ref(refs, session.deviceid),
        completed=session.completed,
    )


def _recording(recording: HeartRecording, refs: dict[str, str]) -> NewHeartRecording:
    pressure = recording.bloodpressure
    return NewHeartRecording(
        at=_epoch(recording.at),
        heart_rate=recording.heart_rate,
        afib=int(recording.afib),
        signal=tuple(recording.signal),
        sampling_frequency=recording.sampling_frequency,
        wearposition=recording.wearposition,
        timezone=recording.timezone,
        deviceid=_ref(refs, recording.deviceid),
        bloodpressure=NewBloodPressure(pressure.systole, pressure.diastole) if pressure else None,
    )


class DataExports:
    """Asking for a download, its state, and handing it to its owner."""

    def __init__(self, deps: FlowDeps, *, inline_limit: int, link_ttl: timedelta) -> None:
        self.deps = deps
        self.inline_limit = inline_limit
        self.link_ttl = link_ttl
        self.queued: Callable[[], None] = lambda: None  # the worker's wake-up (the container sets it)

    async def request(self, account_id: int) -> Requested:
        """Build the ZIP at once (a small account) or queue it; :class:`ExportInProgress` while
        one is being built."""
        built = await self.deps.uow.read_long(self._build_small, account_id)
        requested = await self.deps.uow.run(self._store, account_id, built)
        if built is None:
            self.queued()
        return requested

    def _build_small(self, account_id: int) -> Built | None:
        now = self.deps.clock.now()
        with self.deps.uow.read() as tx:
            latest = tx.data_exports.latest(account_id)
            if latest is not None and latest.status is ExportStatus.PENDING:
                raise ExportInProgress()
            try:
                document = collect(tx, account_id, now, self.inline_limit)
            except TooLarge:
                return None
        return Built(records_of(document), build_zip(document, csv_units(document)))

    def _store(self, account_id: int, built: Built | None) -> Requested:
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            latest = tx.data_exports.latest(account_id)
            if latest is not None and latest.status is ExportStatus.PENDING:
                raise ExportInProgress()
            tx.data_exports.drop_settled(account_id)  # the new download replaces the older ones
            if built is None:
                export = DataExport(new_export_id(), account_id, ExportStatus.PENDING, now)
            else:
                export = DataExport(
                    new_export_id(), account_id, ExportStatus.READY, now, ready_at=now,
                    expires=now + self.link_ttl, records=built.records, size=len(built.content),
                )  # fmt: skip
            if not tx.data_exports.add(export, None if built is None else built.content):
                raise ExportInProgress()
            tx.audit.record("data_export.requested", now, account_id, export=export.id, queued=built is None)
        return Requested(export, None if built is None else built.content)

    def latest(self, account_id: int) -> DataExport | None:
        with self.deps.uow.read() as tx:
            return tx.data_exports.latest(account_id)

    def download(self, account_id: int, export_id: str) -> Download:
        """The owner's ready ZIP; ExportNotFound for anyone else (or no such export),
        ExportExpired, ExportNotReady or ExportFailed otherwise."""
        now = self.deps.clock.now()
        with self.deps.uow.read() as tx:
            export = tx.data_exports.get(export_id)
            if export is None or export.account_id != account_id:
                raise ExportNotFound()
            if export.status is ExportStatus.PENDING:
                raise ExportNotReady()
            if export.status is ExportStatus.FAILED:
                raise ExportFailed()
            if export.expired(now):
                raise ExportExpired()
            content = tx.data_exports.content(export_id)
        if content is None:  # emptied by a prune that ran on another clock
            raise ExportExpired()
        return Download(export, content)


class ExportWorker:
    """Builds the queued exports, one at a time per worker, each under a lease that it renews
    while the build goes on (a crashed worker's export is taken up again once its lease ends),
    then stores the ZIP and queues the mail with the link in one transaction."""

    def __init__(self, exports: DataExports, *, poll_s: float = 1.0) -> None:
        self.exports = exports
        self.deps = exports.deps
        self.poll_s = poll_s
        self.owner = secrets.token_hex(8)
        self._wake = asyncio.Event()
        self._next_prune = datetime.min.replace(tzinfo=UTC)

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> bool:
        """Build one pending export if there is one; whether there was."""
        export = await self.deps.uow.run_optimistic(self._look)
        if export is None:
            return False
        renewing = asyncio.create_task(self._renew(export))
        try:
            built = await self.deps.uow.read_long(self._build, export.account_id)
        except StorageUnavailable:
            raise  # not the export's fault: its lease runs out and it is built again, no attempt counted
        except Exception:
            log.exception("export.build_failed", export=export.id, attempt=export.attempts + 1)
            await self.deps.uow.run(self._failed, export)
            return True
        finally:
            renewing.cancel()
        stored = await self.deps.uow.run(self._finish, export, built)
        log.info("export.built", export=export.id, records=built.records, size=len(built.content), stored=stored)
        return True

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                if await self.run_once():
                    continue
            except Exception:  # the database may be away: try again at the next poll
                log.exception("export.claim_failed")
            waits = [asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())]
            await asyncio.wait(waits, timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED)
            for wait in waits:
                wait.cancel()

    def _look(self) -> DataExport | Pending[DataExport | None] | None:
        """Most polls find nothing to do: they only read (the database's one writer is taken
        only to claim an export, and for the hourly prune)."""
        now = self.deps.clock.now()
        if now < self._next_prune:
            with self.deps.uow.read() as tx:
                if not tx.data_exports.claimable(now):
                    return None
        return Pending(self._claim)

    def _claim(self) -> DataExport | None:
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            if now >= self._next_prune:
                self._next_prune = now + PRUNE_EVERY
                tx.data_exports.prune(now, KEPT_EXPIRED)
            return tx.data_exports.claim(now, self.owner, LEASE)

    async def _renew(self, export: DataExport) -> None:
        while True:
            await asyncio.sleep(LEASE.total_seconds() / 4)
            until = self.deps.clock.now() + LEASE
            try:
                await self.deps.uow.run(self._renew_once, export.id, until)
            except Exception:  # the database may be away a moment: the next renewal may do
                log.exception("export.renew_failed", export=export.id)

    def _renew_once(self, export_id: str, until: datetime) -> bool:
        with self.deps.uow.begin() as tx:
            return tx.data_exports.renew(export_id, self.owner, until)

    def _build(self, account_id: int) -> Built:
        now = self.deps.clock.now()
        with self.deps.uow.read() as tx:
            document = collect(tx, account_id, now)
        return Built(records_of(document), build_zip(document, csv_units(document)))

    def _finish(self, export: DataExport, built: Built) -> bool:
        now = self.deps.clock.now()
        ready = replace(
            export, status=ExportStatus.READY, ready_at=now, expires=now + self.exports.link_ttl,
            records=built.records, size=len(built.content),
        )  # fmt: skip
        with self.deps.uow.begin() as tx:
            account = tx.accounts.get(export.account_id)
            if account is None or not tx.data_exports.finish(ready, self.owner, built.content):
                return False  # the account is gone, or another worker took the export over
            assert ready.expires is not None
            tx.outbox.enqueue(
                OutgoingMail(
                    to=account.email,
                    template=MAIL_TEMPLATE,
                    language=account.language,
                    context={
                        **mail_names(account),
                        "link": f"{self.deps.public_url}/account/data/export/{export.id}",
                        "until": ready.expires.strftime("%Y-%m-%d %H:%M UTC"),
                    },
                    idempotency_key=f"{MAIL_TEMPLATE}:{export.id}",
                ),
                now,
            )
            tx.audit.record("data_export.ready", now, export.account_id, export=export.id)
        return True

    def _failed(self, export: DataExport) -> bool:
        now = self.deps.clock.now()
        give_up = now + self.exports.link_ttl if export.attempts + 1 >= MAX_ATTEMPTS else None
        with self.deps.uow.begin() as tx:
            return tx.data_exports.fail(export.id, self.owner, now, give_up_expires=give_up)


__all__ = [
    "MAIL_TEMPLATE",
    "DataExports",
    "Download",
    "ExportWorker",
    "Requested",
    "collect",
    "records_of",
]
