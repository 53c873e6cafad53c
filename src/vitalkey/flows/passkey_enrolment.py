"""Account & Security → Passkeys → "Add a passkey": a short flow bound to the session that
started it, holding the registration challenge (single use) and the account's user handle until
the browser answers. Needs a fresh sign-in (``second_factor.require_fresh``); the new passkey is
mailed about. The checks and the row are the passkey kind's (``authenticators.passkey``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from vitalkey.domain.authenticators import StoredAuthenticator
from vitalkey.domain.errors import FlowNotFound, WrongState
from vitalkey.domain.flows import Flow, FlowKind, Requester, StateMachine
from vitalkey.flows.authenticators.base import Answer, Prompt
from vitalkey.flows.authenticators.passkey import NAME, PasskeyKind, clean_name
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.email_flow import CodeFlow
from vitalkey.flows.sessions import Authenticated
from vitalkey.ports import Transaction


class EnrolmentState(StrEnum):
    NEW = "new"
    ENROLLING = "enrolling"  # the options are out; the browser's answer is awaited
    COMPLETE = "complete"


class EnrolmentEvent(StrEnum):
    OPTIONS_ISSUED = "options_issued"
    PASSKEY_REGISTERED = "passkey_registered"


MACHINE = StateMachine(
    name="passkey_enrolment",
    states=EnrolmentState,
    events=EnrolmentEvent,
    initial=EnrolmentState.NEW,
    transitions={
        (EnrolmentState.NEW, EnrolmentEvent.OPTIONS_ISSUED): EnrolmentState.ENROLLING,
        (EnrolmentState.ENROLLING, EnrolmentEvent.PASSKEY_REGISTERED): EnrolmentState.COMPLETE,
    },
)


@dataclass(frozen=True, slots=True)
class Enrolment:
    flow: Flow
    options: dict[str, Any]  # for navigator.credentials.create, as JSON


class PasskeyEnrolment(CodeFlow):
    kind = FlowKind.PASSKEY_ENROLMENT
    machine = MACHINE

    def __init__(self, deps: FlowDeps, passkey: PasskeyKind) -> None:
        super().__init__(deps)
        self.passkey = passkey

    def begin(self, auth: Authenticated, raw_name: str, requester: Requester) -> Enrolment:
        """The registration options for a new passkey of the account (named now, or when it is
        confirmed)."""
        name = clean_name(raw_name)
        self.passkey.rp.require()
        flow = self.new_flow(
            auth.account.email, requester, auth.account.language, account_id=auth.account.id, session=auth.session.id
        )
        with self.deps.uow.begin() as tx:
            prompt = self.passkey.enrol(tx, flow, auth, None, requester)
            assert isinstance(prompt, Prompt) and prompt.options is not None
            state = MACHINE.check(flow, EnrolmentEvent.OPTIONS_ISSUED, self.deps.clock.now())
            flow = flow.moved(state, **prompt.context, **{NAME: name})
            tx.flows.add(flow)
        return Enrolment(flow, dict(prompt.options))

    def confirm(
        self, auth: Authenticated, flow_id: str, credential: str, raw_name: str | None, requester: Requester
    ) -> StoredAuthenticator:
        """The browser's answer: the passkey is stored (once: the flow completes with it)."""
        with self.deps.uow.begin() as tx:
            flow = self._load_for(tx, auth, flow_id, requester)
            state = MACHINE.check(flow, EnrolmentEvent.PASSKEY_REGISTERED, self.deps.clock.now())
            answer = Answer(credential=credential, name=raw_name if raw_name is not None else "")
            self._save(tx, flow.moved(state), flow.state)
            stored = self.passkey.enrol(tx, flow, auth, answer, requester)
            if not isinstance(stored, StoredAuthenticator):
                raise WrongState()
        return stored

    def _load_for(self, tx: Transaction, auth: Authenticated, flow_id: str, requester: Requester) -> Flow:
        """The flow, if this very session started it."""
        flow = self._load(tx, flow_id, requester)
        if flow.context.get("account_id") != auth.account.id or flow.context.get("session") != auth.session.id:
            raise FlowNotFound()
        return flow
