"""The pages' layout as Chromium draws it, on a phone (390x844) and a desktop, in English and
Japanese — sign-up, sign-in, the account, app passwords, the privacy policy, a 404 and the
password pages: the inputs are full-width padded boxes in the page's font, the
Connected apps list keeps "Remove access" and the dates on one line, and no text overflows.
Screenshots of each page are left in the test's tmp_path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import LiveServer, Mailbox, text_of
from tests.e2e.conftest import CHROMIUM
from tests.e2e.live_oauth import WebUser, register, sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]

EMAIL = "kenji.watanabe-longname@example.org"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}

# What the user would see as broken, measured in the page: a list of problems, empty when fine.
MEASURE = """() => {
  const problems = [];
  const bodyFont = getComputedStyle(document.body).fontFamily;
  const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const name = (el) => el.tagName.toLowerCase() + "#" + (el.id || el.textContent.trim().slice(0, 30) || el.name);
  for (const el of document.querySelectorAll("main input, main select, main button, main a.button")) {
    if (!shown(el) || ["checkbox", "radio", "hidden"].includes(el.type)) continue;
    const style = getComputedStyle(el);
    if (style.fontFamily !== bodyFont && !el.classList.contains("code")) {
      problems.push(`${name(el)}: font ${style.fontFamily}`);
    }
    if (!el.classList.contains("link") && (parseFloat(style.paddingTop) < 6 || parseFloat(style.paddingLeft) < 8)) {
      problems.push(`${name(el)}: padding ${style.padding}`);
    }
    const field = el.closest(".field");
    if (field && el.tagName !== "BUTTON" && el.getBoundingClientRect().width < 0.9 * field.clientWidth) {
      problems.push(`${name(el)}: ${el.getBoundingClientRect().width}px wide in a ${field.clientWidth}px field`);
    }
  }
  for (const el of document.querySelectorAll("body *")) {
    if (!shown(el) || ["INPUT", "SELECT", "TEXTAREA", "METER"].includes(el.tagName)) continue;
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`${name(el)}: text overflows (${el.scrollWidth} > ${el.clientWidth})`);
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth) problems.push("the page scrolls sideways");
  if (!document.querySelector("h1")) problems.push("no h1");
  return problems;
}"""

# The lines a piece of text is drawn on: one distinct top per line.
LINES_OF_BUTTON = """(el) => {
  const range = document.createRange();
  range.selectNodeContents(el);
  return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
}"""

# Every date on the page ("2026-01-31", optionally "12:34 UTC") and the lines it is drawn on.
LINES_OF_DATES = """() => {
  const found = [];
  const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
  const pattern = /\\d{4}-\\d{2}-\\d{2}( \\d{2}:\\d{2} UTC)?/g;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const match of node.data.matchAll(pattern)) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      found.push([match[0], tops.size]);
    }
  }
  return found;
}"""


def check_layout(page: Page, shots: Path, label: str) -> None:
    page.screenshot(path=str(shots / f"{label}.png"), full_page=True)
    assert page.evaluate(MEASURE) == [], label


@pytest.fixture
def signed_up(live_server: LiveServer, mailbox: Mailbox, sqlite_url: str) -> dict[str, Any]:
    """An account without a password, with a connected app: its signed-in browser cookies and
    an "Update password" link."""
    sign_up(live_server, mailbox, EMAIL)
    partner = register(
        live_server,
        sqlite_url,
        name="Acme Wellness Portal for Long Names",
        redirect_uri="https://portal.example.com/withings/callback",
        scopes=("user.info", "user.metrics", "user.activity", "user.sleepevents"),
    )
    user = WebUser(live_server, mailbox, EMAIL)
    query = {
        "response_type": "code",
        "client_id": partner.client_id,
        "redirect_uri": partner.redirect_uri,
        "scope": "user.info,user.metrics,user.activity,user.sleepevents",
        "state": "s1",
    }
    user.link(f"{live_server.url}/oauth2/authorize?{urlencode(query)}")
    signed_in = dict(user.http.cookies.items())
    user.close()

    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        flow = http.post("/api/v1/login", json={"email": EMAIL}).raise_for_status().json()["id"]
        http.post(f"/api/v1/login/{flow}/password-instead").raise_for_status()
        http.post(f"/api/v1/login/{flow}/password-reset").raise_for_status()
    link = re.search(r"(http\S+/password/reset/\S+)", text_of(mailbox.wait_for(EMAIL, 4)))  # after 3 codes
    assert link
    return {"signed_in": signed_in, "reset_link": link.group(1)}


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_password_pages_and_connected_apps_fit_the_screen(
    browser: Browser, live_server: LiveServer, signed_up: dict[str, Any], viewport: str, tmp_path: Path
) -> None:
    for lang in ("en", "ja"):
        context = browser.new_context(viewport=VIEWPORTS[viewport], locale=lang)  # type: ignore[arg-type]
        page = context.new_page()
        context.add_cookies([{"name": "vk_lang", "value": lang, "url": live_server.url}])
        label = f"{viewport}-{lang}"

        for path in ("/signup", "/privacy", "/no-such-page"):
            page.goto(live_server.url + path)
            check_layout(page, tmp_path, f"{label}{path.replace('/', '-')}")
        page.goto(live_server.url + "/login")
        check_layout(page, tmp_path, f"{label}-sign-in")
        page.locator("#f-email").fill(EMAIL)
        page.locator("#f-email").press("Enter")
        page.locator("button[value=password_instead]").click()
        page.locator("#f-password").wait_for()
        check_layout(page, tmp_path, f"{label}-sign-in-password")

        page.goto(signed_up["reset_link"])
        page.locator("#f-password").wait_for()
        check_layout(page, tmp_path, f"{label}-update-password")

        context.clear_cookies()
        context.add_cookies(
            [{"name": name, "value": value, "url": live_server.url} for name, value in signed_up["signed_in"].items()]
            + [{"name": "vk_lang", "value": lang, "url": live_server.url}]
        )
        page.goto(live_server.url + "/account/password")
        page.locator("button[value=send_code]").click()
        page.locator("#f-password").wait_for()
        check_layout(page, tmp_path, f"{label}-set-password")

        page.goto(live_server.url + "/account/connected-apps")
        check_layout(page, tmp_path, f"{label}-connected-apps")
        remove = page.locator("form[action='/account/connected-apps'] button")
        assert remove.evaluate(LINES_OF_BUTTON) == 1, label
        dates = page.evaluate(LINES_OF_DATES)
        assert dates and all(lines == 1 for _, lines in dates), (label, dates)
        scope = page.locator(".scopes li").first
        assert scope.evaluate("(el) => getComputedStyle(el).borderBottomWidth") == "0px", label
        for path in ("/account", "/account/app-passwords"):
            page.goto(live_server.url + path)
            check_layout(page, tmp_path, f"{label}{path.replace('/', '-')}")
        context.close()
