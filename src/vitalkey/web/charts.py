"""The dashboard's charts: pygal draws them on the server as SVG, inlined in the page.

The page's policy allows no inline style and no script, so what pygal would put in the SVG for
its own use (a ``<style>`` sheet, a config ``<script>``, tooltips shown by script, ``style``
attributes) is taken out; ``style.css`` colours the drawing by pygal's class names instead. Each
chart is an image with a label; the table beside it carries every value for screen readers."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pygal
import pygal.config
import pygal.graph.base
from markupsafe import Markup
from pygal.etree import etree
from pygal.style import Style

# pygal installs an import hook for its map plugins (unused) that lacks find_spec; Python 3.11
# warns through it on every failed optional import. Take it out.
sys.meta_path[:] = [hook for hook in sys.meta_path if type(hook).__name__ != "PluginImportFixer"]

SVG = "{http://www.w3.org/2000/svg}"
WIDTH, HEIGHT = 420, 260  # drawn near a phone's width so that its labels stay legible there
MAX_X_LABELS = 5
FONT_PX = 13  # style.css draws the labels at this size; pygal lays them out for it
# Only sizes matter here: pygal's colours go with its style sheet, which is taken out.
LAYOUT = Style(label_font_size=FONT_PX, major_label_font_size=FONT_PX, legend_font_size=FONT_PX)


class _Lean:
    """pygal as the page uses it, drawn with less work (measured on a 365-night stacked sleep
    chart, 1,460 bars: 118 ms before; bench/RESULTS.md, "Online Dashboard"):

    - pygal formats every value and adds its tooltip's nodes (``<desc>``, read only by its
      script) to each bar and dot; the page runs no script of pygal's, so that is skipped
      (118 → 63 ms, and half the SVG's bytes);
    - pygal looks up every attribute in the render's state through two more attribute lookups
      (60% of what remained); the same rule is applied here with plain dictionary reads."""

    def __getattribute__(self, name: str) -> Any:
        state = object.__getattribute__(self, "__dict__").get("state")
        # pygal's rule (BaseGraph.__getattribute__): the render's state first, except "state"
        # itself (which the state holds a stale copy of) and dunder names.
        if state is not None and name != "state" and not name.startswith("__"):
            values = state.__dict__
            if name in values:
                return values[name]
        return object.__getattribute__(self, name)

    def _format(self, serie: object, i: int) -> str:
        return ""

    def _tooltip_data(self, *args: object, **kwargs: object) -> None:
        return None

    def _static_value(self, *args: object, **kwargs: object) -> None:
        return None


class _SerieConfig(pygal.config.SerieConfig):  # type: ignore[misc]  # pygal has no type hints
    """pygal's series settings, listed once: pygal picks each series' settings from the render's
    ~100 by asking ``k in dir(serie_config)`` for each of them, a fresh sorted listing of the
    class every time (a tenth of a chart's time: a year's six charts 9.8 → 8.0 ms in a
    loop). The names are the class's, the same on every call, so the listing is kept."""

    _names: list[str] | None = None

    def __dir__(self) -> list[str]:
        names = type(self)._names
        if names is None:
            names = type(self)._names = list(object.__dir__(self))
        return names


pygal.graph.base.SerieConfig = _SerieConfig  # the name pygal's prepare_values makes series settings with

# The chart classes the page draws with, by kind (made with type(): pygal has no type hints).
MAKERS: dict[str, Any] = {
    kind: type(f"Lean{base.__name__}", (_Lean, base), {})
    for kind, base in (
        ("line", pygal.Line),
        ("bar", pygal.Bar),
        ("stacked", pygal.StackedBar),
        ("area", pygal.StackedLine),  # drawn filled: stacked areas
    )
}


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float | None]


@dataclass(frozen=True, slots=True)
class Goal:
    value: float
    label: str  # as the axis shows it, in the user's language


def draw(
    kind: str,
    label: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    formatter: Callable[[float, int], str],
    goal: Goal | None = None,
) -> Markup:
    """An SVG chart (``kind``: line, bar, stacked bars or stacked areas) of ``series`` over ``x_labels``;
    ``formatter(value, digits)`` writes a number in the user's language; ``goal``: a labelled
    line across the chart at that value."""
    if kind in ("stacked", "area"):
        totals = [sum(v or 0 for v in column) for column in zip(*(one.values for one in series), strict=True)]
        span = [0.0, max(totals, default=0.0)]
    else:
        known = [float(v) for one in series for v in one.values if v is not None]
        span = [0.0 if kind == "bar" else min(known, default=0.0), max(known, default=0.0)]
    if goal is not None:
        span[1] = max(span[1], goal.value)
    y_labels: list[Any] = ticks(span[0], span[1])
    digits = next(d for d in range(4) if all(abs(round(y, d) - y) < 1e-9 for y in y_labels))
    if goal is not None:
        # The goal is a y label of its own, the only "major" one (style.css draws its guide as
        # the goal line); round labels too near it would overlap its text.
        step = y_labels[1] - y_labels[0]
        y_labels = [y for y in y_labels if abs(y - goal.value) >= step / 2]
        y_labels.append({"label": goal.label, "value": goal.value})
    chart = MAKERS[kind](
        style=LAYOUT,
        y_labels=y_labels,
        js=[],
        disable_xml_declaration=True,
        no_prefix=True,
        width=WIDTH,
        height=HEIGHT,
        explicit_size=False,
        show_legend=len(series) > 1,
        legend_at_bottom=True,
        legend_at_bottom_columns=min(len(series), 4),
        x_label_rotation=0,
        truncate_label=-1,
        truncate_legend=-1,
        show_minor_x_labels=False,
        x_labels_major_every=max(1, -(-len(x_labels) // MAX_X_LABELS)),
        show_dots=len(x_labels) <= 31,
        dots_size=3,
        value_formatter=lambda value: formatter(value, digits),
        margin=14,
        spacing=6,
        allow_interruptions=True,
        tooltip_border_radius=0,
        fill=kind == "area",
        **({"y_labels_major": [goal.value]} if goal is not None else {}),
    )
    chart.x_labels = list(x_labels)
    for one in series:
        chart.add(one.name, list(one.values))
    tree = chart.render_tree()
    _strip(tree)
    if goal is not None:
        _goal_on_top(tree)
    for title in tree.findall(SVG + "title"):
        title.text = label  # pygal's is its own name
    tree.set("role", "img")
    tree.set("aria-label", label)
    tree.set("class", f"pygal-chart chart-{kind}" + (" with-goal" if goal is not None else ""))
    tree.attrib.pop("id", None)
    return Markup(etree.tostring(tree, encoding="unicode"))  # noqa: S704 - pygal's SVG of our numbers and escaped labels


def ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round values (steps of 1, 2 or 5 × 10ⁿ) from below ``low`` to above ``high``,
    so that no two labels read the same once formatted."""
    if high <= low:
        high = low + 1
    raw = (high - low) / (count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    return [round(first + i * step, 10) for i in range(math.ceil((high - first) / step) + 1)]


def _strip(tree: etree._Element) -> None:
    """Take out what the page's policy would refuse, what only a script would show, and comments.
    Walked from each parent, not with lxml's ``getparent``: pygal draws with xml.etree when lxml
    is not installed, as in a deployment (lxml came only with the test tools)."""
    for parent in list(tree.iter()):
        for element in list(parent):
            if not isinstance(element.tag, str):  # a comment (pygal's credits)
                parent.remove(element)
                continue
            classes = (element.get("class") or "").split()
            if element.tag.removeprefix(SVG) in ("style", "script") or "tooltip" in classes:
                parent.remove(element)
    for element in tree.iter():
        element.attrib.pop("style", None)


def _goal_on_top(tree: etree._Element) -> None:
    """pygal draws the axes' guides under the bars; the goal's guide (the y axis's one major
    label) is moved to the end of the plot, so that bars do not hide it."""
    for plot in list(tree.iter()):
        for axis in list(plot):
            if {"axis", "y"} <= set((axis.get("class") or "").split()):
                for guides in list(axis):
                    if any("major" in (node.get("class") or "").split() for node in guides):
                        axis.remove(guides)
                        moved = etree.SubElement(plot, axis.tag, {"class": axis.get("class") or ""})
                        moved.append(guides)
                return
