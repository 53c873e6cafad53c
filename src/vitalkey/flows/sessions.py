"""Starting, checking and ending sessions (web cookie or API bearer token)."""

from __future__ import annotations

from dataclasses import dataclass

from vitalkey.domain.accounts import Account
from vitalkey.domain.authenticators import SECOND_FACTORS
from vitalkey.domain.errors import NotAuthenticated, SessionNotFound
from vitalkey.domain.flows import Channel, Requester
from vitalkey.domain.sessions import Session, SessionKind
from vitalkey.domain.tokens import is_digest, new_token, token_digest
from vitalkey.flows.deps import FlowDeps
from vitalkey.ports import Transaction


@dataclass(frozen=True, slots=True)
class Started:
    token: str  # given to the client once; only its digest is stored
    session: Session
    account: Account
    return_to: str | None = None  # where a sign-in that re-authenticated for a change goes back to


@dataclass(frozen=True, slots=True)
class Authenticated:
    session: Session
    account: Account


def start(deps: FlowDeps, tx: Transaction, account: Account, requester: Requester, methods: tuple[str, ...]) -> Started:
    """A new session with a new id: ids are never reused across sign-ins (rotation)."""
    now = deps.clock.now()
    token = new_token(32)
    policy = deps.session_policy
    lifetime = policy.absolute_two_factor if SECOND_FACTORS.intersection(methods) else policy.absolute
    session = Session(
        id=token_digest(token),
        account_id=account.id,
        kind=SessionKind.WEB if requester.channel is Channel.BROWSER else SessionKind.API,
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
        user_agent=requester.user_agent[:300],
        ip=requester.ip,
        methods=methods,
    )
    tx.sessions.add(session)
    tx.audit.record(
        "session.started",
        now,
        account.id,
        session=session.id[:12],
        kind=session.kind.value,
        methods=",".join(methods),
        ip=requester.ip,
    )
    return Started(token=token, session=session, account=account)


class SessionService:
    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    def authenticate(self, token: str | None) -> Authenticated:
        if not token or len(token) > 128:
            raise NotAuthenticated()
        now = self.deps.clock.now()
        policy = self.deps.session_policy
        with self.deps.uow.read() as tx:
            session = tx.sessions.get(token_digest(token))
            if session is None or not session.alive(policy, now):
                raise NotAuthenticated()
            account = tx.accounts.get(session.account_id)
            if account is None:
                raise NotAuthenticated()
        if session.needs_touch(policy, now):  # a write at most once a minute per session
            with self.deps.uow.begin() as tx:
                tx.sessions.touch(session.id, now)
        return Authenticated(session=session, account=account)

    def list(self, account_id: int) -> list[Session]:
        """The sessions still alive: not ended, not past their absolute or idle timeout."""
        now = self.deps.clock.now()
        with self.deps.uow.read() as tx:
            sessions = tx.sessions.for_account(account_id, now)
        return [session for session in sessions if session.alive(self.deps.session_policy, now)]

    def end(self, current: Session, session_id: str) -> None:
        """End one of the account's sessions (the current one included)."""
        if not is_digest(session_id):
            raise SessionNotFound()
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            if not tx.sessions.revoke(current.account_id, session_id, now):
                raise SessionNotFound()
            tx.audit.record("session.ended", now, current.account_id, session=session_id[:12])

    def end_others(self, current: Session) -> int:
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            count = tx.sessions.revoke_all_except(current.account_id, current.id, now)
            tx.audit.record("session.ended_others", now, current.account_id, count=count)
        return count
