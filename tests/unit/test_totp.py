"""Authenticator apps (TOTP): the secret, its grouping for typing, the otpauth:// URI, and the
check of a code against the window of steps and the last used one. Codes come from pyotp, the
library the apps' behaviour is checked against, and from RFC 6238's own test vectors."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest

from vitalkey.domain.errors import CodeUsed, MalformedCode, TotpCodeReused, WrongCode, WrongTotpCode
from vitalkey.domain.totp import (
    matching_step,
    new_totp_secret,
    provisioning_uri,
    secret_for_typing,
    time_step,
)

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = datetime(2026, 1, 15, 9, 0, 10, tzinfo=UTC)  # 10 s into its 30-s step
STEP = int(NOW.timestamp()) // 30


def code_at(moment: datetime, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).at(moment)


def steps_from_now(n: int) -> datetime:
    return NOW + timedelta(seconds=30 * n)


def test_a_new_secret_is_160_random_bits_in_base_32() -> None:
    secrets = {new_totp_secret() for _ in range(100)}
    assert len(secrets) == 100
    for secret in secrets:
        assert len(secret) == 32 and "=" not in secret
        assert len(base64.b32decode(secret)) == 20  # 160 bits, and valid base 32


def test_the_secret_is_shown_in_groups_of_four() -> None:
    assert secret_for_typing("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == "ABCD EFGH IJKL MNOP QRST UVWX YZ23 4567"


def test_rfc_6238_vectors() -> None:
    # RFC 6238 appendix B, SHA-1 key "12345678901234567890": 94287082 at 59 s, 07081804 at 1111111109 s.
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert matching_step(secret, "287082", datetime.fromtimestamp(59, UTC), None) == 1
    at = datetime.fromtimestamp(1111111109, UTC)
    assert matching_step(secret, "081804", at, None) == 1111111109 // 30


def test_the_current_step_is_accepted_and_returned() -> None:
    assert time_step(NOW) == STEP
    assert matching_step(SECRET, code_at(NOW), NOW, None) == STEP
    assert matching_step(SECRET, code_at(NOW), NOW, STEP - 1) == STEP


@pytest.mark.parametrize("drift", [-1, 1])
def test_one_step_either_way_is_accepted(drift: int) -> None:
    # The phone's clock 30 s behind or ahead of ours.
    assert matching_step(SECRET, code_at(steps_from_now(drift)), NOW, None) == STEP + drift


@pytest.mark.parametrize("drift", [-2, 2, -10])
def test_two_steps_away_is_refused(drift: int) -> None:
    code = code_at(steps_from_now(drift))
    assert code not in {code_at(steps_from_now(n)) for n in (-1, 0, 1)}  # a real miss, not a collision
    assert matching_step(SECRET, code, NOW, None) is None


def test_a_wrong_code_and_another_secret_s_code_are_refused() -> None:
    right = code_at(NOW)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    assert matching_step(SECRET, wrong, NOW, None) is None
    assert matching_step(SECRET, code_at(NOW, secret=new_totp_secret()), NOW, None) is None


def test_the_same_step_used_again_is_a_replay() -> None:
    step = matching_step(SECRET, code_at(NOW), NOW, None)
    with pytest.raises(TotpCodeReused) as raised:
        matching_step(SECRET, code_at(NOW), NOW + timedelta(seconds=5), step)
    assert raised.value.code == "totp_code_used" and raised.value.field_name == "code"


def test_an_older_step_after_a_newer_one_is_refused() -> None:
    # The phone was ahead: the next step's code was used; the current step's code, still in the window, is not new.
    newer = matching_step(SECRET, code_at(steps_from_now(1)), NOW, None)
    assert newer == STEP + 1
    for older in (0, -1):
        with pytest.raises(TotpCodeReused):
            matching_step(SECRET, code_at(steps_from_now(older)), NOW, newer)


def test_the_next_step_after_a_used_one_is_accepted() -> None:
    assert matching_step(SECRET, code_at(steps_from_now(1)), steps_from_now(1), STEP) == STEP + 1


def test_spaces_and_dashes_are_tolerated() -> None:
    code = code_at(NOW)
    for typed in (f"{code[:3]} {code[3:]}", f" {code} ", f"{code[:3]}-{code[3:]}", f"{code[:3]}\u00a0{code[3:]}"):
        assert matching_step(SECRET, typed, NOW, None) == STEP


@pytest.mark.parametrize("typed", ["12345a", "abcdef", "12345", "1234567", "", "   ", "１２３４５６", "12345٦"])
def test_anything_but_six_digits_is_malformed(typed: str) -> None:
    with pytest.raises(MalformedCode) as raised:
        matching_step(SECRET, typed, NOW, None)
    assert raised.value.field_name == "code"


def test_the_refusals_are_code_errors_with_their_own_codes() -> None:
    # Handlers of wrong or used codes catch them; clients tell them apart by code.
    assert issubclass(WrongTotpCode, WrongCode) and WrongTotpCode.code == "wrong_totp_code"
    assert issubclass(TotpCodeReused, CodeUsed) and TotpCodeReused.code == "totp_code_used"
    assert "clock" in WrongTotpCode.message and "next code" in TotpCodeReused.message


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        matching_step(SECRET, code_at(NOW), NOW.replace(tzinfo=None), None)


def test_the_provisioning_uri_reads_back() -> None:
    uri = provisioning_uri(SECRET, "anna+scale@example.org")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert parts.path == "/VitalKey:anna%2Bscale@example.org"
    assert unquote(parts.path[1:]) == "VitalKey:anna+scale@example.org"
    assert parse_qs(parts.query, strict_parsing=True) == {
        "secret": [SECRET],
        "issuer": ["VitalKey"],
        "algorithm": ["SHA1"],
        "digits": ["6"],
        "period": ["30"],
    }
    assert uri == (
        "otpauth://totp/VitalKey:anna%2Bscale@example.org"
        f"?secret={SECRET}&issuer=VitalKey&algorithm=SHA1&digits=6&period=30"
    )


def test_the_uri_escapes_the_issuer_and_label() -> None:
    uri = provisioning_uri(SECRET, "dr:who é@exämple.org", issuer="Clinic: A&B")
    parts = urlsplit(uri)
    issuer, account = parts.path[1:].split(":")  # a colon inside either part would split the label
    assert unquote(issuer) == "Clinic: A&B" and unquote(account) == "dr:who é@exämple.org"
    assert " " not in uri and "+" not in uri  # spaces as %20: some apps read + literally
    assert parse_qs(parts.query)["issuer"] == ["Clinic: A&B"]


def test_pyotp_reads_the_uri_back_to_the_same_codes() -> None:
    # What an app does: parse the URI, then compute the code now.
    parsed = pyotp.parse_uri(provisioning_uri(SECRET, "anna@example.org"))
    assert isinstance(parsed, pyotp.TOTP)
    assert (parsed.secret, parsed.name, parsed.issuer, parsed.digits, parsed.interval) == (
        SECRET,
        "anna@example.org",
        "VitalKey",
        6,
        30,
    )
    assert matching_step(SECRET, parsed.at(NOW), NOW, None) == STEP
