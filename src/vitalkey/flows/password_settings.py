"""Account & Security → Password: set the first one with a fresh emailed code, change it with
the current one. Either way the user is mailed, and argon2id runs off the event loop."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from vitalkey.domain import codes
from vitalkey.domain.accounts import Account, mail_names
from vitalkey.domain.errors import FlowNotFound, NoPassword, PasswordAlreadySet, PasswordMissing, WrongPassword
from vitalkey.domain.flows import Flow, FlowKind, Requester, StateMachine
from vitalkey.domain.i18n import N_
from vitalkey.domain.passwords import normalize_password
from vitalkey.flows import email_code, password
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.email_flow import EmailCodeFlow, FlowView, code_refusals_counted
from vitalkey.flows.sessions import Authenticated
from vitalkey.ports import Transaction


class PasswordSetState(StrEnum):
    NEW = "new"
    CODE_SENT = "code_sent"
    COMPLETE = "complete"
    DEAD = "dead"


class PasswordSetEvent(StrEnum):
    EMAIL_SUBMITTED = "email_submitted"
    CODE_RESENT = "code_resent"
    CODE_VERIFIED = "code_verified"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"


MACHINE = StateMachine(
    name="password_set",
    states=PasswordSetState,
    events=PasswordSetEvent,
    initial=PasswordSetState.NEW,
    transitions={
        (PasswordSetState.NEW, PasswordSetEvent.EMAIL_SUBMITTED): PasswordSetState.CODE_SENT,
        (PasswordSetState.CODE_SENT, PasswordSetEvent.CODE_RESENT): PasswordSetState.CODE_SENT,
        (PasswordSetState.CODE_SENT, PasswordSetEvent.CODE_VERIFIED): PasswordSetState.COMPLETE,
        (PasswordSetState.CODE_SENT, PasswordSetEvent.ATTEMPTS_EXHAUSTED): PasswordSetState.DEAD,
    },
)


class PasswordSetFlow(EmailCodeFlow):
    """Setting the first password: the signed-in user proves the mailbox again with a code."""

    kind = FlowKind.PASSWORD_SET
    machine = MACHINE

    def code_mail(self, tx: Transaction, flow: Flow) -> tuple[str, dict[str, Any], bool]:
        account = self._account_for(tx, flow)
        return "password_code", mail_names(account), True

    def begin_for(self, account: Account, requester: Requester) -> FlowView:
        flow = self.new_flow(account.email, requester, account.language, account_id=account.id)
        flow = flow.moved(MACHINE.next(flow.state, PasswordSetEvent.EMAIL_SUBMITTED))
        with self.deps.uow.begin() as tx:
            if tx.password_hashes.get(account.id) is not None:
                raise PasswordAlreadySet()
            tx.flows.add(flow)
            stored = self._send_code(tx, flow, requester)
        return FlowView(flow, None, email_code.status(self.deps, stored))

    def load_for(self, flow_id: str, account: Account, requester: Requester) -> FlowView:
        view = self.view(flow_id, requester)
        if view.flow.context.get("account_id") != account.id:
            raise FlowNotFound()
        return view

    async def set_password(
        self, flow_id: str, account: Account, code: str, new_password: str, requester: Requester
    ) -> None:
        await self.deps.uow.run(self.load_for, flow_id, account, requester)
        normalized = await password.check_new_password(self.deps, new_password, account)
        codes.clean_code(code)  # a malformed code is refused before the slow hash
        hashed = await self.deps.hasher.hash(normalized)

        def store(tx: Transaction, flow: Flow, state: PasswordSetState) -> None:
            now = self.deps.clock.now()
            if tx.password_hashes.get(account.id) is not None:
                raise PasswordAlreadySet()
            self._save(tx, flow.moved(state), flow.state)
            tx.password_hashes.set(account.id, hashed, now)
            password.succeeded(self.deps, tx, account.email)
            password.notify_changed(self.deps, tx, account, "set", now, sessions_ended=False)

        await self.deps.uow.run(self.verify_code, flow_id, code, requester, store)


class PasswordChange:
    """Changing the password needs the current one (ASVS 6.2.3), under the sign-in throttle."""

    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    async def change(
        self, auth: Authenticated, current: str, new_password: str, *, end_others: bool, requester: Requester
    ) -> int:
        """Change it; the number of other sessions ended."""
        account = auth.account
        if not current:  # nothing to judge: not counted under the throttle
            raise PasswordMissing(N_("Please enter your current password."), field="current_password")
        normalized = await password.check_new_password(self.deps, new_password, account)
        counted_at = self.deps.clock.now()
        with code_refusals_counted(self.deps.events):  # past the failures cap, a password is refused too
            stored = await self.deps.uow.run(self._count_attempt, account, requester, counted_at)
        if not await self.deps.hasher.verify(stored, normalize_password(current)):
            await self.deps.uow.run(self._refused, account)
            raise WrongPassword(field="current_password")
        hashed = await self.deps.hasher.hash(normalized)
        ended: int = await self.deps.uow.run(self._store, auth, hashed, end_others, counted_at)
        return ended

    def _count_attempt(self, account: Account, requester: Requester, now: datetime) -> str:
        with self.deps.uow.begin() as tx:
            stored = tx.password_hashes.get(account.id)
            if stored is None:
                raise NoPassword()
            password.count_attempt(self.deps, tx, account.email, requester, now)
        return stored

    def _refused(self, account: Account) -> None:
        with self.deps.uow.begin() as tx:
            tx.audit.record("password.change_refused", self.deps.clock.now(), account.id)

    def _store(self, auth: Authenticated, hashed: str, end_others: bool, counted_at: datetime) -> int:
        now = self.deps.clock.now()
        account = auth.account
        with self.deps.uow.begin() as tx:
            tx.password_hashes.set(account.id, hashed, now)
            password.right_password(self.deps, tx, account.email, counted_at)
            ended = tx.sessions.revoke_all_except(account.id, auth.session.id, now) if end_others else 0
            password.notify_changed(self.deps, tx, account, "changed", now, sessions_ended=ended > 0)
        return ended
