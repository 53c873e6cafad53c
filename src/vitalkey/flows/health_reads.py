"""What a partner app reads of one account's health data (the Withings data API's service).

Each listing answers the records of a window in id order, one page at a time: ``more`` says
whether another page follows and ``offset`` is where it starts (the last id returned). Ids only
grow, so a page never shifts when data arrives while a partner pages through. The series read by
time (sleep states, intraday samples) hold at most 24 hours per call, as Withings says; every
other window at most ``MAX_SPAN``.

A window by dates (``Window.start``/``end`` or the local days) is the one applied when a request
carries both a window and ``lastupdate``, as withings-api sends them together (its ``lastupdate``
defaults to when it was imported): ``updated_since`` is applied alone only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from vitalkey.domain.errors import InvalidInput
from vitalkey.domain.health import (
    ActivityDay,
    Device,
    EndsBeforeStart,
    Goals,
    HeartRecording,
    IntradaySample,
    MeasureFilter,
    MeasureGroup,
    Page,
    SleepSession,
    Window,
    Workout,
)
from vitalkey.domain.i18n import N_
from vitalkey.flows.app_quota import AppQuota, TooManyRequests
from vitalkey.flows.deps import FlowDeps
from vitalkey.ports import Transaction

DAY = timedelta(hours=24)  # sleep states and intraday samples: at most this per call (Withings)
MAX_SPAN = timedelta(days=5 * 366)  # any other window: a partner pages through longer histories by lastupdate
MAX_INTRADAY_SAMPLES = 86_400  # one a second for 24 hours

# Page sizes per listing: a measure group is small, a heart recording carries no signal in a list.
PAGE_SIZES = {"measures": 500, "activity": 200, "workouts": 200, "sleep": 200, "heart": 100}

T = TypeVar("T")


class SpanTooLong(InvalidInput):
    code = "span_too_long"
    message = N_("At most %(limit)s between the start and the end.")


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """One page of records, the account's devices by ``deviceid`` (for model and hashed id), and
    where the next page starts (``offset``; 0 when ``more`` is false)."""

    items: list[T]
    more: bool
    offset: int
    devices: dict[str, Device]


@dataclass(frozen=True, slots=True)
class SleepStates:
    sessions: list[SleepSession]
    devices: dict[str, Device]


@dataclass(frozen=True, slots=True)
class Intraday:
    samples: list[IntradaySample]
    devices: dict[str, Device]


def check_span(start: datetime | None, end: datetime | None, limit: timedelta, field: str) -> None:
    if start is None or end is None:
        return
    if end < start:
        raise EndsBeforeStart(field=field)
    if end - start > limit:
        raise SpanTooLong(field=field, limit=_spoken(limit))


def check_window(window: Window) -> Window:
    """The window as the listing applies it (see the module's docstring), or a refusal."""
    check_span(window.start, window.end, MAX_SPAN, "enddate")
    if window.first_day is not None and window.last_day is not None:
        if window.last_day < window.first_day:
            raise EndsBeforeStart(field="enddateymd")
        if window.last_day - window.first_day > MAX_SPAN:
            raise SpanTooLong(field="enddateymd", limit=_spoken(MAX_SPAN))
    dated = any(bound is not None for bound in (window.start, window.end, window.first_day, window.last_day))
    return replace(window, updated_since=None) if dated else window


def _app_key(client_id: str) -> str:
    return "withings-app:" + client_id


def _spoken(span: timedelta) -> str:
    return f"{span.days} days" if span.days > 1 else f"{int(span.total_seconds()) // 3600} hours"


class HealthReads:
    def __init__(self, deps: FlowDeps, requests_per_minute: int) -> None:
        self.deps = deps
        self.requests_per_minute = requests_per_minute
        self.quota = AppQuota(deps, requests_per_minute)

    def admit_reserved(self, client_id: str) -> bool:
        """Admit one request of the partner app ``client_id`` from what this process reserved of
        its limit, without I/O; False when :meth:`admit` must run (see :mod:`.app_quota`)."""
        return self.quota.spend_reserved(_app_key(client_id))

    def admit(self, client_id: str) -> None:
        """Count one request of the partner app ``client_id``; :class:`TooManyRequests` past its
        limit per minute (counted where every server process sees it)."""
        self.quota.admit(_app_key(client_id))

    # Listings ---------------------------------------------------------------------------------
    def measures(self, account_id: int, window: Window, wanted: MeasureFilter, offset: int) -> Listing[MeasureGroup]:
        window = check_window(window)
        return self._listing(
            account_id,
            offset,
            PAGE_SIZES["measures"],
            lambda tx, page: tx.measure_groups.find(account_id, window, wanted, page),
            lambda group: group.grpid,
        )

    def activity(self, account_id: int, window: Window, offset: int) -> Listing[ActivityDay]:
        window = check_window(window)
        return self._listing(
            account_id,
            offset,
            PAGE_SIZES["activity"],
            lambda tx, page: tx.activity.find(account_id, window, page),
            lambda day: day.id,
        )

    def workouts(self, account_id: int, window: Window, offset: int) -> Listing[Workout]:
        window = check_window(window)
        return self._listing(
            account_id,
            offset,
            PAGE_SIZES["workouts"],
            lambda tx, page: tx.workouts.find(account_id, window, page),
            lambda workout: workout.id,
        )

    def sleep_summaries(self, account_id: int, window: Window, offset: int) -> Listing[SleepSession]:
        window = check_window(window)
        return self._listing(
            account_id,
            offset,
            PAGE_SIZES["sleep"],
            lambda tx, page: tx.sleep.find(account_id, window, page),
            lambda session: session.id,
        )

    def heart_list(self, account_id: int, window: Window, offset: int) -> Listing[HeartRecording]:
        window = check_window(window)
        return self._listing(
            account_id,
            offset,
            PAGE_SIZES["heart"],
            lambda tx, page: tx.heart.find(account_id, window, page),
            lambda recording: recording.signalid,
        )

    def _listing(
        self,
        account_id: int,
        offset: int,
        size: int,
        find: Callable[[Transaction, Page], Sequence[T]],
        id_of: Callable[[T], int],
    ) -> Listing[T]:
        with self.deps.uow.read() as tx:
            found = list(find(tx, Page(after=offset, limit=size + 1)))  # one more: is there a next page?
            devices = {device.deviceid: device for device in tx.devices.for_account(account_id)}
        more = len(found) > size
        items = found[:size]
        return Listing(items, more, id_of(items[-1]) if more else 0, devices)

    # Series by time, at most 24 hours ---------------------------------------------------------
    def sleep_states(self, account_id: int, start: datetime, end: datetime) -> SleepStates:
        check_span(start, end, DAY, "enddate")
        with self.deps.uow.read() as tx:
            sessions = tx.sleep.overlapping(account_id, start, end)
            devices = {device.deviceid: device for device in tx.devices.for_account(account_id)}
        return SleepStates(sessions, devices)

    def intraday(self, account_id: int, start: datetime | None, end: datetime | None) -> Intraday:
        """Samples of ``start``..``end``; without them, the last 24 hours."""
        if start is None and end is None:
            end = self.deps.clock.now()
        if start is None:
            assert end is not None
            start = end - DAY
        if end is None:
            end = start + DAY
        check_span(start, end, DAY, "enddate")
        with self.deps.uow.read() as tx:
            samples = tx.intraday.between(account_id, start, end, MAX_INTRADAY_SAMPLES)
            devices = {device.deviceid: device for device in tx.devices.for_account(account_id)}
        return Intraday(samples, devices)

    # Single records ---------------------------------------------------------------------------
    def devices(self, account_id: int) -> list[Device]:
        with self.deps.uow.read() as tx:
            return tx.devices.for_account(account_id)

    def goals(self, account_id: int) -> Goals:
        with self.deps.uow.read() as tx:
            return tx.goals.get(account_id)

    def heart_signal(self, account_id: int, signalid: int) -> HeartRecording | None:
        with self.deps.uow.read() as tx:
            recording = tx.heart.get(account_id, signalid)
        return recording if recording is not None and recording.deleted is None else None


__all__ = [
    "DAY",
    "MAX_SPAN",
    "HealthReads",
    "Intraday",
    "Listing",
    "SleepStates",
    "SpanTooLong",
    "TooManyRequests",
    "check_span",
    "check_window",
]
