"""What a finished upstream sign-in leads to (issue #23 item 3), and linking and unlinking
identities (item 5: audited, mailed, counted).

Given the checked ``UpstreamClaims`` of a provider (``ports.UpstreamProvider.finish``), the rules
of ``domain/federation.py`` apply: a linked identity signs in to its account (``SignedIn``: the
first factor, or both for a provider trusted for the second); a new one with no account to link
to starts the ordinary sign-up (``SignupStarted``: policy and details still asked, the code
skipped only for a verified address; ``AddressNeeded`` when the provider gave none); a new one
whose verified address is an account's is never linked automatically (``LinkRequired``): the
user proves the account with its own sign-in, then ``link`` adds the identity.

No page is here: the web layer keeps the claims in a flow (never a cookie), shows what each
outcome asks, and drives the login flow with a ``SignedIn`` proof.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vitalkey.domain.accounts import Account
from vitalkey.domain.authenticators import FEDERATED, StoredAuthenticator
from vitalkey.domain.emails import account_key
from vitalkey.domain.errors import AuthenticatorNotFound
from vitalkey.domain.federation import CreateAccount, LinkNeeded, SignInAs, lookup_of, outcome
from vitalkey.domain.flows import Requester
from vitalkey.flows import second_factor
from vitalkey.flows.authenticators.base import Proof
from vitalkey.flows.authenticators.federated import (
    SIGNUP,
    FederatedKind,
    claims_context,
)
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.email_flow import FlowView
from vitalkey.flows.methods import Removed, SignInMethods
from vitalkey.flows.sessions import Authenticated
from vitalkey.flows.signup import SignupFlow
from vitalkey.observability import FEDERATED_SIGNINS
from vitalkey.ports import Transaction, UpstreamClaims


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A linked identity: its account, and what the upstream sign-in proved (``proof.roles``:
    the first factor, or both). The login flow goes on from here (the second factor, or a
    session)."""

    proof: Proof
    provider: str


@dataclass(frozen=True, slots=True)
class SignupStarted:
    """A sign-up flow for the new identity: at the privacy policy when the provider verified the
    address (``code_sent`` False), else at the code mailed to it (or at "Did you mean …?")."""

    view: FlowView
    code_sent: bool


@dataclass(frozen=True, slots=True)
class AddressNeeded:
    """The provider gave no address: the user types one, then ``start_signup`` (confirmed by code)."""

    provider: str


@dataclass(frozen=True, slots=True)
class LinkRequired:
    """An account has this verified address: "an account exists; sign in to it to link"."""

    email: str
    provider: str


Resolved = SignedIn | SignupStarted | AddressNeeded | LinkRequired


class Federation:
    def __init__(self, deps: FlowDeps, kind: FederatedKind, signup: SignupFlow, methods: SignInMethods) -> None:
        self.deps = deps
        self.kind = kind
        self.signup = signup
        self.methods = methods

    # A finished upstream sign-in ---------------------------------------------------------
    def resolve(self, tx: Transaction, claims: UpstreamClaims) -> Proof | CreateAccount | LinkNeeded:
        """Inside the caller's transaction: the proof of a linked identity (marked used), or what
        a new identity needs (``domain.federation.outcome``). The provider must be configured."""
        self.kind.provider(claims.provider)
        row = tx.authenticators.by_lookup(FEDERATED, lookup_of(claims.issuer, claims.subject))
        owner = None
        if claims.email and claims.email_verified and row is None:
            owner = tx.accounts.by_email(account_key(claims.email))
        decided = outcome(row, claims.email, claims.email_verified, owner)
        if isinstance(decided, SignInAs):
            account = tx.accounts.get(decided.account_id)
            if account is None or row is None:
                raise AuthenticatorNotFound()
            return self.kind.proved(tx, row, account)
        return decided

    def sign_in(self, claims: UpstreamClaims, requester: Requester) -> Resolved:
        """What a finished upstream sign-in leads to, each step in its own transaction."""
        with self.deps.uow.begin() as tx:
            decided = self.resolve(tx, claims)
        if isinstance(decided, Proof):
            FEDERATED_SIGNINS.labels(provider=claims.provider).inc()
            return SignedIn(decided, claims.provider)
        if isinstance(decided, LinkNeeded):
            return LinkRequired(decided.email, claims.provider)
        if isinstance(decided, CreateAccount) and decided.email is not None:
            if decided.confirm_by_code:
                return self.start_signup(claims, decided.email, requester)
            flow = self.signup.start_verified(decided.email, requester, **self._signup_context(claims, True))
            return SignupStarted(FlowView(flow, None, {}), code_sent=False)
        return AddressNeeded(claims.provider)

    def start_signup(self, claims: UpstreamClaims, raw_email: str, requester: Requester) -> SignupStarted:
        """The ordinary sign-up for an address the provider did not verify (or did not give): the
        code is mailed (an existing account's owner is told instead, as for any sign-up)."""
        self.kind.provider(claims.provider)
        view = self.signup.start(raw_email, requester, **self._signup_context(claims, False))
        return SignupStarted(view, code_sent=view.suggestion is None)

    def _signup_context(self, claims: UpstreamClaims, code_skipped: bool) -> dict[str, Any]:
        display_name = self.kind.provider(claims.provider).display_name
        identity = {**claims_context(claims), "display_name": display_name, "code_skipped": code_skipped}
        return {SIGNUP: identity}

    # Linking and unlinking ---------------------------------------------------------------
    def link(self, auth: Authenticated, claims: UpstreamClaims, requester: Requester) -> StoredAuthenticator:
        """Link the identity to the signed-in account, after a recent sign-in with its second
        factor (``second_factor.require_fresh``); the kind's ``link`` rules (refused when the
        identity is another account's; mailed "method_added" and audited)."""
        with self.deps.uow.begin() as tx:
            tx.authenticators.lock_account(auth.account.id)
            second_factor.require_fresh(self.deps, tx, auth)
            return self.kind.link(tx, auth.account, claims, auth.session.methods)

    def unlink(self, auth: Authenticated, authenticator_id: int, requester: Requester) -> Removed:
        """Unlink one of the account's identities through the method list's rules (fresh
        sign-in, the kind's ``remove``: refused when it would leave no way to sign in; mailed
        "method_removed"; audited)."""
        if self.methods.get(auth.account, authenticator_id).row.kind != FEDERATED:
            raise AuthenticatorNotFound()
        return self.methods.remove(auth, authenticator_id, requester)

    def linked(self, account: Account) -> list[StoredAuthenticator]:
        """The account's identities, as linked."""
        with self.deps.uow.read() as tx:
            return [row for row in tx.authenticators.for_account(account.id) if row.kind == FEDERATED]


__all__ = ["AddressNeeded", "Federation", "LinkRequired", "Resolved", "SignedIn", "SignupStarted"]
