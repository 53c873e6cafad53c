"""Sign-in: address → emailed "temporary identification code" → signed in; or, from the code
page, "Login with password instead" → password → signed in, with "Forgot your password?" →
"Validate" → an "Update password" link mailed (see ``password_reset``).

With 2FA on, either first factor leads to the second-factor stage: a code texted to the verified
number, or "Use my recovery code" (``second_factor``). An app that cannot ask for a second
factor is refused there, unless it signs in with one of the account's app passwords.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from vitalkey.domain.accounts import Account, mail_names
from vitalkey.domain.emails import normalize_email
from vitalkey.domain.errors import (
    AppDoesNotSupport2fa,
    DomainError,
    PasswordMissing,
    TooManyRecoveryFailures,
    UnknownApp,
    WrongPassword,
    WrongRecoveryCode,
    WrongState,
)
from vitalkey.domain.flows import CountedRefusal, Flow, FlowKind, Requester, StateMachine
from vitalkey.domain.passwords import normalize_password
from vitalkey.domain.tokens import keyed_digest
from vitalkey.domain.two_factor import TwoFactor, clean_app_password, clean_recovery_code, phone_hint
from vitalkey.flows import email_code, password, password_reset, rate_limits, second_factor, sms_code
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.email_flow import EmailCodeFlow, FlowView, code_refusals_counted
from vitalkey.flows.second_factor import Challenge, SecondFactorStage, SmsStage
from vitalkey.flows.sessions import Started, start
from vitalkey.ports import Transaction


class LoginState(StrEnum):
    NEW = "new"
    CONFIRM_EMAIL = "confirm_email"
    CODE_SENT = "code_sent"
    PASSWORD = "password"  # noqa: S105 ("Login with password instead")
    FORGOT = "forgot_password"  # "Forgot your password?": asks to "Validate"
    RESET_SENT = "reset_sent"  # the "Update password" link has been mailed
    SMS_SENT = "sms_sent"  # the second factor: a code texted to the verified number
    RECOVERY = "recovery_code"  # "Use my recovery code"
    COMPLETE = "complete"
    DEAD = "dead"


class LoginEvent(StrEnum):
    EMAIL_SUBMITTED = "email_submitted"
    TYPO_SUSPECTED = "typo_suspected"
    PASSWORD_STARTED = "password_started"  # noqa: S105
    SUGGESTION_ACCEPTED = "suggestion_accepted"
    SUGGESTION_DECLINED = "suggestion_declined"
    CODE_RESENT = "code_resent"
    CODE_VERIFIED = "code_verified"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    PASSWORD_CHOSEN = "password_chosen"  # noqa: S105
    CODE_CHOSEN = "code_chosen"
    PASSWORD_VERIFIED = "password_verified"  # noqa: S105
    FORGOT_CHOSEN = "forgot_chosen"
    RESET_REQUESTED = "reset_requested"
    SECOND_FACTOR_REQUIRED = "second_factor_required"
    APP_REFUSED = "app_refused"
    SMS_RESENT = "sms_resent"
    SMS_VERIFIED = "sms_verified"
    SMS_ATTEMPTS_EXHAUSTED = "sms_attempts_exhausted"
    RECOVERY_CHOSEN = "recovery_chosen"
    SMS_CHOSEN = "sms_chosen"
    RECOVERY_VERIFIED = "recovery_verified"


MACHINE = StateMachine(
    name="login",
    states=LoginState,
    events=LoginEvent,
    initial=LoginState.NEW,
    transitions={
        (LoginState.NEW, LoginEvent.EMAIL_SUBMITTED): LoginState.CODE_SENT,
        (LoginState.NEW, LoginEvent.TYPO_SUSPECTED): LoginState.CONFIRM_EMAIL,
        (LoginState.NEW, LoginEvent.PASSWORD_STARTED): LoginState.PASSWORD,
        (LoginState.CONFIRM_EMAIL, LoginEvent.SUGGESTION_ACCEPTED): LoginState.CODE_SENT,
        (LoginState.CONFIRM_EMAIL, LoginEvent.SUGGESTION_DECLINED): LoginState.CODE_SENT,
        (LoginState.CODE_SENT, LoginEvent.CODE_RESENT): LoginState.CODE_SENT,
        (LoginState.CODE_SENT, LoginEvent.CODE_VERIFIED): LoginState.COMPLETE,
        (LoginState.CODE_SENT, LoginEvent.ATTEMPTS_EXHAUSTED): LoginState.DEAD,
        (LoginState.CODE_SENT, LoginEvent.PASSWORD_CHOSEN): LoginState.PASSWORD,
        (LoginState.PASSWORD, LoginEvent.CODE_CHOSEN): LoginState.CODE_SENT,
        (LoginState.PASSWORD, LoginEvent.PASSWORD_VERIFIED): LoginState.COMPLETE,
        (LoginState.PASSWORD, LoginEvent.FORGOT_CHOSEN): LoginState.FORGOT,
        (LoginState.PASSWORD, LoginEvent.RESET_REQUESTED): LoginState.RESET_SENT,
        (LoginState.FORGOT, LoginEvent.PASSWORD_CHOSEN): LoginState.PASSWORD,
        (LoginState.FORGOT, LoginEvent.RESET_REQUESTED): LoginState.RESET_SENT,
        (LoginState.RESET_SENT, LoginEvent.PASSWORD_CHOSEN): LoginState.PASSWORD,
        (LoginState.RESET_SENT, LoginEvent.CODE_CHOSEN): LoginState.CODE_SENT,
        (LoginState.CODE_SENT, LoginEvent.SECOND_FACTOR_REQUIRED): LoginState.SMS_SENT,
        (LoginState.PASSWORD, LoginEvent.SECOND_FACTOR_REQUIRED): LoginState.SMS_SENT,
        (LoginState.CODE_SENT, LoginEvent.APP_REFUSED): LoginState.DEAD,
        (LoginState.PASSWORD, LoginEvent.APP_REFUSED): LoginState.DEAD,
        (LoginState.SMS_SENT, LoginEvent.SMS_RESENT): LoginState.SMS_SENT,
        (LoginState.SMS_SENT, LoginEvent.SMS_VERIFIED): LoginState.COMPLETE,
        (LoginState.SMS_SENT, LoginEvent.SMS_ATTEMPTS_EXHAUSTED): LoginState.DEAD,
        (LoginState.SMS_SENT, LoginEvent.RECOVERY_CHOSEN): LoginState.RECOVERY,
        (LoginState.RECOVERY, LoginEvent.SMS_CHOSEN): LoginState.SMS_SENT,
        (LoginState.RECOVERY, LoginEvent.RECOVERY_VERIFIED): LoginState.COMPLETE,
    },
)


@dataclass(frozen=True, slots=True)
class SecondFactorNeeded:
    """The first factor was right and the account has 2FA on: the flow waits for the second."""

    flow: Flow
    challenge: Challenge


@dataclass(frozen=True, slots=True)
class RecoveryUsed:
    """Signed in with the recovery code: it is spent, and this new one replaces it."""

    started: Started
    new_code: str


SignInResult = Started | SecondFactorNeeded


def app_password_digest(deps: FlowDeps, app_password: str) -> str:
    return keyed_digest(deps.secret, "app-password:" + app_password)


class LoginFlow(EmailCodeFlow):
    kind = FlowKind.LOGIN
    machine = MACHINE
    CODE_STATES = MappingProxyType({LoginState.CODE_SENT: email_code.PURPOSE, LoginState.SMS_SENT: sms_code.PURPOSE})

    def __init__(self, deps: FlowDeps) -> None:
        super().__init__(deps)
        self.stages: list[SecondFactorStage] = [SmsStage(deps)]

    def code_mail(self, tx: Transaction, flow: Flow) -> tuple[str, dict[str, Any], bool]:
        account = self._account_for(tx, flow)
        if account is None:
            return "login_unknown", {"signup_url": f"{self.deps.public_url}/signup"}, False
        return "login_code", mail_names(account), True

    def begin(
        self,
        raw_email: str,
        requester: Requester,
        *,
        app: str | None = None,
        method: str = "code",
        return_to: str | None = None,
    ) -> FlowView:
        """Start a sign-in, from a registered ``app`` if one is named (it says whether it can ask
        for a second factor); with the password straight away if ``method`` is "password";
        ``return_to``: the page a re-authentication goes back to (a fixed local path)."""
        context: dict[str, Any] = {"return_to": return_to} if return_to else {}
        if app is not None:
            with self.deps.uow.read() as tx:
                if tx.apps.get(app) is None:
                    raise UnknownApp()
            context["app"] = app
        if method == "password":
            return self.start_with_password(raw_email, requester, **context)
        return self.start(raw_email, requester, **context)

    def submit_code(self, flow_id: str, code: str, requester: Requester) -> SignInResult:
        def passed(tx: Transaction, flow: Flow, state: LoginState) -> SignInResult:
            account = self._account_for(tx, flow)
            if account is None:  # no code was ever mailed for an unknown address
                raise WrongState()
            password.succeeded(self.deps, tx, flow.email)  # the mailbox is proved: the password opens
            return self._first_factor_passed(tx, flow, state, account, "email_code", requester)

        return self._counted(self.verify_code(flow_id, code, requester, passed), "email_code")

    def _counted(self, result: SignInResult, method: str) -> SignInResult:
        """Count what a committed first factor led to: a sign-in, or a text refused at a limit."""
        if isinstance(result, Started):
            self.deps.events.signed_in(method)
        elif isinstance(refused := result.challenge.refused, sms_code.REFUSALS):
            sms_code.count_refusal(self.deps, refused)
        return result

    def _first_factor_passed(
        self, tx: Transaction, flow: Flow, state: LoginState, account: Account, method: str, requester: Requester
    ) -> SignInResult:
        """The next stage: signed in, or a second factor asked for, or the app refused."""
        for stage in self.stages:
            factor = stage.applies(tx, account)
            if factor is None:
                continue
            app = tx.apps.get(flow.context["app"]) if "app" in flow.context else None
            if app is not None and not app.supports_2fa:
                self._save(tx, flow.moved(MACHINE.next(flow.state, LoginEvent.APP_REFUSED)), flow.state)
                tx.audit.record("login.app_refused", self.deps.clock.now(), account.id, app=app.client_id)
                raise CountedRefusal(AppDoesNotSupport2fa())  # the flow ends all the same
            moved = flow.moved(
                MACHINE.next(flow.state, LoginEvent.SECOND_FACTOR_REQUIRED), account_id=account.id, first_factor=method
            )
            self._save(tx, moved, flow.state)
            try:
                return SecondFactorNeeded(moved, stage.begin(tx, moved, factor, requester))
            except sms_code.REFUSALS as refused:
                # The first factor is proved all the same: the flow waits at the second-factor
                # step, which says why no text came and offers the recovery code (and a resend
                # once the limit allows).
                return SecondFactorNeeded(self._text_refused(tx, moved, refused), self._refused(stage, factor, refused))
        self._save(tx, flow.moved(state, account_id=account.id), flow.state)
        return self._start(tx, flow, account, requester, (method,))

    # The password stage ------------------------------------------------------------
    CHOICES = frozenset(
        {
            LoginEvent.PASSWORD_CHOSEN,
            LoginEvent.CODE_CHOSEN,
            LoginEvent.FORGOT_CHOSEN,
            LoginEvent.RECOVERY_CHOSEN,
            LoginEvent.SMS_CHOSEN,
        }
    )

    def start_with_password(self, raw_email: str, requester: Requester, **context: Any) -> FlowView:
        """An API client that wants the password straight away: no code is mailed (one is, if
        the user turns to the code later). Known and unknown addresses take the same path."""
        flow = self.new_flow(normalize_email(raw_email), requester, **context)
        flow = flow.moved(MACHINE.check(flow, LoginEvent.PASSWORD_STARTED, self.deps.clock.now()))
        with self.deps.uow.begin() as tx:
            tx.flows.add(flow)
        return FlowView(flow, None, {})

    def choose(self, flow_id: str, event: str, requester: Requester) -> Flow:
        """Move between the code, the password, "Forgot your password?", the texted code and the
        recovery code (``CHOICES``)."""
        if event not in self.CHOICES:
            raise WrongState()
        with self.deps.uow.begin() as tx:
            flow = self._load(tx, flow_id, requester)
            moved = flow.moved(MACHINE.check(flow, LoginEvent(event), self.deps.clock.now()))
            self._save(tx, moved, flow.state)
            if moved.state == LoginState.CODE_SENT and tx.codes.get(flow.id, email_code.PURPOSE) is None:
                self._send_code(tx, moved, requester)  # the flow began with the password
        return moved

    def request_reset(self, flow_id: str, requester: Requester) -> Flow:
        """ "Validate": mail the "Update password" link (or, to an unknown address, a mail saying
        that no account uses it); the page and the answer are the same for both."""
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            flow = self._load(tx, flow_id, requester)
            moved = flow.moved(MACHINE.check(flow, LoginEvent.RESET_REQUESTED, now))
            self._save(tx, moved, flow.state)
            password_reset.send_link(self.deps, tx, flow, requester, now)
        return moved

    async def submit_password(self, flow_id: str, raw_password: str, requester: Requester) -> SignInResult:
        """Check the password off the event loop (argon2id takes tens of milliseconds) between
        two short transactions: the attempt is counted before the check, the outcome after it.
        An unknown address or an account without a password costs the same check and gets the
        same answer as a wrong password. An app that cannot ask for a second factor may give one
        of the account's app passwords for it instead (a keyed digest: no slow hash needed)."""
        given = normalize_password(raw_password)
        if not given:
            raise PasswordMissing()  # nothing to judge: not counted, no hash computed
        counted_at = self.deps.clock.now()
        with code_refusals_counted(self.deps.events):  # past the failures cap, a password is refused too
            flow, account, stored, by_app_password = await self.deps.uow.run(
                self._count_password_attempt, flow_id, given, requester, counted_at
            )
        if by_app_password is not None:
            return self._counted(by_app_password, "password")
        right = await self.deps.hasher.verify(stored, given)
        if not right or account is None or stored is None:
            await self.deps.uow.run(self._password_refused, flow)
            raise WrongPassword()
        rehashed = await self.deps.hasher.hash(given) if self.deps.hasher.needs_rehash(stored) else None
        result = await self.deps.uow.run(
            self._password_accepted, flow, account, stored, rehashed, requester, counted_at
        )
        return self._counted(result, "password")

    def _count_password_attempt(
        self, flow_id: str, given: str, requester: Requester, now: datetime
    ) -> tuple[Flow, Account | None, str | None, Started | None]:
        with self.deps.uow.begin() as tx:
            flow = self._load(tx, flow_id, requester)
            state = MACHINE.check(flow, LoginEvent.PASSWORD_VERIFIED, now)
            password.count_attempt(self.deps, tx, flow.email, requester, now)
            account = self._account_for(tx, flow)
            stored = tx.password_hashes.get(account.id) if account else None
            app_id = flow.context.get("app")
            if app_id is not None:  # known or not, the same statements run
                started = self._app_password(tx, flow, state, account, app_id, given, requester, now)
                if started is not None:
                    return flow, account, stored, started
        return flow, account, stored, None

    def _app_password(
        self,
        tx: Transaction,
        flow: Flow,
        state: LoginState,
        account: Account | None,
        app_id: str,
        given: str,
        requester: Requester,
        counted_at: datetime,
    ) -> Started | None:
        try:
            cleaned = clean_app_password(given)
        except WrongPassword:
            return None
        digest = app_password_digest(self.deps, cleaned)
        used = tx.app_passwords.use(account.id if account else 0, app_id, digest, self.deps.clock.now())
        if used is None or account is None:
            return None
        self._save(tx, flow.moved(state, account_id=account.id), flow.state)
        password.right_password(self.deps, tx, flow.email, counted_at)
        tx.audit.record("login.app_password", self.deps.clock.now(), account.id, app=app_id, app_password=used.id)
        return self._start(tx, flow, account, requester, ("app_password",))

    def _start(
        self, tx: Transaction, flow: Flow, account: Account, requester: Requester, methods: tuple[str, ...]
    ) -> Started:
        return replace(start(self.deps, tx, account, requester, methods), return_to=flow.context.get("return_to"))

    def _password_refused(self, flow: Flow) -> None:
        with self.deps.uow.begin() as tx:
            tx.audit.record("password.rejected", self.deps.clock.now(), None, flow_kind=flow.kind.value)

    def _password_accepted(
        self,
        flow: Flow,
        account: Account,
        stored: str,
        rehashed: str | None,
        requester: Requester,
        counted_at: datetime,
    ) -> SignInResult:
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            current = self._load(tx, flow.id, requester)  # as it is now: a parallel attempt may have moved it
            state = MACHINE.check(current, LoginEvent.PASSWORD_VERIFIED, now)
            password.right_password(self.deps, tx, flow.email, counted_at)
            if rehashed:
                tx.password_hashes.rehash(account.id, stored, rehashed)
            return self._first_factor_passed(tx, current, state, account, "password", requester)

    # The second factor --------------------------------------------------------------
    def submit_sms(self, flow_id: str, code: str, requester: Requester) -> Started:
        def signed_in(tx: Transaction, flow: Flow, state: LoginState) -> Started:
            account = tx.accounts.get(int(flow.context["account_id"]))
            if account is None:
                raise WrongState()
            self._save(tx, flow.moved(state), flow.state)
            return self._start(tx, flow, account, requester, (str(flow.context["first_factor"]), "sms"))

        started = self.verify_code(
            flow_id,
            code,
            requester,
            signed_in,
            purpose=sms_code.PURPOSE,
            event=LoginEvent.SMS_VERIFIED,
            exhausted=LoginEvent.SMS_ATTEMPTS_EXHAUSTED,
        )
        self.deps.events.sms_completed("login")
        self.deps.events.signed_in("sms")
        return started

    def resend_sms(self, flow_id: str, requester: Requester) -> SecondFactorNeeded:
        """A new text; the first one if it was refused at the limit (it is counted now)."""
        with sms_code.refusals_counted(self.deps), self.deps.uow.begin() as tx:
            flow = self._load(tx, flow_id, requester)
            MACHINE.check(flow, LoginEvent.SMS_RESENT, self.deps.clock.now())
            stage, factor = self._stage_of(tx, flow)
            if tx.codes.get(flow.id, sms_code.PURPOSE) is None:
                sent = flow.moved(flow.state, sms_refused=None, sms_retry_at=None)
                challenge = stage.begin(tx, sent, factor, requester)
                self._save(tx, sent, flow.state)
                return SecondFactorNeeded(sent, challenge)
            return SecondFactorNeeded(flow, stage.resend(tx, flow, factor, requester))

    def challenge(self, flow: Flow) -> Challenge | None:
        """What the second-factor page shows for ``flow`` (None before that stage)."""
        if flow.state not in (LoginState.SMS_SENT, LoginState.RECOVERY):
            return None
        with self.deps.uow.read() as tx:
            stage, factor = self._stage_of(tx, flow)
            stored = tx.codes.get(flow.id, sms_code.PURPOSE)
        refused = self._refusal_of(flow) if stored is None else None
        return Challenge(stage.method, phone_hint(factor.phone), stored, refused)

    def _text_refused(self, tx: Transaction, flow: Flow, refused: DomainError) -> Flow:
        """Keep why the text was refused, and until when, for the page shown after the redirect."""
        seconds = int(refused.params.get("seconds", 0))
        noted = flow.moved(
            flow.state,
            sms_refused=refused.code,
            sms_retry_at=(self.deps.clock.now() + timedelta(seconds=seconds)).isoformat(),
        )
        self._save(tx, noted, flow.state)
        return noted

    def _refused(self, stage: SecondFactorStage, factor: TwoFactor, refused: DomainError) -> Challenge:
        return Challenge(stage.method, phone_hint(factor.phone), None, refused)

    def _refusal_of(self, flow: Flow) -> DomainError | None:
        refusal = next((r for r in sms_code.REFUSALS if r.code == flow.context.get("sms_refused")), None)
        if refusal is None:
            return None
        retry_at = datetime.fromisoformat(str(flow.context["sms_retry_at"]))
        return refusal(seconds=max(0, math.ceil((retry_at - self.deps.clock.now()).total_seconds())))

    def _stage_of(self, tx: Transaction, flow: Flow) -> tuple[SecondFactorStage, TwoFactor]:
        account = tx.accounts.get(int(flow.context["account_id"]))
        for stage in self.stages:
            factor = stage.applies(tx, account) if account else None
            if factor is not None:
                return stage, factor
        raise WrongState()  # 2FA was turned off meanwhile: start again

    def submit_recovery(self, flow_id: str, raw_code: str, requester: Requester) -> RecoveryUsed:
        """Sign in once with the recovery code: it is spent (a conditional UPDATE swaps it for a
        new one, so parallel uses give one sign-in), the new one is shown, the user is mailed.
        Wrong codes are capped per account and, with the other factors, per address: the
        attempt is counted before it is judged, and taken back when it is right."""
        with code_refusals_counted(self.deps.events):
            used = self._use_recovery(flow_id, clean_recovery_code(raw_code), requester)
        self.deps.events.signed_in("recovery_code")
        return used

    def _use_recovery(self, flow_id: str, code: str, requester: Requester) -> RecoveryUsed:
        now = self.deps.clock.now()
        limit = self.deps.two_factor.recovery_failures
        with self.deps.uow.begin() as tx:
            flow = self._load(tx, flow_id, requester)
            state = MACHINE.check(flow, LoginEvent.RECOVERY_VERIFIED, now)
            account = tx.accounts.get(int(flow.context["account_id"]))
            factor = second_factor.two_factor(tx, account.id) if account else None
            if account is None or factor is None:
                raise WrongState()
            failures = f"recovery:fail:{account.id}"
            rate_limits.take(self.deps, tx, failures, limit, now, TooManyRecoveryFailures)
            rate_limits.count_failure(self.deps, tx, flow.email, now)
            new = second_factor.issue_recovery(self.deps, account.id)
            given = second_factor.recovery_digest(self.deps, account.id, code)
            if factor.recovery_digest == given and tx.authenticators.swap_secret(
                factor.recovery_id, given, new.digest, new.sealed, now
            ):
                self.deps.limiter.forgive(tx, failures, limit[1], now)
                rate_limits.forgive_failure(self.deps, tx, flow.email, now)
                self._save(tx, flow.moved(state), flow.state)
                second_factor.notify(self.deps, tx, account, "recovery_used", now)
                started = self._start(
                    tx, flow, account, requester, (str(flow.context["first_factor"]), "recovery_code")
                )
                return RecoveryUsed(started, new.code)
            tx.audit.record("recovery.rejected", now, account.id)
            raise CountedRefusal(WrongRecoveryCode())
