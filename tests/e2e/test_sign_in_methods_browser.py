"""Choice and fallback (issue #22 item 4) in Debian's Chromium against a real server process
whose texts go to a local fake gateway: with SMS on, "Try another way" → the recovery code signs
in; later, after the re-authentication, a passkey is renamed and the text message is removed
from the list of methods, which turns 2FA off (the passkey stays) and is mailed; axe on the
second-factor page, the section, the rename form and the confirmation, which fit a phone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import Gateway, LiveServer, Mailbox, code_in, free_port, start_server, stop_server
from tests.e2e.conftest import CHROMIUM, assert_accessible
from tests.e2e.journeys import sms_server_env
from tests.e2e.test_layout_browser import MEASURE, VIEWPORTS
from tests.e2e.test_two_factor_browser import EMAIL, PHONE, first_factor, sign_out, sign_up_with_two_factor
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.engine import make_engine

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]


@pytest.fixture
def methods_server(
    tmp_path: Path, sqlite_url: str, smtp_server: tuple[Mailbox, int], gateway: Gateway
) -> Iterator[LiveServer]:
    server = start_server(
        tmp_path / "live",
        free_port(),
        sms_server_env(sqlite_url, smtp_server[1], gateway),
    )
    yield server
    stop_server(server)


def add_passkey(database_url: str, email: str) -> None:
    """A passkey row as the passkey kind stores one (that kind is built beside this step)."""
    engine = make_engine(database_url)
    with engine.begin() as conn:
        account_id = conn.execute(select(t.accounts.c.id).where(t.accounts.c.email == email)).scalar_one()
        conn.execute(
            t.authenticators.insert().values(
                account_id=account_id, kind="passkey", created_at=datetime.now(UTC), lookup="cred-1", data={}
            )
        )
    engine.dispose()


def age_sign_ins(database_url: str, email: str, by: timedelta) -> None:
    """The account's sessions signed in ``by`` earlier (as if that time had passed: the server
    runs in its own process, on the real clock)."""
    engine = make_engine(database_url)
    with engine.begin() as conn:
        account_id = conn.execute(select(t.accounts.c.id).where(t.accounts.c.email == email)).scalar_one()
        for session_id, created_at in conn.execute(
            select(t.sessions.c.id, t.sessions.c.created_at).where(t.sessions.c.account_id == account_id)
        ).all():
            query = t.sessions.update().where(t.sessions.c.id == session_id)
            conn.execute(query.values(authenticated_at=created_at - by))
    engine.dispose()


def test_try_another_way_then_remove_the_text_message_after_signing_in_again(
    audited: Page, methods_server: LiveServer, mailbox: Mailbox, gateway: Gateway, tmp_path: Path, sqlite_url: str
) -> None:
    page, base = audited, methods_server.url
    recovery = sign_up_with_two_factor(page, methods_server, mailbox, gateway)  # mails 1-2, text 1
    sign_out(page)

    # The second-factor page lists the other ways; the recovery code signs in.
    first_factor(page, methods_server, mailbox, 3)  # text 2
    ways = page.get_by_role("region", name="Try another way")
    expect(ways.get_by_role("button")).to_have_count(1)
    assert_accessible(page)
    ways.get_by_role("button", name="Recovery code").click()
    expect(page.get_by_role("heading", name="Use my recovery code")).to_be_visible()
    expect(page.get_by_role("button", name="Text message (+33 •••• 78)")).to_be_visible()  # the way back
    page.get_by_label("Recovery code").fill(recovery)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("You signed in with your recovery code, so it no longer works.")).to_be_visible()
    assert "recovery code was used" in str(mailbox.wait_for(EMAIL, 4)["Subject"])

    # The section: the text message with its masked number and the default badge; axe-clean.
    page.goto(base + "/account/two-factor")
    methods = page.get_by_role("list").filter(has_text="+33 •••• 78")
    expect(methods.get_by_text("Default")).to_be_visible()
    expect(methods.get_by_role("link", name="Remove")).to_be_visible()
    assert_accessible(page)

    # Once the sign-in is no longer recent, the list asks for it again, and comes back.
    age_sign_ins(sqlite_url, EMAIL, timedelta(minutes=6))  # past the 5 minutes a change may follow a sign-in
    page.reload()
    expect(page.get_by_role("link", name="Remove")).to_have_count(0)
    page.get_by_role("button", name="Sign in again").click()
    page.get_by_label("6-digit code").fill(code_in(mailbox.wait_for(EMAIL, 5)))
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("6-digit code").fill(gateway.code(PHONE, 3))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Two-factor authentication and sign-in methods")).to_be_visible()
    page.set_viewport_size(VIEWPORTS["phone"])  # the list and its actions fit a phone's width
    page.screenshot(path=str(tmp_path / "methods-phone.png"), full_page=True)
    assert page.evaluate(MEASURE) == []

    # A passkey beside it: renamed (axe on the form), then kept when 2FA goes.
    add_passkey(sqlite_url, EMAIL)
    page.reload()
    page.get_by_role("link", name="Rename").click()  # only the passkey takes a name
    expect(page.get_by_role("heading", name="Rename · Passkey")).to_be_visible()
    assert_accessible(page)
    assert page.evaluate(MEASURE) == []
    page.get_by_label("Name").fill("Work laptop")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("The method has been renamed.")).to_be_visible()
    expect(page.get_by_text("Passkey · Work laptop")).to_be_visible()

    # Remove → the confirmation page says 2FA goes with it → removed, 2FA off, mailed.
    page.get_by_role("link", name="Remove: Text message").click()
    expect(page.get_by_role("heading", name="Remove this method?")).to_be_visible()
    expect(page.get_by_text("removing it turns two-factor authentication off")).to_be_visible()
    assert_accessible(page)
    assert page.evaluate(MEASURE) == []
    page.get_by_role("button", name="Remove").click()
    expect(page.get_by_text("The method has been removed. Two-factor authentication is off.")).to_be_visible()
    expect(page.get_by_text("Status: off")).to_be_visible()
    expect(page.get_by_text("+33 •••• 78")).to_have_count(0)
    expect(page.get_by_text("Passkey · Work laptop")).to_be_visible()  # passkeys stay as sign-in methods
    assert_accessible(page)
    subjects = [str(mailbox.wait_for(EMAIL, n)["Subject"]) for n in (6, 7)]
    assert "settings have changed" in subjects[0]  # method_removed
    assert "Two-factor authentication is off" in subjects[1]
    removed = mailbox.wait_for(EMAIL, 6)
    assert "A way to confirm it's you was removed" in removed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
