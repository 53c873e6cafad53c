"""Sessions: idle and absolute timeouts (NIST SP 800-63B §2.2.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class SessionKind(StrEnum):
    WEB = "web"
    API = "api"


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: timedelta = timedelta(hours=1)
    absolute: timedelta = timedelta(days=30)
    absolute_two_factor: timedelta = timedelta(hours=24)  # a session that passed a second factor
    touch_every: timedelta = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Session:
    id: str  # digest of the token; the token itself is never stored
    account_id: int
    kind: SessionKind
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str
    ip: str
    methods: tuple[str, ...]
    # When the session last proved its factors: a second factor set up within it proves it
    # again (flows/two_factor.py). None: at its sign-in, created_at.
    authenticated_at: datetime | None = None

    @property
    def authenticated_since(self) -> datetime:
        return self.authenticated_at or self.created_at

    def alive(self, policy: SessionPolicy, now: datetime) -> bool:
        return now < self.expires_at and now < self.last_seen_at + policy.idle

    def needs_touch(self, policy: SessionPolicy, now: datetime) -> bool:
        return now - self.last_seen_at >= policy.touch_every
