"""The password rules of issue #3, one by one (NFKC, code points, no truncation, common list,
the user's own data) and the strength estimate; the common list after digits and symbols are
taken off and look-alikes undone, the user's birth date, and zxcvbn's guesses (issue #15)."""

from __future__ import annotations

import sys
import threading
import time
from datetime import date

import pytest

from vitalkey.adapters.passwords import Argon2Hasher, CommonPasswords
from vitalkey.domain.errors import DomainError
from vitalkey.domain.passwords import (
    COMMON,
    COMMON_VARIANT,
    DATE,
    PATTERN,
    PERSONAL,
    TOO_LONG,
    TOO_SHORT,
    WORDS,
    PasswordPolicy,
    Strength,
    _estimate,
    check_password,
    normalize_password,
    personal_words,
    rate,
)

POLICY = PasswordPolicy()
LIST = CommonPasswords()
ADA = personal_words("ada.lovelace@example.org", ("Ada", "Lovelace"), date(1815, 12, 10), POLICY.context_words)
DANA = personal_words("dana.fox@example.org", ("Dana", "Fox"), date(1987, 3, 12), POLICY.context_words)
SAM = personal_words("sam.lee@example.net", ("Sam", "Lee"), date(1990, 6, 1), POLICY.context_words)


def reason(password: str, policy: PasswordPolicy = POLICY, personal: list[str] = ADA) -> str | None:
    try:
        check_password(normalize_password(password), policy, is_common=LIST.__contains__, personal=personal)
    except DomainError as refused:
        assert refused.field_name == "password"
        return refused.message_id
    return None


def estimate(password: str, personal: list[str] = ADA) -> Strength:
    return rate(normalize_password(password), POLICY, is_common=LIST.__contains__, personal=personal)


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


# password, the user (Dana Fox, born 1987-03-12, or Sam Lee), the reason or None (accepted)
TABLE = [
    ("password123456789", DANA, COMMON_VARIANT),  # a listed word and a sequence
    ("P@ssw0rd2024!", DANA, COMMON_VARIANT),  # look-alikes undone, a year and a symbol taken off
    ("iloveyou2024!", SAM, COMMON_VARIANT),
    ("Summer2023!", SAM, COMMON_VARIANT),
    ("!!baseball99", SAM, COMMON_VARIANT),  # prepended as well as appended
    ("hell0hell0!", SAM, COMMON_VARIANT),  # "hellohello" is listed
    ("password x8Hq!t2Lm9", SAM, None),  # a listed word with an unrelated, random extension
    ("Danafox1987!x", DANA, PERSONAL),  # her names and birth year with two characters added
    ("D@n@F0x!!", DANA, PERSONAL),  # look-alikes undone
    ("12031987fox", DANA, PERSONAL),  # her birth date, day first
    ("VitalKey2024!", SAM, PERSONAL),  # the service's name
    ("Danafox1987!x", SAM, None),  # for someone else, not a pattern zxcvbn knows (10^11 guesses)
    ("98765432123456789", SAM, PATTERN),  # sequences, not on the list
    ("abcdefghijklmnop", SAM, PATTERN),
    ("19871203", SAM, DATE),
    ("jessicajennifer", SAM, WORDS),  # two common names together
    ("correct horse battery staple", DANA, None),
    ("violet tram umbrella forty two", DANA, None),
    ("password83920174659302", SAM, None),  # a listed word with 14 random digits: 10^13 guesses
    ("x8Hq!t2Lm9vB", SAM, None),  # random
    ("kq8#zP2m", SAM, None),  # random, the minimum length
    ("mängel7x", SAM, None),
    ("漢字のパスワード", SAM, None),
    ("🦊🐻🐼🐨🐯🦁🐮🐷", SAM, None),
]


@pytest.mark.parametrize(("password", "personal", "expected"), TABLE)
def test_what_is_refused_and_why(password: str, personal: list[str], expected: str | None) -> None:
    assert reason(password, personal=personal) == expected
    meter = estimate(password, personal)
    assert (meter.score <= 1) if expected else (meter.score >= 2)  # the meter agrees with the rules


def test_the_birth_date_is_known_in_the_forms_people_write_it() -> None:
    words = personal_words("dana.fox@example.org", ("Dana", "Fox"), date(1987, 3, 12))
    for form in ("1987", "1203", "0312", "120387", "031287", "12031987", "03121987", "19870312"):
        assert form in words
    assert words[:2] == ["dana fox", "dana"] or words[0] == "dana"  # names first: zxcvbn ranks by position


@pytest.mark.parametrize(
    "hostile",
    [
        "a" * 1024,
        "1" * 1024,
        "p@$$w0rd" * 128,
        "password" + "1" * 1016,
        "@4310!|$57" * 102 + "xyzw",  # look-alikes everywhere: the variants are bounded
        "".join(chr(0x4E00 + i) for i in range(1024)),  # a sequence of code points
        "dana" + "1|!" * 340,
    ],
)
def test_a_long_hostile_password_is_judged_quickly(hostile: str) -> None:
    estimate("warm up zxcvbn's dictionaries", DANA)
    started = time.perf_counter()
    reason(hostile, personal=DANA)
    estimate(hostile, DANA)
    assert time.perf_counter() - started < 1.0


def test_a_long_password_is_judged_beyond_zxcvbns_72_characters() -> None:
    assert reason("a" * 1024) == PATTERN  # not strong by length alone
    assert reason("password" + "1" * 1016) == COMMON_VARIANT
    assert reason("abababab" * 9 + "x8Hq!t2Lm9vB") is None  # the random tail counts


def test_concurrent_estimates_do_not_see_each_others_user_data() -> None:
    """zxcvbn keeps the user inputs of a call in a module-level dictionary: without a lock, an
    estimate may run with another thread's."""
    password = "qwzrtklxylophonia"
    own = ["qwzrtkl", "xylophonia"]  # the user's names: a few guesses
    with_names: list[float] = []
    without: list[float] = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [
            threading.Thread(target=lambda: with_names.extend(_estimate(password, own).guesses for _ in range(60))),
            threading.Thread(target=lambda: without.extend(_estimate(password, []).guesses for _ in range(60))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert max(with_names) < min(without)  # the names, known, make it guessed sooner: each time


def test_the_strength_meter_recommends_fifteen_characters() -> None:
    short = estimate("Tr0ub4dor&3x")
    assert short.score <= 2 and short.recommended_length == 15
    long = estimate("violet tram umbrella forty two")
    assert long.score == 4 and long.label == "Very strong"
    assert estimate("password").score == 0
    assert estimate("x8Hq!t2Lm9vB" * 50).length == 600  # estimated piece by piece
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
