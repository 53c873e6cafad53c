"""An OAuth authorization request kept while the user signs in or reads the consent page.

The parameters the authorization endpoint reads are stored as they came, whole (the endpoint
refused the request if one was too long; Authlib validates them again at every step, so nothing
stored is trusted); others are not ours and are not kept. It is answered once. It is not bound to the browser's CSRF
secret, which signing in renews: opening a kept request is no more than opening its authorize
URL, and answering it needs the user's session and the page's CSRF token."""

from __future__ import annotations

from enum import StrEnum

from vitalkey.domain.errors import FlowNotFound
from vitalkey.domain.flows import Channel, Flow, FlowKind, Requester, StateMachine
from vitalkey.domain.oauth import AUTHORIZE_PARAMETERS
from vitalkey.domain.tokens import is_token, new_token
from vitalkey.flows.deps import FlowDeps


class AuthorizeState(StrEnum):
    PENDING = "pending"
    ANSWERED = "answered"


class AuthorizeEvent(StrEnum):
    ANSWERED = "answered"


MACHINE = StateMachine(
    name="authorize",
    states=AuthorizeState,
    events=AuthorizeEvent,
    initial=AuthorizeState.PENDING,
    transitions={(AuthorizeState.PENDING, AuthorizeEvent.ANSWERED): AuthorizeState.ANSWERED},
)


class AuthorizeRequests:
    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    def keep(self, values: list[tuple[str, str]], requester: Requester) -> Flow:
        now = self.deps.clock.now()
        flow = Flow(
            id=new_token(24),
            kind=FlowKind.AUTHORIZE,
            channel=Channel.BROWSER,
            state=MACHINE.initial,
            created_at=now,
            expires_at=now + self.deps.flow_ttl,
            language=requester.language,
            context={"query": [[key, value] for key, value in values if key in AUTHORIZE_PARAMETERS]},
        )
        with self.deps.uow.begin() as tx:
            tx.flows.add(flow)
        return flow

    def get(self, flow_id: str) -> Flow:
        """A pending request (expired or answered ones are gone)."""
        if not is_token(flow_id):
            raise FlowNotFound()
        with self.deps.uow.read() as tx:
            flow = tx.flows.get(flow_id)
        if flow is None or flow.kind is not FlowKind.AUTHORIZE or flow.state != AuthorizeState.PENDING:
            raise FlowNotFound()
        MACHINE.check(flow, AuthorizeEvent.ANSWERED, self.deps.clock.now())  # FlowExpired once its time is up
        return flow

    def answered(self, flow: Flow) -> bool:
        """Close the request; False when a parallel answer already did."""
        with self.deps.uow.begin() as tx:
            return tx.flows.save(flow.moved(AuthorizeState.ANSWERED), AuthorizeState.PENDING)


def parameters(flow: Flow) -> list[tuple[str, str]]:
    return [(str(key), str(value)) for key, value in flow.context.get("query", [])]


__all__ = ["AuthorizeRequests", "parameters"]
