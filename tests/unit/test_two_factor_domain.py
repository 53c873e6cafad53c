"""Recovery codes, app passwords, the number hint, freshness, and the 2FA change mails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vitalkey.adapters.mail.render import MailRenderer
from vitalkey.domain.errors import MalformedRecoveryCode, WrongPassword
from vitalkey.domain.sessions import Session, SessionKind
from vitalkey.domain.two_factor import (
    clean_app_password,
    clean_recovery_code,
    grouped,
    is_fresh,
    new_app_password,
    new_recovery_code,
    phone_hint,
)

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def test_recovery_codes_carry_80_bits_and_read_back_as_typed() -> None:
    codes = {new_recovery_code() for _ in range(200)}
    assert len(codes) == 200 and all(len(code) == 16 for code in codes)  # 16 × 5 bits
    code = "0123456789ABCDEF"
    assert grouped(code) == "0123-4567-89AB-CDEF"
    assert clean_recovery_code(" o123-4567 89ab-cdef ") == code  # O for 0, any case, spaces
    assert clean_recovery_code("I1L1" + code[4:]) == "1111" + code[4:]
    for bad in ("", "0123-4567-89AB", "0123-4567-89AB-CDEU", "0123456789ABCDEF0"):
        with pytest.raises(MalformedRecoveryCode):
            clean_recovery_code(bad)


def test_app_passwords_are_16_letters_typed_with_or_without_spaces() -> None:
    secret = new_app_password()
    assert len(secret) == 16 and secret.isalpha() and secret.islower()
    assert clean_app_password(grouped(secret, separator=" ").upper()) == secret
    with pytest.raises(WrongPassword):
        clean_app_password("an ordinary password")


def test_the_hint_shows_the_country_and_the_last_two_digits() -> None:
    assert phone_hint("+33612345678") == "+33 •••• 78"
    assert phone_hint("+12015550123") == "+1 •••• 23"


def test_fresh_means_recent_and_with_the_second_factor_when_there_is_one() -> None:
    def session(methods: tuple[str, ...], age: timedelta) -> Session:
        started = NOW - age
        return Session("x" * 64, 1, SessionKind.WEB, started, started, NOW + timedelta(days=1), "", "", methods)

    window = timedelta(minutes=5)
    assert is_fresh(session(("email_code",), timedelta(minutes=4)), False, NOW, window)
    assert not is_fresh(session(("email_code",), timedelta(minutes=6)), False, NOW, window)
    assert not is_fresh(session(("email_code",), timedelta(minutes=1)), True, NOW, window)
    assert is_fresh(session(("password", "sms"), timedelta(minutes=1)), True, NOW, window)
    assert is_fresh(session(("email_code", "recovery_code"), timedelta(minutes=1)), True, NOW, window)
    assert not is_fresh(session(("app_password",), timedelta(minutes=1)), True, NOW, window)


@pytest.mark.parametrize(
    ("event", "extra", "subject"),
    [
        ("enabled", {"phone": "+33 •••• 78"}, "Two-factor authentication is on"),
        ("disabled", {"app_passwords_revoked": 2}, "Two-factor authentication is off"),
        ("phone_changed", {"phone": "+33 •••• 32"}, "settings have changed"),
        ("recovery_used", {}, "recovery code was used"),
        ("recovery_renewed", {}, "settings have changed"),
        ("app_password_created", {"app": "VitalKey Thermo", "name": "<b>tablet</b>"}, "settings have changed"),
    ],
)
def test_every_change_has_its_mail(event: str, extra: dict[str, object], subject: str) -> None:
    renderer = MailRenderer("VitalKey", "VitalKey <no-reply@example.org>", "https://id.example.org")
    context = {"event": event, "when": "2026-01-15 09:00 UTC", "first_name": "Ann", **extra}
    mail = renderer.render("two_factor_changed", "en", "ann@example.org", context, "k")
    assert subject in mail.subject and "2026-01-15 09:00 UTC" in mail.text
    assert "https://id.example.org/login" in mail.text and "https://id.example.org/login" in mail.html
    assert "<b>tablet</b>" not in mail.html  # what the user typed is escaped in HTML
    if event == "app_password_created":
        assert "&lt;b&gt;tablet&lt;/b&gt;" in mail.html and "<b>tablet</b>" in mail.text


def test_the_two_factor_view_is_built_from_the_authenticators() -> None:
    from vitalkey.domain.authenticators import StoredAuthenticator, second_factors
    from vitalkey.domain.two_factor import TwoFactor, two_factor_of

    later = NOW + timedelta(days=3)
    sms = StoredAuthenticator(1, 7, "sms", NOW, is_default=True, data={"phone": "+33612345678"})
    code = StoredAuthenticator(2, 7, "recovery_code", later, lookup="d" * 64, sealed="sealed")
    assert two_factor_of([sms]) is None  # no recovery code: 2FA is off
    assert two_factor_of([code]) is None  # a recovery code alone is no second factor
    assert two_factor_of([sms, code]) == TwoFactor(7, "sms", "+33612345678", NOW, "d" * 64, "sealed", later, 2)
    totp = StoredAuthenticator(3, 7, "totp", later)
    key = StoredAuthenticator(4, 7, "passkey", later)
    assert [row.kind for row in second_factors([code, sms, totp, key])] == ["sms", "passkey", "totp"]  # default first
