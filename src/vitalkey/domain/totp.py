"""Authenticator apps (TOTP, RFC 6238): the shared secret, the ``otpauth://`` URI an app scans,
and the check of a typed code against the last time step already used.

The parameters are the ones every authenticator app supports: SHA-1, 6 digits, 30 seconds
(Google Authenticator ignores any other). A code is valid in its own step and one step either
way, for a phone whose clock is a little off."""

from __future__ import annotations

import hmac
from datetime import datetime
from urllib.parse import quote, urlencode

import pyotp

from vitalkey.domain.codes import clean_code
from vitalkey.domain.errors import TotpCodeReused
from vitalkey.domain.two_factor import grouped

TOTP_DIGITS = 6
TOTP_PERIOD_S = 30
TOTP_DRIFT_STEPS = 1  # steps accepted either side of the current one
SECRET_CHARS = 32  # base 32: 32 × 5 = 160 bits, RFC 4226's recommended key length
DEFAULT_ISSUER = "VitalKey"


def new_totp_secret() -> str:
    """A fresh secret: 160 random bits in base 32 (A–Z, 2–7), without padding."""
    return pyotp.random_base32(length=SECRET_CHARS)


def secret_for_typing(secret: str) -> str:
    """``ABCDEFGH…`` → ``ABCD EFGH …``: for typing into an app that cannot scan (apps ignore the spaces)."""
    return grouped(secret, separator=" ")


def provisioning_uri(secret: str, account_name: str, issuer: str = DEFAULT_ISSUER) -> str:
    """The Key URI that authenticator apps read from the QR code:
    ``otpauth://totp/VitalKey:me%40example.org?secret=…&issuer=VitalKey&algorithm=SHA1&digits=6&period=30``.

    The label's parts are percent-encoded, a colon inside either included (it would split the
    label), so an address such as ``a+b@example.org`` reaches the app unchanged; the issuer is
    repeated as a parameter, which apps prefer to the label's prefix."""
    label = f"{quote(issuer, safe='')}:{quote(account_name, safe='@')}"
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": TOTP_DIGITS,
            "period": TOTP_PERIOD_S,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def time_step(now: datetime) -> int:
    """The RFC 6238 counter at ``now`` (an aware datetime): whole periods since the Unix epoch."""
    if now.tzinfo is None:
        raise ValueError("time_step needs an aware datetime")
    return int(now.timestamp()) // TOTP_PERIOD_S


def matching_step(secret: str, code: str, now: datetime, last_used_step: int | None) -> int | None:
    """The time step ``code`` (as typed: spaces and dashes tolerated) belongs to, for the caller
    to store as the new last used step — only forward, in the same transaction; None when the
    code is not one of the window's (a wrong code: count it against the limits).

    Raises ``MalformedCode`` when the code is not 6 digits (nothing is checked, nothing counted),
    and ``TotpCodeReused`` when it is right but its step is at or before ``last_used_step`` (a
    replay, or a second sign-in within the same 30 seconds). The three steps of the window are
    all compared, each in constant time, whatever the first comparison found."""
    digits = clean_code(code)
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_S)
    current = time_step(now)
    window = range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1)
    # A list, not a generator: every step is computed and compared before any is looked at.
    matched = [step for step in window if hmac.compare_digest(totp.generate_otp(step), digits)]
    fresh = [step for step in matched if last_used_step is None or step > last_used_step]
    if fresh:
        return max(fresh)  # two steps sharing a code (one in a million): the later one, refusing more
    if matched:
        raise TotpCodeReused()
    return None
