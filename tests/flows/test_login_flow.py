"""Passwordless sign-in on both engines with a frozen clock."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from sqlalchemy import text

from tests.flows.helpers import BROWSER, last_code, queued
from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.accounts import Profile, Sex, Units
from vitalkey.domain.emails import account_key
from vitalkey.domain.errors import (
    CodeExpired,
    CodeUsed,
    DomainError,
    FlowDead,
    FlowExpired,
    FlowNotFound,
    NotAuthenticated,
    RateLimited,
    ResendLimit,
    ResendTooSoon,
    TooManyCodeFailures,
    WrongCode,
    WrongState,
)
from vitalkey.domain.flows import Channel, Requester

PROFILE = Profile("Ann", "Lee", date(1990, 5, 1), Sex.FEMALE, 168.0, Units.METRIC)


def make_account(container: Container, email: str = "ann@example.org") -> int:
    with container.uow.begin() as tx:
        account = tx.accounts.create(email, account_key(email), "en", PROFILE, "2026-01", container.clock.now())
    assert account is not None
    return account.id


def test_right_code_signs_in_once(container: Container) -> None:
    account_id = make_account(container)
    flow = container.login.start("ann@example.org", BROWSER).flow
    assert (flow.state, flow.context["method"]) == ("first_factor", "email_code")
    mail = queued(container, "ann@example.org")[-1]
    assert mail["template"] == "login_code" and len(mail["payload"]["code"]) == 6
    started = container.login.submit_code(flow.id, last_code(container, "ann@example.org"), BROWSER)
    assert started.session.account_id == account_id and len(started.token) >= 43
    assert container.sessions.authenticate(started.token).account.id == account_id
    with pytest.raises((CodeUsed, WrongState)):
        container.login.submit_code(flow.id, last_code(container, "ann@example.org"), BROWSER)


def test_unknown_address_gets_the_no_account_mail_and_can_never_sign_in(container: Container) -> None:
    flow = container.login.start("nobody@example.org", BROWSER).flow
    assert (flow.state, flow.context["method"]) == ("first_factor", "email_code")
    mail = queued(container, "nobody@example.org")[-1]
    assert mail["template"] == "login_unknown" and "code" not in mail["payload"]
    assert mail["payload"]["signup_url"].endswith("/signup")
    with pytest.raises(WrongCode):
        container.login.submit_code(flow.id, "000000", BROWSER)


def test_five_wrong_codes_kill_the_flow_even_for_the_right_code(container: Container) -> None:
    make_account(container)
    flow = container.login.start("ann@example.org", BROWSER).flow
    right = last_code(container, "ann@example.org")
    wrong = "000000" if right != "000000" else "111111"
    for remaining in (4, 3, 2, 1):
        with pytest.raises(WrongCode) as refused:
            container.login.submit_code(flow.id, wrong, BROWSER)
        assert refused.value.params["remaining"] == remaining
    with pytest.raises(FlowDead):
        container.login.submit_code(flow.id, wrong, BROWSER)
    with pytest.raises(FlowDead):
        container.login.submit_code(flow.id, right, BROWSER)
    assert container.login.view(flow.id, BROWSER).flow.state == "dead"


def test_four_wrong_then_right_still_works(container: Container) -> None:
    make_account(container)
    flow = container.login.start("ann@example.org", BROWSER).flow
    right = last_code(container, "ann@example.org")
    for _ in range(4):
        with pytest.raises(WrongCode):
            container.login.submit_code(flow.id, "999999" if right != "999999" else "888888", BROWSER)
    assert container.login.submit_code(flow.id, right, BROWSER).token


def test_code_expires_after_ten_minutes(container: Container, clock: FrozenClock) -> None:
    make_account(container)
    flow = container.login.start("ann@example.org", BROWSER).flow
    code = last_code(container, "ann@example.org")
    clock.advance(minutes=10)
    with pytest.raises(CodeExpired):
        container.login.submit_code(flow.id, code, BROWSER)


def test_resend_cooldown_limit_and_attempts_are_kept(container: Container, clock: FrozenClock) -> None:
    make_account(container)
    flow = container.login.start("ann@example.org", BROWSER).flow
    first = last_code(container, "ann@example.org")
    with pytest.raises(WrongCode):
        container.login.submit_code(flow.id, "000000" if first != "000000" else "111111", BROWSER)
    with pytest.raises(ResendTooSoon):
        container.login.resend(flow.id, BROWSER)
    for _ in range(5):
        clock.advance(seconds=60)
        container.login.resend(flow.id, BROWSER)
    clock.advance(seconds=60)
    with pytest.raises(ResendLimit):
        container.login.resend(flow.id, BROWSER)
    assert len(queued(container, "ann@example.org")) == 6
    latest = last_code(container, "ann@example.org")
    view = container.login.view(flow.id, BROWSER)
    assert view.code["attempts_left"] == 4  # the resends did not reset the count
    if first != latest:
        with pytest.raises(WrongCode):
            container.login.submit_code(flow.id, first, BROWSER)  # an older code is dead
    assert container.login.submit_code(flow.id, latest, BROWSER).token


def test_a_code_is_bound_to_its_own_flow(container: Container) -> None:
    make_account(container)
    first = container.login.start("ann@example.org", BROWSER).flow
    first_code = last_code(container, "ann@example.org")
    second = container.login.start("ann@example.org", BROWSER).flow
    second_code = last_code(container, "ann@example.org")
    if first_code != second_code:
        with pytest.raises(WrongCode):
            container.login.submit_code(second.id, first_code, BROWSER)
    assert container.login.submit_code(first.id, first_code, BROWSER).token


def test_flows_belong_to_their_channel_and_browser(container: Container) -> None:
    make_account(container)
    browser = Requester("198.51.100.1", "ua", "en", Channel.BROWSER, browser_binding="b" * 64)
    other_browser = Requester("198.51.100.1", "ua", "en", Channel.BROWSER, browser_binding="c" * 64)
    flow = container.login.start("ann@example.org", browser).flow
    for stranger in (other_browser, BROWSER):
        with pytest.raises(FlowNotFound):
            container.login.view(flow.id, stranger)
    with pytest.raises(FlowNotFound):
        container.login.view("no-such-flow", browser)
    with pytest.raises(FlowNotFound):
        container.signup.view(flow.id, browser)  # a login flow is not a sign-up flow


def test_flow_expires(container: Container, clock: FrozenClock) -> None:
    make_account(container)
    flow = container.login.start("ann@example.org", BROWSER).flow
    clock.advance(hours=1, seconds=1)
    with pytest.raises(FlowExpired):
        container.login.resend(flow.id, BROWSER)


def test_typo_is_offered_before_any_code_is_sent(container: Container) -> None:
    flow = container.login.start("ann@gmail.con", BROWSER).flow
    assert flow.state == "confirm_email" and flow.context["suggestion"] == "ann@gmail.com"
    assert queued(container, "ann@gmail.con") == [] and queued(container, "ann@gmail.com") == []
    accepted = container.login.answer_suggestion(flow.id, True, BROWSER).flow
    assert accepted.email == "ann@gmail.com" and accepted.state == "first_factor"
    assert len(queued(container, "ann@gmail.com")) == 1


def test_declined_typo_keeps_the_typed_address(container: Container) -> None:
    flow = container.login.start("ann@gmail.con", BROWSER).flow
    declined = container.login.answer_suggestion(flow.id, False, BROWSER).flow
    assert declined.email == "ann@gmail.con" and len(queued(container, "ann@gmail.con")) == 1


def test_mail_rate_limit_per_address_holds(make_container: object, clock: FrozenClock) -> None:
    container = make_container(clock=clock, mail_limit_per_address="3/3600")  # type: ignore[operator]
    for _ in range(3):
        container.login.start("ann@example.org", BROWSER)
    with pytest.raises(RateLimited):
        container.login.start("ann@example.org", BROWSER)
    assert len(queued(container, "ann@example.org")) == 3  # the refused one queued nothing
    clock.advance(hours=1, minutes=1)  # a sliding hour, counted in minutes: the mails' minute has left it
    container.login.start("ann@example.org", BROWSER)


def test_mail_rate_limit_per_ip_holds(make_container: object, clock: FrozenClock) -> None:
    container = make_container(clock=clock, mail_limit_per_ip="2/60")  # type: ignore[operator]
    container.login.start("a@example.org", BROWSER)
    container.login.start("b@example.org", BROWSER)
    with pytest.raises(RateLimited):
        container.login.start("c@example.org", BROWSER)
    other_ip = Requester("192.0.2.9", "ua", "en", Channel.API)
    container.login.start("c@example.org", other_ip)


def test_rate_limits_hold_across_processes(make_container: object, clock: FrozenClock) -> None:
    """Two containers on one database stand for two server processes."""
    first = make_container(clock=clock, mail_limit_per_address="2/3600")  # type: ignore[operator]
    second = make_container(clock=clock, mail_limit_per_address="2/3600")  # type: ignore[operator]
    first.login.start("ann@example.org", BROWSER)
    second.login.start("ann@example.org", BROWSER)
    with pytest.raises(RateLimited):
        first.login.start("ann@example.org", BROWSER)


def test_wrong_codes_are_audited(container: Container) -> None:
    make_account(container)
    flow = container.login.start("ann@example.org", BROWSER).flow
    with pytest.raises(WrongCode):
        container.login.submit_code(
            flow.id, "000000" if last_code(container, "ann@example.org") != "000000" else "1" * 6, BROWSER
        )
    with container.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text("SELECT event, details FROM audit ORDER BY id"))]
    assert [r[0] for r in rows] == ["code.sent", "code.rejected"] and "wrong_code" in str(rows[1][1])


def test_sessions_end_after_idle_and_absolute_timeouts(container: Container, clock: FrozenClock) -> None:
    make_account(container)
    flow = container.login.start("ann@example.org", BROWSER).flow
    token = container.login.submit_code(flow.id, last_code(container, "ann@example.org"), BROWSER).token
    clock.advance(minutes=59)
    assert container.sessions.authenticate(token)  # activity refreshes the idle clock
    clock.advance(minutes=59)
    assert container.sessions.authenticate(token)
    clock.advance(minutes=61)
    with pytest.raises(NotAuthenticated):
        container.sessions.authenticate(token)


def test_sessions_end_after_thirty_days_even_when_active(container: Container, clock: FrozenClock) -> None:
    make_account(container)
    flow = container.login.start("ann@example.org", BROWSER).flow
    token = container.login.submit_code(flow.id, last_code(container, "ann@example.org"), BROWSER).token
    for _ in range(30 * 24 * 60 // 59):  # active every 59 minutes, for just under 30 days
        clock.advance(minutes=59)
        container.sessions.authenticate(token)
    clock.advance(minutes=59)
    with pytest.raises(NotAuthenticated):
        container.sessions.authenticate(token)


def test_parallel_resends_send_one_code(container: Container, clock: FrozenClock) -> None:
    make_account(container)
    flow = container.login.start("ann@example.org", BROWSER).flow
    clock.advance(seconds=60)

    def resend(_: int) -> str:
        try:
            container.login.resend(flow.id, BROWSER)
            return "sent"
        except DomainError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(resend, range(20)))
    assert results.count("sent") == 1 and set(results) == {"sent", "resend_too_soon"}
    assert len(queued(container, "ann@example.org")) == 2


def test_wrong_codes_are_capped_per_address_across_flows(make_container: object, clock: FrozenClock) -> None:
    container = make_container(clock=clock, code_failures_per_address="3/86400")  # type: ignore[operator]
    make_account(container)
    for _ in range(3):
        flow = container.login.start("ann@example.org", BROWSER).flow
        right = last_code(container, "ann@example.org")
        with pytest.raises(WrongCode):
            container.login.submit_code(flow.id, "000000" if right != "000000" else "111111", BROWSER)
    flow = container.login.start("ann@example.org", BROWSER).flow
    with pytest.raises(TooManyCodeFailures):  # even the right code, until the window ends
        container.login.submit_code(flow.id, last_code(container, "ann@example.org"), BROWSER)
    clock.advance(days=1, minutes=24)  # a sliding day, counted in 24-minute buckets
    flow = container.login.start("ann@example.org", BROWSER).flow
    assert container.login.submit_code(flow.id, last_code(container, "ann@example.org"), BROWSER).token


def test_session_list_leaves_out_idle_sessions(container: Container, clock: FrozenClock) -> None:
    account_id = make_account(container)
    first = container.login.start("ann@example.org", BROWSER).flow
    container.login.submit_code(first.id, last_code(container, "ann@example.org"), BROWSER)
    clock.advance(minutes=61)
    second = container.login.start("ann@example.org", BROWSER).flow
    container.login.submit_code(second.id, last_code(container, "ann@example.org"), BROWSER)
    assert len(container.sessions.list(account_id)) == 1
