import pytest

from vitalkey.domain.emails import account_key, normalize_email, suggest_correction
from vitalkey.domain.errors import InvalidEmail


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("ann@gmail.con", "ann@gmail.com"),
        ("ann@gnail.com", "ann@gmail.com"),
        ("ann@gmail.co", "ann@gmail.com"),
        ("ann@hotmial.com", "ann@hotmail.com"),
        ("ann@yaho.com", "ann@yahoo.com"),
        ("ann@outlok.com", "ann@outlook.com"),
        ("ann@gmx.dr", "ann@gmx.de"),
    ],
)
def test_likely_typos_get_a_suggestion(typed: str, meant: str) -> None:
    assert suggest_correction(normalize_email(typed)) == meant


@pytest.mark.parametrize(
    "fine", ["ann@gmail.com", "ann@example.org", "ann@withings.com", "ann@company.de", "ann@qq.com"]
)
def test_good_addresses_get_none(fine: str) -> None:
    assert suggest_correction(normalize_email(fine)) is None


def test_normalize_lowercases_domain_only_and_keys_casefold() -> None:
    assert normalize_email("  Ann.Lee@Example.ORG ") == "Ann.Lee@example.org"
    assert account_key("Ann.Lee@example.org") == "ann.lee@example.org"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "ann",
        "ann@",
        "@example.org",
        "ann@@example.org",
        "ann@localhost",
        "a b@example.org",
        "ann@example..org",
        "x" * 250 + "@example.org",
        "ann@exa\x00mple.org",
    ],
)
def test_bad_addresses_are_refused(bad: str) -> None:
    with pytest.raises(InvalidEmail):
        normalize_email(bad)


def test_overlong_address_has_its_own_message() -> None:
    with pytest.raises(InvalidEmail) as refused:
        normalize_email("a" * 60 + "@" + "b" * 190 + ".example.org")
    assert "254" in refused.value.message_id
