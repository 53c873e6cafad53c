"""What every flow shares: the persisted record, its transition table, who is asking."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from vitalkey.domain.errors import DomainError, FlowExpired, WrongState


class FlowKind(StrEnum):
    SIGNUP = "signup"
    LOGIN = "login"
    PASSWORD_SET = "password_set"  # noqa: S105 (a fresh emailed code, then the first password)
    TWO_FACTOR = "two_factor"  # a number verified by a texted code, then the recovery code
    AUTHORIZE = "authorize"  # an OAuth authorization request waiting for a sign-in or consent
    PASSKEY_ENROLMENT = "passkey_enrol"  # a named passkey being added (its challenge, its user handle)


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


class CountedRefusal(Exception):
    """Raised inside a unit of work's transaction to refuse an attempt and keep what the
    transaction counted of it (a wrong code, a wrong recovery code, a refused sign-in): the
    unit of work commits, then raises ``error``. Any other exception rolls the transaction
    back, and with it the count that protects against guessing."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.code)
        self.error = error


# The flow's enum of states and of events.
S = TypeVar("S", bound=StrEnum)
E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class StateMachine(Generic[S, E]):
    """A transition table: (state, event) → next state, over a flow's own enums of states and of
    events (StrEnum: a flow's stored state is the member's value). The mermaid file named after
    the machine, beside its flow, draws it."""

    name: str
    states: type[S]
    events: type[E]
    initial: S
    transitions: Mapping[tuple[S, E], S]

    def next(self, state: str, event: E) -> S:
        """``state`` as stored (a string, or already a member)."""
        try:
            return self.transitions[(self.states(state), self.events(event))]
        except (KeyError, ValueError):
            raise WrongState() from None

    def allows(self, state: str, event: E) -> bool:
        return (state, event) in self.transitions

    def events_from(self, state: str) -> list[str]:
        """The values of the events that leave ``state`` (the actions an API answer lists)."""
        return [event.value for (source, event) in self.transitions if source == state]

    def check(self, flow: Flow, event: E, now: datetime) -> S:
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
