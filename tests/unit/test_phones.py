"""Phone numbers: E.164, mobile only, countries from the allow-list (issue #4, item 1)."""

from __future__ import annotations

import pytest

from vitalkey.domain.phones import CountryNotAllowed, InvalidPhone, normalize_phone

ALLOWED = frozenset({"FR", "DE", "US", "JP", "CN", "GB"})


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+33 6 12 34 56 78", "+33612345678"),
        ("+49 151 23456789", "+4915123456789"),
        ("+1 (201) 555-0123", "+12015550123"),  # US numbers may be mobile or fixed: accepted
        ("+81 90-1234-5678", "+819012345678"),
        ("  +44 7400 123456 ", "+447400123456"),
    ],
)
def test_mobile_numbers_are_normalised_to_e164(raw: str, e164: str) -> None:
    assert normalize_phone(raw, ALLOWED) == e164


def test_a_national_number_needs_the_default_region() -> None:
    assert normalize_phone("06 12 34 56 78", ALLOWED, "FR") == "+33612345678"
    with pytest.raises(InvalidPhone):
        normalize_phone("06 12 34 56 78", ALLOWED)


@pytest.mark.parametrize("raw", ["", "hello", "+33 1 23", "+33 1 23 45 67 89", "+" + "1" * 80, "+999 123456789"])
def test_not_a_mobile_number_is_refused(raw: str) -> None:
    with pytest.raises(InvalidPhone) as refused:
        normalize_phone(raw, ALLOWED)
    assert refused.value.field_name == "phone"  # "+33 1 …" is a landline: no texts


def test_countries_outside_the_allow_list_are_refused() -> None:
    with pytest.raises(CountryNotAllowed):
        normalize_phone("+7 912 345-67-89", ALLOWED)  # a valid Russian mobile, not allowed here
    assert normalize_phone("+7 912 345-67-89", ALLOWED | {"RU"}) == "+79123456789"


def test_with_a_country_chosen_the_errors_ask_for_no_country_code() -> None:
    with pytest.raises(InvalidPhone) as empty:
        normalize_phone("  ", ALLOWED, "FR")
    assert empty.value.message_id == "Please enter your mobile phone number."
    with pytest.raises(InvalidPhone) as short:
        normalize_phone("06 12 34", ALLOWED, "FR")
    assert short.value.message_id == "Please enter a valid mobile phone number of the country chosen in the list."
    with pytest.raises(InvalidPhone) as bare:
        normalize_phone("06 12 34", ALLOWED)  # no list: the country code is the only way
    assert "country code" in bare.value.message_id


def test_a_territory_sharing_the_countrys_prefix_is_named_or_accepted_if_allowed() -> None:
    """A Guernsey mobile typed with the United Kingdom chosen (both +44) is Guernsey's."""
    with pytest.raises(CountryNotAllowed) as refused:
        normalize_phone("07781 123456", ALLOWED, "GB")
    assert refused.value.params == {"territory": "GG"} and "%(territory)s" in refused.value.message_id
    assert normalize_phone("07781 123456", ALLOWED | {"GG"}, "GB") == "+447781123456"
