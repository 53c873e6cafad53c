"""Federated identities (issue #23 item 3): a first factor proved by an upstream provider (Google,
Apple, an employer's OpenID Connect provider). Its proof counts as the first factor only: the
account's second factor still follows, unless the administrator marked the provider trusted for
it (``UpstreamProvider.trusted_for_second_factor``, off by default), then it counts as both.

A row of ``authenticators`` per identity (``domain/federation.py``): ``lookup`` "issuer#subject",
``name`` the provider's display name, ``data`` {provider, issuer, subject, email,
email_verified}. Removing one is unlinking it: refused when it would leave no way to sign in
(``federation.can_unlink``), audited; ``flows/methods`` checks freshness and mails.

The rules of what a finished upstream sign-in leads to are ``flows/federation.py``'s; this
module holds what the login flow, the sign-up and the method list need of the kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from vitalkey.domain.accounts import Account
from vitalkey.domain.authenticators import EMAIL_CODE, FEDERATED, UPSTREAM_SECOND_FACTOR, StoredAuthenticator
from vitalkey.domain.emails import account_key
from vitalkey.domain.errors import AuthenticatorNotFound, IdentityLinkedElsewhere, UnlinkRefused, WrongState
from vitalkey.domain.federation import ADDRESS_UNCONFIRMED, address_unconfirmed, can_unlink, identity_data, lookup_of
from vitalkey.domain.flows import CountedRefusal, Flow, Requester
from vitalkey.domain.two_factor import method_hint
from vitalkey.flows import second_factor
from vitalkey.flows.authenticators.base import Answer, KindBase, Proof, Role
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.sessions import Authenticated
from vitalkey.ports import Transaction, UpstreamClaims, UpstreamProvider

# A login flow's context: the checked claims of the upstream sign-in it continues (the callback
# puts them there, server-side; never a cookie).
CLAIMS = "federated_claims"
# A sign-up flow's context: the identity to link to the account the sign-up creates.
SIGNUP = "federated"


def claims_context(claims: UpstreamClaims) -> dict[str, Any]:
    """The claims as a flow's context keeps them (JSON)."""
    return {
        "provider": claims.provider,
        "issuer": claims.issuer,
        "subject": claims.subject,
        "email": claims.email,
        "email_verified": claims.email_verified,
        "given_name": claims.given_name,
        "family_name": claims.family_name,
    }


def claims_from(context: Mapping[str, Any]) -> UpstreamClaims:
    return UpstreamClaims(
        provider=str(context["provider"]),
        issuer=str(context["issuer"]),
        subject=str(context["subject"]),
        email=context.get("email"),
        email_verified=bool(context.get("email_verified")),
        given_name=context.get("given_name"),
        family_name=context.get("family_name"),
    )


def identity_row(
    account_id: int, claims: UpstreamClaims, display_name: str, now: datetime, *, address_unconfirmed: bool
) -> StoredAuthenticator:
    data = identity_data(
        claims.provider,
        claims.issuer,
        claims.subject,
        claims.email,
        claims.email_verified,
        address_unconfirmed=address_unconfirmed,
    )
    lookup = lookup_of(claims.issuer, claims.subject)
    return StoredAuthenticator(0, account_id, FEDERATED, now, name=display_name, lookup=lookup, data=data)


def offered_names(context: Mapping[str, Any]) -> dict[str, str]:
    """What a sign-up started by an upstream sign-in offers on its details step: the name the
    provider gave (Apple's only on the first authorization), for the user to keep or change."""
    identity = context.get(SIGNUP)
    if not isinstance(identity, Mapping):
        return {}
    names = {"first_name": identity.get("given_name"), "last_name": identity.get("family_name")}
    return {field: str(value) for field, value in names.items() if value}


def link_new_account(deps: FlowDeps, tx: Transaction, account: Account, context: Mapping[str, Any]) -> None:
    """The sign-up that started from an upstream sign-in created ``account``: link its identity
    (``context`` is the sign-up flow's ``SIGNUP`` entry), in the same transaction. Audited; not
    mailed (the user is creating the account right now). An identity linked meanwhile to another
    account refuses the whole sign-up."""
    now = deps.clock.now()
    claims = claims_from(context)
    row = identity_row(
        account.id, claims, str(context["display_name"]), now, address_unconfirmed=bool(context["code_skipped"])
    )
    stored = tx.authenticators.add(row)
    if stored is None:
        raise IdentityLinkedElsewhere()
    tx.audit.record("federation.linked", now, account.id, provider=claims.provider, id=stored.id, via="signup")


def confirm_address(tx: Transaction, rows: Sequence[StoredAuthenticator]) -> None:
    """The account's address was proved by an emailed code: its identities lose the mark that
    refuses unlinking the last of them (``domain.federation.can_unlink``)."""
    for row in rows:
        if row.kind == FEDERATED and row.data.get(ADDRESS_UNCONFIRMED):
            tx.authenticators.set_data(row.id, {k: v for k, v in row.data.items() if k != ADDRESS_UNCONFIRMED})


class FederatedKind(KindBase):
    kind: ClassVar[str] = FEDERATED
    roles: ClassVar[Role] = Role.FIRST  # both, for a proof from a provider trusted for 2FA (``proved``)

    def __init__(self, deps: FlowDeps, providers: Mapping[str, UpstreamProvider]) -> None:
        self.deps = deps
        self.providers = providers  # by id; empty: no federated sign-in is offered

    def provider(self, provider_id: str) -> UpstreamProvider:
        """A configured provider (WrongState for one no longer configured)."""
        found = self.providers.get(provider_id)
        if found is None:
            raise WrongState()
        return found

    def applies(self, account: Account | None, rows: Sequence[StoredAuthenticator], role: Role) -> bool:
        """A first factor for any address while a provider is configured (the identity finds its
        account); never a second-factor step."""
        return bool(role & Role.FIRST) and bool(self.providers)

    def proved(self, tx: Transaction, row: StoredAuthenticator, account: Account) -> Proof:
        """The proof an upstream sign-in with the identity ``row`` gives: the first factor, or
        both when its provider is trusted for the second (a provider no longer configured proves
        nothing). The row is marked used."""
        provider = self.provider(str(row.data.get("provider")))
        tx.authenticators.touch(row.id, self.deps.clock.now())
        if provider.trusted_for_second_factor:
            return Proof(FEDERATED, account, Role.FIRST | Role.SECOND, row.id, also=(UPSTREAM_SECOND_FACTOR,))
        return Proof(FEDERATED, account, Role.FIRST, row.id)

    def verify(
        self, tx: Transaction, flow: Flow, account: Account | None, answer: Answer, requester: Requester
    ) -> Proof:
        """A login flow continued by an upstream sign-in: its checked claims (``CLAIMS``) name a
        linked identity; one of the typed address's account when the sign-in started with an
        address. An identity linked to no account is not a sign-in (``flows/federation.py``
        says what it leads to)."""
        kept = flow.context.get(CLAIMS)
        if not isinstance(kept, Mapping):
            raise WrongState()
        claims = claims_from(kept)
        row = tx.authenticators.by_lookup(FEDERATED, lookup_of(claims.issuer, claims.subject))
        owner = tx.accounts.get(row.account_id) if row is not None else None
        if row is None or owner is None:
            raise WrongState()
        if flow.email and account_key(flow.email) != account_key(owner.email):
            raise WrongState()
        return self.proved(tx, row, owner)

    def link(
        self, tx: Transaction, account: Account, claims: UpstreamClaims, methods: Sequence[str]
    ) -> StoredAuthenticator:
        """Link the identity to ``account``, which the user has just proved (a sign-in with
        ``methods``: the caller checks it is recent, with its second factor). Linking it again to
        the same account changes nothing; one linked to another account is refused (audited). A
        sign-in by emailed code confirms the address (``confirm_address``). Mailed and audited."""
        now = self.deps.clock.now()
        display_name = self.provider(claims.provider).display_name
        found = tx.authenticators.by_lookup(FEDERATED, lookup_of(claims.issuer, claims.subject))
        if found is not None and found.account_id == account.id:
            return found
        if found is not None:
            raise self._linked_elsewhere(tx, account, claims, now)
        rows = tx.authenticators.for_account(account.id)
        by_code = EMAIL_CODE in methods
        if by_code:
            confirm_address(tx, rows)
        unconfirmed = address_unconfirmed(rows) and not by_code
        stored = tx.authenticators.add(
            identity_row(account.id, claims, display_name, now, address_unconfirmed=unconfirmed)
        )
        if stored is None:  # linked elsewhere meanwhile
            raise self._linked_elsewhere(tx, account, claims, now)
        tx.audit.record("federation.linked", now, account.id, provider=claims.provider, id=stored.id)
        second_factor.notify(self.deps, tx, account, "method_added", now, method=FEDERATED, name=method_hint(stored))
        return stored

    def _linked_elsewhere(
        self, tx: Transaction, account: Account, claims: UpstreamClaims, now: datetime
    ) -> CountedRefusal:
        tx.audit.record("federation.link_refused", now, account.id, provider=claims.provider)
        return CountedRefusal(IdentityLinkedElsewhere())

    def remove(self, tx: Transaction, auth: Authenticated, row: StoredAuthenticator) -> None:
        """Unlink: refused when it would leave no way to sign in; audited. The caller
        (``flows/methods``) holds the account's rows, checks freshness and mails."""
        rows = tx.authenticators.for_account(auth.account.id)
        if row.kind != FEDERATED or all(r.id != row.id for r in rows):
            raise AuthenticatorNotFound()
        account = tx.accounts.get(auth.account.id)  # as it is now: a password set meanwhile counts
        if account is None or not can_unlink(account, rows, row):
            raise UnlinkRefused()
        if not tx.authenticators.remove(auth.account.id, row.id):
            raise AuthenticatorNotFound()
        now = self.deps.clock.now()
        tx.audit.record("federation.unlinked", now, auth.account.id, provider=row.data.get("provider"), id=row.id)
