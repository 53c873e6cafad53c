"""The dashboard's numbers from what was synced: kg from meastype 1 (value × 10^unit, the day's
last weigh-in), steps a day, hours of sleep a night, over the last N days in the user's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from tests.portal.conftest import add_user
from vitalkey_portal.dashboard import DashboardService
from vitalkey_portal.db.store import ActivityDay, MeasureGroup, SleepNight, Store, Tokens
from vitalkey_portal.records import LinkState, Point

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_the_last_days_in_the_users_time_zone(store: Store, portal_engine: Engine) -> None:
    user = add_user(portal_engine, "ann", timezone="Asia/Tokyo")  # UTC+9
    link = store.save_link(user, "vitalkey", "7", LinkState.LINKED, True, "s", Tokens("a", "r", 0), NOW)
    late = int(datetime(2026, 11, 29, 16, 30, tzinfo=UTC).timestamp())  # 01:30 on the 30th in Tokyo
    store.put_measures(link.id, [
        MeasureGroup(1, late - 3600, 1, 0, None, 0, ((1, 7210, -2),)),  # 00:30 in Tokyo, the 30th
        MeasureGroup(2, late, 1, 0, None, 0, ((1, 72050, -3), (6, 180, -1))),  # later that day: kept
        MeasureGroup(3, late - 86400 * 10, 1, 0, None, 0, ((1, 70, 0),)),  # 11 days back: outside 7
        MeasureGroup(4, late - 86400, 1, 0, None, 0, ((4, 168, -2),)),  # a height: not a weight
    ], None)  # fmt: skip
    store.put_activity(link.id, [
        ActivityDay(date(2026, 11, 30), "", 8000, None, None, 0), ActivityDay(date(2026, 11, 30), "phone", 6500, None, None, 0),
        ActivityDay(date(2026, 11, 20), "", 1, None, None, 0),
    ], None)  # fmt: skip
    store.put_sleep(link.id, [SleepNight(9, date(2026, 11, 29), 0, 0, 27000, 0)], None)
    store.synced(link.id, NOW - timedelta(minutes=3))

    board = DashboardService(store, "UTC", lambda: NOW).data(user, 7)
    assert board.weight_kg == (Point(date(2026, 11, 30), 72.05),)
    assert board.steps == (Point(date(2026, 11, 30), 8000.0),)  # devices overlap: the most counted
    assert board.sleep_hours == (Point(date(2026, 11, 29), 7.5),)
    assert board.last_sync == NOW - timedelta(minutes=3)
    assert DashboardService(store, "UTC", lambda: NOW).data(add_user(portal_engine, "bob"), 7).weight_kg == ()
