"""The dashboard's conversions and choices, and the round ticks of its charts."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from babel import Locale
from babel.dates import format_skeleton
from babel.numbers import format_decimal

from tests.health_records import NOW, a_device
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
    user_timezone,
)
from vitalkey.flows.dashboard import Point
from vitalkey.i18n import LANGUAGES
from vitalkey.web.charts import ticks
from vitalkey.web.dashboard_pages import Formats, _daily, _weekly


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


def test_a_points_day_is_its_local_day() -> None:
    """Tokyo weigh-ins at 07:00 and 21:00 local are 22:00 the day before and 12:00 in UTC: one day."""
    tokyo = ZoneInfo("Asia/Tokyo")
    morning = datetime(2026, 11, 1, 22, tzinfo=UTC).astimezone(tokyo)
    evening = datetime(2026, 11, 2, 12, tzinfo=UTC).astimezone(tokyo)
    days = _daily([Point(morning, Decimal("80.0")), Point(evening, Decimal("81.0"))])
    assert days == [Point(morning, Decimal("80.5"))] and days[0].at.date().isoformat() == "2026-11-02"


def test_the_users_time_zone_is_the_last_used_devices_else_the_latest_measures() -> None:
    tokyo = a_device(1, "a", timezone="Asia/Tokyo", last_session=NOW)
    paris = a_device(1, "b", timezone="Europe/Paris", last_session=NOW - timedelta(days=1))
    never = a_device(1, "c", timezone="America/Chicago", last_session=None)
    assert user_timezone([paris, tokyo, never], "America/Los_Angeles") == "Asia/Tokyo"
    assert user_timezone([never], "America/Los_Angeles") == "America/Los_Angeles"  # never synced
    assert user_timezone([a_device(1, timezone="Mars/Olympus", last_session=NOW)], None) == "UTC"
    assert user_timezone([], None) == "UTC"


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_numbers_and_days_read_as_babel_writes_them(lang: str) -> None:
    """The page writes numbers and days without Babel's per-call work: the same texts."""
    formats, locale = Formats(lang, DisplayUnits.METRIC), Locale.parse(LANGUAGES[lang][0])
    values: list[Decimal | float | int] = [0, 7, 999, 1_000, 12_345, 1_234_567, 80.25, 80.35, 72.35, 2.675, 0.05]
    values += [Decimal("0.25"), Decimal("0.35"), Decimal("71.45"), Decimal("-0.04"), -3.5, Decimal("1E+3"), 1e-7]
    values += [Decimal(n).scaleb(-3) for n in range(60_000, 60_400, 7)] + [n / 3600 for n in range(0, 40_000, 900)]
    for value in values:
        for digits in range(4):
            pattern = "#,##0" + ("." + "0" * digits if digits else "")
            assert formats.number(value, digits) == format_decimal(value, pattern, locale=locale), (value, digits)
    for day in (date(2026, 1, 1), date(2026, 5, 31), date(2026, 12, 1)):
        assert formats.day(day) == format_skeleton("yMMMd", day, locale=locale)
        assert formats.short_day(datetime.combine(day, time(23, 59), UTC)) == format_skeleton(
            "MMMd", day, locale=locale
        )


def test_a_years_lines_have_one_point_a_week_the_weeks_mean() -> None:
    monday, sunday = datetime(2026, 11, 2, 7, tzinfo=UTC), datetime(2026, 11, 8, 21, tzinfo=UTC)
    next_monday = datetime(2026, 11, 9, 7, tzinfo=UTC)
    points = [Point(monday, Decimal("80.0")), Point(sunday, Decimal("81.0")), Point(next_monday, Decimal("79.5"))]
    assert _weekly(points) == [Point(monday, Decimal("80.5")), Point(next_monday, Decimal("79.5"))]
