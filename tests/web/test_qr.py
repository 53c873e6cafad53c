"""The authenticator app's QR code (``web/qr.py``): SVG that the page's policy allows, named for
assistive technology, scalable, and decoding back to the otpauth:// URI it was drawn from. The
set-up macro (``_totp.html``) shows it with the key in groups of four and the code field."""

from __future__ import annotations

import re

import pytest
import segno

from tests.web.qr_kit import decode, drawn_modules, parse, rasterise
from vitalkey.domain.totp import provisioning_uri
from vitalkey.i18n import translations
from vitalkey.web.qr import qr_svg
from vitalkey.web.render import make_environment

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
URIS = [
    provisioning_uri(SECRET, "anna@example.org"),
    provisioning_uri(SECRET, "a.very.long.address+with-a-tag@a-long-subdomain.example.org", issuer="Clinic: A&B"),
]


@pytest.mark.parametrize("uri", URIS)
def test_the_svg_decodes_back_to_the_uri(uri: str) -> None:
    svg = str(qr_svg(uri, "QR code"))
    assert decode(rasterise(drawn_modules(svg))) == [uri]


@pytest.mark.parametrize("uri", URIS)
def test_the_drawn_modules_are_segnos_matrix_with_its_quiet_zone(uri: str) -> None:
    expected = segno.make_qr(uri, error="m", boost_error=True)
    matrix = [[bool(v) for v in row] for row in expected.matrix_iter(border=4)]
    drawn = drawn_modules(str(qr_svg(uri, "QR code")))
    assert drawn == matrix
    assert not any(drawn[0]) and not any(drawn[-1]) and not any(row[0] or row[-1] for row in drawn)


def test_a_changed_module_no_longer_decodes_to_the_uri() -> None:
    # The check above can fail: flip a finder pattern's modules and the scanner finds nothing.
    grid = drawn_modules(str(qr_svg(URIS[0], "QR code")))
    for y in range(4, 11):
        for x in range(4, 11):
            grid[y][x] = not grid[y][x]
    assert decode(rasterise(grid)) == []


def test_no_style_no_script_a_title_and_a_viewbox() -> None:
    svg = str(qr_svg(URIS[0], "Scan <this> & that"))
    root = parse(svg)
    assert root.tag == "svg" and root.attrib["role"] == "img"
    assert re.fullmatch(r"0 0 (\d+) \1", root.attrib["viewBox"])  # square, scales by CSS
    assert "width" not in root.attrib and "height" not in root.attrib
    tags = [element.tag for element in root.iter()]
    assert "style" not in tags and "script" not in tags and "foreignObject" not in tags
    assert not [element for element in root.iter() if "style" in element.attrib]
    assert not [name for element in root.iter() for name in element.attrib if name.startswith("on")]
    assert "style" not in svg and "<script" not in svg and "javascript:" not in svg
    title = root[0]
    assert title.tag == "title" and title.text == "Scan <this> & that"  # escaped in the markup, read back whole
    assert "Scan &lt;this&gt; &amp; that" in svg


def test_dark_modules_on_a_light_background_covering_the_whole_code() -> None:
    root = parse(str(qr_svg(URIS[0], "QR code")))
    size = int(root.attrib["viewBox"].split()[2])
    background, dark = root.iter("path")
    assert background.attrib == {"fill": "#fff", "d": f"M0 0h{size}v{size}h-{size}z"}
    assert dark.attrib["stroke"] == "#000" and "fill" not in dark.attrib


def render_setup(error: str | None = None, lang: str = "en") -> str:
    template = make_environment().from_string(
        '{% import "_totp.html" as totp with context %}'
        '{{ totp.setup("/account/two-factor/f1", secret, uri, error=error) }}'
    )
    return template.render(
        _translations=translations(lang), csrf_token="token", secret=SECRET, uri=URIS[0], error=error
    )


def test_the_setup_macro_shows_the_qr_the_key_in_fours_and_the_code_field() -> None:
    html = render_setup()
    svg = re.search(r"<svg.*?</svg>", html, re.S)
    assert svg is not None
    assert decode(rasterise(drawn_modules(svg.group(0)))) == [URIS[0]]
    assert "QR code to scan with your authenticator app</title>" in html
    assert "Can't scan? Type this key" in html
    assert ">JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP</code>" in html
    field = re.search(r"<input id=\"f-code\"[^>]*>", html, re.S)
    assert field is not None
    for attribute in ('name="code"', 'inputmode="numeric"', 'autocomplete="one-time-code"', "required"):
        assert attribute in field.group(0)
    assert '<label for="f-code">Enter the 6-digit code from your app</label>' in html
    assert 'name="csrf_token" value="token"' in html and 'action="/account/two-factor/f1"' in html
    assert "aria-invalid" not in html and "field-error" not in html


def test_the_setup_macro_shows_an_error_beside_the_field() -> None:
    html = render_setup(error="This code is not <correct>.")
    assert '<p class="field-error" id="e-code">This code is not &lt;correct&gt;.</p>' in html
    assert 'aria-invalid="true" aria-describedby="e-code"' in html


def test_the_setup_macro_is_translated() -> None:
    html = render_setup(lang="de")
    assert "Scannen nicht möglich? Geben Sie diesen Schlüssel ein" in html
    assert "Geben Sie den 6-stelligen Code aus Ihrer App ein" in html
    assert "QR-Code zum Scannen mit Ihrer Authenticator-App</title>" in html
