"""What every flow shares: the persisted record, its transition table, who is asking."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from vitalkey.domain.errors import FlowExpired, WrongState


class FlowKind(StrEnum):
    SIGNUP = "signup"
    LOGIN = "login"
    PASSWORD_SET = "password_set"  # noqa: S105 (a fresh emailed code, then the first password)
    TWO_FACTOR = "two_factor"  # a number verified by a texted code, then the recovery code
    AUTHORIZE = "authorize"  # an OAuth authorization request waiting for a sign-in or consent


class Channel(StrEnum):
    BROWSER = "browser"
    API = "api"


@dataclass(frozen=True, slots=True)
class Flow:
    """One user's way through a flow (Kratos: selfservice/flow). Kept in the database."""

    id: str
    kind: FlowKind
    channel: Channel
    state: str
    created_at: datetime
    expires_at: datetime
    language: str
    email: str = ""
    browser_binding: str = ""  # digest of the browser's CSRF secret; empty for API flows
    context: dict[str, Any] = field(default_factory=dict)

    def moved(self, state: str, **context: Any) -> Flow:
        return replace(self, state=state, context={**self.context, **context})


@dataclass(frozen=True, slots=True)
class StateMachine:
    """A transition table: (state, event) → next state. The mermaid file beside a flow draws it."""

    name: str
    initial: str
    transitions: dict[tuple[str, str], str]

    def next(self, state: str, event: str) -> str:
        try:
            return self.transitions[(state, event)]
        except KeyError:
            raise WrongState() from None

    def allows(self, state: str, event: str) -> bool:
        return (state, event) in self.transitions

    def events_from(self, state: str) -> list[str]:
        return [event for (source, event) in self.transitions if source == state]

    def check(self, flow: Flow, event: str, now: datetime) -> str:
        """The state ``event`` moves a live ``flow`` to, or a domain error."""
        if now >= flow.expires_at:
            raise FlowExpired()
        return self.next(flow.state, event)


@dataclass(frozen=True, slots=True)
class Requester:
    """Who is asking, as the web edge saw it."""

    ip: str
    user_agent: str
    language: str
    channel: Channel
    browser_binding: str = ""
