"""Sign-in: address → emailed "temporary identification code" → signed in; or, from the code
page, "Login with password instead" → password → signed in, with "Forgot your password?" →
"Validate" → an "Update password" link mailed (see ``password_reset``).

With 2FA on, either first factor leads to the second-factor step: a code texted to the verified
number, or "Use my recovery code". An app that cannot ask for a second factor is refused there,
unless it signs in with one of the account's app passwords.

The states name steps (first factor, second factor), not methods; the method of a factor step is
``flow.context["method"]``, and each method is a kind of ``flows.authenticators``: the flow asks
the kinds in order and skips those that are not responsible.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from vitalkey.domain import codes
from vitalkey.domain.accounts import Account
from vitalkey.domain.addresses import network_of
from vitalkey.domain.apps import redirect_uri_allowed
from vitalkey.domain.authenticators import APP_PASSWORD, EMAIL_CODE, FEDERATED, PASSWORD, RECOVERY_CODE, SMS
from vitalkey.domain.codes import StoredCode
from vitalkey.domain.emails import account_key, normalize_email
from vitalkey.domain.errors import (
    AppDoesNotSupport2fa,
    DomainError,
    FlowDead,
    FlowExpired,
    FlowNotFound,
    LinkForAnotherAddress,
    PasswordMissing,
    RateLimited,
    ReturnToNotRegistered,
    UnknownApp,
    WrongCode,
    WrongPassword,
    WrongState,
)
from vitalkey.domain.flows import CountedRefusal, Flow, FlowKind, Requester, StateMachine
from vitalkey.domain.passwords import normalize_password
from vitalkey.domain.tokens import new_token
from vitalkey.domain.two_factor import clean_recovery_code, method_hint
from vitalkey.flows import email_code, password, password_reset, rate_limits, sms_code
from vitalkey.flows.authenticators import Authenticators
from vitalkey.flows.authenticators.base import Answer, NotResponsible, Prompt, Proof, Role
from vitalkey.flows.authenticators.email_code import EmailCode
from vitalkey.flows.authenticators.federated import CLAIMS, FederatedKind, claims_context, claims_from
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.email_flow import EmailCodeFlow, FlowView, code_refusals_counted
from vitalkey.flows.sessions import Started, start
from vitalkey.ports import Transaction, UpstreamClaims

# A login flow's context: the UpstreamStart (url-less) of a sign-in sent to an upstream provider.
UPSTREAM = "upstream"
UPSTREAM_TTL = timedelta(minutes=10)  # for the provider's answer to come back
# A login flow's context: a checked identity whose verified address is an account's, kept until the
# user has proved that account with its own sign-in and confirmed the link (issue #23 item 3).
LINK = "link"
# A login flow's context: the checked identity of a provider that gave no address, kept while the
# user types the address of the new account (the sign-up then confirms it by code).
ADDRESS_NEEDED = "address_needed"
# A login flow's context: set when a signed-in user left for the provider to link an identity
# (Account & Security's "Link your … account"), not to sign in.
LINK_INTENT = "link_intent"


@dataclass(frozen=True, slots=True)
class WaitingLink:
    """An identity kept for linking: its claims, and the address of the account to prove."""

    claims: UpstreamClaims
    email: str


# An app's sign-in with an upstream provider (the JSON API): where the browser goes back to (one
# of the app's registered redirect URIs), and the checked claims kept server-side. The one-time
# exchange code the app trades for them is kept as the flow's codes are (``codes``, this purpose:
# its keyed digest, its tries counted and its use made by conditional UPDATEs).
APP_RETURN = "app_return"
APP_CLAIMS = "app_claims"
EXCHANGE = "app_exchange"
EXCHANGE_TRIES = 3  # the last wrong try ends the flow


class LoginState(StrEnum):
    """Steps, not methods: the method of a factor step is ``flow.context["method"]``."""

    NEW = "new"
    CONFIRM_EMAIL = "confirm_email"
    FIRST_FACTOR = "first_factor"  # the mailed code, or the password ("Login with password instead")
    FORGOT = "forgot_password"  # "Forgot your password?": asks to "Validate"
    RESET_SENT = "reset_sent"  # the "Update password" link has been mailed
    SECOND_FACTOR = "second_factor"  # a texted code, or "Use my recovery code"
    COMPLETE = "complete"
    DEAD = "dead"


class LoginEvent(StrEnum):
    EMAIL_SUBMITTED = "email_submitted"
    TYPO_SUSPECTED = "typo_suspected"
    METHOD_STARTED = "method_started"  # a first factor other than the mailed code, straight away
    SUGGESTION_ACCEPTED = "suggestion_accepted"
    SUGGESTION_DECLINED = "suggestion_declined"
    CODE_RESENT = "code_resent"  # the mailed code again, or the texted one
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    METHOD_CHOSEN = "method_chosen"  # another way for the same step
    FORGOT_CHOSEN = "forgot_chosen"
    RESET_REQUESTED = "reset_requested"
    FIRST_FACTOR_VERIFIED = "first_factor_verified"
    SECOND_FACTOR_REQUIRED = "second_factor_required"
    APP_REFUSED = "app_refused"
    SECOND_FACTOR_VERIFIED = "second_factor_verified"


MACHINE = StateMachine(
    name="login",
    states=LoginState,
    events=LoginEvent,
    initial=LoginState.NEW,
    transitions={
        (LoginState.NEW, LoginEvent.EMAIL_SUBMITTED): LoginState.FIRST_FACTOR,
        (LoginState.NEW, LoginEvent.TYPO_SUSPECTED): LoginState.CONFIRM_EMAIL,
        (LoginState.NEW, LoginEvent.METHOD_STARTED): LoginState.FIRST_FACTOR,
        (LoginState.CONFIRM_EMAIL, LoginEvent.SUGGESTION_ACCEPTED): LoginState.FIRST_FACTOR,
        (LoginState.CONFIRM_EMAIL, LoginEvent.SUGGESTION_DECLINED): LoginState.FIRST_FACTOR,
        (LoginState.FIRST_FACTOR, LoginEvent.CODE_RESENT): LoginState.FIRST_FACTOR,
        (LoginState.FIRST_FACTOR, LoginEvent.FIRST_FACTOR_VERIFIED): LoginState.COMPLETE,
        (LoginState.FIRST_FACTOR, LoginEvent.ATTEMPTS_EXHAUSTED): LoginState.DEAD,
        (LoginState.FIRST_FACTOR, LoginEvent.METHOD_CHOSEN): LoginState.FIRST_FACTOR,
        (LoginState.FIRST_FACTOR, LoginEvent.FORGOT_CHOSEN): LoginState.FORGOT,
        (LoginState.FIRST_FACTOR, LoginEvent.RESET_REQUESTED): LoginState.RESET_SENT,
        (LoginState.FIRST_FACTOR, LoginEvent.SECOND_FACTOR_REQUIRED): LoginState.SECOND_FACTOR,
        (LoginState.FIRST_FACTOR, LoginEvent.APP_REFUSED): LoginState.DEAD,
        (LoginState.FORGOT, LoginEvent.METHOD_CHOSEN): LoginState.FIRST_FACTOR,
        (LoginState.FORGOT, LoginEvent.RESET_REQUESTED): LoginState.RESET_SENT,
        (LoginState.RESET_SENT, LoginEvent.METHOD_CHOSEN): LoginState.FIRST_FACTOR,
        (LoginState.SECOND_FACTOR, LoginEvent.CODE_RESENT): LoginState.SECOND_FACTOR,
        (LoginState.SECOND_FACTOR, LoginEvent.SECOND_FACTOR_VERIFIED): LoginState.COMPLETE,
        (LoginState.SECOND_FACTOR, LoginEvent.ATTEMPTS_EXHAUSTED): LoginState.DEAD,
        (LoginState.SECOND_FACTOR, LoginEvent.METHOD_CHOSEN): LoginState.SECOND_FACTOR,
    },
)

# The choices as the pages and the JSON API name them (before steps were named by step):
# a method to switch to, or "Forgot your password?".
LEGACY_CHOICES = MappingProxyType(
    {
        "password_chosen": PASSWORD,
        "code_chosen": EMAIL_CODE,
        "recovery_chosen": RECOVERY_CODE,
        "sms_chosen": SMS,
    }
)
FORGOT_CHOSEN = LoginEvent.FORGOT_CHOSEN.value
# The code a factor step waits for, by its method.
CODE_PURPOSES = MappingProxyType({EMAIL_CODE: email_code.PURPOSE, SMS: sms_code.PURPOSE})


@dataclass(frozen=True, slots=True)
class SecondFactorNeeded:
    """The first factor was right and the account has 2FA on: the flow waits for the second."""

    flow: Flow
    challenge: Prompt


@dataclass(frozen=True, slots=True)
class OtherWay:
    """ "Try another way": a method the second-factor step can switch to (``choose_method``)."""

    method: str
    hint: str = ""  # the masked number, or the name of the account's one authenticator of the kind


@dataclass(frozen=True, slots=True)
class RecoveryUsed:
    """Signed in with the recovery code: it is spent, and this new one replaces it."""

    started: Started
    new_code: str


SignInResult = Started | SecondFactorNeeded


class LoginFlow(EmailCodeFlow):
    kind = FlowKind.LOGIN
    machine = MACHINE

    def __init__(self, deps: FlowDeps, authenticators: Authenticators) -> None:
        super().__init__(deps)
        self.authenticators = authenticators

    def code_mail(self, tx: Transaction, flow: Flow) -> tuple[str, dict[str, Any], bool]:
        kind = self.authenticators[EMAIL_CODE]
        assert isinstance(kind, EmailCode)
        return kind.mail(tx, flow)

    def code_purpose(self, flow: Flow) -> str | None:
        if flow.state in (LoginState.FIRST_FACTOR, LoginState.SECOND_FACTOR):
            return CODE_PURPOSES.get(str(flow.context.get("method")))
        return None

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

    def start(self, raw_email: str, requester: Requester, **context: Any) -> FlowView:
        """Mail a code (the first factor every sign-in opens with)."""
        return super().start(raw_email, requester, **{"method": EMAIL_CODE, **context})

    def start_with_password(self, raw_email: str, requester: Requester, **context: Any) -> FlowView:
        """An API client that wants the password straight away: no code is mailed (one is, if
        the user turns to the code later). Known and unknown addresses take the same path."""
        return self.start_with(PASSWORD, raw_email, requester, **context)

    def start_with(self, method: str, raw_email: str, requester: Requester, **context: Any) -> FlowView:
        """Open the sign-in at another first factor than the mailed code (``method_started``):
        the kind begins its step without looking the address up (an address may be empty for
        a kind that finds the account itself)."""
        kind = self.authenticators[method]
        if not kind.roles & Role.FIRST or kind not in self.authenticators.usable(None, [], Role.FIRST):
            raise WrongState()
        flow = self.new_flow(normalize_email(raw_email) if raw_email else "", requester, **context, method=method)
        flow = flow.moved(MACHINE.check(flow, LoginEvent.METHOD_STARTED, self.deps.clock.now()))
        with self.deps.uow.begin() as tx:
            tx.flows.add(flow)
            prompt = kind.begin(tx, flow, None, requester)
            if prompt.context:
                begun = flow.moved(flow.state, **prompt.context)
                self._save(tx, begun, flow.state)
                flow = begun
        return FlowView(flow, None, {})

    # Sign-in with an upstream provider (issue #23) ------------------------------------
    def start_upstream(self, kept: dict[str, str], requester: Requester, **context: Any) -> FlowView:
        """Open a browser's sign-in with a provider, keeping its ``UpstreamStart`` (url-less)."""
        self._count_upstream_start(requester)
        view = self.start_with(FEDERATED, "", requester, **context)
        with self.deps.uow.begin() as tx:
            flow = self._federated(tx, view.flow.id, requester)
            return FlowView(self._keep_upstream(tx, flow, kept), None, {})

    def _count_upstream_start(self, requester: Requester) -> None:
        """Each sign-in with a provider stores a flow: counted per client network
        (``upstream_starts_per_ip``) before it is made."""
        with self.deps.uow.begin() as tx:
            key = "upstream:ip:" + network_of(requester.ip)
            rate_limits.take(self.deps, tx, key, self.deps.upstream_limit_per_ip, self.deps.clock.now(), RateLimited)

    def _keep_upstream(self, tx: Transaction, flow: Flow, kept: dict[str, str]) -> Flow:
        """Keep what the provider's answer is checked against, in the flow's context, and its
        state as a one-time code of the flow: ``take_upstream`` uses it up with a conditional
        UPDATE, so of two callbacks racing with one answer only one goes on (on any engine)."""
        if UPSTREAM in flow.context or tx.codes.get(flow.id, UPSTREAM) is not None:
            raise WrongState()
        now = self.deps.clock.now()
        digest = codes.code_hmac(self.deps.secret, flow.id, UPSTREAM, kept["state"])
        tx.codes.add(StoredCode(flow.id, UPSTREAM, digest, min(flow.expires_at, now + UPSTREAM_TTL), 0, 1, now, None))
        kept_in = flow.moved(flow.state, **{UPSTREAM: kept})
        self._save(tx, kept_in, flow.state)
        return kept_in

    def take_upstream(self, flow_id: str, requester: Requester) -> dict[str, str]:
        """The ``UpstreamStart`` kept when the browser left for the provider (``UPSTREAM``),
        used up in the same transaction: a callback is answered once, within ``UPSTREAM_TTL``,
        and a replayed or racing one finds nothing (``UpstreamRefused("bad_state")`` is the
        caller's)."""
        with self.deps.uow.begin() as tx:
            flow = self._federated(tx, flow_id, requester)
            kept = flow.context.get(UPSTREAM)
            if not isinstance(kept, dict) or not tx.codes.consume(flow.id, UPSTREAM, self.deps.clock.now(), 0):
                raise WrongState()
            self._save(tx, flow.moved(flow.state, **{UPSTREAM: None}), flow.state)
        return {str(key): str(value) for key, value in kept.items()}

    def keep_for_link(self, flow_id: str, claims: UpstreamClaims, email: str, requester: Requester) -> None:
        """Keep the checked identity in the flow (server-side) while the user signs in to the
        account at ``email`` to link it: no link is ever made without that proof."""
        self._keep(flow_id, requester, LINK, {"claims": claims_context(claims), "email": email})

    def waiting_link(self, flow_id: str, requester: Requester, *, take: bool = False) -> WaitingLink:
        """The identity kept for linking (WrongState when there is none, or no longer); ``take``
        removes it: it is linked once."""
        kept = self._kept(flow_id, requester, LINK, take=take)
        return WaitingLink(claims_from(kept["claims"]), str(kept["email"]))

    def wants_link(self, flow_id: str, requester: Requester) -> bool:
        """Whether the upstream sign-in of the flow was started to link an identity."""
        with self.deps.uow.read() as tx:
            return bool(self._load(tx, flow_id, requester).context.get(LINK_INTENT))

    def keep_for_address(self, flow_id: str, claims: UpstreamClaims, requester: Requester) -> None:
        """Keep the identity of a provider that gave no address while the user types one."""
        self._keep(flow_id, requester, ADDRESS_NEEDED, claims_context(claims))

    def claims_without_address(self, flow_id: str, requester: Requester, *, take: bool = False) -> UpstreamClaims:
        """The identity kept by ``keep_for_address`` (WrongState: none, or no longer); ``take``
        removes it, once the sign-up it leads to has started."""
        return claims_from(self._kept(flow_id, requester, ADDRESS_NEEDED, take=take))

    def start_to_link(self, flow_id: str, requester: Requester, return_to: str) -> FlowView:
        """ "Sign in to link": the identity kept in the flow ``flow_id`` moves to a new sign-in to
        its account (a code mailed, as any sign-in's), which links it when it completes."""
        kept = self._kept(flow_id, requester, LINK, take=True)
        return self.start(str(kept["email"]), requester, **{LINK: kept, "return_to": return_to})

    def _federated(self, tx: Transaction, flow_id: str, requester: Requester) -> Flow:
        """A sign-in with a provider, at its (only) step."""
        return self._at(self._load(tx, flow_id, requester), LoginState.FIRST_FACTOR, FEDERATED)

    def _keep(self, flow_id: str, requester: Requester, key: str, value: dict[str, Any]) -> None:
        with self.deps.uow.begin() as tx:
            flow = self._federated(tx, flow_id, requester)
            self._save(tx, flow.moved(flow.state, **{key: value}), flow.state)

    def _kept(self, flow_id: str, requester: Requester, key: str, *, take: bool) -> dict[str, Any]:
        with self.deps.uow.begin() as tx:
            flow = self._federated(tx, flow_id, requester)
            kept = flow.context.get(key)
            if not isinstance(kept, dict):
                raise WrongState()
            if take:
                self._save(tx, flow.moved(flow.state, **{key: None}), flow.state)
        return kept

    def submit_federated(
        self, flow_id: str, claims: UpstreamClaims, requester: Requester
    ) -> tuple[Proof, SignInResult]:
        """Continue the flow with the checked claims of a linked identity (kept server-side in
        the flow's context for the kind's ``verify``): signed in, or on to the second factor."""
        with self.deps.uow.begin() as tx:
            flow = self._federated(tx, flow_id, requester)
            self._save(tx, flow.moved(flow.state, **{CLAIMS: claims_context(claims)}), flow.state)
        return self.submit(flow_id, FEDERATED, Answer(), requester)

    def resend(self, flow_id: str, requester: Requester) -> FlowView:
        """The mailed code again (only on its own step: the texted one has ``resend_sms``)."""
        with self.deps.uow.read() as tx:
            self._at(self._load(tx, flow_id, requester), LoginState.FIRST_FACTOR, EMAIL_CODE)
        return super().resend(flow_id, requester)

    # Factor steps --------------------------------------------------------------------
    def submit(self, flow_id: str, method: str, answer: Answer, requester: Requester) -> tuple[Proof, SignInResult]:
        """Check the answer of the factor step the flow is at, with the kind of its method: a
        first factor leads on (signed in, or the second factor asked for), a second signs in."""
        with code_refusals_counted(self.deps.events):
            proof, result = self._submit(flow_id, method, answer, requester)
        self.authenticators[proof.method].committed(proof)
        self._counted(result, proof.method)
        return proof, result

    def _submit(self, flow_id: str, method: str, answer: Answer, requester: Requester) -> tuple[Proof, SignInResult]:
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            flow = self._load(tx, flow_id, requester)
            kind = self.authenticators[method]
            if flow.state == LoginState.SECOND_FACTOR:
                state = MACHINE.check(
                    self._at(flow, LoginState.SECOND_FACTOR, method), LoginEvent.SECOND_FACTOR_VERIFIED, now
                )
                account = tx.accounts.get(int(flow.context["account_id"]))
                proof = kind.verify(tx, flow, account, answer, requester)
                self._save(tx, flow.moved(state), flow.state)
                methods = (str(flow.context["first_factor"]), proof.method)
                return proof, self._start(tx, flow, proof.account, requester, methods)
            state = MACHINE.check(
                self._at(flow, LoginState.FIRST_FACTOR, method), LoginEvent.FIRST_FACTOR_VERIFIED, now
            )
            proof = kind.verify(tx, flow, self._account_for(tx, flow), answer, requester)
            if Role.SECOND in proof.roles:  # multi-factor by itself (a passkey with user verification)
                self._save(tx, flow.moved(state, account_id=proof.account.id), flow.state)
                return proof, self._start(tx, flow, proof.account, requester, proof.methods)
            return proof, self._first_factor_passed(tx, flow, state, proof.account, proof.method, requester)

    def _at(self, flow: Flow, state: LoginState, method: str) -> Flow:
        """``flow``, if it is at ``state`` with ``method``; otherwise the step is not open."""
        if flow.state != state or flow.context.get("method") != method:
            raise WrongState()
        return flow

    def submit_code(self, flow_id: str, code: str, requester: Requester) -> SignInResult:
        with code_refusals_counted(self.deps.events):
            codes.clean_code(code)  # a malformed code is refused before anything is read
        return self.submit(flow_id, EMAIL_CODE, Answer(code=code), requester)[1]

    def _counted(self, result: SignInResult, method: str) -> None:
        """Count what a committed step led to: a sign-in, or a text refused at a limit."""
        if isinstance(result, Started):
            self.deps.events.signed_in(method)
        elif isinstance(refused := result.challenge.refused, sms_code.REFUSALS):
            sms_code.count_refusal(self.deps, refused)

    def _first_factor_passed(
        self, tx: Transaction, flow: Flow, state: LoginState, account: Account, method: str, requester: Requester
    ) -> SignInResult:
        """The next step: signed in, or a second factor asked for (the first kind that takes
        it), or the app refused."""
        rows = tx.authenticators.for_account(account.id)
        factors = self.authenticators.second_factors(account, rows)
        if not factors:
            self._save(tx, flow.moved(state, account_id=account.id), flow.state)
            return self._start(tx, flow, account, requester, (method,))
        app = tx.apps.get(flow.context["app"]) if "app" in flow.context else None
        if app is not None and not app.supports_2fa:
            self._save(tx, flow.moved(MACHINE.next(flow.state, LoginEvent.APP_REFUSED)), flow.state)
            tx.audit.record("login.app_refused", self.deps.clock.now(), account.id, app=app.client_id)
            raise CountedRefusal(AppDoesNotSupport2fa())  # the flow ends all the same
        waiting = flow.moved(
            MACHINE.next(flow.state, LoginEvent.SECOND_FACTOR_REQUIRED), account_id=account.id, first_factor=method
        )
        for kind in factors:
            try:
                prompt = kind.begin(tx, waiting.moved(waiting.state, method=kind.kind), account, requester)
            except NotResponsible:
                continue
            moved = waiting.moved(waiting.state, method=kind.kind, **prompt.context)
            self._save(tx, moved, flow.state)
            return SecondFactorNeeded(moved, prompt)
        raise WrongState()

    # Choices ---------------------------------------------------------------------------
    def choose(self, flow_id: str, event: str, requester: Requester) -> Flow:
        """Move between the code, the password, "Forgot your password?", the texted code and the
        recovery code, by the names the pages and the API use (``LEGACY_CHOICES``)."""
        if event == FORGOT_CHOSEN:
            return self._forgot(flow_id, requester)
        method = LEGACY_CHOICES.get(event)
        if method is None:
            raise WrongState()
        return self.choose_method(flow_id, method, requester)

    def choose_method(self, flow_id: str, method: str, requester: Requester) -> Flow:
        """ "Try another way": another method for the step the flow is at (a first factor, also
        from "Forgot your password?"; or a second factor of the account)."""
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            flow = self._load(tx, flow_id, requester)
            kind = self.authenticators[method]
            moved = flow.moved(MACHINE.check(flow, LoginEvent.METHOD_CHOSEN, now), method=method)
            if flow.state == LoginState.SECOND_FACTOR:
                account = tx.accounts.get(int(flow.context["account_id"]))
                rows = tx.authenticators.for_account(account.id) if account else []
                usable = self.authenticators.second_factors(account, rows) if account else []
            else:
                account = None  # any address may choose any first factor: no look-up
                usable = self.authenticators.usable(None, [], Role.FIRST)
            current = flow.context.get("method")
            same = flow.state in (LoginState.FIRST_FACTOR, LoginState.SECOND_FACTOR) and method == current
            back_only = flow.state == LoginState.FORGOT and method != current  # "Forgot" leads back only
            if kind not in usable or same or back_only:
                raise WrongState()
            prompt = kind.begin(tx, moved, account, requester)
            moved = moved.moved(moved.state, **prompt.context)
            self._save(tx, moved, flow.state)
        return moved

    def _forgot(self, flow_id: str, requester: Requester) -> Flow:
        with self.deps.uow.begin() as tx:
            flow = self._at(self._load(tx, flow_id, requester), LoginState.FIRST_FACTOR, PASSWORD)
            moved = flow.moved(MACHINE.check(flow, LoginEvent.FORGOT_CHOSEN, self.deps.clock.now()))
            self._save(tx, moved, flow.state)
        return moved

    def request_reset(self, flow_id: str, requester: Requester) -> Flow:
        """ "Validate": mail the "Update password" link (or, to an unknown address, a mail saying
        that no account uses it); the page and the answer are the same for both."""
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            flow = self._load(tx, flow_id, requester)
            if flow.state == LoginState.FIRST_FACTOR:
                self._at(flow, LoginState.FIRST_FACTOR, PASSWORD)
            moved = flow.moved(MACHINE.check(flow, LoginEvent.RESET_REQUESTED, now))
            self._save(tx, moved, flow.state)
            password_reset.send_link(self.deps, tx, flow, requester, now)
        return moved

    # The password ------------------------------------------------------------------
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
            self._counted(by_app_password, PASSWORD)
            return by_app_password
        right = await self.deps.hasher.verify(stored, given)
        if not right or account is None or stored is None:
            await self.deps.uow.run(self._password_refused, flow)
            raise WrongPassword()
        rehashed = await self.deps.hasher.hash(given) if self.deps.hasher.needs_rehash(stored) else None
        result = await self.deps.uow.run(
            self._password_accepted, flow, account, stored, rehashed, requester, counted_at
        )
        self._counted(result, PASSWORD)
        return result

    def _count_password_attempt(
        self, flow_id: str, given: str, requester: Requester, now: datetime
    ) -> tuple[Flow, Account | None, str | None, Started | None]:
        with self.deps.uow.begin() as tx:
            flow = self._at(self._load(tx, flow_id, requester), LoginState.FIRST_FACTOR, PASSWORD)
            state = MACHINE.check(flow, LoginEvent.FIRST_FACTOR_VERIFIED, now)
            password.count_attempt(self.deps, tx, flow.email, requester, now)
            account = self._account_for(tx, flow)
            stored = tx.password_hashes.get(account.id) if account else None
            try:  # the kinds in order: an app password first, else the password
                proof = self.authenticators[APP_PASSWORD].verify(tx, flow, account, Answer(password=given), requester)
            except NotResponsible:
                return flow, account, stored, None
            self._save(tx, flow.moved(state, account_id=proof.account.id), flow.state)
            password.right_password(self.deps, tx, flow.email, now)
            return flow, account, stored, self._start(tx, flow, proof.account, requester, (APP_PASSWORD,))

    def _start(
        self, tx: Transaction, flow: Flow, account: Account, requester: Requester, methods: tuple[str, ...]
    ) -> Started:
        """The session; and, for a sign-in the user started to link an identity to the account
        ("Sign in to link"), the link, in the same transaction: the sign-in is its proof."""
        started = replace(start(self.deps, tx, account, requester, methods), return_to=flow.context.get("return_to"))
        waiting = flow.context.get(LINK)
        proved = isinstance(waiting, dict) and account_key(str(waiting["email"])) == account_key(account.email)
        if proved and APP_PASSWORD not in methods:
            kind = self.authenticators[FEDERATED]
            assert isinstance(kind, FederatedKind) and isinstance(waiting, dict)
            kind.link(tx, account, claims_from(waiting["claims"]), methods)
        return started

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
            state = MACHINE.check(
                self._at(current, LoginState.FIRST_FACTOR, PASSWORD), LoginEvent.FIRST_FACTOR_VERIFIED, now
            )
            password.right_password(self.deps, tx, flow.email, counted_at)
            if rehashed:
                tx.password_hashes.rehash(account.id, stored, rehashed)
            return self._first_factor_passed(tx, current, state, account, PASSWORD, requester)

    # The second factor --------------------------------------------------------------
    def submit_sms(self, flow_id: str, code: str, requester: Requester) -> Started:
        with code_refusals_counted(self.deps.events):
            codes.clean_code(code)
        result = self.submit(flow_id, SMS, Answer(code=code), requester)[1]
        assert isinstance(result, Started)
        return result

    def submit_recovery(self, flow_id: str, raw_code: str, requester: Requester) -> RecoveryUsed:
        """Sign in once with the recovery code: it is spent, the new one is shown, the user is
        mailed (``authenticators.recovery_code``)."""
        with code_refusals_counted(self.deps.events):
            code = clean_recovery_code(raw_code)
        proof, result = self.submit(flow_id, RECOVERY_CODE, Answer(recovery_code=code), requester)
        assert isinstance(result, Started) and proof.new_recovery_code is not None
        return RecoveryUsed(result, proof.new_recovery_code)

    def resend_sms(self, flow_id: str, requester: Requester) -> SecondFactorNeeded:
        """A new text; the first one if it was refused at the limit (it is counted now)."""
        with sms_code.refusals_counted(self.deps), self.deps.uow.begin() as tx:
            flow = self._at(self._load(tx, flow_id, requester), LoginState.SECOND_FACTOR, SMS)
            MACHINE.check(flow, LoginEvent.CODE_RESENT, self.deps.clock.now())
            account = tx.accounts.get(int(flow.context["account_id"]))
            prompt = self.authenticators[SMS].resend(tx, flow, account, requester)
            if prompt.context:
                sent = flow.moved(flow.state, **prompt.context)
                self._save(tx, sent, flow.state)
                return SecondFactorNeeded(sent, prompt)
            return SecondFactorNeeded(flow, prompt)

    def prompt(self, flow: Flow) -> Prompt | None:
        """What the factor step of ``flow`` shows, from its method's kind (None outside one)."""
        if flow.state == LoginState.SECOND_FACTOR:
            return self.challenge(flow)
        if flow.state != LoginState.FIRST_FACTOR:
            return None
        with self.deps.uow.read() as tx:
            kind = self.authenticators[str(flow.context.get("method"))]
            return kind.prompt(tx, flow, self._account_for(tx, flow))

    def challenge(self, flow: Flow) -> Prompt | None:
        """What the second-factor step shows for ``flow`` (None before that step): its method's
        prompt, or, for a method with nothing to show (the recovery code), the account's first
        second factor's (its page offers to go back to it)."""
        if flow.state != LoginState.SECOND_FACTOR:
            return None
        with self.deps.uow.read() as tx:
            account = tx.accounts.get(int(flow.context["account_id"]))
            rows = tx.authenticators.for_account(account.id) if account else []
            factors = self.authenticators.second_factors(account, rows) if account else []
            if not factors:
                raise WrongState()  # 2FA was turned off meanwhile: start again
            method = flow.context.get("method")
            kind = next((k for k in factors if k.kind == method and k.kind != RECOVERY_CODE), factors[0])
            return kind.prompt(tx, flow, account)

    def other_ways(self, flow: Flow) -> list[OtherWay]:
        """ "Try another way" at the second factor: every other second factor of the account, in
        the order a sign-in offers them (``Authenticators.second_factors``: the recovery code
        last); empty outside that step."""
        if flow.state != LoginState.SECOND_FACTOR:
            return []
        with self.deps.uow.read() as tx:
            account = tx.accounts.get(int(flow.context["account_id"]))
            rows = tx.authenticators.for_account(account.id) if account else []
            factors = self.authenticators.second_factors(account, rows) if account else []
        current = flow.context.get("method")
        ways = []
        for kind in factors:
            if kind.kind == current:
                continue
            own = [row for row in rows if row.kind == kind.kind]
            ways.append(
                OtherWay(kind.kind, method_hint(own[0]) if len(own) == 1 and kind.kind != RECOVERY_CODE else "")
            )
        return ways

    # Sign-in with an upstream provider from an app (issue #23, the JSON API) --------------
    # The app cannot hold the browser's cookie: the provider's answer comes back to our callback
    # in the browser, which sends the app a one-time exchange code; the app trades it, with the
    # flow's id it holds, for what the sign-in leads to (web/federation_api.py).
    def start_for_app(self, requester: Requester, app_id: str, return_to: str) -> FlowView:
        """Open an app's sign-in with a provider: the app is registered and ``return_to`` is one
        of its redirect URIs (the browser is sent there with the exchange code)."""
        with self.deps.uow.read() as tx:
            app = tx.apps.get(app_id)
        if app is None:
            raise UnknownApp()
        if not redirect_uri_allowed(app, return_to):
            raise ReturnToNotRegistered()
        self._count_upstream_start(requester)
        return self.start_with(FEDERATED, "", requester, app=app.client_id, **{APP_RETURN: return_to})

    def keep_upstream(self, flow_id: str, kept: dict[str, str], requester: Requester) -> None:
        """Keep the ``UpstreamStart`` (url-less) of an app's sign-in, once: its state names the
        flow, so the provider is asked only after the flow exists."""
        with self.deps.uow.begin() as tx:
            self._keep_upstream(tx, self._app_flow(tx, flow_id, requester), kept)

    def app_return(self, flow_id: str, requester: Requester) -> str | None:
        """Where an app's sign-in sends the browser back (None: no such flow of an app)."""
        with self.deps.uow.read() as tx:
            try:
                flow = self._load(tx, flow_id, requester, allow_finished=True)
            except FlowNotFound:
                return None
        found = flow.context.get(APP_RETURN)
        return str(found) if found else None

    def keep_for_exchange(self, flow_id: str, claims: UpstreamClaims, requester: Requester) -> tuple[str, str]:
        """The provider's checked claims for the app's flow, kept server-side with a new
        exchange code (its keyed digest): (the code, where to send it)."""
        code, now = new_token(32), self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            flow = self._app_flow(tx, flow_id, requester)
            if APP_CLAIMS in flow.context or tx.codes.get(flow.id, EXCHANGE) is not None:
                raise WrongState()
            digest = codes.code_hmac(self.deps.secret, flow.id, EXCHANGE, code)
            tx.codes.add(StoredCode(flow.id, EXCHANGE, digest, flow.expires_at, 0, 1, now, None))
            self._save(tx, flow.moved(flow.state, **{APP_CLAIMS: claims_context(claims)}), flow.state)
        return code, str(flow.context[APP_RETURN])

    def exchange(self, flow_id: str, code: str, requester: Requester) -> UpstreamClaims:
        """The claims for the exchange code, used up in the same transaction (of parallel tries
        with it, one wins; a replay finds nothing). A wrong code is counted, and the last wrong
        try ends the flow. Refused before the callback gave a code. The claims stay kept for a
        link or an address still to come."""
        now = self.deps.clock.now()
        with code_refusals_counted(self.deps.events), self.deps.uow.begin() as tx:
            flow = self._app_flow(tx, flow_id, requester)
            claims = flow.context.get(APP_CLAIMS)
            stored = tx.codes.count_attempt(flow.id, EXCHANGE)  # its own UPDATE, before the comparison
            if stored is None or not isinstance(claims, dict):
                raise WrongState()  # no code yet, or used
            if stored.attempts <= EXCHANGE_TRIES and codes.matches(self.deps.secret, stored, code):
                if not tx.codes.consume(flow.id, EXCHANGE, now, EXCHANGE_TRIES):
                    raise WrongState()
                return claims_from(claims)
            refused: DomainError = WrongCode()
            if stored.attempts >= EXCHANGE_TRIES:
                self._save(tx, flow.moved(MACHINE.check(flow, LoginEvent.ATTEMPTS_EXHAUSTED, now)), flow.state)
                refused = FlowDead()
            tx.audit.record("code.rejected", now, None, flow_kind=flow.kind.value, reason=refused.code)
            raise CountedRefusal(refused)

    def kept_claims(self, flow_id: str, requester: Requester) -> UpstreamClaims:
        """The claims of an app's sign-in whose exchange code was used, while a link or an
        address is still to come."""
        with self.deps.uow.read() as tx:
            flow = self._app_flow(tx, flow_id, requester)
            stored = tx.codes.get(flow.id, EXCHANGE)
        claims = flow.context.get(APP_CLAIMS)
        if not isinstance(claims, dict) or stored is None or stored.used_at is None:
            raise WrongState()
        return claims_from(claims)

    def claims_to_link(self, flow_id: str, account: Account, requester: Requester) -> UpstreamClaims:
        """The kept claims, for linking to ``account``: only the account that uses their verified
        address (the one the sign-in said exists), so a flow's id alone links nobody's identity
        to another account."""
        claims = self.kept_claims(flow_id, requester)
        if not (claims.email and claims.email_verified and account_key(claims.email) == account_key(account.email)):
            raise LinkForAnotherAddress()
        return claims

    def forget_claims(self, flow_id: str, requester: Requester) -> None:
        """The kept claims served their purpose (linked, or a sign-up started): removed."""
        with suppress(FlowNotFound, FlowExpired, FlowDead, WrongState), self.deps.uow.begin() as tx:
            flow = self._app_flow(tx, flow_id, requester)
            self._save(tx, flow.moved(flow.state, **{APP_CLAIMS: None}), flow.state)

    def _app_flow(self, tx: Transaction, flow_id: str, requester: Requester) -> Flow:
        """An app's live sign-in with a provider, waiting at its first factor."""
        flow = self._federated(tx, flow_id, requester)
        if not flow.context.get(APP_RETURN):
            raise WrongState()
        if self.deps.clock.now() >= flow.expires_at:
            raise FlowExpired()
        return flow
