"""Authenticators as plug-ins (issue #22, step 1) on both engines: an account set up before the
migration signs in as before (with its texted code and its recovery code, and a sign-in that was
waiting for its text goes on), "Try another way" between the second factors, the kinds asked in
order with one that is not responsible skipped, and the registry's order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from alembic import command
from sqlalchemy import Engine, text

from tests.flows.helpers import BROWSER, last_code, queued
from tests.flows.test_login_flow import make_account
from tests.flows.test_two_factor import EMAIL, PHONE, enable_sms, sign_in_by_code
from vitalkey.adapters.db import migrate
from vitalkey.container import Container
from vitalkey.domain.accounts import Account
from vitalkey.domain.authenticators import StoredAuthenticator
from vitalkey.domain.errors import WrongState
from vitalkey.domain.flows import Flow, Requester
from vitalkey.flows.authenticators import Authenticators
from vitalkey.flows.authenticators.app_password import AppPasswordKind
from vitalkey.flows.authenticators.base import Answer, KindBase, NotResponsible, Prompt, Proof, Role
from vitalkey.flows.authenticators.email_code import EmailCode
from vitalkey.flows.authenticators.password import Password
from vitalkey.flows.authenticators.recovery_code import RecoveryCode
from vitalkey.flows.authenticators.sms import Sms
from vitalkey.flows.login import LoginFlow, LoginState, RecoveryUsed, SecondFactorNeeded
from vitalkey.flows.sessions import Started
from vitalkey.ports import Transaction


def _migrate(engine: Engine, revision: str) -> None:
    config = migrate.alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        if revision == "head":
            command.upgrade(config, revision)
        else:
            command.downgrade(config, revision)


def test_an_account_set_up_before_the_migration_signs_in_as_before(container: Container) -> None:
    account_id = make_account(container)
    recovery = enable_sms(container)
    waiting = sign_in_by_code(container)  # a sign-in waiting for its text while the server upgrades
    assert isinstance(waiting, SecondFactorNeeded)
    texted = last_code(container, PHONE)
    engine = container.engine
    _migrate(engine, "0014")  # the data as revision 0014 kept it: a two_factor row, states by method
    try:
        with engine.connect() as conn:
            old = conn.execute(text("SELECT account_id, method, phone FROM two_factor")).all()
            state = conn.execute(text("SELECT state FROM flows WHERE id = :id"), {"id": waiting.flow.id}).scalar()
        assert [tuple(row) for row in old] == [(account_id, "sms", PHONE)] and state == "sms_sent"
    finally:
        _migrate(engine, "head")

    started = container.login.submit_sms(waiting.flow.id, texted, BROWSER)
    assert started.session.account_id == account_id and started.session.methods == ("email_code", "sms")
    again = sign_in_by_code(container)
    assert isinstance(again, SecondFactorNeeded) and again.challenge.hint == "+33 •••• 78"
    container.login.choose(again.flow.id, "recovery_chosen", BROWSER)
    used = container.login.submit_recovery(again.flow.id, recovery, BROWSER)
    assert isinstance(used, RecoveryUsed) and used.started.session.methods == ("email_code", "recovery_code")
    assert container.two_factor.status(account_id) is not None


def test_try_another_way_between_the_second_factors(container: Container) -> None:
    make_account(container)
    enable_sms(container)
    waiting = sign_in_by_code(container)
    assert isinstance(waiting, SecondFactorNeeded)
    texts = len(queued(container, PHONE))
    flow_id = waiting.flow.id
    with pytest.raises(WrongState):
        container.login.choose_method(flow_id, "sms", BROWSER)  # already the step's method
    for unavailable in ("totp", "password", "email_code", "app_password", "nonsense"):
        with pytest.raises(WrongState):
            container.login.choose_method(flow_id, unavailable, BROWSER)
    moved = container.login.choose_method(flow_id, "recovery_code", BROWSER)
    assert (moved.state, moved.context["method"]) == (LoginState.SECOND_FACTOR, "recovery_code")
    challenge = container.login.challenge(moved)
    assert challenge is not None and challenge.method == "sms"  # the page offers the text back
    back = container.login.choose_method(flow_id, "sms", BROWSER)
    assert back.context["method"] == "sms" and len(queued(container, PHONE)) == texts  # no second text
    started = container.login.submit_sms(flow_id, last_code(container, PHONE), BROWSER)
    assert started.session.methods == ("email_code", "sms")


def test_first_factor_choices_keep_their_rules(container: Container) -> None:
    make_account(container)
    flow = container.login.start(EMAIL, BROWSER).flow
    with pytest.raises(WrongState):
        container.login.choose(flow.id, "forgot_chosen", BROWSER)  # from the code: no "Forgot" link
    with pytest.raises(WrongState):
        container.login.choose_method(flow.id, "sms", BROWSER)  # not a first factor
    with pytest.raises(WrongState):
        container.login.resend_sms(flow.id, BROWSER)
    moved = container.login.choose_method(flow.id, "password", BROWSER)
    assert (moved.state, moved.context["method"]) == (LoginState.FIRST_FACTOR, "password")
    with pytest.raises(WrongState):
        container.login.submit_code(flow.id, last_code(container, EMAIL), BROWSER)  # not the step's method
    with pytest.raises(WrongState):
        container.login.resend(flow.id, BROWSER)  # the password page mails no code
    assert container.login.choose(flow.id, "forgot_chosen", BROWSER).state == LoginState.FORGOT
    with pytest.raises(WrongState):
        container.login.choose(flow.id, "code_chosen", BROWSER)  # "Forgot" leads back to the password only
    assert container.login.choose(flow.id, "password_chosen", BROWSER).context["method"] == "password"


class Shy(KindBase):
    """A second factor that every account has, whose step is never its own."""

    kind: ClassVar[str] = "shy"
    roles: ClassVar[Role] = Role.SECOND
    asked = 0

    def applies(self, account: Account | None, rows: Sequence[StoredAuthenticator], role: Role) -> bool:
        return True

    def begin(self, tx: Transaction, flow: Flow, account: Account | None, requester: Requester) -> Prompt:
        Shy.asked += 1
        raise NotResponsible()


def test_the_flow_asks_the_kinds_in_order_and_skips_one_not_responsible(container: Container) -> None:
    make_account(container)
    enable_sms(container)
    with container.engine.begin() as conn:  # no default: the registry's order decides, Shy first
        conn.execute(text("UPDATE authenticators SET is_default = false"))
    Shy.asked = 0
    deps = container.deps
    kinds = (EmailCode(deps), Password(deps), AppPasswordKind(deps), Shy(), Sms(deps), RecoveryCode(deps))
    login = LoginFlow(deps, Authenticators(kinds))
    flow = login.start(EMAIL, BROWSER).flow
    result = login.submit_code(flow.id, last_code(container, EMAIL), BROWSER)
    assert Shy.asked == 1
    assert isinstance(result, SecondFactorNeeded) and result.flow.context["method"] == "sms"
    assert isinstance(login.submit_sms(flow.id, last_code(container, PHONE), BROWSER), Started)


def test_the_second_factors_come_default_first_then_in_registry_order(container: Container) -> None:
    deps = container.deps
    now = datetime(2026, 12, 1, tzinfo=UTC)
    account = Account(7, EMAIL, now, "en", None, None, None)
    registry = Authenticators((EmailCode(deps), Shy(), Sms(deps), RecoveryCode(deps)))
    sms = StoredAuthenticator(1, 7, "sms", now, is_default=True, data={"phone": PHONE})
    code = StoredAuthenticator(2, 7, "recovery_code", now, lookup="d", sealed="s")
    assert [k.kind for k in registry.second_factors(account, [code, sms])] == ["sms", "shy", "recovery_code"]
    assert [k.kind for k in registry.usable(account, [code, sms], Role.FIRST)] == ["email_code"]
    only_recovery = Authenticators((Sms(deps), RecoveryCode(deps)))
    assert only_recovery.second_factors(account, [code]) == []  # a recovery code alone is no 2FA
    with pytest.raises(WrongState):
        registry["passkey"]


class Both(KindBase):
    """A first factor that is multi-factor by itself (as a passkey with user verification will
    be): it owns a flow key, and finds the account by what is presented (here: the address)."""

    kind: ClassVar[str] = "both"
    roles: ClassVar[Role] = Role.FIRST | Role.SECOND

    def applies(self, account: Account | None, rows: Sequence[StoredAuthenticator], role: Role) -> bool:
        return bool(role & Role.FIRST)

    def begin(self, tx: Transaction, flow: Flow, account: Account | None, requester: Requester) -> Prompt:
        return Prompt(self.kind, context={"both_challenge": "c-1"})

    def prompt(self, tx: Transaction, flow: Flow, account: Account | None) -> Prompt:
        return Prompt(self.kind, hint=str(flow.context["both_challenge"]))

    def verify(
        self, tx: Transaction, flow: Flow, account: Account | None, answer: Answer, requester: Requester
    ) -> Proof:
        found = tx.accounts.by_email(answer.name)
        if found is None or answer.credential != flow.context["both_challenge"]:
            raise WrongState()
        return Proof(self.kind, found, Role.FIRST | Role.SECOND, None)


def test_a_first_factor_that_is_multi_factor_signs_in_without_the_second(container: Container) -> None:
    account_id = make_account(container)
    enable_sms(container)
    deps = container.deps
    login = LoginFlow(deps, Authenticators((EmailCode(deps), Both(), Sms(deps), RecoveryCode(deps))))
    with pytest.raises(WrongState):
        login.start_with("sms", "", BROWSER)  # not a first factor
    view = login.start_with("both", "", BROWSER)  # no address: the kind finds the account
    assert (view.flow.state, view.flow.context["method"], view.flow.email) == (LoginState.FIRST_FACTOR, "both", "")
    shown = login.prompt(view.flow)
    assert shown is not None and (shown.method, shown.hint) == ("both", "c-1")
    texts = len(queued(container, PHONE))
    proof, result = login.submit(view.flow.id, "both", Answer(credential="c-1", name=EMAIL), BROWSER)
    assert isinstance(result, Started) and result.session.account_id == account_id
    assert result.session.methods == ("both",) and proof.roles == Role.FIRST | Role.SECOND
    assert len(queued(container, PHONE)) == texts  # no text: the second factor was not asked
