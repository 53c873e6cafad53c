"""A year of one account's health data for the dashboard's tests, stored through the
repositories (what the companion app's ingestion would have stored): a weigh-in every morning
(fat ratio on Mondays, body temperature every fifth day), steps and a night of sleep every day, blood pressure every third day.
Every value follows from the day's number, so a test can say what the page must show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from vitalkey.container import Container
from vitalkey.domain.health import ActivityDay, Attrib, Category, Measure, MeasureGroup, SleepSession

DAYS = 365


def weight_g(n: int) -> int:
    """Day ``n``'s weight in grams (n = 0 today, 364 a year ago): 80 kg a year ago, 20 g less a day."""
    return 80_000 - 20 * (DAYS - 1 - n)


def steps(n: int) -> int:
    return 6_000 + (n * 977) % 7_000


def temperature_dc(n: int) -> int:
    """Day ``n``'s body temperature in tenths of a degree Celsius (taken every fifth day)."""
    return 364 + n % 6


def deep_s(n: int) -> int:
    return 3_600 + (n % 4) * 900


@dataclass(frozen=True)
class Year:
    account_id: int
    today: date

    def day(self, n: int) -> date:
        return self.today - timedelta(days=n)


def seed_year(container: Container, account_id: int, today: date) -> Year:
    groups: list[MeasureGroup] = []
    with container.uow.begin() as tx:
        for n in range(DAYS):
            day = today - timedelta(days=n)
            morning = datetime.combine(day, time(7, 0), UTC)
            measures = [Measure(1, weight_g(n), -3)]
            if day.weekday() == 0:
                measures.append(Measure(6, 2000 + n % 50, -2))
            if n % 5 == 0:
                measures.append(Measure(71, temperature_dc(n), -1))
            if n % 3 == 0:
                measures += [Measure(10, 118 + n % 7, 0), Measure(9, 76 + n % 5, 0), Measure(11, 60 + n % 9, 0)]
            groups.append(
                MeasureGroup(
                    0, account_id, morning, "UTC", Attrib.MANUAL, Category.REAL, tuple(measures), morning, morning
                )
            )
            tx.activity.put(
                ActivityDay(0, account_id, day, "UTC", {"steps": steps(n)}, morning, morning, deviceid=None)
            )
            start = morning - timedelta(hours=8)
            summary = {
                "deepsleepduration": deep_s(n),
                "lightsleepduration": 14_400,
                "remsleepduration": 5_400,
                "wakeupduration": 1_200,
            }
            tx.sleep.add(SleepSession(0, account_id, start, morning, day, "UTC", (), {}, summary, morning, morning))
        tx.measure_groups.add_many(groups)
    return Year(account_id, today)
