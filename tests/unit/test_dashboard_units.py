"""The dashboard's conversions and choices, and the round ticks of its charts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from vitalkey.domain.accounts import Units
from vitalkey.domain.dashboard import (
    DashboardPrefs,
    DisplayUnits,
    UnknownRange,
    UnknownUnits,
    clean_display_units,
    clean_range,
    fahrenheit,
    feet_inches,
    pounds,
    stones_pounds,
    units_for,
)
from vitalkey.flows.dashboard import Point
from vitalkey.web.charts import ticks
from vitalkey.web.dashboard_pages import _daily


def test_mass_in_pounds_and_stones() -> None:
    assert round(pounds(Decimal("72.72")), 2) == Decimal("160.32")
    assert stones_pounds(Decimal("72.72")) == (11, Decimal("6.3"))  # 160.3 lb = 11 st 6.3 lb
    assert stones_pounds(Decimal("6.35")) == (1, Decimal("0"))  # 13.999 lb rounds up to a whole stone


def test_height_and_temperature() -> None:
    assert feet_inches(Decimal("168")) == (5, 6)
    assert feet_inches(Decimal("182.88")) == (6, 0)
    assert fahrenheit(Decimal("37")) == Decimal("98.6")


@pytest.mark.parametrize("raw", ["7", "30", "90", "365"])
def test_the_four_ranges(raw: str) -> None:
    assert clean_range(raw) == int(raw)


@pytest.mark.parametrize("raw", ["", "0", "8", "abc", "-7", "07x", "3650", "1" * 40, "٣٠"])
def test_anything_else_is_refused_with_its_choices(raw: str) -> None:
    with pytest.raises(UnknownRange) as refused:
        clean_range(raw)
    assert refused.value.field_name == "days"


def test_units_follow_the_profile_until_chosen() -> None:
    assert units_for(DashboardPrefs(), Units.IMPERIAL) is DisplayUnits.US
    assert units_for(DashboardPrefs(), Units.METRIC) is DisplayUnits.METRIC
    assert units_for(DashboardPrefs(), None) is DisplayUnits.METRIC
    assert units_for(DashboardPrefs(units=DisplayUnits.UK), Units.METRIC) is DisplayUnits.UK
    assert clean_display_units("uk") is DisplayUnits.UK
    with pytest.raises(UnknownUnits):
        clean_display_units("furlongs")


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (72.7, 73.3, [72.6, 72.8, 73.0, 73.2, 73.4]),
        (0, 12_839, [0, 5_000, 10_000, 15_000]),
        (60, 66, [60, 62, 64, 66]),
        (5, 5, [5, 5.5, 6]),
    ],
)
def test_ticks_are_round_and_cover_the_values(low: float, high: float, expected: list[float]) -> None:
    assert ticks(low, high) == expected


def test_a_long_ranges_lines_have_one_point_a_day_the_days_mean() -> None:
    morning, evening = datetime(2026, 11, 2, 7, tzinfo=UTC), datetime(2026, 11, 2, 19, tzinfo=UTC)
    next_day = datetime(2026, 11, 3, 7, tzinfo=UTC)
    points = [Point(morning, Decimal("80.0")), Point(evening, Decimal("81.1")), Point(next_day, Decimal("79.5"))]
    assert _daily(points) == [Point(morning, Decimal("80.55")), Point(next_day, Decimal("79.5"))]
