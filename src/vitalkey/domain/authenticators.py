"""An account's authenticators as stored: one row each (an SMS number, a recovery code; next,
an authenticator app and passkeys). The kinds' rules live in ``flows/authenticators``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vitalkey.domain.i18n import N_

# The kinds, as sessions record them (sessions.methods) and the table stores them.
EMAIL_CODE = "email_code"
PASSWORD = "password"  # noqa: S105 (a kind's name)
APP_PASSWORD = "app_password"  # noqa: S105
SMS = "sms"
TOTP = "totp"
PASSKEY = "passkey"
RECOVERY_CODE = "recovery_code"
FEDERATED = "federated"  # an identity of an upstream provider (Google, Apple, an employer's OIDC)
# Recorded beside FEDERATED when the provider is one the administrator trusts for the second
# factor: its sign-in counts as a session "with 2FA" (not a kind: no row, no step of its own).
UPSTREAM_SECOND_FACTOR = "federated_2fa"

# The methods that count as a second factor (a session with one is "with 2FA").
SECOND_FACTORS = frozenset({SMS, TOTP, PASSKEY, RECOVERY_CODE, UPSTREAM_SECOND_FACTOR})
# The second factors a sign-in offers first, best first; the recovery code is never the default.
SECOND_FACTOR_ORDER = (PASSKEY, TOTP, SMS)
# What a method is called on pages and in mails ("Try another way", Account & Security), translated
# where shown. A row's own ``name`` (a passkey's "Work laptop") goes beside it, never instead.
METHOD_LABELS = {
    EMAIL_CODE: N_("Code sent by email"),
    PASSWORD: N_("Password"),
    APP_PASSWORD: N_("App password"),
    SMS: N_("Text message"),
    TOTP: N_("Authenticator app"),
    PASSKEY: N_("Passkey"),
    RECOVERY_CODE: N_("Recovery code"),
    # No placeholder: pages and mails translate a label without arguments; the provider's name
    # and the address go beside it (``method_hint``).
    FEDERATED: N_("Linked account"),
}


@dataclass(frozen=True, slots=True)
class StoredAuthenticator:
    """One authenticator of an account. ``lookup`` finds it by what a sign-in presents (a
    passkey's credential id, the recovery code's keyed digest); ``counter`` only moves forward
    (TOTP's last accepted time step, a passkey's sign count); ``sealed`` is encrypted with the
    server's Sealer; ``data`` is the kind's own (``{"phone": …}`` for SMS)."""

    id: int  # 0 until stored
    account_id: int
    kind: str
    created_at: datetime
    name: str = ""  # '': the kind's own label
    last_used_at: datetime | None = None
    is_default: bool = False
    lookup: str | None = None
    counter: int = 0
    data: Mapping[str, Any] = field(default_factory=dict)
    sealed: str = ""


def of_kind(rows: Iterable[StoredAuthenticator], kind: str) -> StoredAuthenticator | None:
    """The account's authenticator of ``kind`` (the first, for passkeys)."""
    return next((row for row in rows if row.kind == kind), None)


def second_factors(rows: Iterable[StoredAuthenticator]) -> list[StoredAuthenticator]:
    """The second factors a sign-in can ask for (not the recovery code), default first, then in
    ``SECOND_FACTOR_ORDER``."""
    usable = [row for row in rows if row.kind in SECOND_FACTOR_ORDER]
    return sorted(usable, key=lambda row: (not row.is_default, SECOND_FACTOR_ORDER.index(row.kind), row.id))


# The second factors whose first turns 2FA on and whose last, removed, turns it off (with the
# recovery code); a passkey is a sign-in method of its own and turns nothing on or off.
TWO_FACTOR_METHODS = frozenset({SMS, TOTP})
# The methods shown by what they are (the masked number), never by a name the user gives them.
UNNAMED_METHODS = frozenset({SMS, RECOVERY_CODE, FEDERATED})
