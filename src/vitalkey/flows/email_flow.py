"""The opening every emailed-code flow shares: address → "Did you mean …?" → code sent → code checked.

Sign-up and sign-in subclass :class:`EmailCodeFlow`; they differ in their mails and in what a
right code leads to. Timing: known and unknown addresses take the same path, statement for
statement; only the mail's template differs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from vitalkey.domain import codes
from vitalkey.domain.accounts import Account
from vitalkey.domain.emails import account_key, normalize_email, suggest_correction
from vitalkey.domain.errors import DomainError, FlowDead, FlowNotFound, TooManyCodeFailures, WrongCode, WrongState
from vitalkey.domain.flows import Channel, Flow, FlowKind, Requester, StateMachine
from vitalkey.domain.tokens import is_token, new_token, same
from vitalkey.flows import email_code, rate_limits
from vitalkey.flows.deps import FlowDeps
from vitalkey.ports import Transaction

NEW = "new"
CONFIRM_EMAIL = "confirm_email"
CODE_SENT = "code_sent"
DEAD = "dead"
COMPLETE = "complete"


T = TypeVar("T")
OnRightCode = Callable[[Transaction, Flow, str], T]


@dataclass(frozen=True, slots=True)
class FlowView:
    """A flow as pages and API clients see it."""

    flow: Flow
    suggestion: str | None
    code: dict[str, Any]


class CodeFlow(ABC):
    """A persisted flow whose steps check one-time codes (mailed or texted)."""

    kind: FlowKind
    machine: StateMachine

    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    def verify_code(
        self,
        flow_id: str,
        raw_code: str,
        req: Requester,
        on_right: OnRightCode[T],
        *,
        purpose: str = email_code.PURPOSE,
        event: str = "code_verified",
        exhausted: str = "attempts_exhausted",
    ) -> T:
        """Check the code and, when it is right, run ``on_right`` in the same transaction.

        The attempt is counted by its own UPDATE before the comparison and is committed
        whatever the outcome; a right code is consumed with a conditional UPDATE, so many
        parallel submissions of it give exactly one success.
        """
        code = codes.clean_code(raw_code)
        now = self.deps.clock.now()
        refused: DomainError | None = None
        with self.deps.uow.begin() as tx:
            flow = self._load(tx, flow_id, req)
            state = self.machine.check(flow, event, now)
            stored = tx.codes.count_attempt(flow.id, purpose)
            try:
                rate_limits.count_failure(self.deps, tx, flow.email, now)  # across flows and factors
            except TooManyCodeFailures as too_many:
                refused = too_many  # nothing was counted
            else:
                try:
                    email_code.judge(self.deps, stored, code, now)
                except FlowDead as dead:
                    tx.flows.save(flow.moved(self.machine.next(flow.state, exhausted)), flow.state)
                    refused = dead
                except DomainError as wrong:
                    refused = wrong  # leave the block normally: the counted attempt is committed
                if not isinstance(refused, WrongCode | FlowDead):  # right, or no guess (expired, used)
                    rate_limits.forgive_failure(self.deps, tx, flow.email, now)
            if refused is not None:
                tx.audit.record("code.rejected", now, None, flow_kind=flow.kind.value, reason=refused.code)
            if refused is None:
                email_code.consume(self.deps, tx, flow, purpose)
                return on_right(tx, flow, state)
        raise refused

    def new_flow(self, email: str, req: Requester, language: str | None = None, **context: Any) -> Flow:
        now = self.deps.clock.now()
        return Flow(
            id=new_token(24),
            kind=self.kind,
            channel=req.channel,
            state=NEW,
            created_at=now,
            expires_at=now + self.deps.flow_ttl,
            language=language or req.language,
            email=email,
            browser_binding=req.browser_binding,
            context=context,
        )

    def load(self, flow_id: str, req: Requester) -> Flow:
        with self.deps.uow.read() as tx:
            return self._load(tx, flow_id, req)

    def _load(self, tx: Transaction, flow_id: str, req: Requester, *, allow_finished: bool = False) -> Flow:
        """The flow, if it is of this kind and belongs to this browser or API client."""
        if not is_token(flow_id):
            raise FlowNotFound()
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

    def _account_for(self, tx: Transaction, flow: Flow) -> Account | None:
        return tx.accounts.by_email(account_key(flow.email))


class EmailCodeFlow(CodeFlow):
    """A flow that opens with an address and a mailed code."""

    @abstractmethod
    def code_mail(self, tx: Transaction, flow: Flow) -> tuple[str, dict[str, Any], bool]:
        """(template, context, include_code) for the mail carrying the code."""

    # Steps -----------------------------------------------------------------
    def start(self, raw_email: str, req: Requester, **context: Any) -> FlowView:
        email = normalize_email(raw_email)
        now = self.deps.clock.now()
        suggestion = suggest_correction(email)
        flow = self.new_flow(email, req, **context)
        with self.deps.uow.begin() as tx:
            if suggestion:
                flow = flow.moved(self.machine.check(flow, "typo_suspected", now), suggestion=suggestion)
                tx.flows.add(flow)
                return FlowView(flow, suggestion, {})
            flow = flow.moved(self.machine.check(flow, "email_submitted", now))
            tx.flows.add(flow)
            stored = self._send_code(tx, flow, req)
        return FlowView(flow, None, email_code.status(self.deps, stored))

    def answer_suggestion(self, flow_id: str, accept: bool, req: Requester) -> FlowView:
        event = "suggestion_accepted" if accept else "suggestion_declined"
        with self.deps.uow.begin() as tx:
            flow = self._load(tx, flow_id, req)
            state = self.machine.check(flow, event, self.deps.clock.now())
            email = flow.context.get("suggestion", flow.email) if accept else flow.email
            context = {k: v for k, v in flow.context.items() if k != "suggestion"}
            updated = replace(flow, state=state, email=email, context=context)
            self._save(tx, updated, flow.state)
            stored = self._send_code(tx, updated, req)
        return FlowView(updated, None, email_code.status(self.deps, stored))

    def resend(self, flow_id: str, req: Requester) -> FlowView:
        with self.deps.uow.begin() as tx:
            flow = self._load(tx, flow_id, req)
            self.machine.check(flow, "code_resent", self.deps.clock.now())
            template, context, include = self.code_mail(tx, flow)
            email_code.resend(self.deps, tx, flow, req, template, context, include_code=include)
            stored = tx.codes.get(flow.id, email_code.PURPOSE)
        return FlowView(flow, None, email_code.status(self.deps, stored))

    # The states that wait for a code, and that code's purpose (the login flow adds the texted one).
    CODE_STATES: ClassVar[Mapping[str, str]] = MappingProxyType({CODE_SENT: email_code.PURPOSE})

    def view(self, flow_id: str, req: Requester) -> FlowView:
        with self.deps.uow.read() as tx:
            flow = self._load(tx, flow_id, req, allow_finished=True)
            purpose = self.CODE_STATES.get(flow.state)
            stored = tx.codes.get(flow.id, purpose) if purpose else None
        return FlowView(flow=flow, suggestion=flow.context.get("suggestion"), code=email_code.status(self.deps, stored))

    def _send_code(self, tx: Transaction, flow: Flow, req: Requester) -> codes.StoredCode:
        template, context, include = self.code_mail(tx, flow)
        return email_code.send_first(self.deps, tx, flow, req, template, context, include_code=include)
