"""Second factors (SPEC "Two-factor authentication"): the SMS method, the recovery code, the
apps that can or cannot ask for a second factor, and app passwords for those that cannot."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers

from vitalkey.domain.authenticators import (
    FEDERATED,
    RECOVERY_CODE,
    SECOND_FACTORS,
    SMS,
    StoredAuthenticator,
    second_factors,
)
from vitalkey.domain.errors import MalformedRecoveryCode, WrongPassword
from vitalkey.domain.i18n import N_
from vitalkey.domain.sessions import Session

# Crockford's base 32: no I, L, O or U, so nothing reads as another character.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
RECOVERY_CHARS = 16  # 16 × 5 = 80 bits (SECURITY.md: at least 64)
APP_PASSWORD_LETTERS = 16  # 26^16 ≈ 2^75


@dataclass(frozen=True, slots=True)
class TwoFactor:
    """An account's two-factor set-up as pages show it, built from its authenticators
    (:func:`two_factor_of`): the default second factor, the number and the recovery code."""

    account_id: int
    method: str  # the default second factor's kind ("sms")
    phone: str  # E.164, verified by a code sent to it; '' without an SMS authenticator
    enabled_at: datetime
    recovery_digest: str  # keyed digest, for checking a code typed at sign-in
    recovery_sealed: str  # encrypted with a rotatable server key, for showing it again
    recovery_issued_at: datetime
    recovery_id: int = 0  # the recovery code's row (its conditional swap names it)


def two_factor_of(rows: list[StoredAuthenticator]) -> TwoFactor | None:
    """2FA is on while the account has a second factor and its recovery code (they come and go
    together)."""
    recovery = next((row for row in rows if row.kind == RECOVERY_CODE), None)
    factors = second_factors(rows)
    if recovery is None or not factors:
        return None
    sms = next((row for row in factors if row.kind == SMS), None)
    return TwoFactor(
        account_id=recovery.account_id,
        method=factors[0].kind,
        phone=str(sms.data.get("phone", "")) if sms else "",
        enabled_at=min(row.created_at for row in factors),
        recovery_digest=recovery.lookup or "",
        recovery_sealed=recovery.sealed,
        recovery_issued_at=recovery.created_at,
        recovery_id=recovery.id,
    )


@dataclass(frozen=True, slots=True)
class AppPassword:
    id: str
    account_id: int
    app_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None


def new_recovery_code() -> str:
    return "".join(secrets.choice(_CROCKFORD) for _ in range(RECOVERY_CHARS))


def grouped(code: str, size: int = 4, separator: str = "-") -> str:
    """``ABCDEFGHJKMNPQRS`` → ``ABCD-EFGH-JKMN-PQRS``, for reading aloud or copying by hand."""
    return separator.join(code[i : i + size] for i in range(0, len(code), size))


def clean_recovery_code(raw: str) -> str:
    """What people type: any case, spaces or dashes, O for 0 and I or L for 1."""
    text = "".join(ch for ch in raw[:64].upper() if ch not in " -\t\u00a0").translate(_LOOKALIKES)
    if not text:
        raise MalformedRecoveryCode(N_("Please enter your recovery code."))
    if len(text) != RECOVERY_CHARS or any(ch not in _CROCKFORD for ch in text):
        raise MalformedRecoveryCode()
    return text


def new_app_password() -> str:
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(APP_PASSWORD_LETTERS))


def clean_app_password(raw: str) -> str:
    """An app password as typed (``abcd efgh ijkl mnop``), or WrongPassword when it cannot be one."""
    text = "".join(ch for ch in raw[:64].lower() if ch not in " -\t\u00a0")
    if len(text) != APP_PASSWORD_LETTERS or not text.isascii() or not text.isalpha():
        raise WrongPassword()
    return text


def phone_hint(phone: str) -> str:
    """``+33612345678`` → ``+33 •••• 78``: enough to recognise one's number, not to learn it."""
    country = phonenumbers.parse(phone).country_code
    return f"+{country} •••• {phone[-2:]}"


def is_fresh(session: Session, has_two_factor: bool, now: datetime, window: timedelta) -> bool:
    """A sign-in recent enough for changing a second factor (ASVS 7.5.1): within ``window``, and
    with the current second factor when the account has one."""
    if now - session.authenticated_since > window:
        return False
    return not has_two_factor or bool(SECOND_FACTORS.intersection(session.methods))


def method_hint(row: StoredAuthenticator) -> str:
    """What tells one of the account's methods from another beside its label: the masked number
    of a method that texts one, a linked account's provider and address, else the name the user gave it ('' for none)."""
    phone = row.data.get("phone")
    if phone:
        return phone_hint(str(phone))
    if row.kind == FEDERATED and row.data.get("email"):  # the provider's name and its address
        return f"{row.name} · {row.data['email']}"
    return row.name
