"""Federated sign-in, the rules (issue #23 item 3): what a finished upstream sign-in (Google,
Apple, an employer's OpenID Connect provider) means for VitalKey's accounts. Pure: the flows
read the rows and apply what these functions decide (``flows/federation.py``).

An identity is keyed by its issuer and subject, never by its address (an address changes hands;
a subject does not). It is stored as an ``authenticators`` row of kind ``federated``: ``lookup``
is :func:`lookup_of`, ``name`` the provider's display name, ``data`` {provider, issuer, subject,
email, email_verified} as the provider said them when the identity was linked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vitalkey.domain.accounts import Account
from vitalkey.domain.authenticators import FEDERATED, PASSKEY, StoredAuthenticator
from vitalkey.domain.i18n import N_

# How pages name one linked identity ("Sign-in with Google"); METHOD_LABELS' own label has no
# placeholder, since the generic method list translates labels without arguments.
SIGN_IN_WITH = N_("Sign-in with %(provider)s")
# Set on the identity rows of an account created through a provider that vouched for the address:
# VitalKey never mailed it a code. Carried to every identity linked while it holds (see can_unlink).
ADDRESS_UNCONFIRMED = "address_unconfirmed"


def lookup_of(issuer: str, subject: str) -> str:
    """The identity's key: the issuer and the subject it gives the user, never the address."""
    if not issuer or not subject:
        raise ValueError("an identity needs an issuer and a subject")
    return f"{issuer}#{subject}"


# What a finished upstream sign-in leads to ---------------------------------------------
@dataclass(frozen=True, slots=True)
class SignInAs:
    """A known identity: sign in to its account (the second factor still applies, unless the
    provider is trusted for it)."""

    account_id: int
    authenticator_id: int


@dataclass(frozen=True, slots=True)
class CreateAccount:
    """A new identity and no account to link it to: the sign-up (policy, details) creates one
    and links it. ``confirm_by_code``: the address is mailed a code first, as any sign-up's,
    unless the provider said it verified the address. ``email`` None: the provider gave none,
    the user types one (and confirms it by code)."""

    email: str | None
    confirm_by_code: bool


@dataclass(frozen=True, slots=True)
class LinkNeeded:
    """A new identity whose verified address is an account's: never linked automatically. The
    user is told an account exists and links the identity by proving the account (its own
    sign-in, with its second factor)."""

    account_id: int
    email: str


Outcome = SignInAs | CreateAccount | LinkNeeded


def outcome(
    identity: StoredAuthenticator | None,
    email: str | None,
    email_verified: bool,
    address_owner: Account | None,
) -> Outcome:
    """What a checked upstream sign-in means. ``identity``: the row found by :func:`lookup_of`;
    ``address_owner``: the account whose address is ``email`` (looked up only for a verified
    address: an unverified one goes through the sign-up's code, which tells an existing account's
    owner by mail and nobody else, as a typed address does). Private relay addresses (Apple's)
    are addresses like any other."""
    if identity is not None:
        return SignInAs(identity.account_id, identity.id)
    if not email:
        return CreateAccount(None, confirm_by_code=True)
    if not email_verified:
        return CreateAccount(email, confirm_by_code=True)
    if address_owner is not None:
        return LinkNeeded(address_owner.id, address_owner.email)
    return CreateAccount(email, confirm_by_code=False)


# Linking and unlinking -------------------------------------------------------------
def identity_data(
    provider: str, issuer: str, subject: str, email: str | None, email_verified: bool, *, address_unconfirmed: bool
) -> dict[str, Any]:
    """A federated row's ``data`` (no token: the ID token itself is never kept)."""
    data: dict[str, Any] = {
        "provider": provider,
        "issuer": issuer,
        "subject": subject,
        "email": email,
        "email_verified": email_verified,
    }
    if address_unconfirmed:
        data[ADDRESS_UNCONFIRMED] = True
    return data


def address_unconfirmed(rows: Sequence[StoredAuthenticator]) -> bool:
    """Whether the account was created through a provider without VitalKey mailing its address
    a code, as its identity rows say (an account created by the ordinary sign-up, or through an
    unverified address, confirmed it by code)."""
    return any(row.kind == FEDERATED and bool(row.data.get(ADDRESS_UNCONFIRMED)) for row in rows)


def can_unlink(account: Account, rows: Sequence[StoredAuthenticator], removing: StoredAuthenticator) -> bool:
    """Whether unlinking ``removing`` leaves the account a way to sign in.

    Every account can sign in with a code mailed to its address, so unlinking is refused only
    for the last identity of an account whose address VitalKey has never confirmed by code (it
    was created through a provider that vouched for it: an Apple private relay address may not
    even forward VitalKey's mail) and that has neither a password nor a passkey. Anything else
    (another identity, a password, a passkey, an address confirmed by code) is a way left."""
    others = [row for row in rows if row.id != removing.id]
    if any(row.kind in (FEDERATED, PASSKEY) for row in others):
        return True
    if account.password_changed_at is not None:
        return True
    return not address_unconfirmed([*others, removing])
