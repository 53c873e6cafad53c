"""The dashboard's SVG charts, drawn by pygal with either XML library it can use: lxml (present
with the test tools) and the standard library's ElementTree (a deployment installs no lxml)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pygal.etree import etree

from vitalkey.web.charts import Series, draw


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
