"""Two-factor authentication by SMS (issue #4) on both engines with a frozen clock: set-up with a
fresh sign-in, the SMS stage after either first factor, the recovery code, changes mailed, the
number changed, 2FA turned off."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest

from tests.flows.helpers import BROWSER, last_code, queued
from tests.flows.test_login_flow import make_account
from tests.flows.test_password_login import GOOD, password_stage, set_password
from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.errors import (
    CodeUsed,
    FlowDead,
    FlowNotFound,
    MalformedRecoveryCode,
    ReauthenticationRequired,
    ResendTooSoon,
    TooManyRecoveryFailures,
    TwoFactorOff,
    WrongCode,
    WrongRecoveryCode,
    WrongState,
)
from vitalkey.domain.phones import CountryNotAllowed, InvalidPhone
from vitalkey.flows.login import LoginState, SecondFactorNeeded
from vitalkey.flows.sessions import Authenticated, Started
from vitalkey.flows.two_factor import TwoFactorState

EMAIL = "ann@example.org"
PHONE = "+33612345678"
RECOVERY_FORMAT = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}")


def sign_in_by_code(container: Container, email: str = EMAIL) -> Started | SecondFactorNeeded:
    flow = container.login.start(email, BROWSER).flow
    return container.login.submit_code(flow.id, last_code(container, email), BROWSER)


def signed_in(container: Container, email: str = EMAIL) -> Authenticated:
    result = sign_in_by_code(container, email)
    if isinstance(result, SecondFactorNeeded):
        result = container.login.submit_sms(result.flow.id, last_code(container, PHONE), BROWSER)
    return container.sessions.authenticate(result.token)


def enable_sms(container: Container, email: str = EMAIL, phone: str = PHONE) -> str:
    """Set up 2FA for an account without it; the recovery code shown at the end."""
    auth = signed_in(container, email)
    view = container.two_factor.begin(auth, phone, "", BROWSER)
    done = container.two_factor.confirm(auth, view.flow.id, last_code(container, phone), BROWSER)
    assert done.recovery_code is not None
    container.two_factor.finish(auth, view.flow.id, BROWSER)
    return done.recovery_code


def mails(container: Container, template: str, email: str = EMAIL) -> list[dict[str, object]]:
    return [row for row in queued(container, email) if row["template"] == template]


def test_set_up_texts_a_code_then_shows_the_recovery_code_and_mails_the_user(container: Container) -> None:
    make_account(container)
    auth = signed_in(container)
    view = container.two_factor.begin(auth, "06 12 34 56 78", "FR", BROWSER)
    assert view.flow.state == "enrolling" and view.hint == "+33 •••• 78" and view.code["attempts_left"] == 5
    text = queued(container, PHONE)[-1]
    assert text["channel"] == "sms" and text["template"] == "sms_code" and text["payload"]["purpose"] == "setup"
    assert container.two_factor.status(auth.account.id) is None  # not on before the code
    with pytest.raises(WrongCode):
        container.two_factor.confirm(
            auth, view.flow.id, "000000" if last_code(container, PHONE) != "000000" else "1" * 6, BROWSER
        )
    done = container.two_factor.confirm(auth, view.flow.id, last_code(container, PHONE), BROWSER)
    assert done.flow.state == TwoFactorState.RECOVERY_SHOWN and RECOVERY_FORMAT.fullmatch(done.recovery_code or "")
    factor = container.two_factor.status(auth.account.id)
    assert factor is not None and factor.phone == PHONE and factor.method == "sms"
    # Stored sealed and as a digest, never in the clear.
    assert done.recovery_code.replace("-", "") not in factor.recovery_sealed + factor.recovery_digest  # type: ignore[union-attr]
    assert container.two_factor.view(auth, view.flow.id, BROWSER).recovery_code == done.recovery_code
    container.two_factor.finish(auth, view.flow.id, BROWSER)
    assert container.two_factor.view(auth, view.flow.id, BROWSER).recovery_code is None
    [mail] = mails(container, "two_factor_changed")
    assert mail["payload"]["event"] == "enabled" and mail["payload"]["phone"] == "+33 •••• 78"  # type: ignore[index]


def test_numbers_are_checked_and_limited_to_the_allowed_countries(container: Container) -> None:
    make_account(container)
    auth = signed_in(container)
    with pytest.raises(InvalidPhone):
        container.two_factor.begin(auth, "12", "", BROWSER)
    with pytest.raises(InvalidPhone):  # a landline cannot receive a text
        container.two_factor.begin(auth, "+33 1 42 68 53 00", "", BROWSER)
    with pytest.raises(CountryNotAllowed):
        container.two_factor.begin(auth, "+7 912 345 67 89", "", BROWSER)
    assert queued(container, "+79123456789") == []


def test_set_up_needs_a_sign_in_within_five_minutes(container: Container, clock: FrozenClock) -> None:
    make_account(container)
    auth = signed_in(container)
    clock.advance(minutes=5, seconds=1)
    with pytest.raises(ReauthenticationRequired):
        container.two_factor.begin(auth, PHONE, "", BROWSER)
    assert queued(container, PHONE) == []


def test_a_set_up_flow_belongs_to_the_session_that_started_it(container: Container) -> None:
    make_account(container)
    auth = signed_in(container)
    view = container.two_factor.begin(auth, PHONE, "", BROWSER)
    other = signed_in(container)
    with pytest.raises(FlowNotFound):
        container.two_factor.confirm(other, view.flow.id, last_code(container, PHONE), BROWSER)


def test_sign_in_asks_for_the_texted_code_after_the_emailed_one(container: Container) -> None:
    account_id = make_account(container)
    enable_sms(container)
    result = sign_in_by_code(container)
    assert isinstance(result, SecondFactorNeeded)
    assert result.flow.state == LoginState.SECOND_FACTOR and result.flow.context["method"] == "sms"
    assert result.challenge.hint == "+33 •••• 78"
    text = queued(container, PHONE)[-1]
    assert text["payload"]["purpose"] == "login"
    started = container.login.submit_sms(result.flow.id, last_code(container, PHONE), BROWSER)
    assert started.session.account_id == account_id and started.session.methods == ("email_code", "sms")
    # SECURITY.md: 24 hours at most for a session that passed a second factor.
    assert started.session.expires_at - started.session.created_at == timedelta(hours=24)
    with pytest.raises((CodeUsed, WrongState)):
        container.login.submit_sms(result.flow.id, last_code(container, PHONE), BROWSER)


def test_the_password_leads_to_the_texted_code_too(container: Container) -> None:
    account_id = make_account(container)
    set_password(container, account_id, GOOD)
    enable_sms(container)
    flow_id = password_stage(container, EMAIL)
    result = asyncio.run(container.login.submit_password(flow_id, GOOD, BROWSER))
    assert isinstance(result, SecondFactorNeeded)
    started = container.login.submit_sms(flow_id, last_code(container, PHONE), BROWSER)
    assert started.session.methods == ("password", "sms")


def test_texted_codes_follow_the_code_rules(container: Container, clock: FrozenClock) -> None:
    make_account(container)
    enable_sms(container)
    result = sign_in_by_code(container)
    assert isinstance(result, SecondFactorNeeded)
    flow_id = result.flow.id
    right = last_code(container, PHONE)
    wrong = "000000" if right != "000000" else "111111"
    with pytest.raises(ResendTooSoon):
        container.login.resend_sms(flow_id, BROWSER)
    for _ in range(2):
        with pytest.raises(WrongCode):
            container.login.submit_sms(flow_id, wrong, BROWSER)
    clock.advance(seconds=61)
    resent = container.login.resend_sms(flow_id, BROWSER)
    assert resent.challenge.code is not None and resent.challenge.code.attempts == 2  # a resend resets nothing
    right = last_code(container, PHONE)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(3):
        with pytest.raises((WrongCode, FlowDead)):
            container.login.submit_sms(flow_id, wrong, BROWSER)
    with pytest.raises(FlowDead):  # after 5 wrong codes even the right one is refused
        container.login.submit_sms(flow_id, right, BROWSER)


def test_texted_codes_expire_after_ten_minutes(container: Container, clock: FrozenClock) -> None:
    make_account(container)
    enable_sms(container)
    result = sign_in_by_code(container)
    assert isinstance(result, SecondFactorNeeded)
    clock.advance(minutes=10)
    with pytest.raises(Exception) as expired:
        container.login.submit_sms(result.flow.id, last_code(container, PHONE), BROWSER)
    assert getattr(expired.value, "code", "") == "code_expired"


def test_the_recovery_code_signs_in_once_and_is_replaced(container: Container) -> None:
    make_account(container)
    code = enable_sms(container)
    result = sign_in_by_code(container)
    assert isinstance(result, SecondFactorNeeded)
    moved = container.login.choose(result.flow.id, "recovery_chosen", BROWSER)
    assert (moved.state, moved.context["method"]) == (LoginState.SECOND_FACTOR, "recovery_code")
    with pytest.raises(MalformedRecoveryCode):
        container.login.submit_recovery(result.flow.id, "123", BROWSER)
    with pytest.raises(WrongRecoveryCode):
        container.login.submit_recovery(result.flow.id, "ABCD-EFGH-JKMN-PQRS", BROWSER)
    used = container.login.submit_recovery(result.flow.id, code.lower().replace("-", " "), BROWSER)
    assert used.started.session.methods == ("email_code", "recovery_code")
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{16}", used.new_code)
    assert used.new_code.replace("-", "") != code.replace("-", "")
    assert [m["payload"]["event"] for m in mails(container, "two_factor_changed")][-1] == "recovery_used"  # type: ignore[index]
    # The old code is spent; the new one is the one shown again later.
    again = sign_in_by_code(container)
    assert isinstance(again, SecondFactorNeeded)
    container.login.choose(again.flow.id, "recovery_chosen", BROWSER)
    with pytest.raises(WrongRecoveryCode):
        container.login.submit_recovery(again.flow.id, code, BROWSER)
    auth = container.sessions.authenticate(used.started.token)
    assert container.two_factor.recovery_code(auth)[0].replace("-", "") == used.new_code.replace("-", "")


def test_wrong_recovery_codes_are_capped_per_account(make_container: object, clock: FrozenClock) -> None:
    container = make_container(clock=clock, recovery_failures_per_account="3/86400")  # type: ignore[operator]
    make_account(container)
    code = enable_sms(container)
    result = sign_in_by_code(container)
    container.login.choose(result.flow.id, "recovery_chosen", BROWSER)  # type: ignore[union-attr]
    for _ in range(3):
        with pytest.raises(WrongRecoveryCode):
            container.login.submit_recovery(result.flow.id, "ABCD-EFGH-JKMN-PQRS", BROWSER)  # type: ignore[union-attr]
    with pytest.raises(TooManyRecoveryFailures) as refused:  # even the right one, until the window ends
        container.login.submit_recovery(result.flow.id, code, BROWSER)  # type: ignore[union-attr]
    wait = refused.value.params["seconds"]  # the answer's Retry-After: the real wait
    assert 86400 - 24 * 60 < wait <= 86400 + 24 * 60

    def recovery_sign_in() -> object:
        again = sign_in_by_code(container)
        container.login.choose(again.flow.id, "recovery_chosen", BROWSER)  # type: ignore[union-attr]
        return container.login.submit_recovery(again.flow.id, code, BROWSER)  # type: ignore[union-attr]

    clock.advance(seconds=wait - 1)
    with pytest.raises(TooManyRecoveryFailures):
        recovery_sign_in()
    clock.advance(seconds=1)
    assert recovery_sign_in().new_code  # type: ignore[attr-defined]


def test_viewing_and_renewing_the_recovery_code_need_a_fresh_second_factor(
    container: Container, clock: FrozenClock
) -> None:
    make_account(container)
    code = enable_sms(container)
    auth = signed_in(container)  # email code + SMS
    assert container.two_factor.recovery_code(auth)[0] == code
    clock.advance(minutes=6)
    with pytest.raises(ReauthenticationRequired):
        container.two_factor.recovery_code(auth)
    auth = signed_in(container)
    renewed = container.two_factor.renew_recovery(auth, BROWSER)
    assert renewed != code and container.two_factor.recovery_code(auth)[0] == renewed
    assert [m["payload"]["event"] for m in mails(container, "two_factor_changed")][-1] == "recovery_renewed"  # type: ignore[index]


def test_a_session_without_the_second_factor_cannot_change_it(container: Container) -> None:
    make_account(container)
    first = signed_in(container)  # before 2FA: email code only
    enable_sms(container)
    with pytest.raises(ReauthenticationRequired):  # fresh, but without the current second factor
        container.two_factor.begin(first, "+33698765432", "", BROWSER)
    with pytest.raises(ReauthenticationRequired):
        container.two_factor.disable(first, BROWSER)


def test_changing_the_number_texts_the_new_one_and_mails_the_change(container: Container) -> None:
    make_account(container)
    code = enable_sms(container)
    auth = signed_in(container)
    view = container.two_factor.begin(auth, "+33698765432", "", BROWSER)
    done = container.two_factor.confirm(auth, view.flow.id, last_code(container, "+33698765432"), BROWSER)
    assert done.flow.state == "complete" and done.recovery_code is None
    factor = container.two_factor.status(auth.account.id)
    assert factor is not None and factor.phone == "+33698765432"
    assert container.two_factor.recovery_code(auth)[0] == code  # the recovery code stays
    assert [m["payload"]["event"] for m in mails(container, "two_factor_changed")][-1] == "phone_changed"  # type: ignore[index]
    result = sign_in_by_code(container)
    assert isinstance(result, SecondFactorNeeded) and result.challenge.hint == "+33 •••• 32"


def test_turning_it_off_needs_a_fresh_sign_in_and_is_mailed(container: Container, clock: FrozenClock) -> None:
    make_account(container)
    enable_sms(container)
    auth = signed_in(container)
    clock.advance(minutes=6)
    with pytest.raises(ReauthenticationRequired):
        container.two_factor.disable(auth, BROWSER)
    auth = signed_in(container)
    assert container.two_factor.disable(auth, BROWSER) == 0
    assert container.two_factor.status(auth.account.id) is None
    assert [m["payload"]["event"] for m in mails(container, "two_factor_changed")][-1] == "disabled"  # type: ignore[index]
    with pytest.raises(TwoFactorOff):
        container.two_factor.disable(auth, BROWSER)
    assert isinstance(sign_in_by_code(container), Started)  # no second factor any more


def test_turning_it_off_midway_sends_a_waiting_sign_in_back(container: Container) -> None:
    make_account(container)
    enable_sms(container)
    waiting = sign_in_by_code(container)
    assert isinstance(waiting, SecondFactorNeeded)
    auth = signed_in(container)
    container.two_factor.disable(auth, BROWSER)
    with pytest.raises(WrongState):
        container.login.resend_sms(waiting.flow.id, BROWSER)
