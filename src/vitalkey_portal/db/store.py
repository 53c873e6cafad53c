"""The portal's storage of links, sealed tokens, OAuth states, sync jobs, seen deliveries and the
synced data (SQLAlchemy Core on SQLite or PostgreSQL). Every method is one transaction."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import ColumnElement, Connection, Engine, Table, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from vitalkey_portal.db import tables as t
from vitalkey_portal.db.engine import READ_ONLY
from vitalkey_portal.records import Link, LinkState, UnlinkReason

STATE_TTL = timedelta(minutes=10)  # an OAuth state (and its PKCE verifier) lives this long, once
DELIVERIES_KEPT = timedelta(days=2)  # a provider retries a delivery for hours (+4 h at most): longer than that


# What is kept ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Tokens:
    """A link's tokens, sealed at rest. ``previous_refresh``: the refresh token these came from,
    which the provider keeps valid (up to 8 h) until the new access token is first used."""

    access_token: str
    refresh_token: str
    expires_at: int  # unix seconds
    previous_refresh: str = ""

    def __repr__(self) -> str:  # never in a log or a traceback
        return f"Tokens(expires_at={self.expires_at})"


@dataclass(frozen=True, slots=True)
class OAuthState:
    user_id: int
    provider: str
    code_verifier: str
    return_to: str


class JobKind(StrEnum):
    FIRST = "first"  # the first sync: the last first_sync_days days
    NOTIFIED = "notified"  # a notification's window
    POLL = "poll"  # the lastupdate safety net


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    link_id: int
    kind: JobKind
    appli: int | None
    start: int | None  # unix seconds
    end: int | None
    day: str | None  # YYYY-MM-DD
    due: datetime
    tries: int
    claimed_by: str | None = None


@dataclass(frozen=True, slots=True)
class MeasureGroup:
    grpid: int
    date: int
    category: int
    attrib: int
    deviceid: str | None
    modified: int
    measures: tuple[tuple[int, int, int], ...]  # (type, value, unit): real value = value × 10^unit


@dataclass(frozen=True, slots=True)
class ActivityDay:
    day: date
    deviceid: str  # "" when none
    steps: int | None
    distance: int | None
    calories: int | None
    modified: int
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WorkoutRecord:
    id: int
    category: int
    startdate: int
    enddate: int
    day: date
    modified: int
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SleepNight:
    id: int
    day: date
    startdate: int
    enddate: int
    total_sleep_time: int | None
    modified: int
    data: dict[str, Any] = field(default_factory=dict)


def utc(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes: everything stored is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _maybe_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else utc(moment)


def hashed(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def sealing_key(secret_key: str) -> bytes:
    """A Fernet key of its own, derived from the portal's secret key."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"vitalkey-portal tokens").derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(derived)


class Store:
    def __init__(self, engine: Engine, secret_key: str) -> None:
        self.engine = engine
        self.fernet = Fernet(sealing_key(secret_key))

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(**READ_ONLY) as conn, conn.begin():
            yield conn

    # Links ---------------------------------------------------------------------------------------
    def link(self, link_id: int) -> Link | None:
        with self._read() as conn:
            row = conn.execute(select(t.links).where(t.links.c.id == link_id)).first()
        return None if row is None else _link(row)

    def link_of(self, user_id: int, provider: str) -> Link | None:
        """The user's link in a provider's section (current, pending or the last unlinked one)."""
        with self._read() as conn:
            row = conn.execute(
                select(t.links).where(t.links.c.user_id == user_id, t.links.c.provider == provider)
            ).first()
        return None if row is None else _link(row)

    def links_of(self, user_id: int) -> list[Link]:
        with self._read() as conn:
            rows = conn.execute(select(t.links).where(t.links.c.user_id == user_id).order_by(t.links.c.id)).all()
        return [_link(row) for row in rows]

    def linked_accounts(self, provider: str, provider_userid: str) -> list[Link]:
        """The LINKED links to one provider account (a notification names the account only)."""
        with self._read() as conn:
            rows = conn.execute(
                select(t.links).where(
                    t.links.c.provider == provider,
                    t.links.c.provider_userid == provider_userid,
                    t.links.c.state == LinkState.LINKED.value,
                )
            ).all()
        return [_link(row) for row in rows]

    def wearable_link(self, user_id: int, other_than: str) -> Link | None:
        """The user's LINKED link with a wearable in another provider's section, if any."""
        with self._read() as conn:
            row = conn.execute(
                select(t.links).where(
                    t.links.c.user_id == user_id,
                    t.links.c.provider != other_than,
                    t.links.c.state == LinkState.LINKED.value,
                    t.links.c.has_wearable.is_(True),
                )
            ).first()
        return None if row is None else _link(row)

    def save_link(
        self,
        user_id: int,
        provider: str,
        provider_userid: str,
        state: LinkState,
        has_wearable: bool,
        scope: str,
        tokens: Tokens,
        now: datetime,
    ) -> Link:
        """Link (or re-link) a provider's section. The section keeps one row: linking another
        account there forgets the data synced from the previous one."""
        values: dict[str, Any] = {
            "provider_userid": provider_userid,
            "state": state.value,
            "has_wearable": has_wearable,
            "scope": scope,
            "sealed_tokens": self._seal(tokens),
            "unlinked_at": None,
            "unlinked_reason": None,
        }
        with self._write() as conn:
            row = conn.execute(
                select(t.links).where(t.links.c.user_id == user_id, t.links.c.provider == provider)
            ).first()
            if row is None:
                link_id = _new_id(
                    conn.execute(
                        insert(t.links).values(user_id=user_id, provider=provider, linked_at=utc(now), **values)
                    )
                )
            else:
                link_id = row.id
                same = row.provider_userid == provider_userid
                if not same:
                    _forget_data(conn, link_id)
                    values.update(last_sync=None, poll_cursor=None)
                if not same or row.state != LinkState.LINKED.value:
                    values["linked_at"] = utc(now)
                conn.execute(update(t.links).where(t.links.c.id == link_id).values(**values))
            found = conn.execute(select(t.links).where(t.links.c.id == link_id)).one()
        return _link(found)

    def activate(self, link_id: int, now: datetime) -> None:
        """A pending link becomes LINKED (the user confirmed replacing their wearable)."""
        with self._write() as conn:
            conn.execute(
                update(t.links)
                .where(t.links.c.id == link_id, t.links.c.state == LinkState.PENDING.value)
                .values(state=LinkState.LINKED.value, linked_at=utc(now))
            )

    def unlink(self, link_id: int, reason: UnlinkReason, now: datetime) -> bool:
        """Mark a link unlinked: its tokens are dropped and its queued work with them; the data
        synced so far stays (shown until the section is linked to another account). False when
        it was unlinked already."""
        with self._write() as conn:
            changed = conn.execute(
                update(t.links)
                .where(t.links.c.id == link_id, t.links.c.state != LinkState.UNLINKED.value)
                .values(
                    state=LinkState.UNLINKED.value,
                    unlinked_at=utc(now),
                    unlinked_reason=reason.value,
                    sealed_tokens=None,
                    next_poll=None,
                )
            ).rowcount
            conn.execute(delete(t.sync_jobs).where(t.sync_jobs.c.link_id == link_id))
        return bool(changed)

    def synced(self, link_id: int, at: datetime, poll_cursor: int | None = None) -> None:
        """A sync completed: "Last sync" shows ``at``; the next poll asks for changes since the cursor."""
        values: dict[str, Any] = {"last_sync": utc(at)}
        if poll_cursor is not None:
            values["poll_cursor"] = poll_cursor
        with self._write() as conn:
            conn.execute(update(t.links).where(t.links.c.id == link_id).values(**values))

    def poll_cursor(self, link_id: int) -> int | None:
        with self._read() as conn:
            found: int | None = conn.execute(
                select(t.links.c.poll_cursor).where(t.links.c.id == link_id)
            ).scalar_one_or_none()
        return found

    def schedule_poll(self, link_id: int, at: datetime) -> None:
        with self._write() as conn:
            conn.execute(update(t.links).where(t.links.c.id == link_id).values(next_poll=utc(at)))

    def queue_due_polls(self, now: datetime, interval: timedelta, limit: int = 500) -> int:
        """A poll job for each LINKED link whose next poll is due (and none queued); each next
        poll moves one interval on, so that the links stay spread over the interval."""
        with self._write() as conn:
            rows = conn.execute(
                select(t.links.c.id, t.links.c.next_poll)
                .where(t.links.c.state == LinkState.LINKED.value, t.links.c.next_poll <= utc(now))
                .order_by(t.links.c.next_poll)
                .limit(limit)
            ).all()
            for row in rows:
                queued = conn.execute(
                    select(func.count())
                    .select_from(t.sync_jobs)
                    .where(t.sync_jobs.c.link_id == row.id, t.sync_jobs.c.kind == JobKind.POLL.value)
                ).scalar_one()
                if not queued:
                    conn.execute(
                        insert(t.sync_jobs).values(link_id=row.id, kind=JobKind.POLL.value, due=utc(now), tries=0)
                    )
                following = utc(row.next_poll) + interval
                if following <= utc(now):  # the portal was down for a while: start again from now
                    following = utc(now) + interval
                conn.execute(update(t.links).where(t.links.c.id == row.id).values(next_poll=following))
        return len(rows)

    def next_poll(self) -> datetime | None:
        with self._read() as conn:
            found = conn.execute(
                select(func.min(t.links.c.next_poll)).where(t.links.c.state == LinkState.LINKED.value)
            ).scalar_one_or_none()
        return _maybe_utc(found)

    # Tokens --------------------------------------------------------------------------------------
    def tokens(self, link_id: int) -> Tokens | None:
        with self._read() as conn:
            sealed = conn.execute(select(t.links.c.sealed_tokens).where(t.links.c.id == link_id)).scalar_one_or_none()
        return None if sealed is None else self._open(sealed)

    def save_tokens(self, link_id: int, tokens: Tokens, replacing: Tokens | None) -> bool:
        """Keep new tokens at once. With ``replacing``, only if the kept ones are still those
        (another process may have refreshed first); False then, and the caller reads them again."""
        with self._write() as conn:
            sealed = conn.execute(select(t.links.c.sealed_tokens).where(t.links.c.id == link_id)).scalar_one_or_none()
            if sealed is None:
                return False  # unlinked meanwhile
            if replacing is not None and self._open(sealed) != replacing:
                return False
            conn.execute(update(t.links).where(t.links.c.id == link_id).values(sealed_tokens=self._seal(tokens)))
        return True

    def _seal(self, tokens: Tokens) -> bytes:
        plain = json.dumps(
            {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "expires_at": tokens.expires_at,
                "previous_refresh": tokens.previous_refresh,
            }
        )
        return self.fernet.encrypt(plain.encode())

    def _open(self, sealed: bytes) -> Tokens | None:
        try:
            plain = json.loads(self.fernet.decrypt(bytes(sealed)))
        except InvalidToken:
            return None  # sealed under another secret key: the link must be made again
        return Tokens(
            plain["access_token"], plain["refresh_token"], int(plain["expires_at"]), plain["previous_refresh"]
        )

    # OAuth states --------------------------------------------------------------------------------
    def put_state(
        self, state: str, user_id: int, provider: str, code_verifier: str, return_to: str, now: datetime
    ) -> None:
        with self._write() as conn:
            conn.execute(delete(t.oauth_states).where(t.oauth_states.c.expires < utc(now)))
            conn.execute(
                insert(t.oauth_states).values(
                    state_hash=hashed(state),
                    user_id=user_id,
                    provider=provider,
                    code_verifier=code_verifier,
                    return_to=return_to,
                    expires=utc(now + STATE_TTL),
                )
            )

    def take_state(self, state: str, now: datetime) -> OAuthState | None:
        """The state's record, once: it is deleted as it is read; None when unknown or expired."""
        with self._write() as conn:
            row = conn.execute(select(t.oauth_states).where(t.oauth_states.c.state_hash == hashed(state))).first()
            if row is None:
                return None
            taken = conn.execute(delete(t.oauth_states).where(t.oauth_states.c.state_hash == row.state_hash)).rowcount
        if not taken or utc(row.expires) < utc(now):
            return None
        return OAuthState(row.user_id, row.provider, row.code_verifier, row.return_to)

    # Sync jobs -----------------------------------------------------------------------------------
    def add_job(
        self,
        link_id: int,
        kind: JobKind,
        due: datetime,
        appli: int | None = None,
        start: int | None = None,
        end: int | None = None,
        day: str | None = None,
    ) -> int:
        with self._write() as conn:
            return _new_id(
                conn.execute(
                    insert(t.sync_jobs).values(
                        link_id=link_id,
                        kind=kind.value,
                        appli=appli,
                        start=start,
                        end=end,
                        day=day,
                        due=utc(due),
                        tries=0,
                    )
                )
            )

    def add_jobs(
        self, jobs: Iterable[tuple[int, JobKind, datetime, int | None, int | None, int | None, str | None]]
    ) -> int:
        rows = [
            {
                "link_id": j[0],
                "kind": j[1].value,
                "due": utc(j[2]),
                "appli": j[3],
                "start": j[4],
                "end": j[5],
                "day": j[6],
                "tries": 0,
            }
            for j in jobs
        ]
        if rows:
            with self._write() as conn:
                conn.execute(insert(t.sync_jobs), rows)
        return len(rows)

    def claim(self, now: datetime, owner: str, lease: timedelta, limit: int = 10) -> list[Job]:
        """Due jobs, leased to ``owner``: at most one job per link at a time, and a job whose
        lease ran out (its worker died) is taken again. Safe with several processes: a job is
        taken by a compare-and-set on its lease."""
        moment = utc(now)
        busy = (
            select(t.sync_jobs.c.link_id)
            .where(t.sync_jobs.c.leased_until.is_not(None), t.sync_jobs.c.leased_until > moment)
            .scalar_subquery()
        )
        free = or_(t.sync_jobs.c.leased_until.is_(None), t.sync_jobs.c.leased_until <= moment)
        claimed: list[Job] = []
        with self._write() as conn:
            rows = conn.execute(
                select(t.sync_jobs)
                .where(t.sync_jobs.c.due <= moment, free, t.sync_jobs.c.link_id.not_in(busy))
                .order_by(t.sync_jobs.c.due, t.sync_jobs.c.id)
                .limit(limit * 4)
            ).all()
            links: set[int] = set()
            for row in rows:
                if row.link_id in links or len(claimed) >= limit:
                    continue
                taken = conn.execute(
                    update(t.sync_jobs)
                    .where(t.sync_jobs.c.id == row.id, free)
                    .values(leased_until=moment + lease, claimed_by=owner)
                ).rowcount
                if taken:
                    links.add(row.link_id)
                    claimed.append(_job(row, owner))
        return claimed

    def finish(self, job: Job) -> None:
        with self._write() as conn:
            conn.execute(
                delete(t.sync_jobs).where(t.sync_jobs.c.id == job.id, t.sync_jobs.c.claimed_by == job.claimed_by)
            )

    def retry(self, job: Job, due: datetime) -> None:
        """Put the job back, due later, one more try counted: work is never dropped."""
        with self._write() as conn:
            conn.execute(
                update(t.sync_jobs)
                .where(t.sync_jobs.c.id == job.id, t.sync_jobs.c.claimed_by == job.claimed_by)
                .values(due=utc(due), leased_until=None, claimed_by=None, tries=t.sync_jobs.c.tries + 1)
            )

    def jobs(self, link_id: int | None = None) -> list[Job]:
        query = select(t.sync_jobs).order_by(t.sync_jobs.c.id)
        if link_id is not None:
            query = query.where(t.sync_jobs.c.link_id == link_id)
        with self._read() as conn:
            return [_job(row, row.claimed_by) for row in conn.execute(query).all()]

    def next_due(self) -> datetime | None:
        """When the next queued job is due (leased ones count when their lease runs out)."""
        with self._read() as conn:
            found = conn.execute(
                select(func.min(func.coalesce(t.sync_jobs.c.leased_until, t.sync_jobs.c.due)))
            ).scalar_one_or_none()
        if isinstance(found, str):  # SQLite's coalesce loses the column's type
            found = datetime.fromisoformat(found)
        return _maybe_utc(found)

    # Deliveries ----------------------------------------------------------------------------------
    def notified(
        self,
        provider: str,
        delivery_id: str | None,
        provider_userid: str,
        appli: int,
        window: tuple[int | None, int | None, str | None],
        now: datetime,
    ) -> int | None:
        """A notification's work, in one transaction: a job for each LINKED link to the account,
        due now. None for a delivery seen before (nothing queued again); else the jobs queued."""
        start, end, day = window
        with self._write() as conn:
            if delivery_id is not None:
                seen = conn.execute(
                    select(t.seen_deliveries.c.at).where(
                        t.seen_deliveries.c.provider == provider, t.seen_deliveries.c.delivery_id == delivery_id
                    )
                ).first()
                if seen is not None:
                    return None
                conn.execute(delete(t.seen_deliveries).where(t.seen_deliveries.c.at < utc(now - DELIVERIES_KEPT)))
                conn.execute(insert(t.seen_deliveries).values(provider=provider, delivery_id=delivery_id, at=utc(now)))
            ids = (
                conn.execute(
                    select(t.links.c.id).where(
                        t.links.c.provider == provider,
                        t.links.c.provider_userid == provider_userid,
                        t.links.c.state == LinkState.LINKED.value,
                    )
                )
                .scalars()
                .all()
            )
            rows = [
                {"link_id": link_id, "kind": JobKind.NOTIFIED.value, "appli": appli, "start": start, "end": end,
                 "day": day, "due": utc(now), "tries": 0}
                for link_id in ids
            ]  # fmt: skip
            if rows:
                conn.execute(insert(t.sync_jobs), rows)
        return len(rows)

    def first_delivery(self, provider: str, delivery_id: str, now: datetime) -> bool:
        """Whether this delivery id is new (and now remembered); False for a retried delivery."""
        try:
            with self._write() as conn:
                conn.execute(delete(t.seen_deliveries).where(t.seen_deliveries.c.at < utc(now - DELIVERIES_KEPT)))
                conn.execute(insert(t.seen_deliveries).values(provider=provider, delivery_id=delivery_id, at=utc(now)))
        except IntegrityError:
            return False
        return True

    # Synced data ---------------------------------------------------------------------------------
    def put_measures(self, link_id: int, groups: Sequence[MeasureGroup], window: tuple[int, int] | None) -> None:
        """Store groups; with a ``window`` (unix seconds, inclusive), what was stored there and is
        not among ``groups`` is deleted: the provider's answer for a window is the whole truth."""
        kept = _last_by(groups, lambda g: g.grpid)
        rows = [
            {
                "grpid": g.grpid,
                "date": g.date,
                "category": g.category,
                "attrib": g.attrib,
                "deviceid": g.deviceid,
                "modified": g.modified,
                "measures": json.dumps([list(m) for m in g.measures]),
            }
            for g in kept
        ]
        self._replace(t.measure_groups, link_id, "date", window, ("grpid",), rows)

    def put_activity(self, link_id: int, days: Sequence[ActivityDay], window: tuple[date, date] | None) -> None:
        rows = [
            {
                "day": d.day,
                "deviceid": d.deviceid,
                "steps": d.steps,
                "distance": d.distance,
                "calories": d.calories,
                "modified": d.modified,
                "data": json.dumps(d.data),
            }
            for d in _last_by(days, lambda d: (d.day, d.deviceid))
        ]
        self._replace(t.activity_days, link_id, "day", window, ("day", "deviceid"), rows)

    def put_workouts(self, link_id: int, items: Sequence[WorkoutRecord], window: tuple[date, date] | None) -> None:
        rows = [
            {
                "id": w.id,
                "category": w.category,
                "startdate": w.startdate,
                "enddate": w.enddate,
                "day": w.day,
                "modified": w.modified,
                "data": json.dumps(w.data),
            }
            for w in _last_by(items, lambda w: w.id)
        ]
        self._replace(t.workouts, link_id, "day", window, ("id",), rows)

    def put_sleep(self, link_id: int, nights: Sequence[SleepNight], window: tuple[date, date] | None) -> None:
        rows = [
            {
                "id": n.id,
                "day": n.day,
                "startdate": n.startdate,
                "enddate": n.enddate,
                "total_sleep_time": n.total_sleep_time,
                "modified": n.modified,
                "data": json.dumps(n.data),
            }
            for n in _last_by(nights, lambda n: n.id)
        ]
        self._replace(t.sleep_nights, link_id, "day", window, ("id",), rows)

    def _replace(
        self,
        table: Table,
        link_id: int,
        dated_by: str,
        window: tuple[Any, Any] | None,
        key: tuple[str, ...],
        rows: list[dict[str, Any]],
    ) -> None:
        """One transaction: with a ``window``, forget what is stored in it (``dated_by`` between its
        ends); then replace the rows with the same keys by ``rows`` (a record edited outside the window)."""
        c = table.c
        with self._write() as conn:
            if window is not None:
                conn.execute(delete(table).where(c.link_id == link_id, c[dated_by].between(*window)))
            target: ColumnElement[Any]
            if len(key) == 1:
                target, keys = c[key[0]], [row[key[0]] for row in rows]
            else:
                target, keys = tuple_(*(c[name] for name in key)), [tuple(row[name] for name in key) for row in rows]
            for chunk in _chunks(keys, 200):
                conn.execute(delete(table).where(c.link_id == link_id, target.in_(chunk)))
            if rows:
                conn.execute(insert(table), [{"link_id": link_id, **row} for row in rows])

    # Reads for the dashboard and tests -------------------------------------------------------------
    def user_timezone(self, user_id: int) -> str | None:
        with self._read() as conn:
            found: str | None = conn.execute(
                select(t.users.c.timezone).where(t.users.c.id == user_id)
            ).scalar_one_or_none()
        return found

    def measure_groups(self, link_ids: Sequence[int], since: int | None = None) -> list[MeasureGroup]:
        c = t.measure_groups.c
        query = select(t.measure_groups).where(c.link_id.in_(link_ids)).order_by(c.date, c.grpid)
        if since is not None:
            query = query.where(c.date >= since)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            MeasureGroup(
                r.grpid,
                r.date,
                r.category,
                r.attrib,
                r.deviceid,
                r.modified,
                tuple((int(m[0]), int(m[1]), int(m[2])) for m in json.loads(r.measures)),
            )
            for r in rows
        ]

    def activity_days(self, link_ids: Sequence[int], since: date | None = None) -> list[ActivityDay]:
        c = t.activity_days.c
        query = select(t.activity_days).where(c.link_id.in_(link_ids)).order_by(c.day, c.deviceid)
        if since is not None:
            query = query.where(c.day >= since)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            ActivityDay(r.day, r.deviceid, r.steps, r.distance, r.calories, r.modified, json.loads(r.data))
            for r in rows
        ]

    def workout_records(self, link_ids: Sequence[int], since: date | None = None) -> list[WorkoutRecord]:
        c = t.workouts.c
        query = select(t.workouts).where(c.link_id.in_(link_ids)).order_by(c.startdate, c.id)
        if since is not None:
            query = query.where(c.day >= since)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            WorkoutRecord(r.id, r.category, r.startdate, r.enddate, r.day, r.modified, json.loads(r.data)) for r in rows
        ]

    def sleep_nights(self, link_ids: Sequence[int], since: date | None = None) -> list[SleepNight]:
        c = t.sleep_nights.c
        query = select(t.sleep_nights).where(c.link_id.in_(link_ids)).order_by(c.day, c.id)
        if since is not None:
            query = query.where(c.day >= since)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            SleepNight(r.id, r.day, r.startdate, r.enddate, r.total_sleep_time, r.modified, json.loads(r.data))
            for r in rows
        ]


def _link(row: Any) -> Link:
    return Link(
        id=row.id,
        user_id=row.user_id,
        provider=row.provider,
        provider_userid=row.provider_userid,
        state=LinkState(row.state),
        has_wearable=bool(row.has_wearable),
        linked_at=utc(row.linked_at),
        last_sync=_maybe_utc(row.last_sync),
        unlinked_at=_maybe_utc(row.unlinked_at),
        unlinked_reason=UnlinkReason(row.unlinked_reason) if row.unlinked_reason else None,
    )


def _job(row: Any, owner: str | None) -> Job:
    return Job(
        row.id, row.link_id, JobKind(row.kind), row.appli, row.start, row.end, row.day, utc(row.due), row.tries, owner
    )


def _new_id(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _forget_data(conn: Connection, link_id: int) -> None:
    for table in (t.measure_groups, t.activity_days, t.workouts, t.sleep_nights, t.sync_jobs):
        conn.execute(delete(table).where(table.c.link_id == link_id))


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _last_by(items: Sequence[Any], key: Any) -> list[Any]:
    """One item per key, the last one given (a provider's pages may overlap)."""
    return list({key(item): item for item in items}.values())
