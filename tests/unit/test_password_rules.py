"""The password rules of issue #3, one by one (NFKC, code points, no truncation, common list,
the user's own data) and the strength estimate."""

from __future__ import annotations

import pytest

from vitalkey.adapters.passwords import Argon2Hasher, CommonPasswords
from vitalkey.domain.errors import DomainError
from vitalkey.domain.passwords import (
    COMMON,
    PERSONAL,
    TOO_LONG,
    TOO_SHORT,
    PasswordPolicy,
    check_password,
    estimate,
    normalize_password,
    personal_words,
)

POLICY = PasswordPolicy()
LIST = CommonPasswords()
ADA = personal_words("ada.lovelace@example.org", ("Ada", "Lovelace"))


def reason(password: str, policy: PasswordPolicy = POLICY) -> str | None:
    try:
        check_password(normalize_password(password), policy, is_common=LIST.__contains__, personal=ADA)
    except DomainError as refused:
        assert refused.field_name == "password"
        return refused.message_id
    return None


def test_the_list_has_at_least_100000_entries_and_holds_the_usual_suspects() -> None:
    assert len(LIST.entries) >= 100_000
    for common in ("password", "12345678", "iloveyou", "qwertyuiop", "Password1", "PASSWORD123"):
        assert reason(common) == COMMON, common


def test_length_is_counted_in_code_points_after_nfkc() -> None:
    assert reason("mängel7") == TOO_SHORT  # 7 code points
    assert reason("mängel7x") is None  # 8 code points, 9 bytes in UTF-8
    assert reason("漢字のパスワード") is None  # 8 code points, 24 bytes
    assert normalize_password("ｆｕｌｌｗｉｄｔｈ") == "fullwidth"
    assert reason("ﬁﬂﬃ𝐀b") is None  # 5 code points as typed, 9 after NFKC (ﬁ → fi …): counted after


def test_the_minimum_is_configurable_and_128_or_more_are_taken_whole() -> None:
    assert reason("kettle drum spin", PasswordPolicy(min_length=20)) == TOO_SHORT
    long = "correct horse battery staple " * 5  # 145 code points, no truncation
    assert reason(long) is None
    assert reason("x" * 1025 + "y") == TOO_LONG


def test_no_composition_rules() -> None:
    assert reason("all lower case words here") is None
    assert reason("🦊🐻🐼🐨🐯🦁🐮🐷") is None


def test_built_from_the_users_own_address_or_name_is_refused() -> None:
    for own in ("ada.lovelace@example.org", "Lovelace123", "adalovelace!", "lovelace2024!", "AdaAdaAda"):
        assert reason(own) == PERSONAL, own
    assert reason("lovelace wrote the first program") is None  # a word among others is fine


def test_the_strength_meter_recommends_fifteen_characters() -> None:
    short = estimate("Tr0ub4dor&3x")
    assert short.score <= 2 and short.recommended_length == 15
    long = estimate("violet tram umbrella forty two")
    assert long.score == 4 and long.label == "Very strong"
    assert estimate("password").score == 0
    assert estimate("x" * 500).length == 500  # long input is estimated on a prefix, never refused
    assert estimate("").score == 0  # an empty field (zxcvbn itself fails on it)


@pytest.mark.parametrize("password", ["violet tram umbrella 42", "ｆｕｌｌｗｉｄｔｈ pass"])
def test_argon2id_with_the_default_parameters(password: str) -> None:
    hasher = Argon2Hasher(POLICY)
    stored = hasher.hasher.hash(normalize_password(password))
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hasher.verify_now(stored, normalize_password(password))
    assert not hasher.verify_now(stored, normalize_password(password)[:-1])  # never truncated
    assert not hasher.verify_now(None, password)
    assert not hasher.needs_rehash(stored)
    assert Argon2Hasher(PasswordPolicy(time_cost=3)).needs_rehash(stored)
