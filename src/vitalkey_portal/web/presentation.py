"""How dates and synced data are shown: Babel for dates and numbers in the user's time zone,
pygal for charts drawn on the server as inline SVG (no JavaScript)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pygal
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from markupsafe import Markup
from pygal.etree import etree
from pygal.style import Style

from vitalkey_portal.records import Point

# pygal appends a legacy import hook (for its map plugins, unused here) that has no find_spec:
# on Python 3.11 every failed optional import then raises an ImportWarning through it.
sys.meta_path[:] = [finder for finder in sys.meta_path if type(finder).__name__ != "PluginImportFixer"]

LOCALE = "en"
DATETIME_PATTERN = "MMM d, y, h:mm a"

CHART_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#1f2933",
    foreground_strong="#1f2933",
    foreground_subtle="#cbd2d9",
    colors=("#0b6e4f",),
    font_family="system-ui, sans-serif",
    label_font_size=15,
    major_label_font_size=15,
    title_font_size=16,
)


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def when(moment: datetime, tz: ZoneInfo) -> str:
    """A moment as the user reads it, in their time zone: "Mar 1, 2026, 1:05 PM"."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # every stored moment is UTC
    return format_datetime(moment, DATETIME_PATTERN, tzinfo=tz, locale=LOCALE)


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def day_label(day: date) -> str:
    return format_date(day, "MMM d", locale=LOCALE)


def number(value: float, digits: int) -> str:
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=LOCALE)


@dataclass(frozen=True, slots=True)
class Chart:
    key: str
    title: str
    unit: str
    svg: Markup | None  # None: no data for this measure
    rows: tuple[tuple[str, str], ...]  # (day, value with unit) for the data table


def chart(key: str, title: str, unit: str, points: tuple[Point, ...], digits: int, bars: bool) -> Chart:
    rows = tuple((format_date(p.day, "medium", locale=LOCALE), f"{number(p.value, digits)} {unit}") for p in points)
    if not points:
        return Chart(key, title, unit, None, rows)
    kind = pygal.Bar if bars else pygal.Line
    drawing = kind(
        style=CHART_STYLE,
        js=[],  # no script: the SVG is drawn once on the server
        disable_xml_declaration=True,
        show_legend=False,
        width=540,  # drawn small: a phone shows it nearly at this size, so the labels stay legible
        height=300,
        explicit_size=False,
        x_label_rotation=0,
        show_minor_x_labels=False,
        x_labels_major_every=max(1, len(points) // 6),
        truncate_label=-1,
        value_formatter=lambda v: f"{number(v, digits)} {unit}",
        show_dots=len(points) <= 31,
        margin=8,
        no_prefix=False,
    )
    drawing.x_labels = [day_label(p.day) for p in points]
    drawing.add(title, [p.value for p in points])
    tree = drawing.render_tree()
    # pygal writes its config as a <script> even with js=[]; the page needs none.
    for script in tree.findall(".//{http://www.w3.org/2000/svg}script") + tree.findall(".//script"):
        script.getparent().remove(script)
    tree.set("role", "img")
    tree.set("aria-label", f"{title} chart; the data table below has every value")
    svg = etree.tostring(tree, encoding="unicode")
    return Chart(key, title, unit, Markup(svg), rows)  # noqa: S704 - pygal's own SVG of numbers and our labels
