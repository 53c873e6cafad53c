"""Debian's Chromium against a real server process: a page on another site (localhost vs the
server's 127.0.0.1) auto-submits forms to our sign-in and account pages, even with the user's
real CSRF token. The browser's requests are refused with the "form expired" page, change
nothing, set no cookie, and the user's open form still works afterwards."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer, Mailbox, code_in, free_port
from tests.e2e.conftest import CHROMIUM, another_site
from tests.e2e.live_oauth import sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]

EMAIL = "erin@example.org"


@dataclass
class AttackSite:
    url: str
    target: str
    forms: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)  # page → (our path, fields)


@pytest.fixture
def attack_site(live_server: LiveServer) -> Iterator[AttackSite]:
    """A real HTTP server on another site: each of its pages posts a form to us on load."""
    port = free_port()
    site = AttackSite(url=f"http://localhost:{port}", target=live_server.url)

    def page_for(path: str) -> str | None:
        if path not in site.forms:
            return None
        action, fields = site.forms[path]
        inputs = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in fields.items()
        )
        return (
            f'<!doctype html><title>Win a prize</title><form method="post" action="{site.target}{action}">'
            f"{inputs}</form><script>document.forms[0].submit()</script>"
        )

    with another_site(port, page_for):
        yield site


def our_cookies(page: Page, server: LiveServer) -> dict[str, str]:
    return {c["name"]: c["value"] for c in page.context.cookies(server.url)}


def test_forms_posted_from_another_site_are_refused(
    page: Page, live_server: LiveServer, mailbox: Mailbox, attack_site: AttackSite
) -> None:
    sign_up(live_server, mailbox, EMAIL, first_name="Erin")
    page.goto(live_server.url + "/login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("6-digit code").fill(code_in(mailbox.wait_for(EMAIL, 2)))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()  # where sign-in lands
    page.get_by_role("link", name="Account & Security").click()
    expect(page.get_by_role("heading", name="Account & Security")).to_be_visible()
    before = our_cookies(page, live_server)
    assert {"vk_csrf", "vk_session"} <= before.keys()
    token = page.locator('form[action="/account/profile"] input[name="csrf_token"]').get_attribute("value")
    assert token
    # Even a leaked token does not help another site: the browser says where the form came from.
    profile = {"csrf_token": token, "first_name": "Mallory", "last_name": "Lee", "birth_date": "1990-05-01"}
    attack_site.forms["/profile"] = ("/account/profile", {**profile, "sex": "female", "units": "metric"})
    attack_site.forms["/login"] = ("/login", {"csrf_token": token, "email": EMAIL})

    attack = page.context.new_page()  # the user opens the other site in a second tab
    for path in ("/profile", "/login"):
        with attack.expect_response(lambda r: r.url.startswith(live_server.url) and r.request.method == "POST") as got:
            attack.goto(attack_site.url + path)
        answer = got.value
        assert answer.request.all_headers()["sec-fetch-site"] == "cross-site"
        assert answer.status == 403 and answer.header_value("set-cookie") is None, path
        expect(attack.get_by_text("Your form has expired. Please try again.")).to_be_visible()
    assert our_cookies(page, live_server) == before
    assert len(mailbox.to(EMAIL)) == 2  # no sign-in code was sent for the forged sign-in

    page.get_by_label("First name").fill("Erina")  # the form opened before still works
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your profile has been saved.")).to_be_visible()
    expect(page.get_by_label("First name")).to_have_value("Erina")
