"""Account & Security → Two-factor authentication: set up ("Text message" → number → "Next" →
code → "Continue" → recovery code → "Next"), change the number, turn it off, Account Recovery →
Recovery code (view, renew), and app passwords for the apps that cannot ask for a second factor.

Every change needs a fresh sign-in with the current second factor (``second_factor.require_fresh``)
and is mailed to the account address.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from vitalkey.domain.accounts import NAME_MAX, Account
from vitalkey.domain.apps import App
from vitalkey.domain.authenticators import SMS, StoredAuthenticator, of_kind
from vitalkey.domain.codes import StoredCode
from vitalkey.domain.errors import (
    AppHasTwoFactor,
    AppPasswordNotFound,
    FlowNotFound,
    InvalidInput,
    TwoFactorOff,
    UnknownApp,
    WrongState,
)
from vitalkey.domain.flows import Flow, FlowKind, Requester, StateMachine
from vitalkey.domain.i18n import N_
from vitalkey.domain.phones import normalize_phone
from vitalkey.domain.tokens import new_token
from vitalkey.domain.two_factor import AppPassword, TwoFactor, grouped, new_app_password, phone_hint
from vitalkey.flows import email_code, second_factor, sms_code
from vitalkey.flows.authenticators.app_password import app_password_digest
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.email_flow import CodeFlow
from vitalkey.flows.sessions import Authenticated
from vitalkey.ports import Transaction


class TwoFactorState(StrEnum):
    NEW = "new"
    ENROLLING = "enrolling"  # the method (context["method"]: "sms", "totp") waits for its confirmation
    RECOVERY_SHOWN = "recovery_shown"  # "save it somewhere safe, not on your phone" → "Next"
    COMPLETE = "complete"
    DEAD = "dead"


class TwoFactorEvent(StrEnum):
    PHONE_SUBMITTED = "phone_submitted"
    SMS_RESENT = "sms_resent"
    SMS_VERIFIED = "sms_verified"  # 2FA turned on
    PHONE_VERIFIED = "phone_verified"  # the number of an account with 2FA changed
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    RECOVERY_SAVED = "recovery_saved"
    # An authenticator app (flows/totp_setup.py): its secret shown, then confirmed by a first code.
    SECRET_ISSUED = "secret_issued"  # noqa: S105 (an event's name)
    TOTP_VERIFIED = "totp_verified"  # 2FA turned on
    TOTP_ADDED = "totp_added"  # beside the account's other second factor, or replacing the app


MACHINE = StateMachine(
    name="two_factor",
    states=TwoFactorState,
    events=TwoFactorEvent,
    initial=TwoFactorState.NEW,
    transitions={
        (TwoFactorState.NEW, TwoFactorEvent.PHONE_SUBMITTED): TwoFactorState.ENROLLING,
        (TwoFactorState.ENROLLING, TwoFactorEvent.SMS_RESENT): TwoFactorState.ENROLLING,
        (TwoFactorState.ENROLLING, TwoFactorEvent.SMS_VERIFIED): TwoFactorState.RECOVERY_SHOWN,
        (TwoFactorState.ENROLLING, TwoFactorEvent.PHONE_VERIFIED): TwoFactorState.COMPLETE,
        (TwoFactorState.ENROLLING, TwoFactorEvent.ATTEMPTS_EXHAUSTED): TwoFactorState.DEAD,
        (TwoFactorState.RECOVERY_SHOWN, TwoFactorEvent.RECOVERY_SAVED): TwoFactorState.COMPLETE,
        (TwoFactorState.NEW, TwoFactorEvent.SECRET_ISSUED): TwoFactorState.ENROLLING,
        (TwoFactorState.ENROLLING, TwoFactorEvent.TOTP_VERIFIED): TwoFactorState.RECOVERY_SHOWN,
        (TwoFactorState.ENROLLING, TwoFactorEvent.TOTP_ADDED): TwoFactorState.COMPLETE,
    },
)


@dataclass(frozen=True, slots=True)
class SetupView:
    flow: Flow
    hint: str  # the number being verified, masked
    code: dict[str, Any]  # the texted code's status (expiry, resend, attempts left)
    recovery_code: str | None = None  # grouped for reading; only while the flow shows it


class TwoFactorSetup(CodeFlow):
    kind = FlowKind.TWO_FACTOR
    machine = MACHINE

    def status(self, account_id: int) -> TwoFactor | None:
        with self.deps.uow.read() as tx:
            return second_factor.two_factor(tx, account_id)

    def begin(self, auth: Authenticated, raw_phone: str, region: str, requester: Requester) -> SetupView:
        """Text a confirmation code to a new number: the first one (2FA turns on) or a new one."""
        config = self.deps.two_factor
        chosen = region.upper()
        phone = normalize_phone(raw_phone, config.regions, chosen if chosen in config.regions else None)
        account = auth.account
        with sms_code.refusals_counted(self.deps), self.deps.uow.begin() as tx:
            factor = second_factor.require_fresh(self.deps, tx, auth)
            flow = self.new_flow(
                account.email,
                requester,
                account.language,
                account_id=account.id,
                session=auth.session.id,
                phone=phone,
                mode=_mode(tx, account.id, factor),
                method=SMS,
            )
            flow = flow.moved(MACHINE.next(flow.state, TwoFactorEvent.PHONE_SUBMITTED))
            tx.flows.add(flow)
            stored = sms_code.send_first(self.deps, tx, flow, phone, account.id, requester, "setup")
        return self._view(flow, stored)

    def resend(self, auth: Authenticated, flow_id: str, requester: Requester) -> SetupView:
        with sms_code.refusals_counted(self.deps), self.deps.uow.begin() as tx:
            flow = self._load_for(tx, auth, flow_id, requester)
            MACHINE.check(flow, TwoFactorEvent.SMS_RESENT, self.deps.clock.now())
            stored = sms_code.resend(self.deps, tx, flow, flow.context["phone"], auth.account.id, requester, "setup")
        return self._view(flow, stored)

    def confirm(self, auth: Authenticated, flow_id: str, code: str, requester: Requester) -> SetupView:
        """The texted code proves the number: 2FA turns on with a new recovery code, or the
        number is replaced. Either way the account address is mailed."""
        with self.deps.uow.read() as tx:
            flow = self._load_for(tx, auth, flow_id, requester)
        enabling = flow.context["mode"] == "enable"

        def verified(tx: Transaction, flow: Flow, state: TwoFactorState) -> SetupView:
            now = self.deps.clock.now()
            account = auth.account
            phone = str(flow.context["phone"])
            self._save(tx, flow.moved(state), flow.state)
            if flow.context["mode"] == "add":  # 2FA is on with another method (an authenticator app)
                added = StoredAuthenticator(0, account.id, SMS, now, data={"phone": phone})
                if tx.authenticators.add(added) is None:
                    raise WrongState()  # added from another page meanwhile
                second_factor.notify(self.deps, tx, account, "method_added", now, method=SMS, name=phone_hint(phone))
                return SetupView(flow.moved(state), phone_hint(phone), {})
            if not enabling:
                sms = of_kind(tx.authenticators.for_account(account.id), SMS)
                if sms is None or not tx.authenticators.set_data(sms.id, {**sms.data, "phone": phone}):
                    raise WrongState()  # turned off meanwhile
                second_factor.notify(self.deps, tx, account, "phone_changed", now, phone=phone_hint(phone))
                return SetupView(flow.moved(state), phone_hint(phone), {})
            recovery = second_factor.issue_recovery(self.deps, account.id)
            if not second_factor.enable(tx, account.id, phone, recovery, now):
                raise WrongState()  # set up from another page meanwhile
            second_factor.notify(self.deps, tx, account, "enabled", now, phone=phone_hint(phone))
            # The texted code just proved the new factor within this session: it counts as a
            # fresh sign-in with it (a change right after asks for no new sign-in).
            policy = self.deps.session_policy
            tx.sessions.add_factor(auth.session, SMS, now, now + policy.absolute_two_factor)
            return SetupView(flow.moved(state), phone_hint(phone), {}, grouped(recovery.code))

        event = TwoFactorEvent.SMS_VERIFIED if enabling else TwoFactorEvent.PHONE_VERIFIED
        view = self.verify_code(flow_id, code, requester, verified, purpose=sms_code.PURPOSE, event=event)
        self.deps.events.sms_completed("setup")
        return view

    def view(self, auth: Authenticated, flow_id: str, requester: Requester) -> SetupView:
        """The flow as its page shows it; while it shows the recovery code, the code itself."""
        with self.deps.uow.read() as tx:
            flow = self._load_for(tx, auth, flow_id, requester, allow_finished=True)
            stored = tx.codes.get(flow.id, sms_code.PURPOSE) if flow.state == TwoFactorState.ENROLLING else None
            shown = flow.state == TwoFactorState.RECOVERY_SHOWN
            factor = second_factor.two_factor(tx, auth.account.id) if shown else None
        view = self._view(flow, stored)
        if factor is not None:
            code = grouped(self.deps.two_factor.sealer.open(factor.recovery_sealed))
            return SetupView(view.flow, view.hint, view.code, code)
        return view

    def finish(self, auth: Authenticated, flow_id: str, requester: Requester) -> Flow:
        """ "Next" after the recovery code: the set-up is done."""
        with self.deps.uow.begin() as tx:
            flow = self._load_for(tx, auth, flow_id, requester)
            moved = flow.moved(MACHINE.check(flow, TwoFactorEvent.RECOVERY_SAVED, self.deps.clock.now()))
            self._save(tx, moved, flow.state)
        return moved

    def disable(self, auth: Authenticated, requester: Requester) -> int:
        """Turn 2FA off; the app passwords go with it (they stood in for it). Their number, returned."""
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            factor = second_factor.require_fresh(self.deps, tx, auth)
            if factor is None or not second_factor.disable(tx, auth.account.id):
                raise TwoFactorOff()
            revoked = tx.app_passwords.revoke_all(auth.account.id, now)
            second_factor.notify(self.deps, tx, auth.account, "disabled", now, app_passwords_revoked=revoked)
        return revoked

    def recovery_code(self, auth: Authenticated) -> tuple[str, TwoFactor]:
        """Account Recovery → Recovery code: shown again after a fresh check of the second factor."""
        with self.deps.uow.read() as tx:
            factor = self._fresh_factor(tx, auth)
        return grouped(self.deps.two_factor.sealer.open(factor.recovery_sealed)), factor

    def renew_recovery(self, auth: Authenticated, requester: Requester) -> str:
        """A new recovery code; the old one stops working at once."""
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            factor = self._fresh_factor(tx, auth)
            new = second_factor.issue_recovery(self.deps, auth.account.id)
            if not tx.authenticators.swap_secret(
                factor.recovery_id, factor.recovery_digest, new.digest, new.sealed, now
            ):
                raise WrongState()  # used or renewed meanwhile
            second_factor.notify(self.deps, tx, auth.account, "recovery_renewed", now)
        return grouped(new.code)

    # Helpers -------------------------------------------------------------------------
    def _fresh_factor(self, tx: Transaction, auth: Authenticated) -> TwoFactor:
        factor = second_factor.require_fresh(self.deps, tx, auth)
        if factor is None:
            raise TwoFactorOff()
        return factor

    def _load_for(
        self, tx: Transaction, auth: Authenticated, flow_id: str, requester: Requester, *, allow_finished: bool = False
    ) -> Flow:
        """The flow, if this very session started it."""
        flow = self._load(tx, flow_id, requester, allow_finished=allow_finished)
        if flow.context.get("account_id") != auth.account.id or flow.context.get("session") != auth.session.id:
            raise FlowNotFound()
        if flow.context.get("method", SMS) != SMS:  # an authenticator app's set-up (flows/totp_setup.py)
            raise FlowNotFound()
        return flow

    def _view(self, flow: Flow, stored: StoredCode | None) -> SetupView:
        return SetupView(flow, phone_hint(str(flow.context["phone"])), email_code.status(self.deps, stored))


def _mode(tx: Transaction, account_id: int, factor: TwoFactor | None) -> str:
    """ "enable": the first second factor turns 2FA on; "change": a new number; "add": a number
    beside another second factor (2FA stays as it is)."""
    if factor is None:
        return "enable"
    return "change" if of_kind(tx.authenticators.for_account(account_id), SMS) else "add"


# App passwords ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CreatedAppPassword:
    password: AppPassword
    secret: str  # shown once, grouped ("abcd efgh ijkl mnop"); only its digest is kept


class AppPasswords:
    """Named, revocable, per-app passwords that let an app without 2FA support sign in while
    2FA stays on. High-entropy and random, so a keyed digest suffices (no slow hash)."""

    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    def for_account(self, account_id: int) -> list[AppPassword]:
        with self.deps.uow.read() as tx:
            return tx.app_passwords.for_account(account_id)

    def apps_needing_one(self) -> list[App]:
        with self.deps.uow.read() as tx:
            return [app for app in tx.apps.all() if not app.supports_2fa]

    def create(self, auth: Authenticated, app_id: str, name: str, requester: Requester) -> CreatedAppPassword:
        now = self.deps.clock.now()
        label = " ".join(name.split())
        if len(label) > NAME_MAX:  # refused, never cut
            raise InvalidInput(N_("This name is too long (at most 100 characters)."), field="name")
        with self.deps.uow.begin() as tx:
            app = tx.apps.get(app_id)
            if app is None:
                raise UnknownApp()
            if app.supports_2fa:
                raise AppHasTwoFactor()
            if second_factor.two_factor(tx, auth.account.id) is None:
                raise TwoFactorOff()
            second_factor.require_fresh(self.deps, tx, auth)
            secret = new_app_password()
            password = AppPassword(new_token(16), auth.account.id, app.client_id, label or app.name, now, None)
            tx.app_passwords.add(password, app_password_digest(self.deps, secret))
            second_factor.notify(
                self.deps, tx, auth.account, "app_password_created", now, app=app.name, name=password.name
            )
        return CreatedAppPassword(password, grouped(secret, separator=" "))

    def revoke(self, account: Account, password_id: str) -> None:
        with self.deps.uow.begin() as tx:
            if not tx.app_passwords.revoke(account.id, password_id, self.deps.clock.now()):
                raise AppPasswordNotFound()
            tx.audit.record("app_password.revoked", self.deps.clock.now(), account.id, app_password=password_id)
