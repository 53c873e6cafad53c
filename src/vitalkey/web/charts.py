"""The dashboard's charts: pygal draws them on the server as SVG, inlined in the page.

The page's policy allows no inline style and no script, so what pygal would put in the SVG for
its own use (a ``<style>`` sheet, a config ``<script>``, tooltips shown by script, ``style``
attributes) is taken out; ``style.css`` colours the drawing by pygal's class names instead. Each
chart is an image with a label; the table beside it carries every value for screen readers."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pygal
from markupsafe import Markup
from pygal.etree import etree

# pygal installs an import hook for its map plugins (unused) that lacks find_spec; Python 3.11
# warns through it on every failed optional import. Take it out.
sys.meta_path[:] = [hook for hook in sys.meta_path if type(hook).__name__ != "PluginImportFixer"]

SVG = "{http://www.w3.org/2000/svg}"
WIDTH, HEIGHT = 520, 300  # drawn near a phone's width so that its labels stay legible there
MAX_X_LABELS = 6


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float | None]


def draw(
    kind: str,
    label: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    formatter: Callable[[float], str],
) -> Markup:
    """An SVG chart (``kind``: line, bar or stacked) of ``series`` over ``x_labels``."""
    maker = {"line": pygal.Line, "bar": pygal.Bar, "stacked": pygal.StackedBar}[kind]
    chart = maker(
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
        value_formatter=formatter,
        margin=6,
        spacing=8,
        allow_interruptions=True,
        tooltip_border_radius=0,
    )
    chart.x_labels = list(x_labels)
    for one in series:
        chart.add(one.name, list(one.values))
    tree = chart.render_tree()
    _strip(tree)
    for title in tree.findall(SVG + "title"):
        title.text = label  # pygal's is its own name
    tree.set("role", "img")
    tree.set("aria-label", label)
    tree.set("class", f"pygal-chart chart-{kind}")
    tree.attrib.pop("id", None)
    return Markup(etree.tostring(tree, encoding="unicode"))  # noqa: S704 - pygal's SVG of our numbers and escaped labels


def _strip(tree: etree._Element) -> None:
    """Take out what the page's policy would refuse, what only a script would show, and comments."""
    for element in list(tree.iter()):
        parent = element.getparent()
        if not isinstance(element.tag, str):  # a comment (pygal's credits)
            if parent is not None:
                parent.remove(element)
            continue
        classes = (element.get("class") or "").split()
        if parent is not None and (element.tag.removeprefix(SVG) in ("style", "script") or "tooltip" in classes):
            parent.remove(element)
            continue
        element.attrib.pop("style", None)
