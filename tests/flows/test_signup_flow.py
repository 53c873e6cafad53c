"""Sign-up on both engines with a frozen clock."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.flows.helpers import BROWSER, last_code, queued
from tests.flows.test_login_flow import make_account
from vitalkey.adapters.clock import FrozenClock
from vitalkey.adapters.db import schema as t
from vitalkey.container import Container
from vitalkey.domain.errors import InvalidInput, PolicyNotAccepted, WrongCode, WrongState

DETAILS = {
    "first_name": "Bo",
    "last_name": "Chen",
    "birth_date": "1985-02-03",
    "sex": "male",
    "units": "imperial",
    "height_ft": "5",
    "height_in": "9",
}


def test_complete_sign_up(container: Container, clock: FrozenClock) -> None:
    flow = container.signup.start("bo@example.org", BROWSER).flow
    assert queued(container, "bo@example.org")[-1]["template"] == "signup_code"
    with pytest.raises(WrongState):
        container.signup.accept_policy(flow.id, True, None, BROWSER)  # not before the code
    flow = container.signup.submit_code(flow.id, last_code(container, "bo@example.org"), BROWSER)
    assert flow.state == "policy"
    with pytest.raises(PolicyNotAccepted):
        container.signup.accept_policy(flow.id, False, None, BROWSER)
    with pytest.raises(PolicyNotAccepted):
        container.signup.accept_policy(flow.id, True, "1999-01", BROWSER)
    flow = container.signup.accept_policy(flow.id, True, "2026-01", BROWSER)
    assert flow.state == "details"
    with pytest.raises(InvalidInput) as refused:
        container.signup.submit_details(flow.id, {**DETAILS, "birth_date": "yesterday"}, BROWSER)
    assert refused.value.field_name == "birth_date"
    flow = container.signup.submit_details(flow.id, DETAILS, BROWSER)
    assert flow.state == "two_factor_offer"
    started = container.signup.finish(flow.id, False, BROWSER)
    account = container.sessions.authenticate(started.token).account
    assert account.email == "bo@example.org" and account.profile is not None
    assert account.profile.height_cm == 175.3 and account.profile.units.value == "imperial"
    assert account.policy_version == "2026-01" and account.policy_accepted_at == clock.now()
    with container.engine.connect() as conn:
        events = [row.event for row in conn.execute(select(t.audit.c.event).order_by(t.audit.c.id))]
    assert events == ["code.sent", "signup.policy_accepted", "signup.completed", "session.started"]


def test_existing_address_walks_the_same_pages_and_owner_is_told(container: Container) -> None:
    make_account(container, "ann@example.org")
    flow = container.signup.start("ann@example.org", BROWSER).flow
    assert flow.state == "code_sent"
    mail = queued(container, "ann@example.org")[-1]
    assert mail["template"] == "signup_exists" and "code" not in mail["payload"]
    assert mail["payload"]["login_url"].endswith("/login")
    with pytest.raises(WrongCode):
        container.signup.submit_code(flow.id, "123456", BROWSER)


def test_api_view_shows_no_hint_of_an_existing_account(container: Container) -> None:
    make_account(container, "ann@example.org")
    known = container.signup.view(container.signup.start("ann@example.org", BROWSER).flow.id, BROWSER)
    unknown = container.signup.view(container.signup.start("new@example.org", BROWSER).flow.id, BROWSER)
    assert known.flow.state == unknown.flow.state and known.flow.context == unknown.flow.context
    assert set(known.code) == set(unknown.code)
