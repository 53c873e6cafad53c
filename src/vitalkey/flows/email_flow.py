"""The opening every emailed-code flow shares: address → "Did you mean …?" → code sent → code checked.

Sign-up and sign-in subclass :class:`EmailCodeFlow`; they differ in their mails and in what a
right code leads to. Timing: known and unknown addresses take the same path, statement for
statement; only the mail's template differs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any

from vitalkey.domain.emails import account_key, normalize_email, suggest_correction
from vitalkey.domain.errors import FlowDead, FlowNotFound, WrongState
from vitalkey.domain.flows import Channel, Flow, FlowKind, Requester, StateMachine
from vitalkey.domain.tokens import new_token, same
from vitalkey.flows import email_code
from vitalkey.flows.deps import FlowDeps
from vitalkey.ports import Transaction

NEW = "new"
CONFIRM_EMAIL = "confirm_email"
CODE_SENT = "code_sent"
DEAD = "dead"
COMPLETE = "complete"


@dataclass(frozen=True, slots=True)
class FlowView:
    """A flow as pages and API clients see it."""

    flow: Flow
    suggestion: str | None
    code: dict[str, Any]


class EmailCodeFlow(ABC):
    kind: FlowKind
    machine: StateMachine

    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    # Hooks -----------------------------------------------------------------
    @abstractmethod
    def code_mail(self, tx: Transaction, flow: Flow) -> tuple[str, dict[str, Any], bool]:
        """(template, context, include_code) for the mail carrying the code."""

    # Steps -----------------------------------------------------------------
    def start(self, raw_email: str, req: Requester) -> Flow:
        email = normalize_email(raw_email)
        now = self.deps.clock.now()
        suggestion = suggest_correction(email)
        flow = Flow(
            id=new_token(24),
            kind=self.kind,
            channel=req.channel,
            state=NEW,
            created_at=now,
            expires_at=now + self.deps.flow_ttl,
            language=req.language,
            email=email,
            browser_binding=req.browser_binding,
            context={},
        )
        with self.deps.uow.begin() as tx:
            if suggestion:
                flow = flow.moved(self.machine.check(flow, "typo_suspected", now), suggestion=suggestion)
                tx.flows.add(flow)
            else:
                flow = flow.moved(self.machine.check(flow, "email_submitted", now))
                tx.flows.add(flow)
                self._send_code(tx, flow, req)
        return flow

    def answer_suggestion(self, flow_id: str, accept: bool, req: Requester) -> Flow:
        flow = self.load(flow_id, req)
        event = "suggestion_accepted" if accept else "suggestion_declined"
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            state = self.machine.check(flow, event, now)
            email = flow.context.get("suggestion", flow.email) if accept else flow.email
            context = {k: v for k, v in flow.context.items() if k != "suggestion"}
            updated = replace(flow, state=state, email=email, context=context)
            self._save(tx, updated, flow.state)
            self._send_code(tx, updated, req)
        return updated

    def resend(self, flow_id: str, req: Requester) -> Flow:
        flow = self.load(flow_id, req)
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            self.machine.check(flow, "code_resent", now)
            template, context, include = self.code_mail(tx, flow)
            email_code.resend(self.deps, tx, flow, req, template, context, include_code=include)
        return flow

    def check_code(self, flow_id: str, code: str, req: Requester) -> Flow:
        """Check the code; the subclass consumes it with its state change via :meth:`advance`."""
        flow = self.load(flow_id, req)
        self.machine.check(flow, "code_verified", self.deps.clock.now())
        try:
            email_code.check(self.deps, flow, code)
        except FlowDead:
            with self.deps.uow.begin() as tx:
                tx.flows.save(flow.moved(DEAD), flow.state)
            raise
        return flow

    def view(self, flow_id: str, req: Requester) -> FlowView:
        flow = self.load(flow_id, req, allow_finished=True)
        with self.deps.uow.begin() as tx:
            code = email_code.status(self.deps, tx, flow) if flow.state == CODE_SENT else {}
        return FlowView(flow=flow, suggestion=flow.context.get("suggestion"), code=code)

    # Helpers ---------------------------------------------------------------
    def load(self, flow_id: str, req: Requester, *, allow_finished: bool = False) -> Flow:
        """The flow, if it is of this kind and belongs to this browser or API client."""
        if not flow_id or len(flow_id) > 64:
            raise FlowNotFound()
        with self.deps.uow.begin() as tx:
            flow = tx.flows.get(flow_id)
        if flow is None or flow.kind != self.kind or flow.channel != req.channel:
            raise FlowNotFound()
        if flow.channel is Channel.BROWSER and not same(flow.browser_binding, req.browser_binding):
            raise FlowNotFound()
        if not allow_finished and flow.state == DEAD:
            raise FlowDead()
        if not allow_finished and flow.state == COMPLETE:
            raise WrongState()
        return flow

    def _save(self, tx: Transaction, flow: Flow, expected_state: str) -> None:
        if not tx.flows.save(flow, expected_state):
            raise WrongState()

    def _send_code(self, tx: Transaction, flow: Flow, req: Requester) -> None:
        template, context, include = self.code_mail(tx, flow)
        email_code.send_first(self.deps, tx, flow, req, template, context, include_code=include)

    def _account_for(self, tx: Transaction, flow: Flow) -> Any:
        return tx.accounts.by_email(account_key(flow.email))
