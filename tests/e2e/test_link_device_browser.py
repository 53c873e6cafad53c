"""Link Device in Debian's Chromium (seeds/partner-link-device.txt): a partner's page on
localhost has a "Link Device" link to /oauth2_user/authorize2; the user signs in with the
emailed code, presses "Allow this app" and lands back on the partner's /callback, which swaps
the code for tokens on its server side and shows a green "✓ Linked". Linking again goes
straight back to the partner: no sign-in, no consent page."""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Frame, Page, expect

from tests.conftest import LiveServer, Mailbox, code_in, free_port
from tests.e2e.conftest import CHROMIUM, another_site
from tests.e2e.live_oauth import Partner, WebUser, register, sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]

EMAIL = "ann@example.org"
SCOPE = "user.info,user.metrics"


@dataclass
class PartnerSite:
    """A partner's web site: its address, its registration, and the links it completed."""

    url: str
    vitalkey: str
    client: Partner | None = None
    states: set[str] = field(default_factory=set)
    links: list[dict[str, Any]] = field(default_factory=list)  # the bodies of its token answers

    def authorize_url(self) -> str:
        assert self.client is not None
        state = secrets.token_urlsafe(16)
        self.states.add(state)
        query = {
            "response_type": "code",
            "client_id": self.client.client_id,
            "redirect_uri": self.client.redirect_uri,
            "scope": SCOPE,
            "state": state,
        }
        return f"{self.vitalkey}/oauth2_user/authorize2?{urlencode(query)}"

    def finish(self, query: dict[str, str]) -> tuple[bool, str]:
        """The callback: check the state, swap the code for tokens (server to server)."""
        assert self.client is not None and self.client.secret is not None
        if query.get("state", "") not in self.states:
            return False, "unknown state"
        self.states.discard(query["state"])
        if "code" not in query:
            return False, query.get("error", "no code")
        answer = httpx.post(
            self.vitalkey + "/v2/oauth2",
            data={
                "action": "requesttoken",
                "grant_type": "authorization_code",
                "client_id": self.client.client_id,
                "client_secret": self.client.secret,
                "code": query["code"],
                "redirect_uri": self.client.redirect_uri,
            },
            timeout=10,
        ).json()
        if answer["status"] != 0:
            return False, str(answer.get("error"))
        self.links.append(answer["body"])
        return True, f"Withings user {answer['body']['userid']}"


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme Wellness</title></head>
<body><h1>Acme Wellness</h1>{content}</body></html>"""


@pytest.fixture
def partner_site(live_server: LiveServer, sqlite_url: str) -> Iterator[PartnerSite]:
    port = free_port()
    site = PartnerSite(url=f"http://localhost:{port}", vitalkey=live_server.url)
    site.client = register(
        live_server,
        sqlite_url,
        name="Acme Wellness Portal",
        redirect_uri=f"{site.url}/callback",
        scopes=("user.info", "user.metrics", "user.activity"),
    )

    def page_for(path: str) -> str | None:
        parts = urlsplit(path)
        if parts.path == "/":
            content = f'<p><a href="{html.escape(site.authorize_url())}">Link Device</a></p>'
        elif parts.path == "/callback":
            linked, detail = site.finish({k: v[0] for k, v in parse_qs(parts.query).items()})
            content = (
                f'<p id="status" style="color: rgb(0, 128, 0)">✓ Linked</p><p>{html.escape(detail)}</p>'
                if linked
                else f'<p id="status" style="color: rgb(200, 0, 0)">Not linked: {html.escape(detail)}</p>'
            )
        else:
            return None
        return PAGE.format(content=content)

    with another_site(port, page_for):
        yield site


class Tab:
    """The browser tab, and the documents it showed (redirects in between are not documents)."""

    def __init__(self, page: Page, site: PartnerSite) -> None:
        self.page, self.site = page, site
        self.shown: list[str] = []
        page.on("framenavigated", self._navigated)

    def _navigated(self, frame: Frame) -> None:
        if frame == self.page.main_frame:
            self.shown.append(frame.url)

    def link_device(self) -> None:
        self.shown.clear()
        self.page.goto(self.site.url)
        self.page.get_by_role("link", name="Link Device").click()

    def sign_in(self, mailbox: Mailbox) -> None:
        """The email address, then the emailed code."""
        mail_number = len(mailbox.to(EMAIL)) + 1
        self.page.get_by_label("Email address").fill(EMAIL)
        self.page.get_by_role("button", name="Next").click()
        self.page.get_by_label("6-digit code").fill(code_in(mailbox.wait_for(EMAIL, mail_number)))
        self.page.get_by_role("button", name="Continue").click()

    def expect_linked(self) -> None:
        """Back on the partner's /callback, which got tokens for the code."""
        expect(self.page).to_have_url(re.compile(rf"^{re.escape(self.site.url)}/callback\?"))
        status = self.page.locator("#status")
        expect(status).to_have_text("✓ Linked")
        expect(status).to_have_css("color", "rgb(0, 128, 0)")
        params = parse_qs(urlsplit(self.page.url).query)
        assert params["iss"] == [self.site.vitalkey]

    def paths_shown(self) -> list[str]:
        return [urlsplit(url).path for url in self.shown]


def allow_over_http(server: LiveServer, mailbox: Mailbox, site: PartnerSite) -> None:
    """The user allowed the partner before, from another browser (plain HTTP)."""
    other = WebUser(server, mailbox, EMAIL)
    try:
        assert "code=" in other.link(site.authorize_url())
        assert other.visits.consent_page is not None
    finally:
        other.close()


def test_link_device_asks_once_then_goes_straight_back(
    page: Page, live_server: LiveServer, mailbox: Mailbox, partner_site: PartnerSite
) -> None:
    sign_up(live_server, mailbox, EMAIL)
    tab = Tab(page, partner_site)

    tab.link_device()
    expect(page.get_by_text("An app is asking to connect to your account")).to_be_visible()
    tab.sign_in(mailbox)
    expect(page.get_by_role("heading", name="Acme Wellness Portal would like to access your")).to_be_visible()
    expect(page.get_by_text("Your body measurements")).to_be_visible()
    page.get_by_role("button", name="Allow this app").click()
    tab.expect_linked()
    assert len(partner_site.links) == 1
    first = partner_site.links[0]
    assert isinstance(first["userid"], int) and first["scope"] == SCOPE and first["token_type"] == "Bearer"

    # Linking again: straight from the partner's page back to its callback.
    tab.link_device()
    tab.expect_linked()
    assert tab.paths_shown() == ["/", "/callback"]
    assert len(partner_site.links) == 2
    second = partner_site.links[1]
    assert second["userid"] == first["userid"] and second["access_token"] != first["access_token"]
    assert len(mailbox.to(EMAIL)) == 2  # the sign-up's code and the one sign-in's


def test_signed_in_user_who_allowed_before_goes_straight_back(
    page: Page, live_server: LiveServer, mailbox: Mailbox, partner_site: PartnerSite
) -> None:
    sign_up(live_server, mailbox, EMAIL)
    allow_over_http(live_server, mailbox, partner_site)
    tab = Tab(page, partner_site)
    page.goto(live_server.url + "/login")
    tab.sign_in(mailbox)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()  # signed in: sign-in lands on the dashboard

    tab.link_device()
    tab.expect_linked()
    assert tab.paths_shown() == ["/", "/callback"]
    assert len(partner_site.links) == 1 and partner_site.links[0]["scope"] == SCOPE


def test_signed_out_user_who_allowed_before_signs_in_and_goes_straight_back(
    page: Page, live_server: LiveServer, mailbox: Mailbox, partner_site: PartnerSite
) -> None:
    sign_up(live_server, mailbox, EMAIL)
    allow_over_http(live_server, mailbox, partner_site)
    tab = Tab(page, partner_site)

    tab.link_device()
    expect(page.get_by_text("An app is asking to connect to your account")).to_be_visible()
    tab.sign_in(mailbox)
    tab.expect_linked()
    assert "/oauth2/authorize/" not in " ".join(tab.shown)  # no consent page
    assert len(partner_site.links) == 1


NEW_EMAIL = "bea@example.org"


def test_new_user_links_through_sign_up_and_lands_back_at_the_partner(
    page: Page, live_server: LiveServer, mailbox: Mailbox, partner_site: PartnerSite
) -> None:
    """A newcomer takes "Create an account" from the sign-in page the partner sent them to: the
    sign-up keeps the partner's request and ends on its consent page, then back at the partner."""
    tab = Tab(page, partner_site)

    tab.link_device()
    expect(page.get_by_text("An app is asking to connect to your account")).to_be_visible()
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    page.get_by_label("Email address").fill(NEW_EMAIL)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("6-digit code").fill(code_in(mailbox.wait_for(NEW_EMAIL)))
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("I agree to the privacy policy").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("First name").fill("Bea")
    page.get_by_label("Last name").fill("Moreau")
    page.get_by_label("Birth date").fill("1990-03-02")
    page.get_by_label("Female", exact=True).check()
    page.get_by_label("Height (cm)").fill("168")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Protect your account")).to_be_visible()
    page.get_by_role("button", name="Skip for now").click()

    expect(page.get_by_role("heading", name="Acme Wellness Portal would like to access your")).to_be_visible()
    page.get_by_role("button", name="Allow this app").click()
    tab.expect_linked()
    assert "/account" not in tab.paths_shown()
    assert len(partner_site.links) == 1 and partner_site.links[0]["scope"] == SCOPE
