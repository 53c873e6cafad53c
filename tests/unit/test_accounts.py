from datetime import date

import pytest

from vitalkey.domain.accounts import Sex, Units, clean_height_cm, clean_profile, feet_inches
from vitalkey.domain.errors import InvalidInput

TODAY = date(2026, 1, 15)
GOOD = {
    "first_name": "Ann",
    "last_name": "Lee",
    "birth_date": "1990-05-01",
    "sex": "female",
    "units": "metric",
    "height_cm": "168",
}


def test_a_good_profile() -> None:
    profile = clean_profile(GOOD, TODAY)
    assert profile.sex is Sex.FEMALE and profile.units is Units.METRIC
    assert profile.height_cm == 168.0 and profile.birth_date == date(1990, 5, 1)


def test_imperial_height_from_feet_and_inches() -> None:
    assert clean_height_cm(None, "5", "11", units=Units.IMPERIAL) == 180.3
    assert feet_inches(180.3) == (5, 11)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"first_name": ""}, "first_name"),
        ({"last_name": "x" * 101}, "last_name"),
        ({"first_name": "Ann\x07"}, "first_name"),
        ({"first_name": "<script>"}, "first_name"),
        ({"birth_date": "1990-13-01"}, "birth_date"),
        ({"birth_date": "2030-01-01"}, "birth_date"),
        ({"birth_date": "2020-01-01"}, "birth_date"),
        ({"birth_date": "1850-01-01"}, "birth_date"),
        ({"sex": "x"}, "sex"),
        ({"units": "furlongs"}, "units"),
        ({"height_cm": "tall"}, "height_cm"),
        ({"height_cm": "nan"}, "height_cm"),
        ({"height_cm": "20"}, "height_cm"),
        ({"height_cm": "400"}, "height_cm"),
        ({"height_cm": ""}, "height_cm"),
        ({"units": "imperial", "height_ft": "5", "height_in": "12"}, "height_ft"),
    ],
)
def test_each_field_is_checked_with_its_own_message(change: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        clean_profile({**GOOD, **change}, TODAY)
    assert refused.value.field_name == field
    assert refused.value.message_id


def test_a_profile_reports_every_wrong_field_at_once() -> None:
    from vitalkey.domain.errors import InvalidFields

    with pytest.raises(InvalidFields) as raised:
        clean_profile({"units": "metric"}, TODAY)
    assert [p.field_name for p in raised.value.problems] == [
        "first_name",
        "last_name",
        "birth_date",
        "sex",
        "height_cm",
    ]
    assert raised.value.field_name == "first_name"
    with pytest.raises(InvalidInput) as one:  # a single wrong field stays a plain error
        clean_profile({**GOOD, "sex": "x"}, TODAY)
    assert one.value.problems == (one.value,) and one.value.field_name == "sex"
