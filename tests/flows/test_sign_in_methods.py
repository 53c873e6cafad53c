"""Choice and fallback (issue #22 item 4) on both engines: the account's methods listed, the
default changed, a method renamed and removed with their mails; the last text message taking
2FA with it (recovery code gone, app passwords revoked, sessions and passkeys kept); another
account's id refused; the re-authentication; "Try another way" in the core's order. A test-only
second factor named "totp" stands in for the authenticator app (built beside this step), to show
that the list and its rules come from the registry."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import pytest

from tests.conftest import ContainerFactory
from tests.flows.helpers import BROWSER, last_code
from tests.flows.test_apps_and_limits import LEGACY
from tests.flows.test_login_flow import make_account
from tests.flows.test_two_factor import EMAIL, PHONE, enable_sms, mails, sign_in_by_code, signed_in
from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.authenticators import StoredAuthenticator
from vitalkey.domain.errors import AuthenticatorNotFound, InvalidInput, ReauthenticationRequired
from vitalkey.flows.authenticators import Authenticators
from vitalkey.flows.authenticators.app_password import AppPasswordKind
from vitalkey.flows.authenticators.base import KindBase, Role
from vitalkey.flows.authenticators.email_code import EmailCode
from vitalkey.flows.authenticators.password import Password
from vitalkey.flows.authenticators.recovery_code import RecoveryCode
from vitalkey.flows.authenticators.sms import Sms
from vitalkey.flows.login import LoginFlow, OtherWay, SecondFactorNeeded
from vitalkey.flows.methods import SignInMethods
from vitalkey.flows.sessions import Authenticated, start
from vitalkey.ports import Transaction

OTHER = "bob@example.org"


class StandInTotp(KindBase):
    """A second factor the registry knows; its own ``remove`` is not written (the row goes alone)."""

    kind: ClassVar[str] = "totp"
    roles: ClassVar[Role] = Role.SECOND


def with_stand_in(container: Container) -> Authenticators:
    deps = container.deps
    return Authenticators(
        (EmailCode(deps), Password(deps), AppPasswordKind(deps), StandInTotp(), Sms(deps), RecoveryCode(deps))
    )


def add_row(container: Container, account_id: int, kind: str, **fields: Any) -> StoredAuthenticator:
    with container.uow.begin() as tx:
        row = tx.authenticators.add(StoredAuthenticator(0, account_id, kind, container.clock.now(), **fields))
    assert row is not None
    return row


def rows(container: Container, account_id: int) -> list[StoredAuthenticator]:
    with container.uow.read() as tx:
        return tx.authenticators.for_account(account_id)


def events(container: Container, email: str = EMAIL) -> list[dict[str, Any]]:
    return [dict(m["payload"]) for m in mails(container, "two_factor_changed", email)]  # type: ignore[call-overload]


def sms_account(container: Container) -> tuple[int, Authenticated]:
    account_id = make_account(container)
    enable_sms(container)
    return account_id, signed_in(container)  # fresh, with the texted code


def test_the_list_shows_the_account_s_methods_without_the_recovery_code(container: Container) -> None:
    account_id, auth = sms_account(container)
    listed = container.sign_in_methods.for_account(auth.account)
    assert listed.two_factor is not None
    [sms] = listed.methods
    assert (sms.row.kind, sms.label, sms.hint, sms.row.is_default) == ("sms", "Text message", "+33 •••• 78", True)
    assert (sms.can_be_default, sms.can_rename) == (False, False)  # the default already; named by its number
    assert sms.row.last_used_at == container.clock.now()  # the sign-in just used it
    assert [r.kind for r in rows(container, account_id)] == ["sms", "recovery_code"]


def test_a_registered_kind_is_listed_made_default_renamed_and_removed(container: Container) -> None:
    """Generic over the registry: a second factor the flow was never told about by name."""
    account_id, auth = sms_account(container)
    methods = SignInMethods(container.deps, with_stand_in(container))
    app = add_row(container, account_id, "totp")
    listed = methods.for_account(auth.account)
    assert [(m.row.kind, m.label, m.can_be_default, m.can_rename) for m in listed.methods] == [
        ("sms", "Text message", False, False),
        ("totp", "Authenticator app", True, True),
    ]
    before = len(events(container))

    made = methods.make_default(auth, app.id, BROWSER)
    assert made.row.is_default and not made.can_be_default
    assert [m.row.kind for m in methods.for_account(auth.account).methods] == ["totp", "sms"]  # the default first
    changed = events(container)[before:]
    assert [(e["event"], e["method"], e["method_label"]) for e in changed] == [
        ("default_changed", "totp", "Authenticator app")
    ]

    renamed = methods.rename(auth, app.id, "  Phone   app ", BROWSER)
    assert (renamed.row.name, renamed.hint) == ("Phone app", "Phone app")
    assert len(events(container)) == before + 1  # audited, not mailed
    with pytest.raises(InvalidInput):
        methods.rename(auth, app.id, "x" * 101, BROWSER)  # refused, never cut
    sms = next(m for m in methods.for_account(auth.account).methods if m.row.kind == "sms")
    with pytest.raises(InvalidInput):
        methods.rename(auth, sms.row.id, "My phone", BROWSER)

    # The default goes: 2FA stays on with the text message, which becomes the default.
    removed = methods.remove(auth, app.id, BROWSER)
    assert (removed.two_factor_off, removed.two_factor_on) == (False, True)
    left = rows(container, account_id)
    assert [(r.kind, r.is_default) for r in left] == [("sms", True), ("recovery_code", False)]
    [mail] = events(container)[before + 1 :]
    assert (mail["event"], mail["method"], mail["name"]) == ("method_removed", "totp", "Phone app")


def test_removing_the_last_text_message_turns_two_factor_off(container: Container) -> None:
    account_id, auth = sms_account(container)
    passkey = add_row(container, account_id, "passkey", name="Work laptop", lookup="cred-1")
    container.app_passwords.create(auth, LEGACY, "tablet", BROWSER)
    assert len(container.app_passwords.for_account(account_id)) == 1
    sms = next(m for m in container.sign_in_methods.for_account(auth.account).methods if m.row.kind == "sms")
    before = len(events(container))

    removed = container.sign_in_methods.remove(auth, sms.row.id, BROWSER)

    assert (removed.two_factor_off, removed.two_factor_on, removed.app_passwords_revoked) == (True, False, 1)
    assert [r.id for r in rows(container, account_id)] == [passkey.id]  # the recovery code went; the passkey stays
    assert container.two_factor.status(account_id) is None
    assert container.app_passwords.for_account(account_id) == []  # revoked
    sent = events(container)[before:]
    assert [(e["event"], e.get("method"), e.get("name")) for e in sent] == [
        ("method_removed", "sms", "+33 •••• 78"),
        ("disabled", None, None),
    ]
    assert sent[1]["app_passwords_revoked"] == 1
    assert PHONE not in str(sent)  # never the whole number
    [still] = [s for s in container.sessions.list(account_id) if s.id == auth.session.id]
    assert "sms" in still.methods  # the session signed in with it goes on
    assert not isinstance(sign_in_by_code(container), SecondFactorNeeded)  # no second factor any more


def test_another_account_s_method_is_refused(container: Container) -> None:
    account_id, auth = sms_account(container)
    other_id = make_account(container, OTHER)
    theirs = add_row(container, other_id, "sms", is_default=True, data={"phone": "+33698765432"})
    methods = container.sign_in_methods
    for change in (
        lambda: methods.remove(auth, theirs.id, BROWSER),
        lambda: methods.rename(auth, theirs.id, "mine", BROWSER),
        lambda: methods.make_default(auth, theirs.id, BROWSER),
        lambda: methods.get(auth.account, theirs.id),
    ):
        with pytest.raises(AuthenticatorNotFound):
            change()
    assert rows(container, other_id) == [theirs]
    with pytest.raises(AuthenticatorNotFound):  # nor its recovery code, which is not listed
        methods.remove(auth, next(r.id for r in rows(container, account_id) if r.kind == "recovery_code"), BROWSER)


def test_every_change_needs_a_fresh_sign_in(container: Container, clock: FrozenClock) -> None:
    account_id, auth = sms_account(container)
    methods = SignInMethods(container.deps, with_stand_in(container))
    app = add_row(container, account_id, "totp")
    clock.advance(minutes=6)
    for change in (
        lambda: methods.make_default(auth, app.id, BROWSER),
        lambda: methods.rename(auth, app.id, "Phone app", BROWSER),
        lambda: methods.remove(auth, app.id, BROWSER),
    ):
        with pytest.raises(ReauthenticationRequired):
            change()
    assert rows(container, account_id)[-1] == app
    assert methods.make_default(signed_in(container), app.id, BROWSER).row.is_default  # signed in again


def test_try_another_way_lists_the_other_methods_in_the_core_s_order(container: Container) -> None:
    account_id, _ = sms_account(container)
    login = LoginFlow(container.deps, with_stand_in(container))
    add_row(container, account_id, "totp", name="Phone app")
    flow = login.start(EMAIL, BROWSER).flow
    result = login.submit_code(flow.id, last_code(container, EMAIL), BROWSER)
    assert isinstance(result, SecondFactorNeeded) and result.flow.context["method"] == "sms"  # the default
    assert login.other_ways(result.flow) == [OtherWay("totp", "Phone app"), OtherWay("recovery_code")]
    chosen = login.choose_method(flow.id, "recovery_code", BROWSER)
    assert login.other_ways(chosen) == [OtherWay("sms", "+33 •••• 78"), OtherWay("totp", "Phone app")]
    assert login.other_ways(login.start(EMAIL, BROWSER).flow) == []  # not at the second factor


class StandInPasskey(KindBase):
    kind: ClassVar[str] = "passkey"
    roles: ClassVar[Role] = Role.FIRST | Role.SECOND


def test_add_offers_the_registered_kinds_and_passkeys_only_where_the_address_allows(
    make_container: ContainerFactory, clock: FrozenClock
) -> None:
    for public_url, passkeys in (("http://127.0.0.1:8000", False), ("http://localhost:8000", True)):
        container = make_container(clock=clock, public_url=public_url)
        deps = container.deps
        real = [*(["passkey"] if passkeys else []), "totp", "sms"]
        assert container.sign_in_methods.addable() == real  # the server's own registry
        registry = Authenticators((EmailCode(deps), StandInPasskey(), StandInTotp(), Sms(deps), RecoveryCode(deps)))
        expected = [*(["passkey"] if passkeys else []), "totp", "sms"]
        assert SignInMethods(deps, registry).addable() == expected, public_url


def test_a_number_added_beside_another_second_factor_keeps_2fa_as_it_is(container: Container) -> None:
    """2FA on with an authenticator app (a stand-in row) and its recovery code: the text message's
    set-up adds the number, mails "method_added", and issues no new recovery code."""
    account_id = make_account(container)
    add_row(container, account_id, "totp", is_default=True)
    add_row(container, account_id, "recovery_code", lookup="digest", sealed="sealed")
    with container.uow.begin() as tx:
        account = tx.accounts.get(account_id)
        assert account is not None
        started = start(container.deps, tx, account, BROWSER, ("email_code", "totp"))
    auth = container.sessions.authenticate(started.token)
    view = container.two_factor.begin(auth, PHONE, "", BROWSER)
    assert view.flow.context["mode"] == "add"
    done = container.two_factor.confirm(auth, view.flow.id, last_code(container, PHONE), BROWSER)
    assert done.recovery_code is None and done.flow.state == "complete"
    assert [(r.kind, r.is_default) for r in rows(container, account_id)] == [
        ("totp", True),
        ("recovery_code", False),
        ("sms", False),
    ]
    [mail] = events(container)
    assert (mail["event"], mail["method"], mail["name"]) == ("method_added", "sms", "+33 •••• 78")


class SlowRemoval:
    """A kind's ``remove`` that waits after deleting, so that two removals overlap."""

    def remove(self, tx: Transaction, auth: Authenticated, row: StoredAuthenticator) -> None:
        assert tx.authenticators.remove(auth.account.id, row.id)
        time.sleep(0.3)


class SlowTotp(SlowRemoval, StandInTotp):
    pass


class SlowSms(SlowRemoval, Sms):
    pass


def test_the_last_two_second_factors_removed_at_once_turn_2fa_off(container: Container) -> None:
    """Each removal alone sees the other's method left; one at a time, the second sees none."""
    account_id, auth = sms_account(container)
    deps = container.deps
    methods = SignInMethods(deps, Authenticators((EmailCode(deps), SlowTotp(), SlowSms(deps), RecoveryCode(deps))))
    app = add_row(container, account_id, "totp")
    sms = next(r for r in rows(container, account_id) if r.kind == "sms")
    with ThreadPoolExecutor(max_workers=2) as pool:
        removed = list(pool.map(lambda row_id: methods.remove(auth, row_id, BROWSER), (sms.id, app.id)))
    assert sorted(r.two_factor_off for r in removed) == [False, True]
    assert rows(container, account_id) == []  # the recovery code went with the last one
    assert [e["event"] for e in events(container)][-3:] == ["method_removed", "method_removed", "disabled"]
