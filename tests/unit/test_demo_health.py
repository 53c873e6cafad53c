"""The demo user's made-up health data (``vitalkey.demo.health``): 90 days shaped like a person's,
the same on every run, and, for a kept demo, only what happened since its last run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from vitalkey.demo.health import Devices, first_day_of, history, live_update
from vitalkey.domain.health import SleepStage

DEVICES = Devices("scale-1", "watch-1", "sleep-1", "Europe/Paris")
ZONE = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 16:00 in Paris


def kilos(group: object) -> float:
    measures = group.measures  # type: ignore[attr-defined]
    return next(m.value * 10.0**m.unit for m in measures if m.type == 1)


def test_ninety_days_of_a_scale_a_wearable_and_a_sleep_monitor() -> None:
    first = first_day_of(DEVICES, NOW)
    assert first.isoformat() == "2026-09-03"
    batches = history(DEVICES, first, NOW)
    assert all(batch.backfill and batch.size() <= 5000 for batch in batches)
    groups = [g for b in batches for g in b.measure_groups]
    days = [d for b in batches for d in b.activity]
    nights = [n for b in batches for n in b.sleep]
    workouts = [w for b in batches for w in b.workouts]
    samples = [s for b in batches for s in b.intraday]
    # One weigh-in each morning (today's too: it is afternoon), with body composition and pulse.
    assert [datetime.fromtimestamp(g.date, ZONE).date() for g in groups] == [first + timedelta(n) for n in range(90)]
    assert all({m.type for m in g.measures} == {1, 5, 6, 8, 11, 76, 77, 88} for g in groups)
    assert all(g.deviceid == "scale-1" and 7 <= datetime.fromtimestamp(g.date, ZONE).hour < 8 for g in groups)
    assert 83 < kilos(groups[0]) < 85.5 and 80 < kilos(groups[-1]) < 82.5  # a gentle loss
    # Each day's activity; today's so far (two thirds of it).
    assert [d.date for d in days] == [first + timedelta(n) for n in range(90)]
    assert all(1500 <= d.data["steps"] <= 40_000 and d.deviceid == "watch-1" for d in days[:-1])
    assert 0 < days[-1].data["steps"] < max(d.data["steps"] for d in days[:-1])
    # Every night that has ended, with its stages in order and a summary that adds up.
    assert len(nights) == 90
    for night in nights:
        assert night.states[0].startdate == night.startdate and night.states[-1].enddate == night.enddate
        assert all(a.enddate == b.startdate for a, b in zip(night.states, night.states[1:], strict=False))
        asleep = sum(s.enddate - s.startdate for s in night.states if s.state != SleepStage.AWAKE)
        assert night.summary["total_sleep_time"] == asleep and 5 * 3600 < asleep < 9.5 * 3600
        assert {SleepStage.LIGHT, SleepStage.DEEP, SleepStage.REM} <= {s.state for s in night.states}
    # About three workouts a week; the wearable's heart rate through the day.
    assert 30 <= len(workouts) <= 45
    assert all(w.enddate <= NOW.timestamp() for w in workouts)
    assert len(samples) >= 89 * 31 and all(40 <= s.data["heart_rate"] <= 190 for s in samples)
    # The same data on every run.
    assert history(DEVICES, first, NOW) == batches


def test_a_kept_demo_gets_only_what_happened_since_its_last_run() -> None:
    first = first_day_of(DEVICES, NOW)
    last_run = NOW - timedelta(days=2, hours=10)  # 2026-11-29 05:00 UTC, 06:00 in Paris
    full = history(DEVICES, first, NOW)
    since = history(DEVICES, first, NOW, after=last_run)
    groups = [g for b in since for g in b.measure_groups]
    nights = [n for b in since for n in b.sleep]
    # The mornings of the 29th (after 06:00), 30th and 1st; the nights ending on them.
    assert [datetime.fromtimestamp(g.date, ZONE).day for g in groups] == [29, 30, 1]
    assert [datetime.fromtimestamp(n.enddate, ZONE).day for n in nights] == [29, 30, 1]
    assert all(n.enddate > last_run.timestamp() for n in nights)
    # The same records as the full history's, and each day's activity from the last run's day on.
    assert groups == [g for b in full for g in b.measure_groups][-3:]
    assert [d.date.day for b in since for d in b.activity] == [29, 30, 1]
    assert all(s.at > last_run.timestamp() for b in since for s in b.intraday)


def test_the_live_feed_weighs_in_now_on_the_trend_and_sends_what_was_recorded_since_the_last_send() -> None:
    first = first_day_of(DEVICES, NOW)
    body = live_update(DEVICES, NOW, first, since=NOW - timedelta(minutes=1))
    assert body["backfill"] is False
    (group,) = body["measure_groups"]
    assert group["date"] == int(NOW.timestamp()) and group["deviceid"] == "scale-1"
    weight = next(m for m in group["measures"] if m["type"] == 1)
    assert 80 < weight["value"] * 10.0 ** weight["unit"] < 82.5
    (day,) = body["activity"]
    assert day["date"] == "2026-12-01" and day["deviceid"] == "watch-1" and day["timezone"] == "Europe/Paris"
    assert (list(body["sleep"]), list(body["workouts"])) == ([], [])
    assert [s["at"] for s in body["intraday"]] == [int(NOW.timestamp())]  # 16:00's heart rate
    later = live_update(DEVICES, NOW + timedelta(hours=2), first, since=NOW)
    assert later["activity"][0]["data"]["steps"] > day["data"]["steps"] > 0
    assert [s["at"] for s in later["intraday"]] == [int(NOW.timestamp()) + 1800 * n for n in range(1, 5)]
    # Since yesterday's send: last night (its stages and series as JSON), this morning's weigh-in.
    overnight = live_update(DEVICES, NOW, first, since=NOW - timedelta(days=1))
    (night,) = overnight["sleep"]
    assert datetime.fromtimestamp(night["enddate"], ZONE).date().isoformat() == "2026-12-01"
    assert night["states"][0]["state"] == SleepStage.AWAKE.value and "hr" in night["series"]
    assert all(second.isdigit() for second in night["series"]["hr"])
    assert [datetime.fromtimestamp(g["date"], ZONE).hour for g in overnight["measure_groups"]] == [7, 16]
    assert [d["date"] for d in overnight["activity"]] == ["2026-11-30", "2026-12-01"]
