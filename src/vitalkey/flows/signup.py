"""Sign-up: address → emailed confirmation code → privacy policy → user details →
two-factor invitation (skippable) → signed in.

A sign-up that starts from an upstream sign-in (``flows/federation.py``) keeps the identity in
its context and links it to the account it creates; when the provider verified the address, it
opens at the privacy policy (``address_verified``: no code is mailed).

An address that already has an account walks the very same pages; its owner is mailed
"someone tried to create an account with your address" instead of a code.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from vitalkey.domain.accounts import Profile, clean_profile
from vitalkey.domain.authenticators import EMAIL_CODE, FEDERATED
from vitalkey.domain.emails import account_key, normalize_email
from vitalkey.domain.errors import AccountExists, PolicyNotAccepted, WrongState
from vitalkey.domain.flows import Flow, FlowKind, Requester, StateMachine
from vitalkey.flows.authenticators import federated
from vitalkey.flows.email_flow import EmailCodeFlow
from vitalkey.flows.sessions import Started, start
from vitalkey.ports import Transaction


class SignupState(StrEnum):
    NEW = "new"
    CONFIRM_EMAIL = "confirm_email"
    CODE_SENT = "code_sent"
    POLICY = "policy"
    DETAILS = "details"
    TWO_FACTOR_OFFER = "two_factor_offer"
    COMPLETE = "complete"
    DEAD = "dead"


class SignupEvent(StrEnum):
    EMAIL_SUBMITTED = "email_submitted"
    ADDRESS_VERIFIED = "address_verified"  # an upstream provider verified it: no code
    TYPO_SUSPECTED = "typo_suspected"
    SUGGESTION_ACCEPTED = "suggestion_accepted"
    SUGGESTION_DECLINED = "suggestion_declined"
    CODE_RESENT = "code_resent"
    CODE_VERIFIED = "code_verified"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    POLICY_ACCEPTED = "policy_accepted"
    DETAILS_SUBMITTED = "details_submitted"
    TWO_FACTOR_SKIPPED = "two_factor_skipped"
    TWO_FACTOR_CHOSEN = "two_factor_chosen"


MACHINE = StateMachine(
    name="signup",
    states=SignupState,
    events=SignupEvent,
    initial=SignupState.NEW,
    transitions={
        (SignupState.NEW, SignupEvent.EMAIL_SUBMITTED): SignupState.CODE_SENT,
        (SignupState.NEW, SignupEvent.TYPO_SUSPECTED): SignupState.CONFIRM_EMAIL,
        (SignupState.NEW, SignupEvent.ADDRESS_VERIFIED): SignupState.POLICY,
        (SignupState.CONFIRM_EMAIL, SignupEvent.SUGGESTION_ACCEPTED): SignupState.CODE_SENT,
        (SignupState.CONFIRM_EMAIL, SignupEvent.SUGGESTION_DECLINED): SignupState.CODE_SENT,
        (SignupState.CODE_SENT, SignupEvent.CODE_RESENT): SignupState.CODE_SENT,
        (SignupState.CODE_SENT, SignupEvent.CODE_VERIFIED): SignupState.POLICY,
        (SignupState.CODE_SENT, SignupEvent.ATTEMPTS_EXHAUSTED): SignupState.DEAD,
        (SignupState.POLICY, SignupEvent.POLICY_ACCEPTED): SignupState.DETAILS,
        (SignupState.DETAILS, SignupEvent.DETAILS_SUBMITTED): SignupState.TWO_FACTOR_OFFER,
        (SignupState.TWO_FACTOR_OFFER, SignupEvent.TWO_FACTOR_SKIPPED): SignupState.COMPLETE,
        (SignupState.TWO_FACTOR_OFFER, SignupEvent.TWO_FACTOR_CHOSEN): SignupState.COMPLETE,
    },
)


class SignupFlow(EmailCodeFlow):
    kind = FlowKind.SIGNUP
    machine = MACHINE

    def code_mail(self, tx: Transaction, flow: Flow) -> tuple[str, dict[str, Any], bool]:
        if self._account_for(tx, flow) is not None:
            return "signup_exists", {"login_url": f"{self.deps.public_url}/login"}, False
        return "signup_code", {}, True

    def start_verified(self, raw_email: str, requester: Requester, **context: Any) -> Flow:
        """A sign-up whose address an upstream provider verified (``flows/federation.py``): no
        code is mailed, it opens at the privacy policy."""
        flow = self.new_flow(normalize_email(raw_email), requester, **context)
        moved = flow.moved(MACHINE.check(flow, SignupEvent.ADDRESS_VERIFIED, self.deps.clock.now()))
        with self.deps.uow.begin() as tx:
            tx.flows.add(moved)
        return moved

    def submit_code(self, flow_id: str, code: str, requester: Requester) -> Flow:
        def confirmed(tx: Transaction, flow: Flow, state: SignupState) -> Flow:
            moved = flow.moved(state)
            self._save(tx, moved, flow.state)
            return moved

        return self.verify_code(flow_id, code, requester, confirmed)

    def accept_policy(self, flow_id: str, accepted: bool, version: str | None, requester: Requester) -> Flow:
        flow = self.load(flow_id, requester)
        if not accepted or (version is not None and version != self.deps.policy_version):
            raise PolicyNotAccepted()
        now = self.deps.clock.now()
        return self._step(
            flow,
            SignupEvent.POLICY_ACCEPTED,
            lambda tx: tx.audit.record(
                "signup.policy_accepted", now, None, version=self.deps.policy_version, ip=requester.ip
            ),
            policy_version=self.deps.policy_version,
            policy_accepted_at=now.isoformat(),
        )

    def submit_details(self, flow_id: str, data: dict[str, Any], requester: Requester) -> Flow:
        flow = self.load(flow_id, requester)
        now = self.deps.clock.now()
        MACHINE.check(flow, SignupEvent.DETAILS_SUBMITTED, now)
        profile = clean_profile(data, now.date())

        def create(tx: Transaction) -> dict[str, Any]:
            account = tx.accounts.create(
                flow.email,
                account_key(flow.email),
                flow.language,
                profile,
                str(flow.context["policy_version"]),
                datetime.fromisoformat(flow.context["policy_accepted_at"]),
            )
            if account is None:
                raise AccountExists()
            tx.audit.record("signup.completed", now, account.id, policy_version=flow.context["policy_version"])
            if federated.SIGNUP in flow.context:  # started from an upstream sign-in: its identity
                federated.link_new_account(self.deps, tx, account, flow.context[federated.SIGNUP])
            return {"account_id": account.id}

        return self._step(flow, SignupEvent.DETAILS_SUBMITTED, create)

    def finish(self, flow_id: str, wants_two_factor: bool, requester: Requester) -> Started:
        flow = self.load(flow_id, requester)
        now = self.deps.clock.now()
        event = SignupEvent.TWO_FACTOR_CHOSEN if wants_two_factor else SignupEvent.TWO_FACTOR_SKIPPED
        with self.deps.uow.begin() as tx:
            state = MACHINE.check(flow, event, now)
            self._save(tx, flow.moved(state, two_factor=wants_two_factor), flow.state)
            account = tx.accounts.get(int(flow.context["account_id"]))
            if account is None:
                raise WrongState()
            started = start(self.deps, tx, account, requester, _methods(flow))
        self.deps.events.signed_up()
        # A sign-up started from an app's authorization request goes back to it at the end.
        return replace(started, return_to=flow.context.get("return_to"))

    def _step(self, flow: Flow, event: SignupEvent, effect: Any, **context: Any) -> Flow:
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            state = MACHINE.check(flow, event, now)
            if effect is not None:
                context.update(effect(tx) or {})
            moved = flow.moved(state, **context)
            self._save(tx, moved, flow.state)
        return moved


def _methods(flow: Flow) -> tuple[str, ...]:
    """What the sign-up proved, as the session records it: the emailed code, the upstream
    sign-in, or both."""
    identity = flow.context.get(federated.SIGNUP)
    if identity is None:
        return (EMAIL_CODE,)
    return (FEDERATED,) if identity.get("code_skipped") else (EMAIL_CODE, FEDERATED)


__all__ = ["MACHINE", "Profile", "SignupFlow"]
