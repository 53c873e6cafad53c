"""Sign-in with a password (issue #3) on both engines with a frozen clock: "Login with password
instead", the same answer for a wrong password, no password and no account, the throttle and its
lockout, and re-hashing with new parameters."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from argon2 import PasswordHasher

from tests.flows.helpers import BROWSER, last_code, queued
from tests.flows.test_login_flow import make_account
from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.errors import PasswordLocked, PasswordThrottled, RateLimited, WrongPassword, WrongState
from vitalkey.domain.passwords import PasswordPolicy
from vitalkey.flows.login import LoginState
from vitalkey.flows.sessions import Started

GOOD = "violet tram umbrella 42"


def set_password(container: Container, account_id: int, password: str, hasher: PasswordHasher | None = None) -> str:
    stored = (hasher or container.deps.hasher.hasher).hash(password)  # type: ignore[attr-defined]
    with container.uow.begin() as tx:
        tx.password_hashes.set(account_id, stored, container.clock.now())
    return stored


def password_stage(container: Container, email: str) -> str:
    view = container.login.start(email, BROWSER)
    flow = container.login.choose(view.flow.id, "password_chosen", BROWSER)
    assert (flow.state, flow.context["method"]) == (LoginState.FIRST_FACTOR, "password")
    return view.flow.id


def submit(container: Container, flow_id: str, password: str) -> Started:
    return asyncio.run(container.login.submit_password(flow_id, password, BROWSER))


def test_password_instead_of_the_code_signs_in(container: Container) -> None:
    account_id = make_account(container)
    set_password(container, account_id, GOOD)
    flow_id = password_stage(container, "ann@example.org")
    started = submit(container, flow_id, GOOD)
    assert started.account.id == account_id and started.session.methods == ("password",)
    with pytest.raises(WrongState):  # the flow is complete: the same password cannot sign in twice
        submit(container, flow_id, GOOD)


def test_the_password_is_taken_in_nfkc(container: Container) -> None:
    account_id = make_account(container)
    set_password(container, account_id, "ｆｕｌｌｗｉｄｔｈ ｐａｓｓ")  # stored as given by the set-up, in NFKC
    set_password(container, account_id, "fullwidth pass")
    flow_id = password_stage(container, "ann@example.org")
    assert submit(container, flow_id, "ｆｕｌｌｗｉｄｔｈ ｐａｓｓ").account.id == account_id


def test_wrong_password_no_password_and_no_account_get_the_same_answer(container: Container) -> None:
    with_password = make_account(container, "ann@example.org")
    set_password(container, with_password, GOOD)
    make_account(container, "bob@example.org")  # no password
    answers = []
    for email in ("ann@example.org", "bob@example.org", "nobody@example.org"):
        flow_id = password_stage(container, email)
        with pytest.raises(WrongPassword) as refused:
            submit(container, flow_id, "not the password at all")
        answers.append((refused.value.code, refused.value.message_id, refused.value.field_name))
    assert len(set(answers)) == 1


def test_growing_waits_after_five_failures_then_closed_until_the_mailbox_is_proved(
    container: Container, clock: FrozenClock
) -> None:
    account_id = make_account(container)
    set_password(container, account_id, GOOD)
    flow_id = password_stage(container, "ann@example.org")
    for _ in range(5):
        with pytest.raises(WrongPassword):
            submit(container, flow_id, "wrong password 1")
    with pytest.raises(PasswordThrottled) as waiting:  # 5 failures: wait 1 s
        submit(container, flow_id, GOOD)
    assert waiting.value.params["seconds"] == 1
    clock.advance(seconds=1)
    with pytest.raises(WrongPassword):  # the 6th failure: wait 2 s
        submit(container, flow_id, "wrong password 2")
    clock.advance(seconds=1)
    with pytest.raises(PasswordThrottled) as waiting:
        submit(container, flow_id, GOOD)
    assert waiting.value.params["seconds"] == 1
    clock.advance(seconds=1)
    assert submit(container, flow_id, GOOD).account.id == account_id  # a success clears the count
    flow_id = password_stage(container, "ann@example.org")
    with pytest.raises(WrongPassword):
        submit(container, flow_id, "wrong again")
    assert submit(container, flow_id, GOOD).account.id == account_id


def test_waits_grow_to_fifteen_minutes_and_lock_after_a_hundred(container: Container, clock: FrozenClock) -> None:
    policy = container.deps.password_policy
    assert [policy.wait_after(n).total_seconds() for n in (4, 5, 6, 7, 14, 15, 99)] == [0, 1, 2, 4, 512, 900, 900]
    account_id = make_account(container)
    set_password(container, account_id, GOOD)
    fast = replace(container.deps, password_policy=replace(policy, lockout_failures=7))
    container.login.deps = fast
    for _ in range(7):  # the count is per address, across flows
        with pytest.raises(WrongPassword):
            submit(container, password_stage(container, "ann@example.org"), "wrong password")
        clock.advance(minutes=15)
    with pytest.raises(PasswordLocked):
        submit(container, password_stage(container, "ann@example.org"), GOOD)
    clock.advance(days=2)
    flow_id = password_stage(container, "ann@example.org")
    with pytest.raises(PasswordLocked):  # no wait opens it again
        submit(container, flow_id, GOOD)
    # The emailed code still signs in, and proves the mailbox: the password opens again.
    container.login.choose(flow_id, "code_chosen", BROWSER)
    started = container.login.submit_code(flow_id, last_code(container, "ann@example.org"), BROWSER)
    assert started.account.id == account_id
    assert submit(container, password_stage(container, "ann@example.org"), GOOD).account.id == account_id


def test_unknown_addresses_are_throttled_like_known_ones(container: Container) -> None:
    flow_id = password_stage(container, "nobody@example.org")
    for _ in range(5):
        with pytest.raises(WrongPassword):
            submit(container, flow_id, "a guess at random")
    with pytest.raises(PasswordThrottled):
        submit(container, flow_id, "a guess at random")


def test_attempts_per_ip_network_are_limited(container: Container) -> None:
    container.login.deps = replace(container.deps, password_limit_per_ip=(3, 3600))
    for n in range(3):
        flow_id = password_stage(container, f"guess{n}@example.org")
        with pytest.raises(WrongPassword):
            submit(container, flow_id, "a guess at random")
    with pytest.raises(RateLimited):
        submit(container, password_stage(container, "guess9@example.org"), "a guess at random")


def test_a_hash_with_other_parameters_is_rehashed_at_the_next_sign_in(container: Container) -> None:
    account_id = make_account(container)
    old = set_password(container, account_id, GOOD, PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1))
    submit(container, password_stage(container, "ann@example.org"), GOOD)
    with container.uow.read() as tx:
        new = tx.password_hashes.get(account_id)
    assert new != old and new is not None and "m=19456,t=2,p=1" in new
    assert isinstance(container.deps.password_policy, PasswordPolicy)
    assert submit(container, password_stage(container, "ann@example.org"), GOOD).account.id == account_id


def test_an_api_client_can_start_with_the_password_and_no_code_is_mailed(container: Container) -> None:
    account_id = make_account(container)
    set_password(container, account_id, GOOD)
    view = container.login.start_with_password("ann@example.org", BROWSER)
    assert view.flow.context["method"] == "password" and queued(container, "ann@example.org") == []
    assert submit(container, view.flow.id, GOOD).account.id == account_id
    other = container.login.start_with_password("ann@example.org", BROWSER)
    assert container.login.choose(other.flow.id, "code_chosen", BROWSER).context["method"] == "email_code"
    assert queued(container, "ann@example.org")[-1]["template"] == "login_code"  # sent when turned to
    assert container.login.submit_code(other.flow.id, last_code(container, "ann@example.org"), BROWSER)
