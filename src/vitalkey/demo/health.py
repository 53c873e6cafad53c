"""The demo user's health data: made up, but shaped like a real person's 90 days.

A scale weighs them every morning (body composition and pulse, the weight drifting gently down),
a wearable counts the day's steps, distance and calories, records three or so workouts a week
and the heart rate through the day, and a sleep monitor records each night with its stages, a
summary and heart and breathing rates. Each day is drawn from a generator seeded with the day
itself, so a day looks the same on every run and the live feed's weigh-ins continue the trend.

Everything is built as the companion app sends it (``flows.health_ingest``'s records), so it is
stored and checked by VitalKey's own ingestion, never written to the tables directly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from vitalkey.domain.health import SleepStage
from vitalkey.flows.health_ingest import (
    Batch,
    NewActivityDay,
    NewGroup,
    NewMeasure,
    NewSample,
    NewSleepSession,
    NewSleepState,
    NewWorkout,
)

DAYS = 90
SEED = 20  # the number: any constant keeps the data the same from run to run
START_KG = 84.2  # 90 days ago
LOSS_KG_PER_DAY = 0.035  # about a kilogram a month
HEIGHT_M = 1.78
HEART_RATE_EVERY = timedelta(minutes=30)  # the wearable's heart-rate samples through the day
SERIES_EVERY_S = 600  # the sleep monitor's heart and breathing rates, every ten minutes
WALK, RUN, CYCLING = 1, 2, 6  # Withings' workout categories
LIVE_BACKLOG = timedelta(days=30)  # the most one live send carries (a batch holds 5,000 items at most)


@dataclass(frozen=True, slots=True)
class Devices:
    """The demo user's paired devices (their deviceids) and where they are used."""

    scale: str
    wearable: str
    sleep_monitor: str
    timezone: str


def _day_rng(day: date, salt: str = "") -> random.Random:
    return random.Random(f"{SEED}:{day.isoformat()}:{salt}")


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone)


# Weight ------------------------------------------------------------------------------------------
def weight_kg(day: date, first_day: date, noise: float) -> float:
    """The trend of ``day`` (counted from ``first_day``, where it starts), heavier after weekends,
    plus ``noise`` (a day's scatter)."""
    days = (day - first_day).days
    weekend = 0.35 if day.weekday() in (6, 0) else 0.0  # Sunday's and Monday's mornings
    return START_KG - LOSS_KG_PER_DAY * days + weekend + noise


def weigh_in(at: datetime, kg: float, rng: random.Random, deviceid: str) -> NewGroup:
    """The scale's group: weight, fat ratio, fat mass, fat-free mass, muscle, hydration, bone
    mass and heart pulse, in the units a scale reports (grams, hundredths of a percent)."""
    fat_ratio = 0.245 - (START_KG - kg) * 0.004 + rng.uniform(-0.004, 0.004)
    fat = kg * fat_ratio
    fat_free = kg - fat
    bone = 3.3 + rng.uniform(-0.05, 0.05)
    muscle = fat_free - bone
    hydration = fat_free * 0.73
    grams = [round(value * 1000) for value in (kg, fat, fat_free, muscle, hydration, bone)]
    measures = (
        NewMeasure(1, grams[0], -3),
        NewMeasure(6, round(fat_ratio * 10000), -2),
        NewMeasure(8, grams[1], -3),
        NewMeasure(5, grams[2], -3),
        NewMeasure(76, grams[3], -3),
        NewMeasure(77, grams[4], -3),
        NewMeasure(88, grams[5], -3),
        NewMeasure(11, rng.randint(56, 68), 0),
    )
    return NewGroup(date=_epoch(at), measures=measures, deviceid=deviceid)


# A day of activity ---------------------------------------------------------------------------------
def _workouts(day: date, rng: random.Random, zone: ZoneInfo, deviceid: str) -> list[NewWorkout]:
    """Runs on Monday and Wednesday evenings, a long ride or walk on Saturday (most weeks), and
    now and then a Thursday walk: three or so a week."""
    plans: list[tuple[int, time, int]] = []  # category, start, minutes
    weekday = day.weekday()
    if weekday in (0, 2) and rng.random() < 0.85:
        plans.append((RUN, time(18, rng.randint(10, 50)), rng.randint(28, 48)))
    if weekday == 5 and rng.random() < 0.9:
        plans.append((CYCLING if rng.random() < 0.6 else WALK, time(9, rng.randint(0, 45)), rng.randint(55, 100)))
    if weekday == 3 and rng.random() < 0.35:
        plans.append((WALK, time(12, rng.randint(10, 30)), rng.randint(25, 40)))
    workouts = []
    for category, start_at, minutes in plans:
        start = _local(day, start_at, zone)
        end = start + timedelta(minutes=minutes)
        hr_average = {RUN: rng.randint(142, 158), CYCLING: rng.randint(122, 138), WALK: rng.randint(98, 112)}[category]
        seconds = minutes * 60
        data: dict[str, float] = {
            "calories": round(minutes * {RUN: 11.5, CYCLING: 8.5, WALK: 4.5}[category] * rng.uniform(0.9, 1.1)),
            "hr_average": hr_average,
            "hr_min": hr_average - rng.randint(35, 50),
            "hr_max": hr_average + rng.randint(14, 24),
            "hr_zone_0": round(seconds * 0.1),
            "hr_zone_1": round(seconds * 0.3),
            "hr_zone_2": round(seconds * 0.45),
            "hr_zone_3": seconds - round(seconds * 0.1) - round(seconds * 0.3) - round(seconds * 0.45),
            "intensity": {RUN: 70, CYCLING: 60, WALK: 30}[category],
            "elevation": rng.randint(5, 120),
            "pause_duration": 0,
        }
        if category == CYCLING:
            data["distance"] = round(minutes * 60 * rng.uniform(6.0, 7.2))  # metres at 22 to 26 km/h
        else:
            steps_a_minute = 165 if category == RUN else 110
            data["steps"] = round(minutes * steps_a_minute * rng.uniform(0.95, 1.05))
            data["distance"] = round(data["steps"] * (1.05 if category == RUN else 0.76))
        workouts.append(
            NewWorkout(category=category, startdate=_epoch(start), enddate=_epoch(end), data=data, deviceid=deviceid)
        )
    return workouts


def day_steps(day: date) -> int:
    """The steps of the whole day (workouts included)."""
    rng = _day_rng(day, "steps")
    base = {5: 11500, 6: 6500}.get(day.weekday(), 8200)
    return max(1500, round(rng.gauss(base, 1800)))


def activity_of(day: date, fraction: float, workouts: list[NewWorkout], zone: str, deviceid: str) -> NewActivityDay:
    """The day's totals once ``fraction`` of it has passed (1: the whole day)."""
    rng = _day_rng(day, "activity")
    walked = round(day_steps(day) * fraction)
    steps = walked + sum(int(w.data.get("steps", 0)) for w in workouts)
    moderate = round(rng.uniform(900, 2400) * fraction) + sum((w.enddate - w.startdate) // 2 for w in workouts)
    intense = sum((w.enddate - w.startdate) // 2 for w in workouts if w.category == RUN)
    soft = round(rng.uniform(7000, 11000) * fraction)
    active_kcal = round(steps * 0.042 + sum(float(w.data["calories"]) for w in workouts) * 0.5, 2)
    data: dict[str, float] = {
        "steps": steps,
        "distance": round(walked * 0.76 + sum(float(w.data.get("distance", 0)) for w in workouts), 1),
        "elevation": round(rng.uniform(3, 25) * fraction + sum(float(w.data["elevation"]) for w in workouts)),
        "soft": soft,
        "moderate": moderate,
        "intense": intense,
        "active": moderate + intense,
        "calories": active_kcal,
        "totalcalories": round(1780 * fraction + active_kcal, 2),
        "hr_average": rng.randint(68, 76),
        "hr_min": rng.randint(48, 56),
        "hr_max": max([rng.randint(110, 128)] + [int(w.data["hr_max"]) for w in workouts]),
        "hr_zone_0": round(43000 * fraction),
        "hr_zone_1": round(rng.uniform(2500, 5000) * fraction),
        "hr_zone_2": sum(int(w.data["hr_zone_2"]) for w in workouts),
        "hr_zone_3": sum(int(w.data["hr_zone_3"]) for w in workouts),
    }
    return NewActivityDay(date=day, data=data, timezone=zone, deviceid=deviceid)


def _heart_rates(
    day: date, until: datetime, workouts: list[NewWorkout], zone: ZoneInfo, deviceid: str
) -> list[NewSample]:
    """The wearable's heart rate every half hour from 07:30 to 23:00 (higher during workouts)."""
    rng = _day_rng(day, "heart")
    samples = []
    moment = _local(day, time(7, 30), zone)
    end = min(_local(day, time(23, 0), zone), until)
    while moment <= end:
        at = _epoch(moment)
        during = next((w for w in workouts if w.startdate <= at <= w.enddate), None)
        rate = int(during.data["hr_average"]) + rng.randint(-6, 6) if during else rng.randint(62, 84)
        samples.append(NewSample(at=at, deviceid=deviceid, data={"heart_rate": rate}))
        moment += HEART_RATE_EVERY
    return samples


# A night of sleep ----------------------------------------------------------------------------------
def night_of(day: date, zone: ZoneInfo, deviceid: str) -> NewSleepSession:
    """The night that ends on the morning of ``day``: in bed at about 23:00, up at about 07:00,
    four or five cycles of light, deep and REM sleep, a short wake or two, and its summary."""
    rng = _day_rng(day, "sleep")
    in_bed = _local(day - timedelta(days=1), time(22, 40), zone) + timedelta(minutes=rng.randint(0, 60))
    out_of_bed = _local(day, time(6, 30), zone) + timedelta(minutes=rng.randint(0, 45))
    asleep = in_bed + timedelta(minutes=rng.randint(8, 25))
    states = [NewSleepState(_epoch(in_bed), _epoch(asleep), SleepStage.AWAKE)]
    durations = {SleepStage.AWAKE: _epoch(asleep) - _epoch(in_bed)}
    wakeups = 0
    moment = asleep
    cycle = 0
    while moment < out_of_bed - timedelta(minutes=20):
        deep = max(5, rng.randint(20, 35) - 8 * cycle)
        rem = rng.randint(10, 18) + 6 * cycle
        for stage, minutes in ((SleepStage.LIGHT, rng.randint(35, 55)), (SleepStage.DEEP, deep), (SleepStage.REM, rem)):
            until = min(moment + timedelta(minutes=minutes), out_of_bed)
            if until <= moment:
                break
            states.append(NewSleepState(_epoch(moment), _epoch(until), stage))
            durations[stage] = durations.get(stage, 0) + _epoch(until) - _epoch(moment)
            moment = until
        if moment < out_of_bed and rng.random() < 0.3:
            until = min(moment + timedelta(minutes=rng.randint(2, 8)), out_of_bed)
            states.append(NewSleepState(_epoch(moment), _epoch(until), SleepStage.AWAKE))
            durations[SleepStage.AWAKE] += _epoch(until) - _epoch(moment)
            wakeups += 1
            moment = until
        cycle += 1
    if moment < out_of_bed:
        states.append(NewSleepState(_epoch(moment), _epoch(out_of_bed), SleepStage.AWAKE))
        durations[SleepStage.AWAKE] += _epoch(out_of_bed) - _epoch(moment)
    start, end = _epoch(in_bed), _epoch(out_of_bed)
    in_bed_s = end - start
    light, deep, rem = (durations.get(stage, 0) for stage in (SleepStage.LIGHT, SleepStage.DEEP, SleepStage.REM))
    asleep_s = light + deep + rem
    hr = {second: rng.randint(50, 62) for second in range(start, end + 1, SERIES_EVERY_S)}
    rr = {second: rng.randint(12, 17) for second in range(start, end + 1, SERIES_EVERY_S)}
    snoring = {second: 1 for second in range(start + 3600, start + 7200, SERIES_EVERY_S) if rng.random() < 0.3}
    efficiency = round(asleep_s / in_bed_s, 2)
    summary: dict[str, float] = {
        "total_timeinbed": in_bed_s,
        "total_sleep_time": asleep_s,
        "asleepduration": asleep_s,
        "lightsleepduration": light,
        "deepsleepduration": deep,
        "remsleepduration": rem,
        "wakeupcount": wakeups,
        "wakeupduration": durations[SleepStage.AWAKE],
        "durationtosleep": _epoch(asleep) - start,
        "sleep_efficiency": efficiency,
        "sleep_latency": _epoch(asleep) - start,
        "sleep_score": max(50, min(98, round(40 + efficiency * 30 + asleep_s / 3600 * 4 - wakeups * 2))),
        "hr_average": round(sum(hr.values()) / len(hr)),
        "hr_min": min(hr.values()),
        "hr_max": max(hr.values()),
        "rr_average": round(sum(rr.values()) / len(rr)),
        "rr_min": min(rr.values()),
        "rr_max": max(rr.values()),
        "snoring": len(snoring) * SERIES_EVERY_S,
        "snoringepisodecount": len(snoring),
    }
    series: dict[str, dict[int, int]] = {"hr": hr, "rr": rr}
    if snoring:
        series["snoring"] = snoring
    return NewSleepSession(
        startdate=start, enddate=end, states=tuple(states), series=series, summary=summary, deviceid=deviceid
    )


# The history and the live feed ---------------------------------------------------------------------
def first_day_of(devices: Devices, now: datetime, days: int = DAYS) -> date:
    """The first of the last ``days`` days (the devices' local days, today included)."""
    return now.astimezone(ZoneInfo(devices.timezone)).date() - timedelta(days=days - 1)


def history(devices: Devices, first_day: date, now: datetime, after: datetime | None = None) -> list[Batch]:
    """The days from ``first_day`` up to ``now`` (today as far as it has gone), a batch a week, as
    history the companion app imports (``backfill``). With ``after`` (a kept demo's last run),
    only what happened since: records after that moment, and the days' activity from its day on
    (a day sent again replaces the partial one sent then)."""
    zone = ZoneInfo(devices.timezone)
    local_now = now.astimezone(zone)
    days = (local_now.date() - first_day).days + 1
    since = _epoch(after) if after is not None else 0
    from_day = max(first_day, after.astimezone(zone).date()) if after is not None else first_day
    batches = []
    for week_start in range((from_day - first_day).days, days, 7):
        groups, activity, samples, workouts, nights = [], [], [], [], []
        for offset in range(week_start, min(week_start + 7, days)):
            day = first_day + timedelta(days=offset)
            rng = _day_rng(day, "scale")
            weighed = _local(day, time(7, 10), zone) + timedelta(minutes=rng.randint(0, 40))
            if since < _epoch(weighed) <= _epoch(local_now):
                kg = weight_kg(day, first_day, rng.gauss(0, 0.25))
                groups.append(weigh_in(weighed, kg, rng, devices.scale))
            night = night_of(day, zone, devices.sleep_monitor)
            if since < night.enddate <= _epoch(local_now):
                nights.append(night)
            planned = _workouts(day, _day_rng(day, "workouts"), zone, devices.wearable)
            done = [w for w in planned if w.enddate <= _epoch(local_now)]
            workouts += [w for w in done if w.enddate > since]
            midnight = _local(day, time(0), zone)
            fraction = min(1.0, (local_now - midnight) / timedelta(days=1))
            activity.append(activity_of(day, fraction, done, devices.timezone, devices.wearable))
            samples += [s for s in _heart_rates(day, local_now, done, zone, devices.wearable) if s.at > since]
        batches.append(
            Batch(
                measure_groups=tuple(groups),
                activity=tuple(activity),
                intraday=tuple(samples),
                workouts=tuple(workouts),
                sleep=tuple(nights),
                backfill=True,
            )
        )
    return batches


def live_update(devices: Devices, now: datetime, first_day: date, since: datetime) -> dict[str, Any]:
    """What the companion app sends at ``now`` (the JSON of ``POST /api/v1/health/batches``): a
    new weigh-in on the trend started ``first_day``, today's activity so far, and whatever else
    the devices recorded ``since`` the last send (a night that ended, a workout, heart rates)."""
    zone = ZoneInfo(devices.timezone)
    local_now = now.astimezone(zone)
    rng = random.Random(f"{SEED}:{_epoch(now)}:live")
    group = weigh_in(local_now, weight_kg(local_now.date(), first_day, rng.gauss(0, 0.15)), rng, devices.scale)
    recorded = history(devices, first_day, now, after=max(since, now - LIVE_BACKLOG))
    batch = Batch(
        measure_groups=(*(g for b in recorded for g in b.measure_groups), group),
        activity=tuple(d for b in recorded for d in b.activity),
        intraday=tuple(s for b in recorded for s in b.intraday),
        workouts=tuple(w for b in recorded for w in b.workouts),
        sleep=tuple(n for b in recorded for n in b.sleep),
    )
    body: dict[str, Any] = msgspec.to_builtins(batch, str_keys=True)  # dates as ISO days, enums as numbers
    return body


__all__ = ["DAYS", "Devices", "first_day_of", "history", "live_update", "weight_kg"]
