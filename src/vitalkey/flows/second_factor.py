"""What every second-factor change shares: the two-factor view of an account's authenticators,
turning 2FA on and off, the recovery code (issued, sealed, checked, replaced), the mails that
every 2FA change sends, and freshness. The sign-in steps of each kind are in
``flows/authenticators``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vitalkey.domain.accounts import Account, mail_names
from vitalkey.domain.authenticators import (
    METHOD_LABELS,
    RECOVERY_CODE,
    SMS,
    TWO_FACTOR_METHODS,
    StoredAuthenticator,
)
from vitalkey.domain.errors import ReauthenticationRequired
from vitalkey.domain.tokens import keyed_digest, new_token
from vitalkey.domain.two_factor import TwoFactor, is_fresh, new_recovery_code, two_factor_of
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.sessions import Authenticated
from vitalkey.ports import OutgoingMail, Transaction

# The events mailed to the account address (SPEC: "Every 2FA change and every recovery is emailed").
# ``enabled`` names the first method in ``method`` (a kind: sms, totp, passkey); ``method_added``,
# ``method_removed`` and ``default_changed`` name theirs in ``method``, and a row's own name in ``name``.
EVENTS = frozenset(
    {
        "enabled",
        "disabled",
        "phone_changed",
        "recovery_used",
        "recovery_renewed",
        "app_password_created",
        "method_added",
        "method_removed",
        "default_changed",
    }
)


@dataclass(frozen=True, slots=True)
class NewRecoveryCode:
    code: str  # shown to the user; never stored in the clear
    digest: str
    sealed: str


def recovery_digest(deps: FlowDeps, account_id: int, code: str) -> str:
    return keyed_digest(deps.secret, f"recovery:{account_id}:{code}")


def issue_recovery(deps: FlowDeps, account_id: int) -> NewRecoveryCode:
    code = new_recovery_code()
    return NewRecoveryCode(code, recovery_digest(deps, account_id, code), deps.two_factor.sealer.seal(code))


def notify(deps: FlowDeps, tx: Transaction, account: Account, event: str, now: datetime, **details: Any) -> None:
    """Mail the account address about a change of its second factor, and audit it."""
    assert event in EVENTS
    tx.outbox.enqueue(
        OutgoingMail(
            to=account.email,
            template="two_factor_changed",
            language=account.language,
            context={
                "event": event,
                "when": now.strftime("%Y-%m-%d %H:%M UTC"),
                **mail_names(account),
                **details,
                # the label's English text: the mail translates it into the account's language
                **({"method_label": METHOD_LABELS[details["method"]]} if "method" in details else {}),
            },
            idempotency_key=f"two_factor:{account.id}:{event}:{new_token(12)}",
        ),
        now,
    )
    tx.audit.record(f"two_factor.{event}", now, account.id, **{k: v for k, v in details.items() if k != "phone"})


def two_factor(tx: Transaction, account_id: int) -> TwoFactor | None:
    """The account's two-factor set-up, read from its authenticators (None: 2FA is off)."""
    return two_factor_of(tx.authenticators.for_account(account_id))


def enable(tx: Transaction, account_id: int, phone: str, recovery: NewRecoveryCode, now: datetime) -> bool:
    """Turn 2FA on with a verified number (the default second factor) and a recovery code; False
    when the account has either already (set up from another page meanwhile)."""
    sms = StoredAuthenticator(0, account_id, SMS, now, is_default=True, data={"phone": phone})
    code = StoredAuthenticator(0, account_id, RECOVERY_CODE, now, lookup=recovery.digest, sealed=recovery.sealed)
    return tx.authenticators.add(sms) is not None and tx.authenticators.add(code) is not None


def disable(tx: Transaction, account_id: int) -> bool:
    """Remove the second factors that keep 2FA on and the recovery code; False when there was
    none. Passkeys stay: they sign in by themselves, with or without 2FA."""
    removed = sum(tx.authenticators.remove_kind(account_id, kind) for kind in sorted(TWO_FACTOR_METHODS))
    removed += tx.authenticators.remove_kind(account_id, RECOVERY_CODE)
    return removed > 0


def require_fresh(deps: FlowDeps, tx: Transaction, auth: Authenticated) -> TwoFactor | None:
    """The account's second factor, if the session is a recent enough sign-in to change it
    (ASVS 7.5.1): within ``reauth_window`` and with the current second factor."""
    factor = two_factor(tx, auth.account.id)
    if not is_fresh(auth.session, factor is not None, deps.clock.now(), deps.two_factor.reauth_window):
        raise ReauthenticationRequired()
    return factor
