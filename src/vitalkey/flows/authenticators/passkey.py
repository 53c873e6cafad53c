"""Passkeys (WebAuthn): a first factor that counts as both (a passkey unlocked with user
verification is itself multi-factor), and a second factor after an emailed code or a password
while 2FA is on (an SMS or authenticator-app set-up).

A row of ``authenticators`` per passkey: ``lookup`` its credential id (base64url), ``counter``
its sign count, ``name`` the user's name for it, ``data`` {public_key, user_handle, transports,
aaguid, fmt, backup_eligible, backed_up} (base64url for bytes). The user handle is one random
value per account, shared by all its passkeys (never the address).

The challenge lives in the flow's context (``passkey_challenge``, and the options shown with it
in ``passkey_options``) and is used once: every answer, right or wrong, replaces it, and a right
one ends the step. A refused answer is counted against the address's failures like any factor's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from vitalkey.domain.accounts import NAME_MAX, Account
from vitalkey.domain.authenticators import PASSKEY, TWO_FACTOR_METHODS, StoredAuthenticator
from vitalkey.domain.emails import account_key
from vitalkey.domain.errors import (
    AuthenticatorNotFound,
    DomainError,
    InvalidInput,
    PasskeyAlreadyRegistered,
    PasskeyCounterError,
    PasskeyUnknown,
    WrongState,
)
from vitalkey.domain.flows import CountedRefusal, Flow, Requester
from vitalkey.domain.i18n import N_
from vitalkey.domain.tokens import from_base64url, to_base64url
from vitalkey.flows import rate_limits, second_factor
from vitalkey.flows.authenticators.base import Answer, KindBase, Prompt, Proof, Role
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.relying_party import RelyingParty
from vitalkey.flows.sessions import Authenticated
from vitalkey.ports import Transaction

if TYPE_CHECKING:
    from vitalkey.flows.passkeys import StoredPasskey


def ceremonies() -> ModuleType:
    """``flows/passkeys`` (py_webauthn with pyOpenSSL and cbor2, ~5 MB resident) loads with the
    first passkey ceremony, not when a process starts: a process that never sees one stays
    within its memory budget (bench/RESULTS.md, "One batch at a time")."""
    from vitalkey.flows import passkeys  # noqa: PLC0415 - on the first ceremony (see above)

    return passkeys


# The login flow's second-factor step, by its stored value (flows.login imports the kinds).
SECOND_FACTOR_STEP = "second_factor"
CHALLENGE = "passkey_challenge"
OPTIONS = "passkey_options"
USER_HANDLE = "passkey_user_handle"
NAME = "passkey_name"


def stored_passkey(row: StoredAuthenticator) -> StoredPasskey:
    stored: StoredPasskey = ceremonies().StoredPasskey(
        credential_id=row.lookup or "",
        public_key=from_base64url(str(row.data["public_key"])),
        sign_count=row.counter,
        backup_eligible=bool(row.data.get("backup_eligible")),
        user_handle=from_base64url(str(row.data["user_handle"])),
    )
    return stored


def passkeys_of(rows: Sequence[StoredAuthenticator]) -> list[StoredAuthenticator]:
    return [row for row in rows if row.kind == PASSKEY]


def clean_name(raw: str) -> str:
    name = " ".join(raw.split())
    if len(name) > NAME_MAX:  # refused, never cut
        raise InvalidInput(N_("This name is too long (at most 100 characters)."), field="name")
    return name


class PasskeyKind(KindBase):
    kind: ClassVar[str] = PASSKEY
    roles: ClassVar[Role] = Role.FIRST | Role.SECOND

    def __init__(self, deps: FlowDeps, rp: RelyingParty) -> None:
        self.deps = deps
        self.rp = rp

    # Which steps ------------------------------------------------------------------------
    def applies(self, account: Account | None, rows: Sequence[StoredAuthenticator], role: Role) -> bool:
        """Nowhere when the server's address cannot have passkeys. As a first factor, for any
        address (the passkey finds its account); as a second factor, for an account with 2FA on
        and a passkey."""
        if not self.rp.applies or not role & self.roles:
            return False
        if role & Role.FIRST:
            return True
        kinds = {row.kind for row in rows}
        return PASSKEY in kinds and not kinds.isdisjoint(TWO_FACTOR_METHODS)

    # Sign-in ----------------------------------------------------------------------------
    def begin(self, tx: Transaction, flow: Flow, account: Account | None, requester: Requester) -> Prompt:
        return self._challenge(tx, flow, account)

    def prompt(self, tx: Transaction, flow: Flow, account: Account | None) -> Prompt:
        options = flow.context.get(OPTIONS)
        return Prompt(PASSKEY, options=json.loads(str(options)) if options else None)

    def _challenge(self, tx: Transaction, flow: Flow, account: Account | None) -> Prompt:
        """New options and challenge: a discoverable request (any passkey of this site, user
        verification required) for a first factor; the account's passkeys (verification
        preferred) for a second."""
        second = flow.state == SECOND_FACTOR_STEP
        allow: list[str] = []
        if second:
            if account is None:
                raise WrongState()
            allow = [row.lookup or "" for row in passkeys_of(tx.authenticators.for_account(account.id))]
        options, challenge = ceremonies().authentication_options(self.rp, allow, require_user_verification=not second)
        noted = {CHALLENGE: to_base64url(challenge), OPTIONS: options}
        return Prompt(PASSKEY, options=json.loads(options), context=noted)

    def verify(
        self, tx: Transaction, flow: Flow, account: Account | None, answer: Answer, requester: Requester
    ) -> Proof:
        """Check the answer against the flow's challenge, which is replaced whatever the outcome
        (committed with the refusal): a challenge answers once."""
        self.rp.require()
        kept = flow.context.get(CHALLENGE)
        second = flow.state == SECOND_FACTOR_STEP
        renewed = self._challenge(tx, flow, account)
        if not tx.flows.save(flow.moved(flow.state, **renewed.context), flow.state):
            raise WrongState()  # a parallel answer ended the step
        now = self.deps.clock.now()
        counted: str | None = None
        try:
            if not kept:
                raise WrongState()
            posted = ceremonies().read_assertion(answer.credential)
            row = tx.authenticators.by_lookup(PASSKEY, posted.credential_id)
            owner = tx.accounts.get(row.account_id) if row is not None else None
            if row is None or owner is None or not self._may_use(flow, account, owner, second):
                raise PasskeyUnknown()
            counted = owner.email
            rate_limits.count_failure(self.deps, tx, counted, now)  # before judging, as every factor
            use = ceremonies().verify_authentication(
                self.rp, answer.credential, from_base64url(str(kept)), stored_passkey(row), not second
            )
        except DomainError as refused:
            tx.audit.record("passkey.rejected", now, account.id if account else None, reason=refused.code)
            raise CountedRefusal(refused) from None
        if use.new_sign_count > row.counter and not tx.authenticators.advance(row.id, use.new_sign_count, now):
            raise CountedRefusal(PasskeyCounterError())  # a parallel use moved it meanwhile
        tx.authenticators.touch(row.id, now)
        if bool(row.data.get("backed_up")) != use.backed_up:
            tx.authenticators.set_data(row.id, {**row.data, "backed_up": use.backed_up})
        rate_limits.forgive_failure(self.deps, tx, counted, now)
        roles = Role.SECOND if second else Role.FIRST | Role.SECOND
        return Proof(PASSKEY, owner, roles, row.id)

    @staticmethod
    def _may_use(flow: Flow, account: Account | None, owner: Account, second: bool) -> bool:
        """A second factor is one of the account's own passkeys; a first factor any passkey,
        but one of the typed address's account when the sign-in started with an address."""
        if second:
            return account is not None and owner.id == account.id
        return not flow.email or account_key(flow.email) == account_key(owner.email)

    def committed(self, proof: Proof) -> None:
        return None

    # Enrolment --------------------------------------------------------------------------
    def enrol(
        self, tx: Transaction, flow: Flow, auth: Authenticated, answer: Answer | None, requester: Requester
    ) -> Prompt | StoredAuthenticator:
        """``answer`` None: the registration options (the account's passkeys excluded, its user
        handle reused) and what the flow keeps. Else the browser's answer: the new passkey,
        stored under its name; the account address is mailed."""
        second_factor.require_fresh(self.deps, tx, auth)
        account = auth.account
        rows = passkeys_of(tx.authenticators.for_account(account.id))
        if answer is None:
            handle = from_base64url(str(rows[0].data["user_handle"])) if rows else ceremonies().new_user_handle()
            profile = account.profile
            display = f"{profile.first_name} {profile.last_name}".strip() if profile else ""
            options, challenge = ceremonies().registration_options(
                self.rp, handle, account.email, display, [row.lookup or "" for row in rows]
            )
            noted = {
                CHALLENGE: to_base64url(challenge),
                OPTIONS: options,
                USER_HANDLE: to_base64url(handle),
            }
            return Prompt(PASSKEY, options=json.loads(options), context=noted)
        kept = flow.context.get(CHALLENGE)
        if not kept:
            raise WrongState()
        name = clean_name(answer.name or str(flow.context.get(NAME, "")))
        new = ceremonies().verify_registration(self.rp, answer.credential, from_base64url(str(kept)))
        now = self.deps.clock.now()
        data: Mapping[str, Any] = {
            "public_key": to_base64url(new.public_key),
            "user_handle": str(flow.context[USER_HANDLE]),
            "transports": list(new.transports),
            "aaguid": new.aaguid,
            "fmt": new.fmt,
            "backup_eligible": new.backup_eligible,
            "backed_up": new.backed_up,
        }
        row = StoredAuthenticator(
            0, account.id, PASSKEY, now, name=name, lookup=new.credential_id, counter=new.sign_count, data=data
        )
        stored = tx.authenticators.add(row)
        if stored is None:
            raise PasskeyAlreadyRegistered()
        second_factor.notify(self.deps, tx, account, "method_added", now, method=PASSKEY, name=name)
        return stored

    def remove(self, tx: Transaction, auth: Authenticated, row: StoredAuthenticator) -> None:
        """The passkey goes (``flows/methods`` checks freshness and mails). 2FA stays as it was:
        a passkey turns nothing on or off."""
        if row.kind != PASSKEY or not tx.authenticators.remove(auth.account.id, row.id):
            raise AuthenticatorNotFound()
