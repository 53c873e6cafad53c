"""Syncing a link's data from its provider: the first sync (the last ``first_sync_days`` days),
a notified window, and the ``lastupdate`` poll. Each call is one job of the worker.

A window's answer is the whole truth for that window: what is stored there and not returned
any more was deleted at the provider (store.put_* with a window). A poll only adds and updates.
Tokens are refreshed before they expire and once on a 401; a refused refresh unlinks the link.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from vitalkey_portal.db.store import (
    ActivityDay,
    Job,
    JobKind,
    MeasureGroup,
    SleepNight,
    Store,
    Tokens,
    WorkoutRecord,
)
from vitalkey_portal.providers import Provider
from vitalkey_portal.records import Link, LinkState, UnlinkReason
from vitalkey_portal.withings import Grant, TokenInvalid, Unreachable, WithingsClient

log = logging.getLogger("vitalkey_portal.sync")

REFRESH_BEFORE = timedelta(minutes=5)  # refresh an access token this long before it expires
POLL_OVERLAP_S = 120  # a poll asks again for what changed just before the previous one
WEARABLE = "Activity Tracker"

# The parts of a first sync, one job each (a 601 halfway loses only the part it stopped in):
# 1 measures, 16 activity and workouts, 44 sleep (the applis that announce them).
FIRST_PARTS = (1, 16, 44)
MEASURE_APPLIS = frozenset({1, 2, 4})
ACTIVITY = 16
SLEEP = 44
USER = 46

T = TypeVar("T")


class LinkGone(Exception):
    """The link is not LINKED any more (unlinked, or its refresh was refused): nothing to do."""


def has_wearable(devices: list[dict[str, Any]]) -> bool:
    return any(device.get("type") == WEARABLE for device in devices)


def first_days(now: datetime, days: int) -> tuple[date, date]:
    """The calendar days (UTC) of a first sync: the last ``days`` days, today included."""
    today = now.astimezone(UTC).date()
    return today - timedelta(days=days - 1), today


def midnight(day: date) -> int:
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp())


@dataclass
class Syncer:
    store: Store
    providers: Mapping[str, Provider]
    clients: Mapping[str, WithingsClient]
    first_sync_days: int
    now: Callable[[], datetime]

    # Jobs ----------------------------------------------------------------------------------------
    async def run(self, job: Job) -> None:
        """One job; raises the client's errors (the worker retries the job) or LinkGone."""
        link = self._linked(job.link_id)
        if job.kind is JobKind.FIRST:
            await self.first_part(link, job.appli or 1)
            if not self._first_sync_pending(link.id, other_than=job.id):  # the first sync is complete
                self.store.synced(link.id, self.now(), poll_cursor=int(self.now().timestamp()) - POLL_OVERLAP_S)
            return
        if job.kind is JobKind.NOTIFIED:
            await self.notified(link, job)
        else:
            await self.poll(link)

    async def first_part(self, link: Link, part: int) -> None:
        first, last = first_days(self.now(), self.first_sync_days)
        start, end = midnight(first), int(self.now().timestamp())
        if part == 1:
            await self.measures(link, start, end)
        elif part == ACTIVITY:
            await self.activity(link, first, last)
        elif part == SLEEP:
            await self.sleep(link, first, last)
        log.info("first sync part done", extra={"link_id": link.id, "part": part})

    async def notified(self, link: Link, job: Job) -> None:
        appli = job.appli or 0
        if appli == USER:
            await self._user_action(link)
            return
        if appli in MEASURE_APPLIS and job.start is not None and job.end is not None:
            await self.measures(link, job.start, job.end)
        elif appli in (ACTIVITY, SLEEP):
            days = _days_of(job)
            if days is None:
                await self.poll(link)
                return
            if appli == ACTIVITY:
                await self.activity(link, *days)
            else:
                await self.sleep(link, *days)
        else:
            await self.poll(link)  # no window given: ask what changed
            return
        if not self._first_sync_pending(link.id):  # "Last sync" appears once the first sync has run
            self.store.synced(link.id, self.now())

    def _first_sync_pending(self, link_id: int, other_than: int | None = None) -> bool:
        return any(job.kind is JobKind.FIRST and job.id != other_than for job in self.store.jobs(link_id))

    async def _user_action(self, link: Link) -> None:
        """Appli 46 (unlink or delete at the provider). A signed delivery is trusted; an unsigned
        one could be forged, so the link is ended only when its tokens are refused."""
        if self.providers[link.provider].signs_notifications:
            self.store.unlink(link.id, UnlinkReason.PROVIDER, self.now())
            log.info("unlinked at the provider", extra={"link_id": link.id})
            return
        await self._with_token(link, self.clients[link.provider].get_devices, force_refresh=True)

    async def poll(self, link: Link) -> None:
        """The safety net: whatever changed since the last poll (added or updated; a deletion
        reaches the portal only through a notification's window)."""
        started = int(self.now().timestamp())
        since = self.store.poll_cursor(link.id) or midnight(first_days(self.now(), self.first_sync_days)[0])
        client = self.clients[link.provider]
        groups = await self._with_token(link, lambda a: client.get_measures(a, lastupdate=since))
        days = await self._with_token(link, lambda a: client.get_activity(a, lastupdate=since))
        workouts = await self._with_token(link, lambda a: client.get_workouts(a, lastupdate=since))
        nights = await self._with_token(link, lambda a: client.get_sleep_summary(a, lastupdate=since))
        self.store.put_measures(link.id, _parsed(groups, measure_group), None)
        self.store.put_activity(link.id, _parsed(days, activity_day), None)
        self.store.put_workouts(link.id, _parsed(workouts, workout), None)
        self.store.put_sleep(link.id, _parsed(nights, sleep_night), None)
        if self._first_sync_pending(link.id):
            return  # the cursor and "Last sync" move when the first sync is complete
        self.store.synced(link.id, self.now(), poll_cursor=started - POLL_OVERLAP_S)

    # Windows -------------------------------------------------------------------------------------
    async def measures(self, link: Link, start: int, end: int) -> None:
        """Replace [start, end]; asked a second wider, so that a provider that reads ``enddate``
        as exclusive still returns a group at ``end`` (and none is taken for deleted)."""
        client = self.clients[link.provider]
        found = await self._with_token(link, lambda a: client.get_measures(a, start=start, end=end + 1))
        self.store.put_measures(link.id, _parsed(found, measure_group), (start, end))

    async def activity(self, link: Link, first: date, last: date) -> None:
        client = self.clients[link.provider]
        a_first, a_last = first.isoformat(), last.isoformat()
        days = await self._with_token(link, lambda a: client.get_activity(a, first=a_first, last=a_last))
        workouts = await self._with_token(link, lambda a: client.get_workouts(a, first=a_first, last=a_last))
        self.store.put_activity(link.id, _parsed(days, activity_day), (first, last))
        self.store.put_workouts(link.id, _parsed(workouts, workout), (first, last))

    async def sleep(self, link: Link, first: date, last: date) -> None:
        client = self.clients[link.provider]
        nights = await self._with_token(
            link, lambda a: client.get_sleep_summary(a, first=first.isoformat(), last=last.isoformat())
        )
        self.store.put_sleep(link.id, _parsed(nights, sleep_night), (first, last))

    # Tokens --------------------------------------------------------------------------------------
    def _linked(self, link_id: int) -> Link:
        link = self.store.link(link_id)
        if link is None or link.state is not LinkState.LINKED:
            raise LinkGone
        return link

    async def _with_token(self, link: Link, call: Callable[[str], Awaitable[T]], *, force_refresh: bool = False) -> T:
        """``call(access_token)``, refreshing first when the token is about to expire, and once
        more after a 401."""
        access = await self.access_token(link, force=force_refresh)
        try:
            return await call(access)
        except TokenInvalid:
            access = await self.access_token(link, force=True)
            return await call(access)

    async def access_token(self, link: Link, *, force: bool = False) -> str:
        tokens = self.store.tokens(link.id)
        if tokens is None:
            raise LinkGone
        now = self.now()
        if not force and tokens.expires_at - now.timestamp() > REFRESH_BEFORE.total_seconds():
            return tokens.access_token
        return (await self.refresh(link, tokens)).access_token

    async def refresh(self, link: Link, tokens: Tokens) -> Tokens:
        """New tokens, kept at once (the provider rotates the refresh token). A refused refresh
        means the user removed the portal at the provider: the link is marked unlinked."""
        try:
            grant = await self.clients[link.provider].refresh(tokens.refresh_token)
        except TokenInvalid:
            self.store.unlink(link.id, UnlinkReason.PROVIDER, self.now())
            log.info("refresh refused: unlinked", extra={"link_id": link.id})
            raise LinkGone from None
        except Unreachable:
            # The provider may have rotated the token without our hearing the answer: the old
            # refresh token stays valid (until the new access token is used, or 8 h), so the
            # next try uses it again.
            raise
        fresh = tokens_of(grant, self.now(), previous=tokens.refresh_token)
        if not self.store.save_tokens(link.id, fresh, replacing=tokens):
            kept = self.store.tokens(link.id)  # another worker refreshed first: use its tokens
            if kept is None:
                raise LinkGone
            return kept
        return fresh


def tokens_of(grant: Grant, now: datetime, previous: str = "") -> Tokens:
    return Tokens(grant.access_token, grant.refresh_token, int(now.timestamp()) + grant.expires_in, previous)


def _days_of(job: Job) -> tuple[date, date] | None:
    """A notification's days, a day wider on each side: the provider's days are in the user's
    time zone, the window's seconds are UTC (the same span is asked and then replaced)."""
    if job.day:
        try:
            day = date.fromisoformat(job.day)
        except ValueError:
            return None
        return day, day
    if job.start is None or job.end is None:
        return None
    first = datetime.fromtimestamp(job.start, UTC).date() - timedelta(days=1)
    last = datetime.fromtimestamp(job.end, UTC).date() + timedelta(days=1)
    return first, last


# Parsing the provider's items (a malformed item is skipped, never stored half) ---------------
def _parsed(items: list[dict[str, Any]], parse: Callable[[dict[str, Any]], T]) -> list[T]:
    kept: list[T] = []
    for item in items:
        try:
            kept.append(parse(item))
        except (KeyError, TypeError, ValueError):
            log.warning("a malformed item was skipped")
    return kept


def measure_group(item: dict[str, Any]) -> MeasureGroup:
    measures = tuple((int(m["type"]), int(m["value"]), int(m["unit"])) for m in item["measures"])
    deviceid = item.get("deviceid")
    return MeasureGroup(
        grpid=int(item["grpid"]),
        date=int(item["date"]),
        category=int(item.get("category", 1)),
        attrib=int(item.get("attrib", 0)),
        deviceid=str(deviceid) if deviceid else None,
        modified=int(item.get("modified") or item["date"]),
        measures=measures,
    )


def _int(value: Any) -> int | None:
    return None if value is None else round(float(value))


def activity_day(item: dict[str, Any]) -> ActivityDay:
    return ActivityDay(
        day=date.fromisoformat(str(item["date"])),
        deviceid=str(item.get("deviceid") or ""),
        steps=_int(item.get("steps")),
        distance=_int(item.get("distance")),
        calories=_int(item.get("calories")),
        modified=int(item.get("modified") or 0),
        data=item,
    )


def workout(item: dict[str, Any]) -> WorkoutRecord:
    return WorkoutRecord(
        id=int(item["id"]),
        category=int(item.get("category", 0)),
        startdate=int(item["startdate"]),
        enddate=int(item["enddate"]),
        day=date.fromisoformat(str(item["date"])),
        modified=int(item.get("modified") or 0),
        data=item,
    )


def sleep_night(item: dict[str, Any]) -> SleepNight:
    data = item.get("data") or {}
    return SleepNight(
        id=int(item["id"]),
        day=date.fromisoformat(str(item["date"])),
        startdate=int(item["startdate"]),
        enddate=int(item["enddate"]),
        total_sleep_time=_int(data.get("total_sleep_time")),
        modified=int(item.get("modified") or 0),
        data=item,
    )
