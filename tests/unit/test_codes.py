from datetime import UTC, datetime, timedelta

import pytest

from vitalkey.domain import codes
from vitalkey.domain.codes import CodePolicy, StoredCode
from vitalkey.domain.errors import MalformedCode, ResendLimit, ResendTooSoon

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEY = b"k" * 32


def stored(code: str = "123456", **changes: object) -> StoredCode:
    values: dict[str, object] = {
        "flow_id": "f1",
        "purpose": "email",
        "code_hmac": codes.code_hmac(KEY, "f1", "email", code),
        "expires_at": NOW + timedelta(minutes=10),
        "attempts": 0,
        "sends": 1,
        "last_sent_at": NOW,
        "used_at": None,
    }
    values.update(changes)
    return StoredCode(**values)  # type: ignore[arg-type]


def test_codes_have_six_digits_and_vary() -> None:
    made = {codes.new_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in made)
    assert len(made) > 190


def test_hmac_binds_code_to_flow_and_purpose() -> None:
    assert codes.matches(KEY, stored(), "123456")
    assert not codes.matches(KEY, stored(), "123457")
    foreign = stored(flow_id="f2")  # the same digits issued for another flow do not match
    assert not codes.matches(KEY, foreign, "123456")
    assert codes.code_hmac(KEY, "f1", "email", "123456") != codes.code_hmac(KEY, "f1", "sms", "123456")


@pytest.mark.parametrize("raw", ["123 456", "123-456", " 123456 "])
def test_clean_code_accepts_typed_forms(raw: str) -> None:
    assert codes.clean_code(raw) == "123456"


@pytest.mark.parametrize("raw", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12345\x00"])
def test_clean_code_refuses_the_rest(raw: str) -> None:
    with pytest.raises(MalformedCode):
        codes.clean_code(raw)


def test_resend_waits_sixty_seconds_and_stops_after_five() -> None:
    policy = CodePolicy()
    with pytest.raises(ResendTooSoon) as waited:
        codes.check_resend(policy, stored(), NOW + timedelta(seconds=30))
    assert waited.value.params["seconds"] == 30  # the real wait: at +60 s a resend goes
    codes.check_resend(policy, stored(), NOW + timedelta(seconds=60))
    codes.check_resend(policy, stored(sends=5), NOW + timedelta(seconds=60))
    with pytest.raises(ResendLimit):
        codes.check_resend(policy, stored(sends=6), NOW + timedelta(hours=1))
    assert codes.resend_available_at(policy, stored(sends=6)) is None
