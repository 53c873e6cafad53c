"""The dashboard's SVG charts, drawn by pygal with either XML library it can use: lxml (present
with the test tools) and the standard library's ElementTree (a deployment installs no lxml)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from pygal.etree import etree

from vitalkey.web.charts import Goal, Series, draw


@pytest.fixture(params=["lxml", "xml.etree"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "xml.etree":
        etree.to_etree()
    try:
        yield request.param
    finally:
        etree.to_lxml()


@pytest.mark.parametrize("kind", ["line", "bar", "stacked"])
def test_a_chart_without_style_script_tooltips_or_comments(backend: str, kind: str) -> None:
    svg = draw(
        kind,
        "Weight chart",
        ["Nov 1", "Nov 2", "Nov 3"],
        [Series("Weight", [80.5, 80.1, 79.8]), Series("Other", [1.0, 2.0, 3.0])],
        lambda value, digits: f"{value:.{digits}f}",
    )
    assert svg.startswith("<svg") and 'role="img"' in svg and 'aria-label="Weight chart"' in svg
    for refused in ("<style", "<script", "style=", 'class="tooltip"', "<!--"):
        assert refused not in svg, refused
    assert "Nov 2" in svg and f"chart-{kind}" in svg


def test_a_goal_is_a_labelled_line_drawn_over_the_bars(backend: str) -> None:
    svg = draw(
        "bar",
        "Steps chart",
        ["Nov 1", "Nov 2", "Nov 3"],
        [Series("Steps", [4_000.0, 12_000.0, 9_500.0])],
        lambda value, digits: f"{value:,.{digits}f}",
        goal=Goal(10_000, "Goal 10,000"),
    )
    horizontal_major = re.findall(r'd="M0\.0+ [0-9.]+ h[0-9.]+" class="major guide line"', svg)
    assert "with-goal" in svg and len(horizontal_major) == 1  # the goal's line, and no other across
    goal = svg.index(">Goal 10,000</text>")
    assert svg.rindex('class="major guide line"', 0, goal) > svg.rindex("rect reactive", 0, goal)  # after the bars
    assert ">10,000</text>" not in svg  # no round label under the goal's
