"""The "Update password" link, setting a first password with an emailed code, and changing it
with the current one (issue #3), on both engines with a frozen clock."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.flows.helpers import BROWSER, last_code, queued
from tests.flows.test_login_flow import make_account
from tests.flows.test_password_login import GOOD, password_stage, set_password, submit
from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.errors import (
    FlowNotFound,
    NoPassword,
    PasswordAlreadySet,
    PasswordLocked,
    PasswordThrottled,
    ResetLinkInvalid,
    WrongCode,
    WrongPassword,
    WrongState,
)
from vitalkey.domain.passwords import PasswordRejected
from vitalkey.flows.login import LoginState
from vitalkey.flows.password import throttle_key
from vitalkey.flows.password_reset import LINK_PATH
from vitalkey.flows.sessions import Authenticated, start

NEW = "quiet orbit lantern 7"


def ask_for_link(container: Container, email: str = "ann@example.org") -> str:
    """Code page → "Login with password instead" → "Forgot your password?" → "Validate"; the token."""
    flow_id = password_stage(container, email)
    assert container.login.choose(flow_id, "forgot_chosen", BROWSER).state == LoginState.FORGOT
    assert container.login.request_reset(flow_id, BROWSER).state == LoginState.RESET_SENT
    mail = queued(container, email)[-1]
    if mail["template"] != "password_reset":
        return ""
    link = str(mail["payload"]["link"])
    assert link.startswith(container.settings.public_url + LINK_PATH)
    return link.rsplit("/", 1)[1]


def reset(container: Container, token: str, password: str = NEW, *, end_sessions: bool = True) -> int:
    return asyncio.run(container.password_resets.complete(token, password, end_sessions=end_sessions)).sessions_ended


def signed_in(container: Container, account_id: int) -> Authenticated:
    with container.uow.begin() as tx:
        account = tx.accounts.get(account_id)
        assert account is not None
        started = start(container.deps, tx, account, BROWSER, ("email_code",))
    return container.sessions.authenticate(started.token)


def test_the_link_is_mailed_from_the_public_url_and_sets_a_new_password(container: Container) -> None:
    account_id = make_account(container)
    set_password(container, account_id, GOOD)
    token = ask_for_link(container)
    assert len(token) >= 43  # 256 bits
    mail = queued(container, "ann@example.org")[-1]
    assert mail["template"] == "password_reset" and mail["recipient"] == "ann@example.org"
    assert container.password_resets.account_of(token).id == account_id  # looking does not use it up
    assert container.password_resets.account_of(token).id == account_id
    reset(container, token)
    confirmation = queued(container, "ann@example.org")[-1]
    assert confirmation["template"] == "password_changed" and confirmation["payload"]["event"] == "reset"
    assert submit(container, password_stage(container, "ann@example.org"), NEW).account.id == account_id
    with pytest.raises(WrongPassword):
        submit(container, password_stage(container, "ann@example.org"), GOOD)


def test_an_unknown_address_walks_the_same_steps_and_gets_no_link(container: Container) -> None:
    assert ask_for_link(container, "nobody@example.org") == ""
    mail = queued(container, "nobody@example.org")[-1]
    assert mail["template"] == "password_reset_unknown" and "link" not in mail["payload"]


def test_the_link_expires_after_one_day(container: Container, clock: FrozenClock) -> None:
    make_account(container)
    token = ask_for_link(container)
    clock.advance(hours=23, minutes=59)
    assert container.password_resets.account_of(token)
    clock.advance(minutes=1)
    with pytest.raises(ResetLinkInvalid):
        container.password_resets.account_of(token)
    with pytest.raises(ResetLinkInvalid):
        reset(container, token)


def test_only_the_newest_link_works(container: Container, clock: FrozenClock) -> None:
    make_account(container)
    first = ask_for_link(container)
    clock.advance(minutes=2)
    second = ask_for_link(container)
    with pytest.raises(ResetLinkInvalid):
        reset(container, first)
    reset(container, second)
    with pytest.raises(ResetLinkInvalid):  # and it works once
        reset(container, second, "another fine password 9")


def test_the_link_dies_when_the_password_changes(container: Container) -> None:
    account_id = make_account(container)
    set_password(container, account_id, GOOD)
    token = ask_for_link(container)
    asyncio.run(
        container.password_change.change(
            signed_in(container, account_id), GOOD, NEW, end_others=False, requester=BROWSER
        )
    )
    with pytest.raises(ResetLinkInvalid):
        reset(container, token, "another fine password 9")


def test_a_refused_password_leaves_the_link_usable(container: Container) -> None:
    make_account(container)
    token = ask_for_link(container)
    for bad in ("short", "password123", "ann@example.org1"):
        with pytest.raises(PasswordRejected):
            reset(container, token, bad)
    reset(container, token)


def test_other_sessions_end_unless_the_user_keeps_them_and_nobody_is_signed_in(container: Container) -> None:
    account_id = make_account(container)
    kept = signed_in(container, account_id)
    assert reset(container, ask_for_link(container), end_sessions=False) == 0
    assert container.sessions.list(account_id) == [kept.session]
    assert reset(container, ask_for_link(container), "another fine password 9", end_sessions=True) == 1
    assert container.sessions.list(account_id) == []  # and the reset itself started none


def test_the_reset_opens_a_locked_password_stage(container: Container, clock: FrozenClock) -> None:
    account_id = make_account(container)
    set_password(container, account_id, GOOD)
    policy = container.deps.password_policy
    with container.uow.begin() as tx:  # 100 consecutive failures, as the throttle counts them
        for _ in range(policy.lockout_failures):
            tx.password_failures.count(throttle_key(container.deps, "ann@example.org"))
    with pytest.raises(PasswordLocked):
        submit(container, password_stage(container, "ann@example.org"), GOOD)
    reset(container, ask_for_link(container))
    assert submit(container, password_stage(container, "ann@example.org"), NEW).account.id == account_id


def test_one_link_submitted_twenty_times_in_parallel_is_used_once(container: Container) -> None:
    account_id = make_account(container)
    token = ask_for_link(container)
    passwords = [f"parallel password number {i}" for i in range(20)]
    outcomes: list[str] = [""] * 20
    barrier = threading.Barrier(20)

    def attempt(index: int) -> None:
        barrier.wait()
        try:
            reset(container, token, passwords[index])
            outcomes[index] = "ok"
        except ResetLinkInvalid:
            outcomes[index] = "invalid"

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 1 and outcomes.count("invalid") == 19, outcomes
    winner = passwords[outcomes.index("ok")]
    assert submit(container, password_stage(container, "ann@example.org"), winner).account.id == account_id
    confirmations = [m for m in queued(container, "ann@example.org") if m["template"] == "password_changed"]
    assert len(confirmations) == 1


def test_the_flow_can_go_back_from_forgot_and_from_the_sent_link(container: Container) -> None:
    make_account(container)
    flow_id = password_stage(container, "ann@example.org")
    container.login.choose(flow_id, "forgot_chosen", BROWSER)
    assert container.login.choose(flow_id, "password_chosen", BROWSER).state == LoginState.FIRST_FACTOR
    container.login.request_reset(flow_id, BROWSER)  # straight from the password (the API's way)
    assert container.login.choose(flow_id, "code_chosen", BROWSER).context["method"] == "email_code"
    with pytest.raises(WrongState):
        container.login.choose(flow_id, "password_verified", BROWSER)  # not a choice


# Set a first password with an emailed code -----------------------------------------------
def test_a_first_password_needs_a_fresh_emailed_code(container: Container) -> None:
    account_id = make_account(container)
    auth = signed_in(container, account_id)
    view = container.password_set.begin_for(auth.account, BROWSER)
    assert queued(container, "ann@example.org")[-1]["template"] == "password_code"
    code = last_code(container, "ann@example.org")
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(WrongCode):
        asyncio.run(container.password_set.set_password(view.flow.id, auth.account, wrong, GOOD, BROWSER))
    with pytest.raises(PasswordRejected):
        asyncio.run(container.password_set.set_password(view.flow.id, auth.account, code, "12345678", BROWSER))
    asyncio.run(container.password_set.set_password(view.flow.id, auth.account, code, GOOD, BROWSER))
    mail = queued(container, "ann@example.org")[-1]
    assert mail["template"] == "password_changed" and mail["payload"]["event"] == "set"
    assert submit(container, password_stage(container, "ann@example.org"), GOOD).account.id == account_id
    with pytest.raises(PasswordAlreadySet):
        container.password_set.begin_for(auth.account, BROWSER)


def test_a_set_password_flow_belongs_to_its_account(container: Container) -> None:
    ann = signed_in(container, make_account(container))
    bob = signed_in(container, make_account(container, "bob@example.org"))
    view = container.password_set.begin_for(ann.account, BROWSER)
    code = last_code(container, "ann@example.org")
    with pytest.raises(FlowNotFound):
        asyncio.run(container.password_set.set_password(view.flow.id, bob.account, code, GOOD, BROWSER))


# Change it with the current one -------------------------------------------------------
def test_a_change_needs_the_current_password_and_is_mailed(container: Container) -> None:
    account_id = make_account(container)
    set_password(container, account_id, GOOD)
    auth = signed_in(container, account_id)
    other = signed_in(container, account_id)
    with pytest.raises(WrongPassword) as wrong:
        asyncio.run(container.password_change.change(auth, "not my password", NEW, end_others=True, requester=BROWSER))
    assert wrong.value.field_name == "current_password"
    with pytest.raises(PasswordRejected):
        asyncio.run(container.password_change.change(auth, GOOD, "qwertyuiop", end_others=True, requester=BROWSER))
    ended = asyncio.run(container.password_change.change(auth, GOOD, NEW, end_others=True, requester=BROWSER))
    assert ended == 1 and [s.id for s in container.sessions.list(account_id)] == [auth.session.id]
    assert other.session.id != auth.session.id
    mail = queued(container, "ann@example.org")[-1]
    assert mail["template"] == "password_changed" and mail["payload"]["event"] == "changed"
    assert mail["payload"]["sessions_ended"] is True


def test_a_wrong_current_password_counts_towards_the_throttle(container: Container, clock: FrozenClock) -> None:
    account_id = make_account(container)
    set_password(container, account_id, GOOD)
    auth = signed_in(container, account_id)
    for _ in range(container.deps.password_policy.free_failures):
        with pytest.raises(WrongPassword):
            asyncio.run(
                container.password_change.change(auth, "nope nope nope", NEW, end_others=False, requester=BROWSER)
            )
    with pytest.raises(PasswordThrottled):
        asyncio.run(container.password_change.change(auth, GOOD, NEW, end_others=False, requester=BROWSER))
    clock.advance(seconds=1)
    asyncio.run(container.password_change.change(auth, GOOD, NEW, end_others=False, requester=BROWSER))


def test_changing_without_a_password_says_how_to_set_one(container: Container) -> None:
    auth = signed_in(container, make_account(container))
    with pytest.raises(NoPassword):
        asyncio.run(container.password_change.change(auth, "anything", NEW, end_others=False, requester=BROWSER))
