"""QR codes drawn on the server as inline SVG (segno), for an authenticator app to scan.

The page's policy allows no inline style and no script: segno's SVG has neither (colours are
presentation attributes, which the policy does not govern). Its size comes from the page's style
sheet (``.qr-code``): the SVG has a viewBox and no width or height, so it scales without blur."""

from __future__ import annotations

from markupsafe import Markup

DARK, LIGHT = "#000", "#fff"  # dark on light whatever the page's colours: what scanners expect
QUIET_ZONE = 4  # modules of light margin, as ISO/IEC 18004 asks


def qr_svg(data: str, title: str) -> Markup:
    """``data`` as a QR code in an ``<svg role="img">`` named by its ``<title>`` (``title``, escaped)."""
    import segno  # noqa: PLC0415 - ~3 MB that a process loads only when it shows a set-up page

    # Error correction M (15% of the modules may be lost), raised when the version has room to spare.
    code = segno.make_qr(data, error="m", boost_error=True)
    svg = code.svg_inline(
        title=title,
        svgclass="qr-code",
        lineclass=None,
        omitsize=True,
        dark=DARK,
        light=LIGHT,
        border=QUIET_ZONE,
    )
    # An image to assistive technology, named by its <title> (segno escapes the title's text).
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S704 - segno's drawing of our data
