"""The Online Dashboard: the signed-in user's own data over the range they keep (7, 30, 90 or
365 days), in their units and language, as SVG charts each with a table of its values.

``GET /dashboard?days=90&units=uk`` keeps the choice for next time and shows it (plain links
choose, so the page needs no script and no form); a value outside the choices is a 400 that
names them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from math import fsum
from typing import Any

from babel import Locale
from babel.dates import DateTimePattern, format_date, match_skeleton
from babel.dates import parse_pattern as parse_date_pattern
from babel.numbers import get_decimal_symbol, get_group_symbol, parse_pattern
from markupsafe import Markup, escape
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, request_response

from vitalkey.domain import dashboard as units
from vitalkey.domain.dashboard import RANGES, DisplayUnits, units_for
from vitalkey.domain.errors import InvalidInput
from vitalkey.domain.i18n import N_
from vitalkey.flows.dashboard import BONE, FAT_MASS, FAT_RATIO, HYDRATION, MUSCLE, DashboardView, Point
from vitalkey.i18n import LANGUAGES, translations
from vitalkey.web.context import in_unit_of_work, language, services
from vitalkey.web.pages import current_user, see_other
from vitalkey.web.render import page

# The composition measures' names, in the order the page lists them.
COMPOSITION_NAMES = {
    FAT_RATIO: N_("Fat ratio"),
    FAT_MASS: N_("Fat mass"),
    MUSCLE: N_("Muscle mass"),
    HYDRATION: N_("Water"),
    BONE: N_("Bone mass"),
}
UNIT_CHOICES = ((DisplayUnits.METRIC, "kg"), (DisplayUnits.US, "lb"), (DisplayUnits.UK, "st/lb"))
SLEEP_NAMES = (N_("Deep"), N_("Light"), N_("REM"), N_("Awake"))
# Over more days than this, steps and sleep are a line and stacked areas instead of bars, and the
# other lines have one point a day (_daily): 90 or 365 bars are 1–3 px wide on a phone, and
# pygal's cost is per bar (365 nights of 4 stages: 40 ms and 260 KB of SVG as bars, 7 ms and
# 35 KB as areas; bench/RESULTS.md). Every value is still in the table.
MOST_BARS = 31
# Over more days than this (the year), every chart has one point a week, the week's mean
# (_weekly): 365 daily points on a 420-px chart are ~1 px apart, and pygal's cost is per point
# — the year's six charts took 24 of its ~70 ms with a point a day, ~6 ms with a point a week
# (bench/RESULTS.md). The charts' labels say so; the tables still list every value.
MOST_DAILY_POINTS = 90


@dataclass(frozen=True, slots=True)
class Card:
    """One chart with its table: ``head`` names the columns, ``rows`` the values as shown."""

    key: str
    title: str
    svg: Any
    head: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]

    @property
    def body(self) -> Markup:
        """The table's rows, newest first, as HTML. Written here rather than by a loop of the
        template, each distinct text escaped once: the year's 3,100 rows took 6 ms through
        Jinja's loop, ~2 ms so."""
        escaped: dict[str, str] = {}
        cells = []
        for row in reversed(self.rows):
            for position, cell in enumerate(row):
                text = escaped.get(cell)
                if text is None:
                    text = escaped[cell] = str(escape(cell))
                cells.append(f'<tr><th scope="row">{text}</th>' if position == 0 else f"<td>{text}</td>")
            cells.append("</tr>")
        return Markup("".join(cells))  # noqa: S704 - every cell escaped above


class Formats:
    """Numbers, dates and measures in the user's language and units."""

    def __init__(self, lang: str, system: DisplayUnits) -> None:
        # A year's page formats ~3,000 table rows: Babel parsed the locale and the pattern on
        # every call, and every chart and table formats the same days again. The locale and
        # the patterns are parsed once per page and each day and number formatted once (a
        # year's page spent 76 ms formatting, see bench/RESULTS.md); the texts are the same.
        self.locale = Locale.parse(LANGUAGES[lang][0])
        self.system = system
        self.gettext = translations(lang).gettext
        self._patterns = [parse_pattern("#,##0" + ("." + "0" * digits if digits else "")) for digits in range(4)]
        # Babel's pattern.apply cost ~5 µs a number, ~700 distinct numbers on a year's page (4 of
        # its ms): a positive number is written by Python's format instead, with the language's
        # separators — the same text (Babel rounds half to even as Decimal's format does, and
        # groups by three as these patterns say; tests/unit/test_dashboard_units.py compares them).
        self._separators = str.maketrans({",": get_group_symbol(self.locale), ".": get_decimal_symbol(self.locale)})
        self._hours: dict[int, str] = {}
        # format_skeleton matched the skeleton and parsed its pattern on each of the ~420 days a
        # year's page formats (half its 10 ms of dates): matched and parsed once here instead,
        # applied to the day as format_skeleton does (at midnight UTC: the same text).
        self._day_patterns = {skeleton: self._pattern(skeleton) for skeleton in ("yMMMd", "MMMd")}
        self._days: dict[tuple[str, date], str] = {}
        self._numbers: dict[tuple[Decimal | float | int, int], str] = {}

    def number(self, value: Decimal | float | int, digits: int = 1) -> str:
        key = (value, digits)  # equal values are the same number: the same text
        shown = self._numbers.get(key)
        if shown is None:
            exact = value if isinstance(value, Decimal) else Decimal(str(value))  # as Babel reads it
            if exact.is_finite() and not exact.is_signed():
                shown = format(exact, f",.{digits}f").translate(self._separators)
            else:  # Babel writes the language's minus sign
                shown = str(self._patterns[digits].apply(value, self.locale))
            self._numbers[key] = shown
        return shown

    def _pattern(self, skeleton: str) -> DateTimePattern:
        skeletons = self.locale.datetime_skeletons
        found = skeleton if skeleton in skeletons else match_skeleton(skeleton, skeletons)
        return parse_date_pattern(skeletons[found])

    def _skeleton(self, skeleton: str, moment: date | datetime) -> str:
        day = moment.date() if isinstance(moment, datetime) else moment  # a point's local day
        key = (skeleton, day)
        shown = self._days.get(key)
        if shown is None:
            midnight = datetime.combine(day, time.min, UTC)
            shown = self._days[key] = str(self._day_patterns[skeleton].apply(midnight, self.locale))
        return shown

    def day(self, moment: date | datetime) -> str:
        return self._skeleton("yMMMd", moment)

    def short_day(self, moment: date | datetime) -> str:
        return self._skeleton("MMMd", moment)

    def long_day(self, day: date) -> str:
        return str(format_date(day, "long", locale=self.locale))

    def mass_value(self, kg: Decimal) -> float:
        """A mass as the chart plots it: kg, or lb (st/lb too, whose chart is in lb)."""
        return float(kg if self.system is DisplayUnits.METRIC else units.pounds(kg))

    def mass_unit(self) -> str:
        return "kg" if self.system is DisplayUnits.METRIC else "lb"

    def mass(self, kg: Decimal) -> str:
        if self.system is DisplayUnits.UK:
            stones, pounds = units.stones_pounds(kg)
            return f"{self.number(stones, 0)} st {self.number(pounds)} lb"
        return f"{self.number(self.mass_value(kg))} {self.mass_unit()}"

    def mass_change(self, kg: Decimal) -> str:
        sign = "+" if kg > 0 else "−" if kg < 0 else "±"
        return f"{sign}{self.number(abs(self.mass_value(kg)))} {self.mass_unit()}"

    def height(self, cm: Decimal) -> str:
        if self.system is DisplayUnits.METRIC:
            return f"{self.number(cm, 0)} cm"
        feet, inches = units.feet_inches(cm)
        return f"{feet}′ {inches}″"

    def temperature(self, celsius: Decimal) -> str:
        if self.system is DisplayUnits.US:
            return f"{self.number(units.fahrenheit(celsius))} °F"
        return f"{self.number(celsius)} °C"

    def hours(self, seconds: int) -> str:
        shown = self._hours.get(seconds)  # the same durations come back night after night
        if shown is None:
            shown = self._hours[seconds] = self.gettext("%(hours)s h") % {"hours": self.number(Decimal(seconds) / 3600)}
        return shown


async def dashboard_page(request: Request) -> Response:
    auth = await current_user(request)
    if auth is None:
        return see_other(request, "/login")
    container = services(request)
    days, chosen_units = request.query_params.get("days"), request.query_params.get("units")
    error: InvalidInput | None = None
    if days is not None or chosen_units is not None:
        try:
            await in_unit_of_work(request, container.dashboard.choose, auth.account.id, days, chosen_units)
        except InvalidInput as refused:
            error = refused
    view = await in_unit_of_work(request, container.dashboard.view, auth.account.id)
    profile = auth.account.profile
    system = units_for(view.prefs, profile.units if profile else None)
    formats = Formats(language(request), system)
    return page(
        request,
        "dashboard.html",
        status=400 if error else 200,
        error=error,
        view=view,
        system=system.value,
        ranges=RANGES,
        unit_choices=[(choice.value, label) for choice, label in UNIT_CHOICES],
        period=(formats.long_day(view.first_day), formats.long_day(view.last_day)),
        summary=_summary(view, formats, profile.height_cm if profile else None),
        cards=[] if view.empty else _cards(view, formats),
    )


def _summary(view: DashboardView, f: Formats, profile_height: float | None) -> dict[str, Any]:
    latest = view.latest_weight
    trend = view.weight_trend
    height = (
        view.height_cm if view.height_cm is not None else (Decimal(str(profile_height)) if profile_height else None)
    )
    composition = []
    for kind, point in view.composition.items():
        value = point.value
        shown = f"{f.number(value)} %" if kind == FAT_RATIO else f.mass(value)
        composition.append((f.gettext(COMPOSITION_NAMES[kind]), shown))
    return {
        "weight": f.mass(latest.value) if latest else None,
        "weight_date": f.day(latest.at) if latest else None,
        "trend": f.mass_change(trend) if trend is not None else None,
        "trend_since": f.day(view.weights[0].at) if trend is not None else None,
        "height": f.height(height) if height else None,
        "temperature": f.temperature(view.temperatures[-1].value) if view.temperatures else None,
        "composition": composition,
        "steps_goal": f.number(view.steps_goal, 0),
    }


def _cards(view: DashboardView, f: Formats) -> list[Card]:
    # pygal (~7 MB) is loaded on the first chart drawn, not by every process that starts: one
    # that only serves the data API and the companion app never draws one.
    from vitalkey.web.charts import Goal, Series, draw  # noqa: PLC0415

    _ = f.gettext
    cards: list[Card] = []
    mass_unit = f.mass_unit()

    dense = view.days > MOST_BARS
    weekly = view.days > MOST_DAILY_POINTS
    chart_label = (
        _("%(title)s chart, one point a week (the week's mean); the table beside it lists every value")
        if weekly
        else _("%(title)s chart; the table beside it lists every value")
    )

    def thinned(points: list[Point]) -> list[Point]:
        return _weekly(points) if weekly else _daily(points) if dense else points

    def line(
        key: str, title: str, points: list[Point], value: Callable[[Decimal], float], shown: Callable[[Decimal], str]
    ) -> None:
        drawn = thinned(points)
        svg = draw(
            "line",
            chart_label % {"title": title},
            [f.short_day(p.at) for p in drawn],
            [Series(title, [value(p.value) for p in drawn])],
            f.number,
        )
        cards.append(Card(key, title, svg, (_("Date"), title), [(f.day(p.at), shown(p.value)) for p in points]))

    if view.weights:
        line("weight", _("Weight") + f" ({mass_unit})", view.weights, f.mass_value, f.mass)
    if view.fat_ratios:
        line("fat", _("Fat ratio") + " (%)", view.fat_ratios, float, lambda v: f"{f.number(v)} %")
    if view.steps:
        title = _("Steps")
        goal = f.number(view.steps_goal, 0)
        steps_label = (
            _(
                "%(title)s chart, one point a week (the week's daily mean), with the goal of %(goal)s steps a day;"
                " the table beside it lists every value"
            )
            if weekly
            else _("%(title)s chart with the goal of %(goal)s steps a day; the table beside it lists every value")
        )
        walked = [Point(datetime.combine(day, time.min), Decimal(n)) for day, n in view.steps]
        walked = _weekly(walked) if weekly else walked
        svg = draw(
            "bar" if len(view.steps) <= MOST_BARS else "line",
            steps_label % {"title": title, "goal": goal},
            [f.short_day(p.at) for p in walked],
            [Series(title, [round(float(p.value)) for p in walked])],
            f.number,
            goal=Goal(view.steps_goal, _("Goal %(steps)s") % {"steps": goal}),
        )
        yes, no = _("Yes"), _("No")
        rows = [(f.day(day), f.number(n, 0), yes if n >= view.steps_goal else no) for day, n in view.steps]
        cards.append(Card("steps", title, svg, (_("Date"), title, _("Goal reached")), rows))
    if view.nights:
        title = _("Sleep")
        names = tuple(_(name) for name in SLEEP_NAMES)
        stages = ("deepsleepduration", "lightsleepduration", "remsleepduration", "wakeupduration")
        by_stage = [
            [Point(datetime.combine(night.day, time.min), Decimal(night.seconds[stage])) for night in view.nights]
            for stage in stages
        ]
        if weekly:
            by_stage = [_weekly(points) for points in by_stage]
        svg = draw(
            "stacked" if len(view.nights) <= MOST_BARS else "area",
            chart_label % {"title": title},
            [f.short_day(p.at) for p in by_stage[0]],
            [
                Series(name, [float(p.value) / 3600 for p in points])
                for name, points in zip(names, by_stage, strict=True)
            ],
            f.number,
        )
        sleep_rows: list[tuple[str, ...]] = [
            (f.day(night.day), *(f.hours(night.seconds[stage]) for stage in stages)) for night in view.nights
        ]
        cards.append(Card("sleep", title + " (h)", svg, (_("Night"), *names), sleep_rows))
    if view.pressures:
        systolic = [Point(p.at, p.systolic) for p in view.pressures]
        diastolic = [Point(p.at, p.diastolic) for p in view.pressures]
        systolic, diastolic = thinned(systolic), thinned(diastolic)
        pressure_days = [p.at for p in systolic]
        title = _("Blood pressure")
        svg = draw(
            "line",
            chart_label % {"title": title},
            [f.short_day(at) for at in pressure_days],
            [
                Series(_("Systolic"), [float(p.value) for p in systolic]),
                Series(_("Diastolic"), [float(p.value) for p in diastolic]),
            ],
            f.number,
        )
        rows = [(f.day(p.at), f.number(p.systolic, 0), f.number(p.diastolic, 0)) for p in view.pressures]
        cards.append(Card("pressure", title + " (mmHg)", svg, (_("Date"), _("Systolic"), _("Diastolic")), rows))
    if view.pulses:
        line("heart", _("Heart rate") + " (bpm)", view.pulses, float, lambda v: f.number(v, 0))
    return cards


# The page lists every value beside each chart: a year of a four-device account is ~600 KB of
# HTML, ~70 KB gzipped (level 6: 5 ms for a year's page; level 9 saves 4% more for twice the
# time). Only this page is compressed: it reflects nothing the requester chose but one of the
# fixed choices, so its CSRF token cannot be guessed from compressed sizes (BREACH).
GZIP_LEVEL = 6


def _daily(points: list[Point]) -> list[Point]:
    """A chart's points beyond a month: one a day, the day's mean (at its first measurement). A
    year of weigh-ins and twice-daily blood pressures is 450–730 points on a 300-px plot; one a
    day is as many as the plot shows and halves the line's cost (bench/RESULTS.md). The table
    beside the chart still lists every value."""
    days: dict[date, list[Point]] = {}
    for point in points:
        days.setdefault(point.at.date(), []).append(point)
    return [
        Point(held[0].at, sum((p.value for p in held), Decimal(0)) / len(held)) if len(held) > 1 else held[0]
        for held in days.values()
    ]


def _weekly(points: list[Point]) -> list[Point]:
    """A chart's points over the year: one a week (weeks from Monday, by the points' local days),
    the week's mean, at the week's first point (see MOST_DAILY_POINTS). Summed as floats, as the
    chart draws them: with Decimals this took 2.5 ms of the year's page."""
    weeks: dict[int, tuple[Point, list[float]]] = {}
    for point in points:
        ordinal = point.at.toordinal()
        monday = ordinal - (ordinal - 1) % 7  # day 1 (0001-01-01) was a Monday
        week = weeks.get(monday)
        if week is None:
            weeks[monday] = (point, [float(point.value)])
        else:
            week[1].append(float(point.value))
    return [
        Point(first.at, Decimal(fsum(values) / len(values))) if len(values) > 1 else first
        for first, values in weeks.values()
    ]


def routes() -> list[BaseRoute]:
    page_app = GZipMiddleware(request_response(dashboard_page), minimum_size=1_000, compresslevel=GZIP_LEVEL)
    return [Route("/dashboard", page_app, methods=["GET"])]
