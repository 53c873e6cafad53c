"""App passwords: an app that cannot ask for a second factor signs in with one of the account's
app passwords in place of the password (named, revocable, one app each). High-entropy and
random, so a keyed digest suffices (no slow hash)."""

from __future__ import annotations

from typing import ClassVar

from vitalkey.domain.accounts import Account
from vitalkey.domain.authenticators import APP_PASSWORD
from vitalkey.domain.errors import WrongPassword
from vitalkey.domain.flows import Flow, Requester
from vitalkey.domain.tokens import keyed_digest
from vitalkey.domain.two_factor import clean_app_password
from vitalkey.flows.authenticators.base import Answer, KindBase, NotResponsible, Proof, Role
from vitalkey.flows.deps import FlowDeps
from vitalkey.ports import Transaction


def app_password_digest(deps: FlowDeps, app_password: str) -> str:
    return keyed_digest(deps.secret, "app-password:" + app_password)


class AppPasswordKind(KindBase):
    kind: ClassVar[str] = APP_PASSWORD
    roles: ClassVar[Role] = Role.FIRST

    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    def applies(self, account: Account | None, rows: object, role: Role) -> bool:
        return False  # never a method to choose: it answers inside the password step

    def verify(
        self, tx: Transaction, flow: Flow, account: Account | None, answer: Answer, requester: Requester
    ) -> Proof:
        """An app password of the flow's app, or NotResponsible (then it is for the password).
        Known address or not, the same statements run."""
        app_id = flow.context.get("app")
        if app_id is None:
            raise NotResponsible()
        try:
            cleaned = clean_app_password(answer.password)
        except WrongPassword:
            raise NotResponsible() from None
        digest = app_password_digest(self.deps, cleaned)
        now = self.deps.clock.now()
        used = tx.app_passwords.use(account.id if account else 0, str(app_id), digest, now)
        if used is None or account is None:
            raise NotResponsible()
        tx.audit.record("login.app_password", now, account.id, app=app_id, app_password=used.id)
        return Proof(APP_PASSWORD, account, Role.FIRST)
