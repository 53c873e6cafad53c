"""Each domain event is counted once, by the flow, where it happens; a refused attempt raised
inside its transaction stays counted (``CountedRefusal``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from sqlalchemy import text

from tests.flows.helpers import BROWSER, last_code
from tests.flows.test_login_flow import make_account
from tests.flows.test_password_login import GOOD, password_stage, set_password
from tests.flows.test_signup_flow import DETAILS
from tests.flows.test_two_factor import PHONE, enable_sms, sign_in_by_code
from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.errors import MalformedCode, SmsLimited, WrongCode, WrongRecoveryCode
from vitalkey.flows.email_code import PURPOSE
from vitalkey.flows.login import SecondFactorNeeded

EMAIL = "ann@example.org"


@dataclass
class Recorded:
    """An ``Events`` that keeps the calls."""

    calls: list[tuple[str, ...]] = field(default_factory=list)

    def signed_up(self) -> None:
        self.calls.append(("signed_up",))

    def signed_in(self, method: str) -> None:
        self.calls.append(("signed_in", method))

    def code_refused(self, reason: str) -> None:
        self.calls.append(("code_refused", reason))

    def sms_completed(self, purpose: str) -> None:
        self.calls.append(("sms_completed", purpose))

    def sms_refused(self, limit: str) -> None:
        self.calls.append(("sms_refused", limit))

    def taken(self) -> list[tuple[str, ...]]:
        calls, self.calls = self.calls, []
        return calls


def recording(container: Container) -> Recorded:
    events = Recorded()
    # Every flow of the container shares its FlowDeps (frozen: set once, here, for the test).
    object.__setattr__(container.deps, "events", events)
    return events


def audited(container: Container, event: str) -> int:
    with container.uow.engine.connect() as connection:  # type: ignore[attr-defined]
        return int(connection.execute(text("SELECT count(*) FROM audit WHERE event = :e"), {"e": event}).scalar_one())


def test_sign_up_is_counted_once_when_it_completes(container: Container) -> None:
    events = recording(container)
    flow = container.signup.start("bo@example.org", BROWSER).flow
    with pytest.raises(WrongCode):
        container.signup.submit_code(flow.id, "000000", BROWSER)
    assert events.taken() == [("code_refused", "wrong_code")]
    flow = container.signup.submit_code(flow.id, last_code(container, "bo@example.org"), BROWSER)
    flow = container.signup.accept_policy(flow.id, True, None, BROWSER)
    flow = container.signup.submit_details(flow.id, DETAILS, BROWSER)
    assert events.taken() == []
    container.signup.finish(flow.id, False, BROWSER)
    assert events.taken() == [("signed_up",)]


def test_sign_ins_and_refused_codes_are_counted_once(container: Container) -> None:
    account_id = make_account(container)
    events = recording(container)
    flow = container.login.start(EMAIL, BROWSER).flow
    with pytest.raises(MalformedCode):
        container.login.submit_code(flow.id, "12", BROWSER)
    with pytest.raises(WrongCode):
        container.login.submit_code(flow.id, "000000", BROWSER)
    container.login.submit_code(flow.id, last_code(container, EMAIL), BROWSER)
    assert events.taken() == [
        ("code_refused", "malformed_code"),
        ("code_refused", "wrong_code"),
        ("signed_in", "email_code"),
    ]
    set_password(container, account_id, GOOD)
    asyncio.run(container.login.submit_password(password_stage(container, EMAIL), GOOD, BROWSER))
    assert events.taken() == [("signed_in", "password")]


def test_second_factor_events(container: Container) -> None:
    make_account(container)
    events = recording(container)
    recovery = enable_sms(container)
    assert events.taken() == [("signed_in", "email_code"), ("sms_completed", "setup")]
    waiting = sign_in_by_code(container)
    assert isinstance(waiting, SecondFactorNeeded)
    assert events.taken() == []  # the first factor alone signs no one in
    container.login.submit_sms(waiting.flow.id, last_code(container, PHONE), BROWSER)
    assert events.taken() == [("sms_completed", "login"), ("signed_in", "sms")]
    waiting = sign_in_by_code(container)
    assert isinstance(waiting, SecondFactorNeeded)
    container.login.choose(waiting.flow.id, "recovery_chosen", BROWSER)
    with pytest.raises(WrongRecoveryCode):
        container.login.submit_recovery(waiting.flow.id, "ABCD-EFGH-JKMN-PQRS", BROWSER)
    container.login.submit_recovery(waiting.flow.id, recovery, BROWSER)
    assert events.taken() == [("code_refused", "wrong_recovery_code"), ("signed_in", "recovery_code")]


def test_a_text_refused_at_a_limit_is_counted_once(make_container: object, clock: FrozenClock) -> None:
    container = make_container(clock=clock, sms_limit_per_number="1/3600")  # type: ignore[operator]
    make_account(container)
    events = recording(container)
    enable_sms(container)
    events.taken()
    waiting = sign_in_by_code(container)  # the one text per hour went to the set-up
    assert isinstance(waiting, SecondFactorNeeded) and isinstance(waiting.challenge.refused, SmsLimited)
    assert events.taken() == [("sms_refused", "number")]
    with pytest.raises(SmsLimited):
        container.login.resend_sms(waiting.flow.id, BROWSER)
    assert events.taken() == [("sms_refused", "number")]


def test_a_wrong_code_raised_inside_its_transaction_stays_counted(container: Container) -> None:
    """Alone, and in SQLite's group commit (the flow run by ``UnitOfWork.run``)."""
    make_account(container)
    flow = container.login.start(EMAIL, BROWSER).flow
    with pytest.raises(WrongCode):
        container.login.submit_code(flow.id, "000000", BROWSER)
    with pytest.raises(WrongCode):
        asyncio.run(container.uow.run(container.login.submit_code, flow.id, "000000", BROWSER))
    with container.uow.read() as tx:
        stored = tx.codes.get(flow.id, PURPOSE)
    assert stored is not None and stored.attempts == 2
    assert audited(container, "code.rejected") == 2


def test_a_wrong_recovery_code_stays_counted(container: Container) -> None:
    make_account(container)
    enable_sms(container)
    waiting = sign_in_by_code(container)
    assert isinstance(waiting, SecondFactorNeeded)
    container.login.choose(waiting.flow.id, "recovery_chosen", BROWSER)
    for _ in range(2):
        with pytest.raises(WrongRecoveryCode):
            container.login.submit_recovery(waiting.flow.id, "ABCD-EFGH-JKMN-PQRS", BROWSER)
    assert audited(container, "recovery.rejected") == 2
