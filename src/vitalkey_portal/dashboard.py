"""The synced data as the dashboard draws it: weight (kg), steps a day and hours of sleep a
night over the user's last N days, in the user's time zone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vitalkey_portal.db.store import Store
from vitalkey_portal.records import DashboardData, LinkState, Point

WEIGHT = 1  # meastype: weight in kg


@dataclass
class DashboardService:
    store: Store
    default_timezone: str
    now: Callable[[], datetime]

    def data(self, user_id: int, days: int) -> DashboardData:
        days = max(1, min(days, 366))
        zone = self._zone(user_id)
        today = self.now().astimezone(zone).date()
        first = today - timedelta(days=days - 1)
        links = [link for link in self.store.links_of(user_id) if link.state is not LinkState.PENDING]
        ids = [link.id for link in links]
        if not ids:
            return DashboardData(days, (), (), (), None)
        since = int(datetime.combine(first, time(), tzinfo=zone).timestamp())
        weights: dict[date, tuple[int, float]] = {}  # the day's last weigh-in
        for group in self.store.measure_groups(ids, since=since):
            for kind, value, unit in group.measures:
                if kind == WEIGHT:
                    day = datetime.fromtimestamp(group.date, zone).date()
                    if day <= today and (day not in weights or weights[day][0] <= group.date):
                        weights[day] = (group.date, value * 10.0**unit)
        steps: dict[date, float] = {}  # the most any one device counted (devices overlap)
        for activity in self.store.activity_days(ids, since=first):
            if activity.steps is not None and activity.day <= today:
                steps[activity.day] = max(steps.get(activity.day, 0.0), float(activity.steps))
        sleep: dict[date, float] = {}
        for night in self.store.sleep_nights(ids, since=first):
            if night.total_sleep_time is not None and night.day <= today:
                sleep[night.day] = max(sleep.get(night.day, 0.0), night.total_sleep_time / 3600.0)
        synced = [link.last_sync for link in links if link.last_sync is not None]
        return DashboardData(
            days=days,
            weight_kg=tuple(Point(day, round(kg, 3)) for day, (_, kg) in sorted(weights.items())),
            steps=tuple(Point(day, value) for day, value in sorted(steps.items())),
            sleep_hours=tuple(Point(day, round(hours, 2)) for day, hours in sorted(sleep.items())),
            last_sync=max(synced) if synced else None,
        )

    def _zone(self, user_id: int) -> ZoneInfo:
        for name in (self.store.user_timezone(user_id), self.default_timezone, "UTC"):
            if name:
                try:
                    return ZoneInfo(name)
                except (ZoneInfoNotFoundError, ValueError):
                    continue
        return ZoneInfo("UTC")
