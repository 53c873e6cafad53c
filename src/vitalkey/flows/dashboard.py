"""What the Online Dashboard shows a signed-in user of their own data: weight and body
composition, steps against the goal, sleep by stage, blood pressure and heart rate, over the
range they chose (kept per user). Values come out in the units devices store (kg, cm, °C);
the page converts them to the user's units and formats them for the language."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from vitalkey.domain.dashboard import (
    DashboardPrefs,
    DisplayUnits,
    clean_display_units,
    clean_range,
    user_timezone,
    zone,
)
from vitalkey.domain.health import EARLIEST, Category, MeasureValue
from vitalkey.flows.deps import FlowDeps

WEIGHT, HEIGHT, FAT_FREE, FAT_RATIO, FAT_MASS, DIASTOLIC, SYSTOLIC, PULSE = 1, 4, 5, 6, 8, 9, 10, 11
MUSCLE, HYDRATION, BONE = 76, 77, 88
BODY_TEMPERATURE = 71
COMPOSITION = (FAT_RATIO, FAT_MASS, MUSCLE, HYDRATION, BONE)  # in the order the page lists them
# What the page draws over the range, every value; of the rest of the composition it shows the
# latest alone, read apart (each measure row read costs ~3 µs on a year's page: the year's
# 1,800 fat-mass, muscle, water and bone rows were read to show four). Fat-free mass and the
# height are not drawn (the height is the latest ever, read apart).
DRAWN = frozenset({WEIGHT, FAT_RATIO, DIASTOLIC, SYSTOLIC, PULSE, BODY_TEMPERATURE})
LATEST_ONLY = frozenset(COMPOSITION) - DRAWN
HEIGHT_ONLY = frozenset({HEIGHT})
# Time zones run from UTC−12 to UTC+14: the UTC span of the range's local days, widened by
# these, holds every record whose own local day is in the range.
WEST, EAST = timedelta(hours=12), timedelta(hours=14)
SLEEP_STAGES = ("deepsleepduration", "lightsleepduration", "remsleepduration", "wakeupduration")


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime  # in the time zone of the record measured (its date is that local day)
    value: Decimal


@dataclass(frozen=True, slots=True)
class Pressure:
    at: datetime
    systolic: Decimal
    diastolic: Decimal


@dataclass(frozen=True, slots=True)
class Night:
    day: date
    seconds: dict[str, int]  # by stage, as SLEEP_STAGES names them


@dataclass(frozen=True, slots=True)
class DashboardView:
    days: int
    first_day: date
    last_day: date
    weights: list[Point]  # oldest first
    fat_ratios: list[Point]  # oldest first
    composition: dict[int, Point]  # meastype → its latest value in the range (only those measured)
    height_cm: Decimal | None  # the latest measured height, in cm
    steps: list[tuple[date, int]]  # one per day with activity, oldest first
    steps_goal: int
    nights: list[Night]
    pressures: list[Pressure]
    pulses: list[Point]
    temperatures: list[Point]  # body temperature, °C
    prefs: DashboardPrefs

    @property
    def empty(self) -> bool:
        shown = (
            self.weights,
            self.fat_ratios,
            self.composition,
            self.steps,
            self.nights,
            self.pressures,
            self.pulses,
            self.temperatures,
        )
        return not any(shown)

    @property
    def latest_weight(self) -> Point | None:
        return self.weights[-1] if self.weights else None

    @property
    def weight_trend(self) -> Decimal | None:
        """The change from the range's first weight to its latest; None with fewer than two."""
        return self.weights[-1].value - self.weights[0].value if len(self.weights) > 1 else None


class Dashboard:
    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    def prefs(self, account_id: int) -> DashboardPrefs:
        with self.deps.uow.read() as tx:
            return tx.dashboard_prefs.get(account_id)

    def choose(self, account_id: int, days: str | None, units: str | None) -> DashboardPrefs:
        """Keep the range and/or the units the user picked (``InvalidInput`` for anything else)."""
        with self.deps.uow.begin() as tx:
            kept = tx.dashboard_prefs.get(account_id)
            chosen = DashboardPrefs(
                clean_range(days) if days is not None else kept.days,
                clean_display_units(units) if units is not None else kept.units,
            )
            if chosen != kept:
                tx.dashboard_prefs.set(account_id, chosen)
        return chosen

    def view(self, account_id: int) -> DashboardView:
        now = self.deps.clock.now()
        with self.deps.uow.read() as tx:
            prefs = tx.dashboard_prefs.get(account_id)
            home = user_timezone(tx.devices.for_account(account_id), tx.measure_groups.latest_timezone(account_id))
            today = now.astimezone(zone(home)).date()
            first_day = today - timedelta(days=prefs.days - 1)
            # Each measure belongs to its own local day (where it was measured, as sleep and
            # activity already are): read the widened UTC span and keep the range's days.
            start = datetime.combine(first_day, time.min, UTC) - EAST
            end = datetime.combine(today + timedelta(days=1), time.min, UTC) + WEST
            drawn = tx.measure_groups.values(account_id, start, end, DRAWN, Category.REAL)
            latest = tx.measure_groups.latest_values(account_id, start, end, LATEST_ONLY, Category.REAL)
            activity = tx.activity.steps(account_id, first_day, today)
            sleep = tx.sleep.nights(account_id, first_day, today)
            goals = tx.goals.get(account_id)
            heights = tx.measure_groups.latest_values(account_id, EARLIEST, now + EAST, HEIGHT_ONLY, Category.REAL)
        # Two sources of one day (a tracker and a phone, or the day a Withings export brought in
        # beside the tracker's) count the same walk twice: the day shows the larger count.
        steps: dict[date, int] = defaultdict(int)
        for day, count in activity:
            steps[day] = max(steps[day], count)
        nights = [Night(s.date, {stage: int(s.summary.get(stage, 0)) for stage in SLEEP_STAGES}) for s in sleep]
        return DashboardView(
            days=prefs.days,
            first_day=first_day,
            last_day=today,
            height_cm=heights[0].value * 100 if heights else None,
            steps=sorted(steps.items()),
            steps_goal=goals.steps,
            nights=nights,
            prefs=prefs,
            **_measures(_local(drawn, first_day, today), _local(latest, first_day, today)),
        )


def _local(values: list[MeasureValue], first_day: date, last_day: date) -> list[tuple[MeasureValue, datetime]]:
    """The values measured on the range's days, each with its moment in its own time zone (made
    once per group: a group's values come together and share its date)."""
    found = []
    last_at, last_zone, moment = None, "", datetime.min
    for value in values:
        if value.at is not last_at or value.timezone != last_zone:
            last_at, last_zone = value.at, value.timezone
            moment = value.at.astimezone(zone(value.timezone))
        if first_day <= moment.date() <= last_day:
            found.append((value, moment))
    return found


def _measures(
    drawn: list[tuple[MeasureValue, datetime]], latest: list[tuple[MeasureValue, datetime]]
) -> dict[str, Any]:
    """The view's measures: each drawn type's points, the pressures (a group's systolic with its
    diastolic) and each composition type's latest value."""
    by_type: dict[int, list[Point]] = defaultdict(list)
    pressures: list[Pressure] = []
    group: dict[int, Decimal] = {}
    last_grpid = 0
    for value, moment in drawn:  # a group's values come together, oldest group first
        if value.grpid != last_grpid:
            group, last_grpid = {}, value.grpid
        by_type[value.type].append(Point(moment, value.value))
        group[value.type] = value.value
        if value.type in (SYSTOLIC, DIASTOLIC) and SYSTOLIC in group and DIASTOLIC in group:
            pressures.append(Pressure(moment, group[SYSTOLIC], group[DIASTOLIC]))
    composition = {kind: points[-1] for kind, points in by_type.items() if kind in COMPOSITION}
    composition.update({value.type: Point(moment, value.value) for value, moment in latest})
    return {
        "weights": by_type.get(WEIGHT, []),
        "fat_ratios": by_type.get(FAT_RATIO, []),
        "composition": {kind: composition[kind] for kind in COMPOSITION if kind in composition},
        "pressures": pressures,
        "pulses": by_type.get(PULSE, []),
        "temperatures": by_type.get(BODY_TEMPERATURE, []),
    }


__all__ = ["Dashboard", "DashboardView", "DisplayUnits", "Night", "Point", "Pressure"]
