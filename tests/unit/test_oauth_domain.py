"""The pure OAuth rules: scope parsing, the Withings rotation clock of a refresh token, consents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vitalkey.domain.oauth import Consent, TokenRecord, parse_scope

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def test_scopes_are_read_with_commas_or_spaces_once_each() -> None:
    assert parse_scope("user.info,user.metrics") == ("user.info", "user.metrics")
    assert parse_scope(" user.info  user.metrics,user.info ") == ("user.info", "user.metrics")
    assert parse_scope("") == ()


def record(**changes: object) -> TokenRecord:
    values: dict[str, object] = {
        "id": 1,
        "family_id": "f1",
        "parent_id": None,
        "client_id": "portal",
        "account_id": 1,
        "scopes": ("user.info",),
        "scope_text": "user.info",
        "created_at": NOW,
        "access_expires_at": NOW + timedelta(hours=3),
        "refresh_expires_at": NOW + timedelta(days=365),
        **changes,
    }
    return TokenRecord(**values)  # type: ignore[arg-type]


def test_a_rotated_refresh_token_lives_until_it_retires_then_is_a_replay() -> None:
    fresh = record()
    assert fresh.refresh_alive(NOW) and not fresh.replayed(NOW + timedelta(days=364))
    rotated = record(retire_at=NOW + timedelta(hours=8))
    assert rotated.refresh_alive(NOW + timedelta(hours=7)) and not rotated.replayed(NOW + timedelta(hours=7))
    assert rotated.replayed(NOW + timedelta(hours=8)) and not rotated.refresh_alive(NOW + timedelta(hours=8))
    assert not record(revoked_at=NOW).refresh_alive(NOW) and not record(revoked_at=NOW).access_alive(NOW)
    assert not fresh.refresh_alive(NOW + timedelta(days=365))
    assert fresh.access_alive(NOW + timedelta(hours=2, minutes=59)) and not fresh.access_alive(NOW + timedelta(hours=3))


def test_a_consent_covers_only_what_was_allowed() -> None:
    consent = Consent(1, "portal", ("user.info", "user.metrics"), NOW)
    assert consent.covers(("user.metrics",)) and consent.covers(())
    assert not consent.covers(("user.metrics", "user.sleepevents"))
