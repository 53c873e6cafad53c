"""Sign-up: address → emailed confirmation code → privacy policy → user details →
two-factor invitation (skippable) → signed in.

An address that already has an account walks the very same pages; its owner is mailed
"someone tried to create an account with your address" instead of a code.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from vitalkey.domain.accounts import Profile, clean_profile
from vitalkey.domain.emails import account_key
from vitalkey.domain.errors import AccountExists, PolicyNotAccepted, WrongState
from vitalkey.domain.flows import Flow, FlowKind, Requester, StateMachine
from vitalkey.flows.email_flow import CODE_SENT, COMPLETE, CONFIRM_EMAIL, DEAD, NEW, EmailCodeFlow
from vitalkey.flows.sessions import Started, start
from vitalkey.ports import Transaction

DIAGRAM = Path(__file__).with_name("signup.mermaid")

POLICY = "policy"
DETAILS = "details"
TWO_FACTOR_OFFER = "two_factor_offer"

MACHINE = StateMachine(
    name="signup",
    initial=NEW,
    transitions={
        (NEW, "email_submitted"): CODE_SENT,
        (NEW, "typo_suspected"): CONFIRM_EMAIL,
        (CONFIRM_EMAIL, "suggestion_accepted"): CODE_SENT,
        (CONFIRM_EMAIL, "suggestion_declined"): CODE_SENT,
        (CODE_SENT, "code_resent"): CODE_SENT,
        (CODE_SENT, "code_verified"): POLICY,
        (CODE_SENT, "attempts_exhausted"): DEAD,
        (POLICY, "policy_accepted"): DETAILS,
        (DETAILS, "details_submitted"): TWO_FACTOR_OFFER,
        (TWO_FACTOR_OFFER, "two_factor_skipped"): COMPLETE,
        (TWO_FACTOR_OFFER, "two_factor_chosen"): COMPLETE,
    },
)


class SignupFlow(EmailCodeFlow):
    kind = FlowKind.SIGNUP
    machine = MACHINE

    def code_mail(self, tx: Transaction, flow: Flow) -> tuple[str, dict[str, Any], bool]:
        if self._account_for(tx, flow) is not None:
            return "signup_exists", {"login_url": f"{self.deps.public_url}/login"}, False
        return "signup_code", {}, True

    def submit_code(self, flow_id: str, code: str, req: Requester) -> Flow:
        def confirmed(tx: Transaction, flow: Flow, state: str) -> Flow:
            moved = flow.moved(state)
            self._save(tx, moved, flow.state)
            return moved

        return self.verify_code(flow_id, code, req, confirmed)

    def accept_policy(self, flow_id: str, accepted: bool, version: str | None, req: Requester) -> Flow:
        flow = self.load(flow_id, req)
        if not accepted or (version is not None and version != self.deps.policy_version):
            raise PolicyNotAccepted()
        now = self.deps.clock.now()
        return self._step(
            flow,
            "policy_accepted",
            lambda tx: tx.audit.record(
                "signup.policy_accepted", now, None, version=self.deps.policy_version, ip=req.ip
            ),
            policy_version=self.deps.policy_version,
            policy_accepted_at=now.isoformat(),
        )

    def submit_details(self, flow_id: str, data: dict[str, Any], req: Requester) -> Flow:
        flow = self.load(flow_id, req)
        now = self.deps.clock.now()
        self.machine.check(flow, "details_submitted", now)
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
            return {"account_id": account.id}

        return self._step(flow, "details_submitted", create)

    def finish(self, flow_id: str, wants_two_factor: bool, req: Requester) -> Started:
        flow = self.load(flow_id, req)
        now = self.deps.clock.now()
        event = "two_factor_chosen" if wants_two_factor else "two_factor_skipped"
        with self.deps.uow.begin() as tx:
            state = self.machine.check(flow, event, now)
            self._save(tx, flow.moved(state, two_factor=wants_two_factor), flow.state)
            account = tx.accounts.get(int(flow.context["account_id"]))
            if account is None:
                raise WrongState()
            # A sign-up started from an app's authorization request goes back to it at the end.
            started = start(self.deps, tx, account, req, ("email_code",))
            return replace(started, return_to=flow.context.get("return_to"))

    def _step(self, flow: Flow, event: str, effect: Any, **context: Any) -> Flow:
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            state = self.machine.check(flow, event, now)
            if effect is not None:
                context.update(effect(tx) or {})
            moved = flow.moved(state, **context)
            self._save(tx, moved, flow.state)
        return moved


__all__ = ["MACHINE", "Profile", "SignupFlow"]
