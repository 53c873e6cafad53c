"""The authenticator app's set-up (``_totp.html`` with ``web/qr.py``'s QR code) in Debian's
Chromium, under the pages' own Content-Security-Policy and style sheet: nothing is refused, the
QR code is drawn at a size phones scan, a screenshot of it decodes to the otpauth:// URI, and
axe finds no accessibility violation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Route

from tests.e2e.conftest import CHROMIUM
from tests.web.qr_kit import decode, png_to_grey
from vitalkey.domain.totp import provisioning_uri
from vitalkey.i18n import translations
from vitalkey.web.middleware import CSP
from vitalkey.web.render import TEMPLATES, make_environment

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]

SITE = "http://vitalkey.test"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
URI = provisioning_uri(SECRET, "anna+scale@example.org")
STYLE = (TEMPLATES.parent / "static" / "style.css").read_text()


def setup_page() -> str:
    template = make_environment().from_string(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Set up</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="stylesheet" href="/static/style.css"></head><body><main class="card"><h1>Set up</h1>'
        '{% import "_totp.html" as totp with context %}{{ totp.setup("/account/two-factor/f1", secret, uri) }}'
        "</main></body></html>"
    )
    return template.render(_translations=translations("en"), csrf_token="token", secret=SECRET, uri=URI)


def serve(route: Route) -> None:
    """Our page and style sheet with the pages' own policy, without a server."""
    headers = {"content-security-policy": CSP}
    if route.request.url.endswith("/static/style.css"):
        route.fulfill(status=200, body=STYLE, content_type="text/css", headers=headers)
    else:
        route.fulfill(status=200, body=setup_page(), content_type="text/html; charset=utf-8", headers=headers)


@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.route(SITE + "/**", serve)
    yield page
    context.close()


def test_the_qr_code_is_allowed_by_the_policy_and_scans_back_to_the_uri(tab: Page) -> None:
    refused: list[str] = []
    tab.on(
        "console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None
    )
    tab.goto(SITE + "/setup")
    qr = tab.locator("svg.qr-code")
    box = qr.bounding_box()
    assert box is not None and box["width"] == box["height"] == 200  # the style sheet's size, square
    assert decode(png_to_grey(qr.screenshot(type="png"))) == [URI]
    assert qr.get_attribute("role") == "img"
    assert tab.get_by_role("img", name="QR code to scan with your authenticator app").count() == 1
    assert tab.get_by_label("Enter the 6-digit code from your app").get_attribute("autocomplete") == "one-time-code"
    assert refused == []


def test_the_policy_check_can_fail(tab: Page) -> None:
    # The same listener sees what the policy refuses: an inline style attribute added to the page.
    refused: list[str] = []
    tab.on(
        "console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None
    )
    tab.unroute(SITE + "/**")
    tab.route(
        SITE + "/**",
        lambda route: route.fulfill(
            status=200,
            body=setup_page().replace('<svg role="img"', '<svg style="fill:red" role="img"'),
            content_type="text/html; charset=utf-8",
            headers={"content-security-policy": CSP},
        ),
    )
    tab.goto(SITE + "/setup")
    tab.wait_for_timeout(200)
    assert refused, "Chromium reported no refused inline style"


def test_the_setup_has_no_accessibility_violation(browser: Browser) -> None:
    context = browser.new_context(locale="en-US", bypass_csp=True)  # lets axe's script in
    try:
        page = context.new_page()
        page.route(SITE + "/**", serve)
        page.goto(SITE + "/setup")
        found = Axe().run(page).response["violations"]
        assert not found, [(v["id"], [n["target"] for n in v["nodes"][:3]]) for v in found]
    finally:
        context.close()
