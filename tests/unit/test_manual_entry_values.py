"""What a user types into the manual entry form, read exactly: decimals to an integer value and a
power-of-ten unit, pounds and stones converted with Decimal, the ingestion ranges."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from vitalkey.domain.dashboard import DisplayUnits
from vitalkey.domain.errors import InvalidFields
from vitalkey.domain.health import Measure
from vitalkey.domain.manual_entries import entry, exact, shown_weight

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
WHEN = {"day": "2026-05-31", "time": "07:30", "timezone": "Asia/Tokyo"}


@pytest.mark.parametrize(
    ("number", "stored"),
    [("72.35", (7235, -2)), ("72.30", (723, -1)), ("700", (700, 0)), ("0.5", (5, -1)), ("80", (80, 0))],
)
def test_exact_keeps_every_digit_and_drops_trailing_zeros(number: str, stored: tuple[int, int]) -> None:
    assert exact(Decimal(number)) == stored


@pytest.mark.parametrize(
    ("system", "fields", "measure"),
    [
        (DisplayUnits.METRIC, {"weight": "700"}, Measure(1, 700, 0)),
        (DisplayUnits.METRIC, {"weight": "0,5"}, Measure(1, 5, -1)),
        (DisplayUnits.US, {"weight": "2"}, Measure(1, 90718474, -8)),  # 1 lb is below 0.5 kg
        (DisplayUnits.UK, {"stones": "10", "pounds": ""}, Measure(1, 635029318, -7)),  # 140 lb
    ],
)
def test_weights_in_each_unit(system: DisplayUnits, fields: dict[str, str], measure: Measure) -> None:
    made = entry({**WHEN, **fields}, "weight", system, NOW)
    assert made.measures == (measure,)
    assert made.moment == datetime(2026, 5, 30, 22, 30, tzinfo=UTC) and made.timezone == "Asia/Tokyo"


def test_the_form_shows_a_stored_weight_again_in_each_unit() -> None:
    kg = Decimal("68.265651685")  # 150.5 lb
    assert shown_weight(kg, DisplayUnits.US) == {"weight": "150.5"}
    assert shown_weight(kg, DisplayUnits.UK) == {"stones": "10", "pounds": "10.5"}
    assert shown_weight(Decimal("72.35"), DisplayUnits.METRIC) == {"weight": "72.35"}


@pytest.mark.parametrize(
    ("fields", "codes"),
    [
        ({"weight": "0.4"}, {"weight": "outside_range"}),
        ({"weight": "72.355"}, {"weight": "not_a_number"}),
        ({"weight": "-70"}, {"weight": "not_a_number"}),
        ({"weight": "1e2"}, {"weight": "not_a_number"}),
        ({"weight": " "}, {"weight": "missing_value"}),
        ({"weight": "70", "day": "2026-06-02"}, {"day": "in_future"}),
        ({"weight": "70", "day": "1969-12-31"}, {"day": "too_old"}),
        ({"weight": "70", "time": "25:00"}, {"day": "bad_moment"}),
        ({"weight": "70", "timezone": "../etc"}, {"timezone": "unknown_timezone"}),
    ],
)
def test_a_wrong_field_is_named(fields: dict[str, str], codes: dict[str, str]) -> None:
    with pytest.raises(InvalidFields) as refused:
        entry({**WHEN, **fields}, "weight", DisplayUnits.METRIC, NOW)
    assert {p.field_name: p.code for p in refused.value.problems} == codes
