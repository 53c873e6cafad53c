"""Per-app 2FA support and app passwords; SMS abuse limits; 50 parallel right SMS codes (issue #4),
on both engines."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from tests.flows.helpers import BROWSER, last_code, queued
from tests.flows.test_login_flow import make_account
from tests.flows.test_password_login import GOOD, set_password
from tests.flows.test_two_factor import EMAIL, PHONE, enable_sms, mails, sign_in_by_code, signed_in
from vitalkey.adapters.clock import FrozenClock
from vitalkey.adapters.db import schema as t
from vitalkey.container import Container
from vitalkey.domain.errors import (
    AppDoesNotSupport2fa,
    AppExists,
    AppHasTwoFactor,
    AppPasswordNotFound,
    DomainError,
    FlowDead,
    InvalidClientMetadata,
    InvalidInput,
    SmsLimited,
    SmsUnavailable,
    TwoFactorOff,
    UnknownApp,
    WrongPassword,
)
from vitalkey.flows.login import SecondFactorNeeded
from vitalkey.flows.sessions import Started

LEGACY = "vitalkey-thermo"
COMPANION = "vitalkey-app"


def app_sign_in(container: Container, app: str, password: str, email: str = EMAIL) -> Started | SecondFactorNeeded:
    flow = container.login.begin(email, BROWSER, app=app, method="password").flow
    return asyncio.run(container.login.submit_password(flow.id, password, BROWSER))


def test_the_seed_apps_are_registered(container: Container) -> None:
    apps = {app.client_id: app for app in container.apps.all()}
    assert apps[COMPANION].supports_2fa and apps[COMPANION].first_party
    legacy = {"vitalkey-thermo", "vitalkey-baby", "vitalkey-home-camera", "vitalkey-scale-classic"}
    assert legacy <= set(apps) and not any(apps[cid].supports_2fa for cid in legacy)


def test_apps_can_be_added_once(container: Container) -> None:
    app = container.apps.add("coach-pro", "Coach Pro", supports_2fa=False, first_party=False)
    assert app in container.apps.all()
    with pytest.raises(AppExists):
        container.apps.add("coach-pro", "Coach Pro 2", supports_2fa=True, first_party=False)
    with pytest.raises(InvalidClientMetadata):
        container.apps.add("Not Valid!", "x", supports_2fa=True, first_party=False)


def test_an_unknown_app_cannot_start_a_sign_in(container: Container) -> None:
    with pytest.raises(UnknownApp):
        container.login.begin(EMAIL, BROWSER, app="no-such-app")


def test_a_legacy_app_is_refused_after_the_first_factor_when_2fa_is_on(container: Container) -> None:
    make_account(container)
    enable_sms(container)
    texts_before = len(queued(container, PHONE))
    flow = container.login.begin(EMAIL, BROWSER, app=LEGACY).flow
    with pytest.raises(AppDoesNotSupport2fa) as refused:
        container.login.submit_code(flow.id, last_code(container, EMAIL), BROWSER)
    assert "App passwords" in refused.value.message_id  # the message names the way out
    assert len(queued(container, PHONE)) == texts_before  # no text for a sign-in that cannot finish
    with pytest.raises(FlowDead):
        container.login.submit_code(flow.id, last_code(container, EMAIL), BROWSER)


def test_a_legacy_app_signs_in_as_before_without_2fa_and_the_companion_app_gets_the_sms(
    container: Container,
) -> None:
    make_account(container)
    flow = container.login.begin(EMAIL, BROWSER, app=LEGACY).flow
    assert isinstance(container.login.submit_code(flow.id, last_code(container, EMAIL), BROWSER), Started)
    enable_sms(container)
    flow = container.login.begin(EMAIL, BROWSER, app=COMPANION).flow
    assert isinstance(container.login.submit_code(flow.id, last_code(container, EMAIL), BROWSER), SecondFactorNeeded)


def test_an_app_password_lets_its_app_sign_in_without_turning_2fa_off(container: Container) -> None:
    account_id = make_account(container)
    set_password(container, account_id, GOOD)
    enable_sms(container)
    auth = signed_in(container)
    with pytest.raises(AppHasTwoFactor):
        container.app_passwords.create(auth, COMPANION, "phone", BROWSER)
    with pytest.raises(UnknownApp):
        container.app_passwords.create(auth, "nope", "phone", BROWSER)
    created = container.app_passwords.create(auth, LEGACY, "  Bathroom   tablet ", BROWSER)
    assert created.password.name == "Bathroom tablet" and len(created.secret.replace(" ", "")) == 16
    assert [m["payload"]["event"] for m in mails(container, "two_factor_changed")][-1] == "app_password_created"  # type: ignore[index]
    with container.engine.connect() as conn:  # only a digest is kept
        stored = conn.execute(select(t.app_passwords.c.digest)).scalar_one()
    assert created.secret.replace(" ", "") not in stored

    started = app_sign_in(container, LEGACY, created.secret.upper())
    assert isinstance(started, Started) and started.session.methods == ("app_password",)
    assert container.app_passwords.for_account(account_id)[0].last_used_at is not None
    with pytest.raises(AppDoesNotSupport2fa):  # the account password still meets the second factor
        app_sign_in(container, LEGACY, GOOD)
    with pytest.raises(WrongPassword):  # bound to its app
        app_sign_in(container, "vitalkey-baby", created.secret)
    with pytest.raises(WrongPassword):  # and useless on the web, which can ask for the second factor
        flow = container.login.begin(EMAIL, BROWSER, method="password").flow
        asyncio.run(container.login.submit_password(flow.id, created.secret, BROWSER))

    container.app_passwords.revoke(auth.account, created.password.id)
    with pytest.raises(WrongPassword):
        app_sign_in(container, LEGACY, created.secret)
    with pytest.raises(AppPasswordNotFound):
        container.app_passwords.revoke(auth.account, created.password.id)


def test_an_app_password_name_too_long_is_refused_not_cut(container: Container) -> None:
    account_id = make_account(container)
    enable_sms(container)
    auth = signed_in(container)
    with pytest.raises(InvalidInput) as too_long:
        container.app_passwords.create(auth, LEGACY, "t" * 101, BROWSER)
    assert too_long.value.field_name == "name" and container.app_passwords.for_account(account_id) == []
    assert container.app_passwords.create(auth, LEGACY, " " + "t" * 100, BROWSER).password.name == "t" * 100


def test_app_passwords_need_2fa_on_and_die_when_it_is_turned_off(container: Container) -> None:
    make_account(container)
    auth = signed_in(container)
    with pytest.raises(TwoFactorOff):
        container.app_passwords.create(auth, LEGACY, "x", BROWSER)
    enable_sms(container)
    auth = signed_in(container)
    created = container.app_passwords.create(auth, LEGACY, "x", BROWSER)
    assert container.two_factor.disable(auth, BROWSER) == 1
    assert container.app_passwords.for_account(auth.account.id) == []
    with pytest.raises(WrongPassword):
        app_sign_in(container, LEGACY, created.secret)


# SMS abuse limits ------------------------------------------------------------------------
def setup_attempt(container: Container, phone: str, ip: str = "203.0.113.7", email: str = EMAIL) -> str:
    auth = signed_in(container, email)
    try:
        container.two_factor.begin(auth, phone, "", replace(BROWSER, ip=ip))
    except DomainError as error:
        return error.code
    return "sent"


def refusal_wait(container: Container, phone: str, ip: str = "203.0.113.7", email: str = EMAIL) -> int:
    """The seconds a refused text asks to wait (the answer's Retry-After)."""
    auth = signed_in(container, email)
    with pytest.raises((SmsLimited, SmsUnavailable)) as refused:
        container.two_factor.begin(auth, phone, "", replace(BROWSER, ip=ip))
    return int(refused.value.params["seconds"])


@pytest.mark.parametrize(
    ("limit", "phones", "ips"),
    [
        ("sms_limit_per_number", ["+33612345678"] * 3, ["198.51.100.1", "198.51.100.2", "198.51.100.3"]),
        ("sms_limit_per_range", ["+33612340001", "+33612340002", "+33612340003"], ["198.51.100.1"] * 3),
        ("sms_limit_per_country", ["+33612340001", "+33698760002", "+33781234567"], ["198.51.100.1"] * 3),
        ("sms_limit_per_ip", ["+33612340001", "+4915112345678", "+447400123456"], ["198.51.100.1"] * 3),
        ("sms_limit_per_account", ["+33612340001", "+4915112345678", "+447400123456"], ["198.51.100.1"] * 3),
    ],
)
def test_each_sms_limit_refuses_the_text_that_would_exceed_it(
    make_container: object, clock: FrozenClock, limit: str, phones: list[str], ips: list[str]
) -> None:
    container = make_container(clock=clock, **{limit: "2/3600"})  # type: ignore[operator]
    make_account(container)
    results = [setup_attempt(container, phone, ip) for phone, ip in zip(phones, ips, strict=True)]
    assert results == ["sent", "sent", "sms_limited"]
    assert queued(container, phones[2]) == [] or phones[2] in phones[:2]
    with container.engine.connect() as conn:
        texts = conn.execute(select(func.count()).select_from(t.outbox).where(t.outbox.c.channel == "sms"))
        assert texts.scalar_one() == 2
    clock.advance(minutes=30)
    wait = refusal_wait(container, phones[2], ips[2])
    assert wait == 31 * 60  # the first texts' minute leaves the sliding hour
    clock.advance(seconds=wait - 1)
    assert setup_attempt(container, phones[2], ips[2]) == "sms_limited"
    clock.advance(seconds=1)
    assert setup_attempt(container, phones[2], ips[2]) == "sent"


def test_the_daily_cap_stops_all_texts(make_container: object, clock: FrozenClock) -> None:
    container = make_container(clock=clock, sms_daily_cap=2)  # type: ignore[operator]
    make_account(container)
    make_account(container, "bob@example.org")
    assert setup_attempt(container, "+33612340001") == "sent"
    assert setup_attempt(container, "+4915112345678", "198.51.100.9", "bob@example.org") == "sent"
    with pytest.raises(SmsUnavailable):
        auth = signed_in(container, "bob@example.org")
        container.two_factor.begin(auth, "+447400123456", "", BROWSER)
    clock.advance(hours=23)  # a sliding 24 hours: no midnight opens a fresh day
    wait = refusal_wait(container, "+447400123456", email="bob@example.org")
    assert 3600 < wait <= 3600 + 24 * 60  # when the texts' 24-minute bucket leaves the day
    clock.advance(seconds=wait)
    assert setup_attempt(container, "+447400123456", email="bob@example.org") == "sent"


def test_a_sign_in_over_a_limit_waits_at_the_second_factor_without_a_text(
    make_container: object, clock: FrozenClock
) -> None:
    """The first factor is proved even when the text is refused: the flow waits for the second
    factor (the recovery code works), says why, and sends the text once the limit allows."""
    container = make_container(clock=clock, sms_limit_per_account="2/600")  # type: ignore[operator]
    make_account(container)
    enable_sms(container)  # one text
    assert isinstance(sign_in_by_code(container), SecondFactorNeeded)  # two
    flow = container.login.start(EMAIL, BROWSER).flow
    waiting = container.login.submit_code(flow.id, last_code(container, EMAIL), BROWSER)
    assert isinstance(waiting, SecondFactorNeeded) and waiting.flow.state == "second_factor"
    assert isinstance(waiting.challenge.refused, SmsLimited) and waiting.challenge.code is None
    shown = container.login.challenge(waiting.flow)
    assert shown is not None and isinstance(shown.refused, SmsLimited) and shown.refused.params["seconds"] > 0
    with pytest.raises(SmsLimited):
        container.login.resend_sms(flow.id, BROWSER)
    clock.advance(seconds=shown.refused.params["seconds"])  # the window has let the first two texts go
    sent = container.login.resend_sms(flow.id, BROWSER)
    assert sent.challenge.code is not None and sent.challenge.refused is None
    assert container.login.challenge(sent.flow).refused is None  # type: ignore[union-attr]


def test_fifty_parallel_right_sms_codes_give_one_session(container: Container) -> None:
    make_account(container)
    enable_sms(container)
    waiting = sign_in_by_code(container)
    assert isinstance(waiting, SecondFactorNeeded)
    code = last_code(container, PHONE)
    with container.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(t.sessions)).scalar_one()

    def submit(_: int) -> str:
        try:
            return container.login.submit_sms(waiting.flow.id, code, BROWSER).token
        except DomainError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(submit, range(50)))
    tokens = [r for r in results if len(r) > 40]
    assert len(tokens) == 1, results
    assert set(results) - set(tokens) <= {"code_used", "flow_dead", "wrong_state"}
    with container.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.sessions)).scalar_one() == before + 1
