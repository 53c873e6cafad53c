"""Authenticator apps (TOTP, issue #22 item 3) on both engines with a frozen clock: the set-up
(secret sealed, first code, 2FA on with a recovery code, or added beside SMS, or replaced), the
second-factor step with codes computed by pyotp (one step of drift either way, no more), replays
refused (also two sign-ins racing with one code), wrong codes counted against the flow and the
address."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from tests.flows.helpers import BROWSER, last_code, queued
from tests.flows.test_login_flow import make_account
from tests.flows.test_two_factor import EMAIL, PHONE, enable_sms, mails, sign_in_by_code, signed_in
from vitalkey.adapters.clock import FrozenClock
from vitalkey.adapters.db.schema import metadata
from vitalkey.container import Container
from vitalkey.domain.errors import (
    FlowDead,
    FlowNotFound,
    MalformedCode,
    ReauthenticationRequired,
    TooManyCodeFailures,
    TotpCodeReused,
    WrongTotpCode,
)
from vitalkey.flows.authenticators.base import Answer
from vitalkey.flows.login import LoginState, SecondFactorNeeded
from vitalkey.flows.sessions import Authenticated, Started
from vitalkey.flows.two_factor import TwoFactorState

RECOVERY_FORMAT = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}")


def code_at(secret: str, clock: FrozenClock, seconds: int = 0) -> str:
    """What an app shows ``seconds`` from the server's now."""
    return pyotp.TOTP(secret).at(clock.now() + timedelta(seconds=seconds))


def wrong_code(secret: str, clock: FrozenClock) -> str:
    near = {code_at(secret, clock, s) for s in (-30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


def enrol(container: Container, clock: FrozenClock, auth: Authenticated | None = None) -> tuple[str, str | None]:
    """Add an authenticator app; its secret and the recovery code shown (None when 2FA was on)."""
    auth = auth or signed_in(container)
    view = container.totp_setup.begin(auth, BROWSER)
    done = container.totp_setup.confirm(auth, view.flow.id, code_at(view.secret, clock), BROWSER)
    if done.recovery_code is not None:
        container.totp_setup.finish(auth, view.flow.id, BROWSER)
    return view.secret, done.recovery_code


def at_totp(container: Container, email: str = EMAIL) -> SecondFactorNeeded:
    result = sign_in_by_code(container, email)
    assert isinstance(result, SecondFactorNeeded)
    assert result.flow.state == LoginState.SECOND_FACTOR and result.flow.context["method"] == "totp"
    return result


def submit(container: Container, flow_id: str, code: str) -> Started:
    _, result = container.login.submit(flow_id, "totp", Answer(code=code), BROWSER)
    assert isinstance(result, Started)
    return result


def test_set_up_turns_two_factor_on_with_a_recovery_code_and_mails_the_user(
    container: Container, clock: FrozenClock
) -> None:
    account_id = make_account(container)
    auth = signed_in(container)
    view = container.totp_setup.begin(auth, BROWSER)
    assert view.flow.state == TwoFactorState.ENROLLING and not view.replacing
    assert re.fullmatch(r"[A-Z2-7]{32}", view.secret)
    assert view.uri.startswith("otpauth://totp/VitalKey:ann@example.org?secret=" + view.secret)
    # Shown again as it was while enrolling (the page reloads), and nothing is on before the code.
    assert container.totp_setup.view(auth, view.flow.id, BROWSER).secret == view.secret
    assert container.two_factor.status(account_id) is None
    with pytest.raises(WrongTotpCode):
        container.totp_setup.confirm(auth, view.flow.id, wrong_code(view.secret, clock), BROWSER)
    with pytest.raises(MalformedCode):
        container.totp_setup.confirm(auth, view.flow.id, "12345", BROWSER)
    done = container.totp_setup.confirm(auth, view.flow.id, code_at(view.secret, clock), BROWSER)
    assert done.flow.state == TwoFactorState.RECOVERY_SHOWN and RECOVERY_FORMAT.fullmatch(done.recovery_code or "")
    assert done.authenticator is not None and done.authenticator.kind == "totp" and done.authenticator.is_default
    factor = container.two_factor.status(account_id)
    assert factor is not None and factor.method == "totp" and factor.phone == ""
    assert container.totp_setup.view(auth, view.flow.id, BROWSER).recovery_code == done.recovery_code
    container.totp_setup.finish(auth, view.flow.id, BROWSER)
    assert container.totp_setup.view(auth, view.flow.id, BROWSER).recovery_code is None
    [mail] = mails(container, "two_factor_changed")
    assert mail["payload"]["event"] == "enabled" and mail["payload"]["method"] == "totp"  # type: ignore[index]
    assert mail["payload"]["method_label"] == "Authenticator app"  # type: ignore[index]
    # The first code proved the app in this session: a change right after needs no new sign-in.
    with container.uow.read() as tx:
        session = tx.sessions.get(auth.session.id)
    assert session is not None and session.methods == ("email_code", "totp")
    assert session.authenticated_since == clock.now()


def test_the_secret_is_sealed_in_the_database(container: Container, clock: FrozenClock) -> None:
    make_account(container)
    auth = signed_in(container)
    view = container.totp_setup.begin(auth, BROWSER)
    while_enrolling = everything_stored(container)
    container.totp_setup.confirm(auth, view.flow.id, code_at(view.secret, clock), BROWSER)
    stored = everything_stored(container)
    for text in (while_enrolling, stored):
        assert view.secret not in text and view.secret.lower() not in text
        assert " ".join(re.findall("....", view.secret)) not in text
    with container.uow.read() as tx:
        [row] = [r for r in tx.authenticators.for_account(auth.account.id) if r.kind == "totp"]
    assert row.sealed and container.sealer.open(row.sealed) == view.secret
    url = container.settings.database_url
    if url.startswith("sqlite:///"):  # the file itself, pages and journal included
        path = url.removeprefix("sqlite:///")
        for name in (path, path + "-wal", path + "-journal"):
            if Path(name).exists():
                assert view.secret.encode() not in Path(name).read_bytes()


def everything_stored(container: Container) -> str:
    """Every row of every table, as text."""
    parts = []
    with container.engine.connect() as conn:
        for table in metadata.sorted_tables:
            parts.extend(repr(tuple(row)) for row in conn.execute(select(table)))
    return "\n".join(parts)


def test_sign_in_asks_for_the_app_and_accepts_one_step_of_drift_either_way(
    container: Container, clock: FrozenClock
) -> None:
    account_id = make_account(container)
    secret, _ = enrol(container, clock)
    clock.advance(minutes=2)
    result = at_totp(container)
    assert result.challenge.method == "totp"
    started = submit(container, result.flow.id, code_at(secret, clock, -30))  # the phone is 30 s slow
    assert started.session.account_id == account_id and started.session.methods == ("email_code", "totp")
    assert started.session.expires_at - started.session.created_at == timedelta(hours=24)
    clock.advance(minutes=2)
    result = at_totp(container)
    submit(container, result.flow.id, code_at(secret, clock, 30))  # the phone is 30 s fast
    with container.uow.read() as tx:
        [row] = [r for r in tx.authenticators.for_account(account_id) if r.kind == "totp"]
    assert row.last_used_at == clock.now() and row.counter == int(clock.now().timestamp()) // 30 + 1


@pytest.mark.parametrize("seconds", [-60, 60, -90, 90])
def test_codes_two_steps_away_are_refused(container: Container, clock: FrozenClock, seconds: int) -> None:
    make_account(container)
    secret, _ = enrol(container, clock)
    clock.advance(minutes=5)
    result = at_totp(container)
    code = code_at(secret, clock, seconds)
    if code in {code_at(secret, clock, s) for s in (-30, 0, 30)}:
        pytest.skip("this step's code happens to equal one in the window")
    with pytest.raises(WrongTotpCode):
        submit(container, result.flow.id, code)
    submit(container, result.flow.id, code_at(secret, clock))  # the flow is still open for the right one


def test_a_code_is_refused_once_used_also_the_set_up_code(container: Container, clock: FrozenClock) -> None:
    make_account(container)
    secret, _ = enrol(container, clock)
    result = at_totp(container)
    with pytest.raises(TotpCodeReused) as refused:  # the step that confirmed the set-up
        submit(container, result.flow.id, code_at(secret, clock))
    assert "already been used" in refused.value.message_id
    clock.advance(seconds=30)
    code = code_at(secret, clock)
    submit(container, result.flow.id, code)
    again = at_totp(container)  # a second sign-in within the same 30 s, with the same code
    with pytest.raises(TotpCodeReused):
        submit(container, again.flow.id, code)
    with pytest.raises(TotpCodeReused):  # nor the step before it, still inside the drift window
        submit(container, again.flow.id, code_at(secret, clock, -30))
    clock.advance(seconds=30)
    submit(container, again.flow.id, code_at(secret, clock))  # the next code works


def test_two_sign_ins_racing_with_one_code_give_one_session(container: Container, clock: FrozenClock) -> None:
    make_account(container)
    secret, _ = enrol(container, clock)
    clock.advance(seconds=60)
    flows = [at_totp(container).flow.id for _ in range(4)]
    code = code_at(secret, clock)

    def attempt(flow_id: str) -> str:
        try:
            submit(container, flow_id, code)
        except TotpCodeReused:
            return "reused"
        return "signed_in"

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = sorted(pool.map(attempt, flows))
    assert outcomes == ["reused", "reused", "reused", "signed_in"]


def test_wrong_codes_count_and_the_fifth_ends_the_flow(container: Container, clock: FrozenClock) -> None:
    make_account(container)
    secret, _ = enrol(container, clock)
    clock.advance(seconds=60)
    result = at_totp(container)
    for _ in range(5):
        with pytest.raises(WrongTotpCode):
            submit(container, result.flow.id, wrong_code(secret, clock))
    with pytest.raises(FlowDead):  # even the right code: the flow's tries are used up
        submit(container, result.flow.id, code_at(secret, clock))
    with container.uow.read() as tx:
        assert tx.flows.get(result.flow.id).state == "dead"  # type: ignore[union-attr]
    rejected = [row for row in audit(container) if row["event"] == "code.rejected"]
    assert [row["details"]["reason"] for row in rejected][-6:] == ["wrong_totp_code"] * 5 + ["flow_dead"]
    submit(container, at_totp(container).flow.id, code_at(secret, clock))  # a new sign-in may try again


def audit(container: Container) -> list[dict[str, object]]:
    from vitalkey.adapters.db import schema as t

    with container.engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(t.audit).order_by(t.audit.c.id)).mappings()]


def test_wrong_codes_count_against_the_address_with_the_other_factors(
    make_container: object, clock: FrozenClock
) -> None:
    container = make_container(clock=clock, code_failures_per_address="3/86400")  # type: ignore[operator]
    make_account(container)
    secret, _ = enrol(container, clock)
    clock.advance(seconds=60)
    first = at_totp(container)
    for _ in range(2):
        with pytest.raises(WrongTotpCode):
            submit(container, first.flow.id, wrong_code(secret, clock))
    second = at_totp(container)
    with pytest.raises(WrongTotpCode):
        submit(container, second.flow.id, wrong_code(secret, clock))
    with pytest.raises(TooManyCodeFailures) as refused:  # the right code too, past the address's limit
        submit(container, second.flow.id, code_at(secret, clock))
    assert refused.value.params["seconds"] > 0
    # A texted or mailed code meets the same count: the next mailed code is refused as well.
    flow = container.login.start(EMAIL, BROWSER).flow
    with pytest.raises(TooManyCodeFailures):
        container.login.submit_code(flow.id, last_code(container, EMAIL), BROWSER)


def test_added_beside_sms_mails_method_added_and_keeps_the_recovery_code(
    container: Container, clock: FrozenClock
) -> None:
    account_id = make_account(container)
    recovery = enable_sms(container)
    auth = signed_in(container)  # with the texted code: fresh, with the current second factor
    secret, shown = enrol(container, clock, auth)
    assert shown is None  # no new recovery code: 2FA was on already
    factor = container.two_factor.status(account_id)
    assert factor is not None and factor.method == "sms"  # the text message stays the default
    assert container.two_factor.recovery_code(auth)[0] == recovery
    events = [(m["payload"]["event"], m["payload"].get("method")) for m in mails(container, "two_factor_changed")]  # type: ignore[index, union-attr]
    assert events == [("enabled", None), ("method_added", "totp")]
    # Sign-in asks for the default (SMS) first; the app is "another way".
    result = sign_in_by_code(container)
    assert isinstance(result, SecondFactorNeeded) and result.flow.context["method"] == "sms"
    container.login.choose_method(result.flow.id, "totp", BROWSER)
    clock.advance(seconds=30)
    started = submit(container, result.flow.id, code_at(secret, clock))
    assert started.session.methods == ("email_code", "totp")
    assert queued(container, PHONE)  # the texts went to the number as before


def test_replacing_the_app_after_its_first_code(container: Container, clock: FrozenClock) -> None:
    account_id = make_account(container)
    old_secret, _ = enrol(container, clock)
    auth = signed_in_with_totp(container, clock, old_secret)
    view = container.totp_setup.begin(auth, BROWSER)
    assert view.replacing and view.secret != old_secret
    clock.advance(seconds=30)
    done = container.totp_setup.confirm(auth, view.flow.id, code_at(view.secret, clock), BROWSER)
    assert done.flow.state == TwoFactorState.COMPLETE and done.recovery_code is None
    with container.uow.read() as tx:
        apps = [r for r in tx.authenticators.for_account(account_id) if r.kind == "totp"]
    assert len(apps) == 1 and apps[0].is_default and container.sealer.open(apps[0].sealed) == view.secret
    assert mails(container, "two_factor_changed")[-1]["payload"]["event"] == "method_added"  # type: ignore[index]
    clock.advance(seconds=60)
    result = at_totp(container)
    if code_at(old_secret, clock) != code_at(view.secret, clock):
        with pytest.raises(WrongTotpCode):
            submit(container, result.flow.id, code_at(old_secret, clock))
    submit(container, result.flow.id, code_at(view.secret, clock))


def signed_in_with_totp(container: Container, clock: FrozenClock, secret: str) -> Authenticated:
    clock.advance(seconds=30)
    started = submit(container, at_totp(container).flow.id, code_at(secret, clock))
    return container.sessions.authenticate(started.token)


def test_set_up_needs_a_fresh_sign_in_and_belongs_to_its_session(container: Container, clock: FrozenClock) -> None:
    make_account(container)
    auth = signed_in(container)
    view = container.totp_setup.begin(auth, BROWSER)
    other = signed_in(container)
    with pytest.raises(FlowNotFound):
        container.totp_setup.confirm(other, view.flow.id, code_at(view.secret, clock), BROWSER)
    with pytest.raises(FlowNotFound):  # nor is it the text message's set-up
        container.two_factor.confirm(auth, view.flow.id, code_at(view.secret, clock), BROWSER)
    clock.advance(minutes=5, seconds=1)
    with pytest.raises(ReauthenticationRequired):
        container.totp_setup.begin(auth, BROWSER)


def test_the_app_is_asked_first_when_it_is_the_default(container: Container, clock: FrozenClock) -> None:
    account_id = make_account(container)
    enable_sms(container)
    secret, _ = enrol(container, clock, signed_in(container))
    with container.uow.begin() as tx:
        [app] = [r for r in tx.authenticators.for_account(account_id) if r.kind == "totp"]
        assert tx.authenticators.set_default(account_id, app.id)
    texts = len(queued(container, PHONE))
    result = at_totp(container)  # the default, before the text message
    assert len(queued(container, PHONE)) == texts  # and no text was sent for it
    clock.advance(seconds=30)
    assert submit(container, result.flow.id, code_at(secret, clock)).session.methods == ("email_code", "totp")


def test_a_set_up_ends_after_five_wrong_codes_and_stores_nothing(container: Container, clock: FrozenClock) -> None:
    account_id = make_account(container)
    auth = signed_in(container)
    view = container.totp_setup.begin(auth, BROWSER)
    for _ in range(5):
        with pytest.raises(WrongTotpCode):
            container.totp_setup.confirm(auth, view.flow.id, wrong_code(view.secret, clock), BROWSER)
    with pytest.raises(FlowDead):
        container.totp_setup.confirm(auth, view.flow.id, code_at(view.secret, clock), BROWSER)
    assert container.totp_setup.view(auth, view.flow.id, BROWSER).flow.state == TwoFactorState.DEAD
    assert container.totp_setup.current(account_id) is None and container.two_factor.status(account_id) is None
    assert mails(container, "two_factor_changed") == []


def test_turning_two_factor_off_removes_the_app(container: Container, clock: FrozenClock) -> None:
    account_id = make_account(container)
    auth = signed_in(container)
    enrol(container, clock, auth)
    with container.uow.read() as tx:
        refreshed = tx.sessions.get(auth.session.id)
    assert refreshed is not None
    container.two_factor.disable(Authenticated(refreshed, auth.account), BROWSER)  # the session now with totp
    assert container.totp_setup.current(account_id) is None and container.two_factor.status(account_id) is None
    assert mails(container, "two_factor_changed")[-1]["payload"]["event"] == "disabled"  # type: ignore[index]
    assert isinstance(sign_in_by_code(container), Started)  # no second step any more


def test_replays_are_no_guesses_and_use_up_no_limit(make_container: object, clock: FrozenClock) -> None:
    container = make_container(clock=clock, code_failures_per_address="3/86400")  # type: ignore[operator]
    make_account(container)
    secret, _ = enrol(container, clock)
    result = at_totp(container)
    for _ in range(6):  # more than the flow's tries and the address's limit
        with pytest.raises(TotpCodeReused):
            submit(container, result.flow.id, code_at(secret, clock))  # the set-up's step
    clock.advance(seconds=30)
    submit(container, result.flow.id, code_at(secret, clock))
