"""What the Online Dashboard shows a signed-in user of their own data: weight and body
composition, steps against the goal, sleep by stage, blood pressure and heart rate, over the
range they chose (kept per user). Values come out in the units devices store (kg, cm, °C);
the page converts them to the user's units and formats them for the language."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from vitalkey.domain.dashboard import DashboardPrefs, DisplayUnits, clean_display_units, clean_range
from vitalkey.domain.health import Category, MeasureFilter, MeasureGroup, Page, Window
from vitalkey.flows.deps import FlowDeps
from vitalkey.ports import Transaction

T = TypeVar("T")
PAGE = 1_000
WEIGHT, HEIGHT, FAT_FREE, FAT_RATIO, FAT_MASS, DIASTOLIC, SYSTOLIC, PULSE = 1, 4, 5, 6, 8, 9, 10, 11
MUSCLE, HYDRATION, BONE = 76, 77, 88
BODY_TEMPERATURE = 71
COMPOSITION = (FAT_RATIO, FAT_MASS, MUSCLE, HYDRATION, BONE)  # in the order the page lists them
# What the page shows over the range (the height is read apart, the latest ever; fat-free mass
# is not shown: each measure read costs, ~3 µs a row on a year's page).
WANTED = frozenset({WEIGHT, DIASTOLIC, SYSTOLIC, PULSE, BODY_TEMPERATURE, *COMPOSITION})
SLEEP_STAGES = ("deepsleepduration", "lightsleepduration", "remsleepduration", "wakeupduration")


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
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
    composition: dict[int, list[Point]]  # meastype → its points, oldest first (only those measured)
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
        today = self.deps.clock.now().date()
        with self.deps.uow.read() as tx:
            prefs = tx.dashboard_prefs.get(account_id)
            first_day = today - timedelta(days=prefs.days - 1)
            start = datetime.combine(first_day, datetime.min.time(), self.deps.clock.now().tzinfo)
            window = Window(start=start, end=self.deps.clock.now() + timedelta(days=1))
            wanted = MeasureFilter(types=WANTED, category=Category.REAL)
            groups = _all(lambda page: tx.measure_groups.find(account_id, window, wanted, page), lambda g: g.grpid)
            days = Window(first_day=first_day, last_day=today)
            activity = _all(lambda page: tx.activity.find(account_id, days, page), lambda d: d.id)
            sleep = tx.sleep.nights(account_id, first_day, today)
            goals = tx.goals.get(account_id)
            latest_height = _latest_height(tx, account_id)
        # Two sources of one day (a tracker and a phone, or the day a Withings export brought in
        # beside the tracker's) count the same walk twice: the day shows the larger count.
        steps: dict[date, int] = defaultdict(int)
        for day in activity:
            steps[day.date] = max(steps[day.date], int(day.data.get("steps", 0)))
        nights = [Night(s.date, {stage: int(s.summary.get(stage, 0)) for stage in SLEEP_STAGES}) for s in sleep]
        return _view(prefs, first_day, today, groups, latest_height, sorted(steps.items()), goals.steps, nights)


def _all(find: Callable[[Page], Sequence[T]], id_of: Callable[[T], int]) -> list[T]:
    """Every record of a listing, page after page."""
    found: list[T] = []
    after = 0
    while True:
        page = list(find(Page(after=after, limit=PAGE)))
        found.extend(page)
        if len(page) < PAGE:
            return found
        after = id_of(page[-1])


def _latest_height(tx: Transaction, account_id: int) -> Decimal | None:
    wanted = MeasureFilter(types=frozenset({HEIGHT}), category=Category.REAL)
    groups = _all(lambda page: tx.measure_groups.find(account_id, Window(), wanted, page), lambda g: g.grpid)
    dated = [(g.date, m.real()) for g in groups if g.deleted is None for m in g.measures if m.type == HEIGHT]
    return max(dated)[1] * 100 if dated else None


def _view(
    prefs: DashboardPrefs,
    first_day: date,
    last_day: date,
    groups: list[MeasureGroup],
    height_cm: Decimal | None,
    steps: list[tuple[date, int]],
    steps_goal: int,
    nights: list[Night],
) -> DashboardView:
    by_type: dict[int, list[Point]] = defaultdict(list)
    pressures: list[Pressure] = []
    for group in sorted((g for g in groups if g.deleted is None), key=lambda g: (g.date, g.grpid)):
        values = {m.type: m.real() for m in group.measures}
        for kind, value in values.items():
            by_type[kind].append(Point(group.date, value))
        if SYSTOLIC in values and DIASTOLIC in values:
            pressures.append(Pressure(group.date, values[SYSTOLIC], values[DIASTOLIC]))
    return DashboardView(
        days=prefs.days,
        first_day=first_day,
        last_day=last_day,
        weights=by_type.get(WEIGHT, []),
        composition={kind: by_type[kind] for kind in COMPOSITION if by_type.get(kind)},
        height_cm=height_cm,
        steps=steps,
        steps_goal=steps_goal,
        nights=nights,
        pressures=pressures,
        pulses=by_type.get(PULSE, []),
        temperatures=by_type.get(BODY_TEMPERATURE, []),
        prefs=prefs,
    )


__all__ = ["Dashboard", "DashboardView", "DisplayUnits", "Night", "Point", "Pressure"]
