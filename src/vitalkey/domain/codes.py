"""One-time codes: 6 digits from a CSPRNG, stored only as an HMAC bound to one flow."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from vitalkey.domain.errors import MalformedCode, ResendLimit, ResendTooSoon, wait_seconds
from vitalkey.domain.i18n import N_

CODE_DIGITS = 6


@dataclass(frozen=True, slots=True)
class CodePolicy:
    ttl: timedelta = timedelta(minutes=10)
    max_attempts: int = 5
    resend_cooldown: timedelta = timedelta(seconds=60)
    max_resends: int = 5


@dataclass(frozen=True, slots=True)
class StoredCode:
    """What the database keeps about the code of one flow (never the code itself)."""

    flow_id: str
    purpose: str
    code_hmac: str
    expires_at: datetime
    attempts: int
    sends: int
    last_sent_at: datetime
    used_at: datetime | None


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hmac(key: bytes, flow_id: str, purpose: str, code: str) -> str:
    message = f"{flow_id}\x00{purpose}\x00{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def clean_code(raw: str) -> str:
    """Accept what people type or paste ("123 456", "123-456"); refuse anything else."""
    digits = "".join(ch for ch in raw if ch not in " -\t\u00a0")
    if not digits:
        raise MalformedCode(N_("Please enter the code."))
    if len(digits) != CODE_DIGITS or not digits.isascii() or not digits.isdigit():
        raise MalformedCode()
    return digits


def matches(key: bytes, stored: StoredCode, code: str) -> bool:
    expected = code_hmac(key, stored.flow_id, stored.purpose, code)
    return hmac.compare_digest(expected, stored.code_hmac)


def check_resend(policy: CodePolicy, stored: StoredCode, now: datetime) -> None:
    """Raise unless another code may be sent now. A resend never resets the attempts."""
    if stored.sends > policy.max_resends:
        raise ResendLimit()
    ready_at = stored.last_sent_at + policy.resend_cooldown
    if now < ready_at:
        raise ResendTooSoon(seconds=wait_seconds(ready_at, now))


def resend_available_at(policy: CodePolicy, stored: StoredCode) -> datetime | None:
    if stored.sends > policy.max_resends:
        return None
    return stored.last_sent_at + policy.resend_cooldown
