"""Account & Security → "Two-factor authentication and sign-in methods": the account's
authenticators listed, one made the default second factor, renamed, or removed (issue #22 item 4).

Generic over the registry: a kind appears here once it is registered, with its label
(``METHOD_LABELS``), and is removed by its own ``remove`` (the row alone, for a kind with nothing
more to clean up). Every change needs the re-authentication (``second_factor.require_fresh``);
a default change and a removal are mailed, a rename is audited. Removing the last method that
keeps 2FA on (``TWO_FACTOR_METHODS``) turns 2FA off as "Turn off" does: the recovery code goes,
the app passwords are revoked, "disabled" is mailed; passkeys stay as sign-in methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vitalkey.domain.accounts import NAME_MAX, Account
from vitalkey.domain.authenticators import (
    METHOD_LABELS,
    PASSKEY,
    RECOVERY_CODE,
    TWO_FACTOR_METHODS,
    UNNAMED_METHODS,
    StoredAuthenticator,
)
from vitalkey.domain.errors import AuthenticatorNotFound, InvalidInput
from vitalkey.domain.flows import Requester
from vitalkey.domain.i18n import N_
from vitalkey.domain.two_factor import TwoFactor, method_hint, two_factor_of
from vitalkey.flows import second_factor
from vitalkey.flows.authenticators import Authenticators
from vitalkey.flows.authenticators.base import NotResponsible, Role
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.relying_party import RelyingParty
from vitalkey.flows.sessions import Authenticated
from vitalkey.ports import Transaction


@dataclass(frozen=True, slots=True)
class Method:
    """One of the account's methods as the list shows it."""

    row: StoredAuthenticator
    label: str  # METHOD_LABELS' English text: pages and the API translate it
    hint: str  # the masked number, or the name the user gave it
    can_be_default: bool  # a second factor the account can use, not the default yet
    can_rename: bool


@dataclass(frozen=True, slots=True)
class Methods:
    methods: list[Method]
    two_factor: TwoFactor | None


@dataclass(frozen=True, slots=True)
class Removed:
    method: Method
    two_factor_off: bool  # it was the last method keeping 2FA on: 2FA was turned off with it
    two_factor_on: bool  # 2FA is on after the removal
    app_passwords_revoked: int


class SignInMethods:
    def __init__(self, deps: FlowDeps, authenticators: Authenticators) -> None:
        self.deps = deps
        self.authenticators = authenticators

    def addable(self) -> list[str]:
        """The kinds a user can add, in registry order: those that can be a second factor (the
        mailed code, the password and app passwords are not added here; the recovery code comes
        with 2FA), and passkeys only where the public address allows them (a host name, over
        https or on localhost)."""
        kinds = [k.kind for k in self.authenticators.kinds if k.roles & Role.SECOND and k.kind != RECOVERY_CODE]
        return [kind for kind in kinds if kind != PASSKEY or self._passkeys_apply()]

    def _passkeys_apply(self) -> bool:
        try:
            return RelyingParty.from_public_url(self.deps.public_url).applies
        except ValueError:
            return False

    def for_account(self, account: Account) -> Methods:
        with self.deps.uow.read() as tx:
            rows = tx.authenticators.for_account(account.id)
        return Methods(self._methods(account, rows), two_factor_of(rows))

    def get(self, account: Account, authenticator_id: int) -> Method:
        """One of the account's listed methods (AuthenticatorNotFound for another's id)."""
        with self.deps.uow.read() as tx:
            rows = tx.authenticators.for_account(account.id)
        return self._find(account, rows, authenticator_id)

    def make_default(self, auth: Authenticated, authenticator_id: int, requester: Requester) -> Method:
        """The second factor a sign-in asks for first; mailed ("default_changed")."""
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            second_factor.require_fresh(self.deps, tx, auth)
            rows = tx.authenticators.for_account(auth.account.id)
            method = self._find(auth.account, rows, authenticator_id)
            if method.row.is_default:
                return method  # nothing changes, nothing is mailed
            if not method.can_be_default or not tx.authenticators.set_default(auth.account.id, method.row.id):
                raise InvalidInput(N_("This method cannot be the default."))
            second_factor.notify(
                self.deps, tx, auth.account, "default_changed", now, method=method.row.kind, name=method.hint
            )
            rows = tx.authenticators.for_account(auth.account.id)
        return self._find(auth.account, rows, authenticator_id)

    def rename(self, auth: Authenticated, authenticator_id: int, raw_name: str, requester: Requester) -> Method:
        """A name of the user's ("Work laptop"); empty for the kind's own label. Audited, not mailed."""
        name = " ".join(raw_name.split())
        if len(name) > NAME_MAX:  # refused, never cut
            raise InvalidInput(N_("This name is too long (at most 100 characters)."), field="name")
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            second_factor.require_fresh(self.deps, tx, auth)
            method = self._find(auth.account, tx.authenticators.for_account(auth.account.id), authenticator_id)
            if not method.can_rename:
                raise InvalidInput(N_("This method cannot be renamed."), field="name")
            if not tx.authenticators.rename(auth.account.id, method.row.id, name):
                raise AuthenticatorNotFound()
            tx.audit.record("authenticator.renamed", now, auth.account.id, method=method.row.kind, id=method.row.id)
            rows = tx.authenticators.for_account(auth.account.id)
        return self._find(auth.account, rows, authenticator_id)

    def remove(self, auth: Authenticated, authenticator_id: int, requester: Requester) -> Removed:
        """Remove it with its kind's ``remove``; mailed ("method_removed"). The last method that
        keeps 2FA on takes 2FA with it."""
        now = self.deps.clock.now()
        account = auth.account
        with self.deps.uow.begin() as tx:
            tx.authenticators.lock_account(account.id)  # two removals at once: one sees the other's
            second_factor.require_fresh(self.deps, tx, auth)
            method = self._find(account, tx.authenticators.for_account(account.id), authenticator_id)
            row = method.row
            self._remove_row(tx, auth, row)
            second_factor.notify(self.deps, tx, account, "method_removed", now, method=row.kind, name=method.hint)
            rows = tx.authenticators.for_account(account.id)
            last = row.kind in TWO_FACTOR_METHODS and not any(r.kind in TWO_FACTOR_METHODS for r in rows)
            if last:
                revoked = self._turn_off(tx, account)
                return Removed(method, True, False, revoked)
            if row.is_default:
                self._next_default(tx, account, rows)
            still_on = two_factor_of(rows) is not None
        return Removed(method, False, still_on, 0)

    # Helpers ---------------------------------------------------------------------------
    def _remove_row(self, tx: Transaction, auth: Authenticated, row: StoredAuthenticator) -> None:
        """The kind's ``remove``; a kind with nothing of its own to clean up (not responsible,
        or no longer registered) loses the row alone."""
        try:
            if row.kind not in self.authenticators:
                raise NotResponsible()
            self.authenticators[row.kind].remove(tx, auth, row)
        except NotResponsible:
            if not tx.authenticators.remove(auth.account.id, row.id):
                raise AuthenticatorNotFound() from None

    def _turn_off(self, tx: Transaction, account: Account) -> int:
        """What "Turn off" does: the recovery code goes, the app passwords (which stood in for
        2FA) are revoked, "disabled" is mailed. Passkeys stay."""
        now = self.deps.clock.now()
        tx.authenticators.remove_kind(account.id, RECOVERY_CODE)
        revoked = tx.app_passwords.revoke_all(account.id, now)
        second_factor.notify(self.deps, tx, account, "disabled", now, app_passwords_revoked=revoked)
        return revoked

    def _next_default(self, tx: Transaction, account: Account, rows: Sequence[StoredAuthenticator]) -> None:
        """The default went: the best second factor left takes its place (a sign-in would ask
        for it first anyway; the list shows it so)."""
        usable = {kind.kind for kind in self.authenticators.second_factors(account, rows)} - {RECOVERY_CODE}
        for candidate in self._ordered(rows):
            if candidate.kind in usable:
                tx.authenticators.set_default(account.id, candidate.id)
                return

    def _find(self, account: Account, rows: Sequence[StoredAuthenticator], authenticator_id: int) -> Method:
        found = next((m for m in self._methods(account, rows) if m.row.id == authenticator_id), None)
        if found is None:
            raise AuthenticatorNotFound()
        return found

    def _ordered(self, rows: Sequence[StoredAuthenticator]) -> list[StoredAuthenticator]:
        """Default first, then in registry order (the order a sign-in offers them), then as added."""
        order = {kind.kind: index for index, kind in enumerate(self.authenticators.kinds)}
        return sorted(rows, key=lambda row: (not row.is_default, order.get(row.kind, len(order)), row.id))

    def _methods(self, account: Account, rows: Sequence[StoredAuthenticator]) -> list[Method]:
        """The account's methods, without the recovery code (it has its own page)."""
        second = {kind.kind for kind in self.authenticators.second_factors(account, rows)} - {RECOVERY_CODE}
        two_factor_on = two_factor_of(list(rows)) is not None
        listed = []
        for row in self._ordered(rows):
            if row.kind == RECOVERY_CODE:
                continue
            kind = next((k for k in self.authenticators.kinds if k.kind == row.kind), None)
            can_default = two_factor_on and kind is not None and bool(kind.roles & Role.SECOND) and row.kind in second
            listed.append(
                Method(
                    row=row,
                    label=METHOD_LABELS.get(row.kind, row.kind),
                    hint=method_hint(row),
                    can_be_default=can_default and not row.is_default,
                    can_rename=row.kind not in UNNAMED_METHODS,
                )
            )
        return listed


def turns_two_factor_off(listed: Methods, method: Method) -> bool:
    """Whether removing ``method`` would turn 2FA off (the confirmation page says so)."""
    if method.row.kind not in TWO_FACTOR_METHODS:
        return False
    return not any(m.row.kind in TWO_FACTOR_METHODS and m.row.id != method.row.id for m in listed.methods)
