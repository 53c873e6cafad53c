"""Sign-up and sign-in again with a Google-like provider (issue #23) in Debian's Chromium: a real
oidc-provider (tests/upstream_provider.py) at http://127.0.0.1:PORT and a real server process at
http://localhost:PORT, so that the browser goes from one site to another and back (the
callback's GET carries the SameSite=Lax cookie of a top-level navigation). "Continue with
Google" on the sign-up page, "ada" at the provider, then the privacy policy straight away (the
provider verified the address: no code is mailed), the details, no two-factor; signed out,
"Continue with Google" on the sign-in page signs in to the same account, which has one linked
account; axe on the sign-in and sign-up pages with their buttons.

Sign in with Apple the same way, with an Apple-like provider (form_post): its page posts the code,
the state and, the first time, the name to the callback from the provider's site, a POST that
carries no SameSite=Lax cookie; the server answers it with a 303 to the callback's GET, and this
test shows that Chromium sends the Lax cookies (the flow's and the CSRF secret the flow is bound
to) on that GET: the sign-up goes on to the privacy policy, the posted name is offered, and the
second sign-in (no name posted) signs in to the same account.

The journey runs under the pages' own CSP (the axe test alone lifts it): the button's form ends
in a redirect to the provider, which Chromium checks against the page's form-action."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import Page, Request, expect
from sqlalchemy import func, select

from tests.conftest import LiveServer, Mailbox, free_port, live_environment, start_server, stop_server
from tests.e2e.conftest import CHROMIUM, assert_accessible
from tests.upstream.conftest import APPLE_ACCOUNTS, APPLE_NAMES, GOOGLE_ACCOUNTS, provider_settings, serve
from tests.upstream_provider import AppleTeam, OidcServer, rsa_jwk
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.engine import make_engine

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]

EMAIL = GOOGLE_ACCOUNTS["ada"]["email"]
APPLE_EMAIL = APPLE_ACCOUNTS["001234.tim"]["email"]  # a private relay address


@pytest.fixture(scope="module")
def vitalkey_url() -> str:
    """The live server's address, known before it starts: the provider registers its callback."""
    return f"http://localhost:{free_port()}"


@pytest.fixture(scope="module")
def google(tmp_path_factory: pytest.TempPathFactory, vitalkey_url: str) -> Iterator[OidcServer]:
    """The Google-like provider, with the live server's callback page as a registered redirect URI."""
    callback = f"{vitalkey_url}/login/callback/google"
    yield from serve(
        tmp_path_factory.mktemp("google"), "google", keys=[rsa_jwk("g-1")], accounts=GOOGLE_ACCOUNTS, callback=callback
    )


@pytest.fixture(scope="module")
def apple(tmp_path_factory: pytest.TempPathFactory, vitalkey_url: str) -> Iterator[OidcServer]:
    """The Apple-like provider (form_post; the name posted on an account's first authorization)."""
    yield from serve(
        tmp_path_factory.mktemp("apple"),
        "apple",
        keys=[rsa_jwk("a-1")],
        accounts=APPLE_ACCOUNTS,
        names=APPLE_NAMES,
        apple=AppleTeam(),
        callback=f"{vitalkey_url}/login/callback/apple",
    )


@pytest.fixture
def server(
    tmp_path: Path,
    sqlite_url: str,
    smtp_server: tuple[Mailbox, int],
    google: OidcServer,
    apple: OidcServer,
    vitalkey_url: str,
) -> Iterator[LiveServer]:
    env = live_environment(
        sqlite_url,
        smtp_server[1],
        VITALKEY_PUBLIC_URL=vitalkey_url,
        VITALKEY_FEDERATION_PROVIDERS=json.dumps([provider_settings(google), provider_settings(apple)]),
    )
    live = start_server(tmp_path / "live", int(vitalkey_url.rsplit(":", 1)[1]), env)
    live.url = vitalkey_url
    yield live
    stop_server(live)


def at_provider(page: Page, provider: OidcServer, login: str) -> None:
    """The provider's sign-in page (another site): signs in as ``login``; it sends the browser back
    (Apple's form_post page posts the answer to the callback by a script, as Apple's does)."""
    page.wait_for_url(f"{provider.issuer}/interaction/**")
    page.locator("input[name=login]").fill(login)
    page.get_by_role("button", name="Sign in").click()


def accounts_and_links(database_url: str) -> tuple[int, list[tuple[str, str]]]:
    """How many accounts there are, and every linked account's (provider's name, account's address)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            accounts = conn.execute(select(func.count()).select_from(t.accounts)).scalar_one()
            links = conn.execute(
                select(t.authenticators.c.name, t.accounts.c.email)
                .join(t.accounts, t.accounts.c.id == t.authenticators.c.account_id)
                .where(t.authenticators.c.kind == "federated")
            ).all()
    finally:
        engine.dispose()
    return int(accounts), [(str(name), str(email)) for name, email in links]


def test_sign_up_with_google_then_sign_in_again(
    page: Page, server: LiveServer, google: OidcServer, mailbox: Mailbox, sqlite_url: str
) -> None:
    base = server.url

    # Sign-up: the button sends the browser to the provider, which sends it back to the policy.
    page.goto(base + "/signup")
    page.get_by_role("button", name="Continue with Google").click()
    at_provider(page, google, "ada")
    page.wait_for_url(base + "/signup/**")
    expect(page.get_by_label("I agree to the privacy policy")).to_be_visible()
    expect(page.get_by_label("6-digit code")).to_have_count(0)  # no code: Google verified the address
    page.get_by_label("I agree to the privacy policy").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_label("Birth date").fill("1985-12-10")
    page.get_by_label("Female", exact=True).check()
    page.get_by_label("Height (cm)").fill("165")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Skip for now").click()
    expect(page.get_by_role("heading", name="Account & Security")).to_be_visible()
    expect(page.get_by_text("Welcome! Your account is ready.")).to_be_visible()
    expect(page.get_by_text(f"Signed in as {EMAIL}")).to_be_visible()

    # Signed out, from the account page.
    page.get_by_role("button", name="Sign out").first.click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto(base + "/account")
    expect(page.get_by_role("heading", name="Account & Security")).to_have_count(0)
    assert urlsplit(page.url).path == "/login"

    # Signed out at the provider too (its own session would sign ada in without a page).
    page.context.clear_cookies(domain="127.0.0.1")

    # Sign-in again: the provider signs ada in.
    page.goto(base + "/login")
    page.get_by_role("button", name="Continue with Google").click()
    at_provider(page, google, "ada")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert page.url == base + "/dashboard"
    page.goto(base + "/account")
    expect(page.get_by_role("heading", name="Account & Security")).to_be_visible()
    expect(page.get_by_text(f"Signed in as {EMAIL}")).to_be_visible()

    # One account, with one linked account: Google's, shown among the sign-in methods.
    page.goto(base + "/account/two-factor")
    listed = page.get_by_role("region", name="Your sign-in methods").get_by_role("list").first
    expect(listed.get_by_role("listitem")).to_have_count(1)
    expect(listed.get_by_role("listitem")).to_contain_text(f"Linked account · Google · {EMAIL}")
    assert accounts_and_links(sqlite_url) == (1, [("Google", EMAIL)])
    assert [str(m["Subject"]) for m in mailbox.to(EMAIL)] == []  # no code was mailed, to sign up or in


@dataclass
class CallbackRequest:
    method: str
    fields: set[str]  # the answer's fields, posted or in the query
    cookies: set[str]  # the names of the cookies the browser sent


def callback_requests(page: Page, base: str) -> list[CallbackRequest]:
    """Every request the tab makes to Apple's callback page (filled in as the journey goes)."""
    seen: list[CallbackRequest] = []

    def record(request: Request) -> None:
        if request.url.startswith(base + "/login/callback/apple"):
            sent = request.all_headers().get("cookie", "")
            fields = request.post_data if request.method == "POST" else urlsplit(request.url).query
            seen.append(
                CallbackRequest(
                    request.method,
                    {name for name, _ in parse_qsl(fields or "")},
                    {c.split("=", 1)[0].strip() for c in sent.split(";") if c.strip()},
                )
            )

    page.on("request", record)
    return seen


def test_sign_up_with_apple_s_form_post_then_sign_in_again(
    page: Page, audited: Page, server: LiveServer, apple: OidcServer, mailbox: Mailbox, sqlite_url: str
) -> None:
    base = server.url
    apple.control(forget_names=True)  # Tim's first authorization: Apple posts his name
    callbacks = callback_requests(page, base)

    # Sign-up: Apple's page posts the answer from its site; the server sends it back as a GET.
    page.goto(base + "/signup")
    page.get_by_role("button", name="Sign in with Apple").click()
    at_provider(page, apple, "001234.tim")
    page.wait_for_url(base + "/signup/**")
    # The POST (cross-site: no Lax cookie at all), then the GET it was answered with: the flow's
    # cookie and the CSRF secret it is bound to went with that top-level navigation.
    posted, got = callbacks
    assert (posted.method, posted.cookies) == ("POST", set())
    assert got.method == "GET" and {"vk_upstream", "vk_csrf"} <= got.cookies
    assert {"code", "state", "user"} <= posted.fields & got.fields  # the name, on the first authorization
    expect(page.get_by_label("I agree to the privacy policy")).to_be_visible()
    expect(page.get_by_label("6-digit code")).to_have_count(0)  # no code: Apple vouched for the relay address
    page.get_by_label("I agree to the privacy policy").check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_label("First name")).to_have_value("Tim")  # the name Apple posted, offered
    expect(page.get_by_label("Last name")).to_have_value("Cook")
    page.get_by_label("Birth date").fill("1960-11-01")
    page.get_by_label("Male", exact=True).check()
    page.get_by_label("Height (cm)").fill("180")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Skip for now").click()
    expect(page.get_by_role("heading", name="Account & Security")).to_be_visible()
    expect(page.get_by_text(f"Signed in as {APPLE_EMAIL}")).to_be_visible()

    # Signed out, and at the provider too.
    page.get_by_role("button", name="Sign out").first.click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.context.clear_cookies(domain="127.0.0.1")

    # Sign-in again: no name posted this time; the same account.
    del callbacks[:]
    page.goto(base + "/login")
    page.get_by_role("button", name="Sign in with Apple").click()
    at_provider(page, apple, "001234.tim")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert page.url == base + "/dashboard"
    posted, got = callbacks
    assert (posted.method, posted.cookies) == ("POST", set())
    assert got.method == "GET" and {"vk_upstream", "vk_csrf"} <= got.cookies
    assert {"code", "state"} <= posted.fields & got.fields and "user" not in posted.fields | got.fields  # no name
    page.goto(base + "/account")
    expect(page.get_by_text(f"Signed in as {APPLE_EMAIL}")).to_be_visible()
    page.goto(base + "/account/two-factor")
    listed = page.get_by_role("region", name="Your sign-in methods").get_by_role("list").first
    expect(listed.get_by_role("listitem")).to_have_count(1)
    expect(listed.get_by_role("listitem")).to_contain_text(f"Linked account · Apple · {APPLE_EMAIL}")
    assert accounts_and_links(sqlite_url) == (1, [("Apple", APPLE_EMAIL)])
    assert [str(m["Subject"]) for m in mailbox.to(APPLE_EMAIL)] == []

    # The page the callback leads to, audited in a tab of its own: for Eve, whose address Apple
    # did not vouch for, the sign-up's code step.
    audited.goto(base + "/signup")
    audited.get_by_role("button", name="Sign in with Apple").click()
    at_provider(audited, apple, "005678.eve")
    audited.wait_for_url(base + "/signup/**")
    expect(audited.get_by_label("6-digit code")).to_be_visible()
    assert_accessible(audited)


def test_the_sign_in_page_with_the_button_passes_axe(audited: Page, server: LiveServer) -> None:
    for path in ("/login", "/signup"):
        audited.goto(server.url + path)
        expect(audited.get_by_role("button", name="Continue with Google")).to_be_visible()
        expect(audited.get_by_role("button", name="Sign in with Apple")).to_be_visible()
        assert_accessible(audited)
