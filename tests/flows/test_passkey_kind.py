"""The passkey kind in the login flow, on both engines, with a software authenticator: added
from Account & Security (named, several per account, one user handle per account), signing in
alone (no code, no text even with 2FA on), as the second factor after an emailed code, and each
refusal: a challenge used twice, an unknown passkey, another site, a counter gone backwards,
another user handle; refusals counted against the address's failures."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from webauthn.helpers import base64url_to_bytes

from tests.conftest import ContainerFactory
from tests.flows.helpers import BROWSER, last_code, queued
from tests.flows.test_login_flow import make_account
from tests.flows.test_two_factor import EMAIL, PHONE, enable_sms, sign_in_by_code
from tests.soft_authenticator import SoftAuthenticator
from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.authenticators import PASSKEY
from vitalkey.domain.errors import (
    DomainError,
    PasskeyCounterError,
    PasskeyRefused,
    PasskeyUnavailable,
    PasskeyUnknown,
    PasskeyWrongSite,
    ReauthenticationRequired,
    TooManyCodeFailures,
    WrongState,
)
from vitalkey.flows.authenticators.base import Answer
from vitalkey.flows.login import LoginState, SecondFactorNeeded
from vitalkey.flows.sessions import Authenticated, Started

URL = "http://localhost:8123"


@pytest.fixture
def container(make_container: ContainerFactory, clock: FrozenClock) -> Container:
    return make_container(clock=clock, public_url=URL)


@pytest.fixture
def device() -> SoftAuthenticator:
    return SoftAuthenticator(origin=URL)


def fresh_auth(container: Container, email: str = EMAIL) -> Authenticated:
    result = sign_in_by_code(container, email)
    if isinstance(result, SecondFactorNeeded):
        result = container.login.submit_sms(result.flow.id, last_code(container, PHONE), BROWSER)
    return container.sessions.authenticate(result.token)


def add_passkey(container: Container, device: SoftAuthenticator, name: str = "Work laptop") -> Any:
    auth = fresh_auth(container)
    enrolment = container.passkey_enrolment.begin(auth, name, BROWSER)
    return container.passkey_enrolment.confirm(
        auth, enrolment.flow.id, device.create(json.dumps(enrolment.options)), None, BROWSER
    )


def start(container: Container) -> tuple[str, str]:
    """A discoverable sign-in: the flow and its options."""
    flow = container.login.start_with(PASSKEY, "", BROWSER).flow
    prompt = container.login.prompt(container.login.load(flow.id, BROWSER))
    assert prompt is not None and prompt.options is not None
    return flow.id, json.dumps(prompt.options)


def submit(container: Container, flow_id: str, credential: str) -> Any:
    return container.login.submit(flow_id, PASSKEY, Answer(credential=credential), BROWSER)[1]


def passkey_mails(container: Container, event: str) -> list[dict[str, Any]]:
    return [
        row["payload"]
        for row in queued(container, EMAIL)
        if row["template"] == "two_factor_changed" and row["payload"]["event"] == event
    ]


def test_add_a_passkey_then_sign_in_with_it_alone(container: Container, device: SoftAuthenticator) -> None:
    account_id = make_account(container)
    row = add_passkey(container, device)
    assert (row.kind, row.name, row.account_id, row.lookup) == (
        PASSKEY,
        "Work laptop",
        account_id,
        device.credentials[0].id,
    )
    assert base64url_to_bytes(row.data["user_handle"]) == device.credentials[0].user_handle
    assert EMAIL.encode() not in device.credentials[0].user_handle and len(device.credentials[0].user_handle) == 32
    assert row.data["fmt"] == "none" and row.data["transports"] == ["internal", "hybrid"]
    assert row.data["backup_eligible"] is False and row.data["public_key"]
    [mail] = passkey_mails(container, "method_added")
    assert (mail["method"], mail["name"]) == ("passkey", "Work laptop")

    flow_id, options = start(container)
    assert json.loads(options)["allowCredentials"] == [] and json.loads(options)["userVerification"] == "required"
    started = submit(container, flow_id, device.get(options))
    assert isinstance(started, Started)
    assert started.session.account_id == account_id and started.session.methods == ("passkey",)
    with container.uow.read() as tx:
        [stored] = tx.authenticators.for_account(account_id)
    assert stored.counter == 1 and stored.last_used_at == container.clock.now()
    # The step is over: the same answer cannot be used again.
    with pytest.raises(WrongState):
        submit(container, flow_id, device.get(options, counter=2))


def test_several_passkeys_share_the_account_user_handle(container: Container) -> None:
    make_account(container)
    laptop, phone = SoftAuthenticator(origin=URL), SoftAuthenticator(origin=URL)
    first = add_passkey(container, laptop, "Laptop")
    auth = fresh_auth(container)
    enrolment = container.passkey_enrolment.begin(auth, "Phone", BROWSER)
    assert [c["id"] for c in enrolment.options["excludeCredentials"]] == [first.lookup]
    with pytest.raises(RuntimeError, match="InvalidStateError"):  # the same authenticator is excluded
        laptop.create(json.dumps(enrolment.options))
    second = container.passkey_enrolment.confirm(
        auth, enrolment.flow.id, phone.create(json.dumps(enrolment.options)), None, BROWSER
    )
    assert second.data["user_handle"] == first.data["user_handle"] and second.lookup != first.lookup
    for device in (laptop, phone):
        flow_id, options = start(container)
        assert isinstance(submit(container, flow_id, device.get(options)), Started)


def test_with_sms_2fa_a_passkey_signs_in_alone_and_no_text_is_sent(
    container: Container, device: SoftAuthenticator
) -> None:
    make_account(container)
    enable_sms(container)
    add_passkey(container, device)
    texts = len(queued(container, PHONE))
    flow_id, options = start(container)
    started = submit(container, flow_id, device.get(options))
    assert isinstance(started, Started) and started.session.methods == ("passkey",)
    assert len(queued(container, PHONE)) == texts


def test_the_passkey_as_second_factor_after_an_emailed_code(container: Container, device: SoftAuthenticator) -> None:
    make_account(container)
    enable_sms(container)
    row = add_passkey(container, device)
    waiting = sign_in_by_code(container)
    assert isinstance(waiting, SecondFactorNeeded) and waiting.flow.context["method"] == "sms"  # the default
    moved = container.login.choose_method(waiting.flow.id, PASSKEY, BROWSER)
    assert (moved.state, moved.context["method"]) == (LoginState.SECOND_FACTOR, PASSKEY)
    prompt = container.login.challenge(moved)
    assert prompt is not None and prompt.options is not None
    assert [c["id"] for c in prompt.options["allowCredentials"]] == [row.lookup]
    assert prompt.options["userVerification"] == "preferred"
    started = submit(container, moved.id, device.get(json.dumps(prompt.options), user_verified=False))
    assert isinstance(started, Started) and started.session.methods == ("email_code", "passkey")


def test_another_accounts_passkey_is_no_second_factor(container: Container, device: SoftAuthenticator) -> None:
    make_account(container)
    make_account(container, "bob@example.org")
    enable_sms(container)
    add_passkey(container, device)  # ann's
    auth = fresh_auth(container, "bob@example.org")
    other = SoftAuthenticator(origin=URL)
    enrolment = container.passkey_enrolment.begin(auth, "Bob's", BROWSER)
    container.passkey_enrolment.confirm(
        auth, enrolment.flow.id, other.create(json.dumps(enrolment.options)), None, BROWSER
    )
    waiting = sign_in_by_code(container)
    assert isinstance(waiting, SecondFactorNeeded)
    moved = container.login.choose_method(waiting.flow.id, PASSKEY, BROWSER)
    options = json.dumps(container.login.challenge(moved).options)  # type: ignore[union-attr]
    answer = other.get(options, credential=other.credentials[0])
    with pytest.raises(PasskeyUnknown):
        submit(container, moved.id, answer)


def test_without_2fa_a_passkey_is_no_second_factor(container: Container, device: SoftAuthenticator) -> None:
    account_id = make_account(container)
    add_passkey(container, device)
    assert isinstance(sign_in_by_code(container), Started)  # the emailed code alone, as before
    assert container.two_factor.status(account_id) is None


def test_a_challenge_answers_once(container: Container, device: SoftAuthenticator) -> None:
    make_account(container)
    add_passkey(container, device)
    flow_id, options = start(container)
    with pytest.raises(PasskeyWrongSite):
        submit(container, flow_id, device.get(options, origin="https://evil.example"))
    # The right answer to the same options: its challenge was used by the refused one.
    with pytest.raises(PasskeyRefused):
        submit(container, flow_id, device.get(options))
    renewed = container.login.prompt(container.login.load(flow_id, BROWSER))
    assert renewed is not None and renewed.options is not None
    assert renewed.options["challenge"] != json.loads(options)["challenge"]
    assert isinstance(submit(container, flow_id, device.get(json.dumps(renewed.options))), Started)


def test_an_unknown_passkey_is_refused(container: Container, device: SoftAuthenticator) -> None:
    make_account(container)
    add_passkey(container, device)
    stranger = SoftAuthenticator(origin=URL)
    stranger.create(
        json.dumps(
            {
                "rp": {"id": "localhost", "name": "x"},
                "user": {"id": "AAAA", "name": "x", "displayName": "x"},
                "challenge": "AAAA",
                "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
            }
        )
    )
    flow_id, options = start(container)
    with pytest.raises(PasskeyUnknown):
        submit(container, flow_id, stranger.get(options))


def test_wrong_origin_and_wrong_site_are_refused(container: Container, device: SoftAuthenticator) -> None:
    make_account(container)
    add_passkey(container, device)
    flow_id, options = start(container)
    with pytest.raises(PasskeyWrongSite):
        submit(container, flow_id, device.get(options, origin="http://localhost:9999"))
    flow_id, options = start(container)
    with pytest.raises(PasskeyWrongSite):
        submit(container, flow_id, device.get(options, rp_id="example.org"))


def test_a_counter_gone_backwards_is_refused(container: Container, device: SoftAuthenticator) -> None:
    account_id = make_account(container)
    add_passkey(container, device)
    flow_id, options = start(container)
    assert isinstance(submit(container, flow_id, device.get(options, counter=5)), Started)
    flow_id, options = start(container)
    with pytest.raises(PasskeyCounterError):
        submit(container, flow_id, device.get(options, counter=5))  # not forward: a copy
    flow_id, options = start(container)
    with pytest.raises(PasskeyCounterError):
        submit(container, flow_id, device.get(options, counter=3))
    with container.uow.read() as tx:
        assert tx.authenticators.for_account(account_id)[0].counter == 5


def test_a_passkey_that_never_counts_signs_in_again(container: Container) -> None:
    make_account(container)
    device = SoftAuthenticator(origin=URL, counting=False)
    add_passkey(container, device)
    for _ in range(2):
        flow_id, options = start(container)
        assert isinstance(submit(container, flow_id, device.get(options)), Started)


def test_another_user_handle_is_refused(container: Container, device: SoftAuthenticator) -> None:
    make_account(container)
    add_passkey(container, device)
    flow_id, options = start(container)
    with pytest.raises(PasskeyRefused):
        submit(container, flow_id, device.get(options, user_handle=b"someone-else"))


def test_a_sign_in_started_with_an_address_takes_only_its_passkeys(
    container: Container, device: SoftAuthenticator
) -> None:
    make_account(container)
    make_account(container, "bob@example.org")
    add_passkey(container, device)
    flow = container.login.start("bob@example.org", BROWSER).flow
    moved = container.login.choose_method(flow.id, PASSKEY, BROWSER)
    options = json.dumps(container.login.prompt(moved).options)  # type: ignore[union-attr]
    with pytest.raises(PasskeyUnknown):
        submit(container, moved.id, device.get(options))


def test_refusals_count_against_the_address(make_container: ContainerFactory, clock: FrozenClock) -> None:
    container = make_container(clock=clock, public_url=URL, code_failures_per_address="3/3600")
    device = SoftAuthenticator(origin=URL)
    make_account(container)
    add_passkey(container, device)
    for _ in range(3):
        flow_id, options = start(container)
        with pytest.raises(PasskeyRefused):
            submit(container, flow_id, device.get(options, user_verified=False))
    flow_id, options = start(container)
    with pytest.raises(TooManyCodeFailures):
        submit(container, flow_id, device.get(options))  # past the limit, the right one too


def test_adding_needs_a_fresh_sign_in(container: Container, device: SoftAuthenticator) -> None:
    make_account(container)
    auth = fresh_auth(container)
    container.clock.advance(seconds=container.settings.reauth_window_s + 1)  # type: ignore[attr-defined]
    with pytest.raises(ReauthenticationRequired):
        container.passkey_enrolment.begin(auth, "Late", BROWSER)


def test_remove_mails_the_address(container: Container, device: SoftAuthenticator) -> None:
    account_id = make_account(container)
    row = add_passkey(container, device)
    auth = fresh_auth(container)
    container.sign_in_methods.remove(auth, row.id, BROWSER)  # Account & Security → Remove
    with container.uow.read() as tx:
        assert tx.authenticators.for_account(account_id) == []
    [mail] = passkey_mails(container, "method_removed")  # one mail: the kind itself mails nothing
    assert (mail["method"], mail["name"]) == ("passkey", "Work laptop")
    flow_id, options = start(container)
    with pytest.raises(PasskeyUnknown):
        submit(container, flow_id, device.get(options))


def test_no_passkeys_on_an_ip_address(make_container: ContainerFactory, clock: FrozenClock) -> None:
    container = make_container(clock=clock)  # http://127.0.0.1:8000
    assert not container.relying_party.applies
    make_account(container)
    with pytest.raises(WrongState):
        container.login.start_with(PASSKEY, "", BROWSER)
    with pytest.raises(PasskeyUnavailable):
        container.passkey_enrolment.begin(fresh_auth(container), "Laptop", BROWSER)


def test_parallel_uses_of_one_answer_sign_in_once(container: Container, device: SoftAuthenticator) -> None:
    make_account(container)
    add_passkey(container, device)
    flow_id, options = start(container)
    answer = device.get(options)

    def use(_: int) -> str:
        try:
            return str(submit(container, flow_id, answer).token)
        except DomainError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(use, range(20)))
    tokens = [r for r in results if len(r) > 40]
    assert len(tokens) == 1, results
    assert set(results) - set(tokens) <= {"passkey_refused", "wrong_state"}


def test_turning_2fa_off_keeps_the_passkeys(container: Container, device: SoftAuthenticator) -> None:
    account_id = make_account(container)
    enable_sms(container)
    add_passkey(container, device)
    container.two_factor.disable(fresh_auth(container), BROWSER)
    with container.uow.read() as tx:
        assert [row.kind for row in tx.authenticators.for_account(account_id)] == [PASSKEY]
    assert container.two_factor.status(account_id) is None
    flow_id, options = start(container)
    assert isinstance(submit(container, flow_id, device.get(options)), Started)
    assert isinstance(sign_in_by_code(container), Started)  # and no second factor is asked any more
