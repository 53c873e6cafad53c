"""The opening every emailed-code flow shares: address → "Did you mean …?" → code sent → code checked.

Sign-up and sign-in subclass :class:`EmailCodeFlow`; they differ in their mails and in what a
right code leads to. Timing: known and unknown addresses take the same path, statement for
statement; only the mail's template differs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from vitalkey.domain import codes
from vitalkey.domain.accounts import Account
from vitalkey.domain.emails import account_key, normalize_email, suggest_correction
from vitalkey.domain.errors import (
    CodeExpired,
    CodeUsed,
    DomainError,
    FlowDead,
    FlowNotFound,
    MalformedCode,
    MalformedRecoveryCode,
    TooManyCodeFailures,
    WrongCode,
    WrongRecoveryCode,
    WrongState,
)
from vitalkey.domain.flows import Channel, CountedRefusal, Flow, FlowKind, Requester, StateMachine
from vitalkey.domain.tokens import is_token, new_token, same
from vitalkey.flows import email_code, rate_limits
from vitalkey.flows.deps import FlowDeps
from vitalkey.ports import Events, Transaction


class CodeFlowState(StrEnum):
    """The states that the steps shared here move to or look at; each flow's own state enum
    declares those it has with the same values."""

    NEW = "new"
    CONFIRM_EMAIL = "confirm_email"
    CODE_SENT = "code_sent"
    DEAD = "dead"
    COMPLETE = "complete"


class CodeFlowEvent(StrEnum):
    """The events of the steps shared here; each flow's own event enum declares those it has."""

    EMAIL_SUBMITTED = "email_submitted"
    TYPO_SUSPECTED = "typo_suspected"
    SUGGESTION_ACCEPTED = "suggestion_accepted"
    SUGGESTION_DECLINED = "suggestion_declined"
    CODE_RESENT = "code_resent"
    CODE_VERIFIED = "code_verified"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"


# A code refused (and, past the failures cap, any factor): what the code-failure metric counts.
CODE_REFUSALS = (
    WrongCode,
    CodeExpired,
    CodeUsed,
    FlowDead,
    MalformedCode,
    TooManyCodeFailures,
    WrongRecoveryCode,
    MalformedRecoveryCode,
)


@contextmanager
def code_refusals_counted(events: Events) -> Iterator[None]:
    """Count each code refusal that leaves a step (after the transaction that kept its count)."""
    try:
        yield
    except CODE_REFUSALS as refused:
        events.code_refused(refused.code)
        raise


def check_code(
    deps: FlowDeps, tx: Transaction, flow: Flow, purpose: str, code: str, now: datetime, exhausted: str
) -> None:
    """Judge a typed one-time code of ``flow`` inside the step's transaction; consume it when right.

    The attempt is counted by its own UPDATE before the comparison and is committed whatever
    the outcome (a refusal is a ``CountedRefusal``); a right code is consumed with a conditional
    UPDATE, so many parallel submissions of it give exactly one success. The last wrong attempt
    moves the flow to ``exhausted``.
    """
    stored = tx.codes.count_attempt(flow.id, purpose)
    try:
        rate_limits.count_failure(deps, tx, flow.email, now)  # across flows and factors
    except TooManyCodeFailures as too_many:  # nothing was counted, nothing to forgive
        raise _refusal(tx, flow, too_many, now) from None
    try:
        email_code.judge(deps, stored, code, now)
    except FlowDead as dead:  # that was the last attempt
        tx.flows.save(flow.moved(exhausted), flow.state)
        raise _refusal(tx, flow, dead, now) from None
    except WrongCode as wrong:
        raise _refusal(tx, flow, wrong, now) from None
    except DomainError as no_guess:  # expired or used: not a guess, its count taken back
        rate_limits.forgive_failure(deps, tx, flow.email, now)
        raise _refusal(tx, flow, no_guess, now) from None
    rate_limits.forgive_failure(deps, tx, flow.email, now)
    email_code.consume(deps, tx, flow, purpose)


def _refusal(tx: Transaction, flow: Flow, error: DomainError, now: datetime) -> CountedRefusal:
    tx.audit.record("code.rejected", now, None, flow_kind=flow.kind.value, reason=error.code)
    return CountedRefusal(error)


T = TypeVar("T")
OnRightCode = Callable[[Transaction, Flow, Any], T]  # the state the right code moves to, of the flow's enum


@dataclass(frozen=True, slots=True)
class FlowView:
    """A flow as pages and API clients see it."""

    flow: Flow
    suggestion: str | None
    code: dict[str, Any]


class CodeFlow(ABC):
    """A persisted flow whose steps check one-time codes (mailed or texted)."""

    kind: FlowKind
    machine: StateMachine[Any, Any]  # the flow's own; the steps here use the shared members' values

    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    def verify_code(
        self,
        flow_id: str,
        raw_code: str,
        requester: Requester,
        on_right: OnRightCode[T],
        *,
        purpose: str = email_code.PURPOSE,
        event: StrEnum = CodeFlowEvent.CODE_VERIFIED,
        exhausted: StrEnum = CodeFlowEvent.ATTEMPTS_EXHAUSTED,
    ) -> T:
        """Check the code and, when it is right, run ``on_right`` in the same transaction.

        The attempt is counted by its own UPDATE before the comparison and is committed
        whatever the outcome (a refusal is a ``CountedRefusal``); a right code is consumed with
        a conditional UPDATE, so many parallel submissions of it give exactly one success.
        """
        with code_refusals_counted(self.deps.events):
            code = codes.clean_code(raw_code)
            now = self.deps.clock.now()
            with self.deps.uow.begin() as tx:
                flow = self._load(tx, flow_id, requester)
                state = self.machine.check(flow, event, now)
                check_code(self.deps, tx, flow, purpose, code, now, self.machine.next(flow.state, exhausted))
                return on_right(tx, flow, state)

    def new_flow(self, email: str, requester: Requester, language: str | None = None, **context: Any) -> Flow:
        now = self.deps.clock.now()
        return Flow(
            id=new_token(24),
            kind=self.kind,
            channel=requester.channel,
            state=self.machine.initial,
            created_at=now,
            expires_at=now + self.deps.flow_ttl,
            language=language or requester.language,
            email=email,
            browser_binding=requester.browser_binding,
            context=context,
        )

    def load(self, flow_id: str, requester: Requester) -> Flow:
        with self.deps.uow.read() as tx:
            return self._load(tx, flow_id, requester)

    def _load(self, tx: Transaction, flow_id: str, requester: Requester, *, allow_finished: bool = False) -> Flow:
        """The flow, if it is of this kind and belongs to this browser or API client."""
        if not is_token(flow_id):
            raise FlowNotFound()
        flow = tx.flows.get(flow_id)
        if flow is None or flow.kind != self.kind or flow.channel != requester.channel:
            raise FlowNotFound()
        if flow.channel is Channel.BROWSER and not same(flow.browser_binding, requester.browser_binding):
            raise FlowNotFound()
        if not allow_finished and flow.state == CodeFlowState.DEAD:
            raise FlowDead()
        if not allow_finished and flow.state == CodeFlowState.COMPLETE:
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
    def start(self, raw_email: str, requester: Requester, **context: Any) -> FlowView:
        email = normalize_email(raw_email)
        now = self.deps.clock.now()
        suggestion = suggest_correction(email)
        flow = self.new_flow(email, requester, **context)
        with self.deps.uow.begin() as tx:
            if suggestion:
                flow = flow.moved(self.machine.check(flow, CodeFlowEvent.TYPO_SUSPECTED, now), suggestion=suggestion)
                tx.flows.add(flow)
                return FlowView(flow, suggestion, {})
            flow = flow.moved(self.machine.check(flow, CodeFlowEvent.EMAIL_SUBMITTED, now))
            tx.flows.add(flow)
            stored = self._send_code(tx, flow, requester)
        return FlowView(flow, None, email_code.status(self.deps, stored))

    def answer_suggestion(self, flow_id: str, accept: bool, requester: Requester) -> FlowView:
        event = CodeFlowEvent.SUGGESTION_ACCEPTED if accept else CodeFlowEvent.SUGGESTION_DECLINED
        with self.deps.uow.begin() as tx:
            flow = self._load(tx, flow_id, requester)
            state = self.machine.check(flow, event, self.deps.clock.now())
            email = flow.context.get("suggestion", flow.email) if accept else flow.email
            context = {k: v for k, v in flow.context.items() if k != "suggestion"}
            updated = replace(flow, state=state, email=email, context=context)
            self._save(tx, updated, flow.state)
            stored = self._send_code(tx, updated, requester)
        return FlowView(updated, None, email_code.status(self.deps, stored))

    def resend(self, flow_id: str, requester: Requester) -> FlowView:
        with self.deps.uow.begin() as tx:
            flow = self._load(tx, flow_id, requester)
            self.machine.check(flow, CodeFlowEvent.CODE_RESENT, self.deps.clock.now())
            template, context, include = self.code_mail(tx, flow)
            email_code.resend(self.deps, tx, flow, requester, template, context, include_code=include)
            stored = tx.codes.get(flow.id, email_code.PURPOSE)
        return FlowView(flow, None, email_code.status(self.deps, stored))

    def code_purpose(self, flow: Flow) -> str | None:
        """The purpose of the code ``flow`` waits for, if it waits for one (the login flow adds
        the texted one)."""
        return email_code.PURPOSE if flow.state == CodeFlowState.CODE_SENT else None

    def view(self, flow_id: str, requester: Requester) -> FlowView:
        with self.deps.uow.read() as tx:
            flow = self._load(tx, flow_id, requester, allow_finished=True)
            purpose = self.code_purpose(flow)
            stored = tx.codes.get(flow.id, purpose) if purpose else None
        return FlowView(flow=flow, suggestion=flow.context.get("suggestion"), code=email_code.status(self.deps, stored))

    def _send_code(self, tx: Transaction, flow: Flow, requester: Requester) -> codes.StoredCode:
        template, context, include = self.code_mail(tx, flow)
        return email_code.send_first(self.deps, tx, flow, requester, template, context, include_code=include)
