"""What every kind of authenticator implements (docs/architecture.md "Authenticators").

A kind says which steps it can be (``Role``), whether it applies to an account (from the
account's rows, without a query), starts a step (``begin``: text a code, make WebAuthn options),
checks an answer (``verify``) and enrols or removes an authenticator. A kind that is asked about
a step that is not its own raises :class:`NotResponsible` before it writes anything, and the flow
asks the next one (Ory Kratos' ``ErrStrategyNotResponsible``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Flag, auto
from typing import Any, ClassVar, Protocol

from vitalkey.domain.accounts import Account
from vitalkey.domain.authenticators import StoredAuthenticator
from vitalkey.domain.codes import StoredCode
from vitalkey.domain.errors import DomainError
from vitalkey.domain.flows import Flow, Requester
from vitalkey.flows.sessions import Authenticated
from vitalkey.ports import Transaction


class Role(Flag):
    FIRST = auto()  # opens a sign-in (after the address)
    SECOND = auto()  # the second factor of an account with 2FA on


class NotResponsible(Exception):
    """This step is not this kind's: ask the next one. Raised before anything is written."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What a step posted; each kind reads its own fields."""

    code: str = ""
    password: str = ""
    recovery_code: str = ""
    credential: str = ""  # a WebAuthn response, as the browser's JSON
    name: str = ""
    phone: str = ""
    country: str = ""


@dataclass(frozen=True, slots=True)
class Prompt:
    """What a step shows (never a secret that is not the user's to see)."""

    method: str
    hint: str = ""  # e.g. the masked number
    code: StoredCode | None = None  # a sent code's status (expiry, resend, tries)
    # Why nothing was sent (a limit, with the seconds to wait): the other ways stay open.
    refused: DomainError | None = None
    options: Mapping[str, Any] | None = None  # WebAuthn options, as JSON
    secret: str = ""  # a TOTP secret to type, grouped
    uri: str = ""  # its otpauth:// URI, for the QR code
    context: Mapping[str, Any] = field(default_factory=dict)  # the flow keys the kind owns (prefixed)


@dataclass(frozen=True, slots=True)
class Proof:
    """A step passed: by which method, for which account, counting as which roles (a passkey
    with user verification is both), and what the user must see once (a new recovery code)."""

    method: str
    account: Account
    roles: Role
    authenticator_id: int | None = None
    new_recovery_code: str | None = None
    also: tuple[str, ...] = ()  # what else the session records as proved (UPSTREAM_SECOND_FACTOR)

    @property
    def methods(self) -> tuple[str, ...]:
        """What a session started by this proof alone records (``Session.methods``)."""
        return (self.method, *self.also)


class Authenticator(Protocol):
    kind: ClassVar[str]
    roles: ClassVar[Role]

    def applies(self, account: Account | None, rows: Sequence[StoredAuthenticator], role: Role) -> bool:
        """Whether the kind can be used for ``role`` by this account (no database access)."""
        ...

    def begin(self, tx: Transaction, flow: Flow, account: Account | None, requester: Requester) -> Prompt:
        """Start the step (send a code, make a challenge)."""
        ...

    def resend(self, tx: Transaction, flow: Flow, account: Account | None, requester: Requester) -> Prompt: ...
    def prompt(self, tx: Transaction, flow: Flow, account: Account | None) -> Prompt:
        """What the step's page shows now."""
        ...

    def verify(
        self, tx: Transaction, flow: Flow, account: Account | None, answer: Answer, requester: Requester
    ) -> Proof:
        """Check the answer; a refusal that must stay counted is a ``CountedRefusal``."""
        ...

    def enrol(
        self, tx: Transaction, flow: Flow, auth: Authenticated, answer: Answer | None, requester: Requester
    ) -> Prompt | StoredAuthenticator:
        """Start enrolment (``answer`` None: what to show) or confirm it (the stored row)."""
        ...

    def remove(self, tx: Transaction, auth: Authenticated, row: StoredAuthenticator) -> None:
        """Delete ``row`` and whatever the kind keeps beside it. The caller (``flows.methods``)
        checks freshness, mails "method_removed" and turns 2FA off after the last SMS/TOTP: a
        kind does none of that. Not responsible: the row is deleted alone."""
        ...

    def committed(self, proof: Proof) -> None:
        """Count what the step's committed transaction did (metrics: never twice on a retry)."""
        ...


class KindBase:
    """Defaults for a kind: every step is someone else's until the kind says otherwise."""

    kind: ClassVar[str]
    roles: ClassVar[Role]

    def applies(self, account: Account | None, rows: Sequence[StoredAuthenticator], role: Role) -> bool:
        return bool(role & self.roles) and any(row.kind == self.kind for row in rows)

    def begin(self, tx: Transaction, flow: Flow, account: Account | None, requester: Requester) -> Prompt:
        return Prompt(self.kind)

    def resend(self, tx: Transaction, flow: Flow, account: Account | None, requester: Requester) -> Prompt:
        raise NotResponsible()

    def prompt(self, tx: Transaction, flow: Flow, account: Account | None) -> Prompt:
        return Prompt(self.kind)

    def verify(
        self, tx: Transaction, flow: Flow, account: Account | None, answer: Answer, requester: Requester
    ) -> Proof:
        raise NotResponsible()

    def enrol(
        self, tx: Transaction, flow: Flow, auth: Authenticated, answer: Answer | None, requester: Requester
    ) -> Prompt | StoredAuthenticator:
        raise NotResponsible()

    def remove(self, tx: Transaction, auth: Authenticated, row: StoredAuthenticator) -> None:
        raise NotResponsible()

    def committed(self, proof: Proof) -> None:
        return None
