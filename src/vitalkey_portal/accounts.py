"""Portal users and their browser sessions.

Passwords are argon2id (argon2-cffi's defaults); a sign-in is throttled per username and per
client address (``settings.login_failures``, "count/seconds"); an unknown username costs the same
hash as a known one so that timing does not tell which names exist. A browser session is a random
cookie value kept only as its SHA-256, with its own CSRF token, for 12 hours.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from vitalkey_portal.db.tables import browser_sessions, login_failures, users
from vitalkey_portal.ports import Throttled
from vitalkey_portal.records import PortalUser

SESSION_LIFETIME = timedelta(hours=12)
PASSWORD_MIN = 8
PASSWORD_MAX = 1024  # argon2 takes any length; a bound keeps a huge body from costing more
USERNAME_MAX = 64


class AccountError(ValueError):
    """A value for a new account cannot be used; the message says why (English)."""


@dataclass(frozen=True, slots=True)
class BrowserSession:
    user: PortalUser
    csrf_token: str
    expires: datetime


def parse_limit(text: str) -> tuple[int, int]:
    """``"5/900"`` → (5 failures, 900 seconds); ValueError for anything else."""
    count, _, window = text.partition("/")
    limit, seconds = int(count), int(window)
    if limit < 1 or seconds < 1:
        raise ValueError(f"login_failures must be 'count/seconds' with both positive, not {text!r}")
    return limit, seconds


def normal_username(username: str) -> str:
    return unicodedata.normalize("NFKC", username).strip().casefold()


def normal_password(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored moment is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _digest(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()


def _user_of(row: object) -> PortalUser:
    return PortalUser(
        id=row.id,  # type: ignore[attr-defined]
        username=row.username,  # type: ignore[attr-defined]
        display_name=row.display_name,  # type: ignore[attr-defined]
        timezone=row.timezone,  # type: ignore[attr-defined]
    )


class Accounts:
    """Implements ``ports.Accounts`` and the browser sessions of the web layer."""

    def __init__(
        self,
        engine: Engine,
        login_failures_limit: str = "5/900",
        now: Callable[[], datetime] | None = None,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._engine = engine
        self._limit, self._window_s = parse_limit(login_failures_limit)
        self._now = now or (lambda: datetime.now(UTC))
        self._hasher = hasher or PasswordHasher()  # argon2id, RFC 9106's low-memory profile

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hasher.hash(secrets.token_urlsafe(16))

    # Users -------------------------------------------------------------------------------------
    def create(self, username: str, password: str, display_name: str, timezone: str) -> PortalUser:
        name = normal_username(username)
        if not name or len(name) > USERNAME_MAX or any(c.isspace() or not c.isprintable() for c in name):
            raise AccountError(f"A username is 1 to {USERNAME_MAX} characters without spaces.")
        password = normal_password(password)
        if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
            raise AccountError(f"A password is {PASSWORD_MIN} to {PASSWORD_MAX} characters.")
        display_name = display_name.strip()
        if not display_name or len(display_name) > 128:
            raise AccountError("A display name is 1 to 128 characters.")
        if not valid_timezone(timezone):
            raise AccountError(f"Unknown time zone {timezone!r}; use an IANA name such as Europe/Paris.")
        values = {
            "username": name,
            "display_name": display_name,
            "password_hash": self._hasher.hash(password),
            "timezone": timezone,
            "created": self._now(),
        }
        try:
            with self._engine.begin() as conn:
                user_id = conn.execute(insert(users).values(**values)).inserted_primary_key[0]  # type: ignore[index]
        except IntegrityError as exc:
            raise AccountError(f"The username {name!r} is taken.") from exc
        return PortalUser(id=int(user_id), username=name, display_name=display_name, timezone=timezone)

    def user(self, user_id: int) -> PortalUser | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.id == user_id)).first()
        return _user_of(row) if row is not None else None

    def sign_in(self, username: str, password: str, client_ip: str) -> PortalUser | None:
        name = normal_username(username)[:USERNAME_MAX]
        keys = (f"user:{name}", f"ip:{client_ip}"[:200])
        now = self._now()
        since = now - timedelta(seconds=self._window_s)
        with self._engine.begin() as conn:
            conn.execute(delete(login_failures).where(login_failures.c.at < since))
            self._check_throttle(conn, keys, since, now)
            row = conn.execute(select(users).where(users.c.username == name)).first()
        stored = row.password_hash if row is not None else self._dummy_hash
        try:
            self._hasher.verify(stored, normal_password(password)[:PASSWORD_MAX])
            ok = row is not None
        except (VerificationError, InvalidHashError):
            ok = False
        with self._engine.begin() as conn:
            if not ok:
                conn.execute(insert(login_failures), [{"key": key, "at": now} for key in keys])
                return None
            conn.execute(delete(login_failures).where(login_failures.c.key == keys[0]))
            if self._hasher.check_needs_rehash(stored):
                hashed = self._hasher.hash(normal_password(password))
                conn.execute(update(users).where(users.c.id == row.id).values(password_hash=hashed))  # type: ignore[union-attr]
        return _user_of(row)

    def _check_throttle(self, conn: Connection, keys: tuple[str, ...], since: datetime, now: datetime) -> None:
        for key in keys:
            count, oldest = conn.execute(
                select(func.count(), func.min(login_failures.c.at)).where(
                    login_failures.c.key == key, login_failures.c.at >= since
                )
            ).one()
            if count >= self._limit:
                free_at = _aware(oldest) + timedelta(seconds=self._window_s)
                raise Throttled(max(1, int((free_at - now).total_seconds() + 0.999)))

    # Browser sessions --------------------------------------------------------------------------
    def open_session(self, user_id: int) -> tuple[str, BrowserSession]:
        """A new session: the cookie value (shown once, kept only hashed) and the session."""
        cookie_value = secrets.token_urlsafe(32)
        csrf_token = secrets.token_urlsafe(32)
        now = self._now()
        expires = now + SESSION_LIFETIME
        with self._engine.begin() as conn:
            conn.execute(browser_sessions.delete().where(browser_sessions.c.expires < now))
            conn.execute(
                insert(browser_sessions).values(
                    id_hash=_digest(cookie_value), user_id=user_id, csrf_token=csrf_token, created=now, expires=expires
                )
            )
            row = conn.execute(select(users).where(users.c.id == user_id)).one()
        return cookie_value, BrowserSession(user=_user_of(row), csrf_token=csrf_token, expires=expires)

    def session(self, cookie_value: str) -> BrowserSession | None:
        if not cookie_value or len(cookie_value) > 100:
            return None
        with self._engine.connect() as conn:
            row = conn.execute(
                select(browser_sessions.c.csrf_token, browser_sessions.c.expires, users)
                .join(users, users.c.id == browser_sessions.c.user_id)
                .where(browser_sessions.c.id_hash == _digest(cookie_value))
            ).first()
        if row is None or _aware(row.expires) <= self._now():
            return None
        return BrowserSession(user=_user_of(row), csrf_token=row.csrf_token, expires=_aware(row.expires))

    def close_session(self, cookie_value: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(browser_sessions).where(browser_sessions.c.id_hash == _digest(cookie_value)))
