"""The account's password, a first factor. Its check (argon2id, tens of milliseconds) runs off
the event loop between two short transactions, so the login flow drives it
(``LoginFlow.submit_password``); the app passwords answer first when an app signs in."""

from __future__ import annotations

from typing import ClassVar

from vitalkey.domain.accounts import Account
from vitalkey.domain.authenticators import PASSWORD
from vitalkey.domain.flows import Flow, Requester
from vitalkey.flows.authenticators.base import KindBase, Prompt, Role
from vitalkey.flows.deps import FlowDeps
from vitalkey.ports import Transaction


class Password(KindBase):
    kind: ClassVar[str] = PASSWORD
    roles: ClassVar[Role] = Role.FIRST

    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    def applies(self, account: Account | None, rows: object, role: Role) -> bool:
        # Offered to every address: an unknown one, or an account without a password, costs the
        # same check and gets the same answer as a wrong password.
        return bool(role & self.roles)

    def begin(self, tx: Transaction, flow: Flow, account: Account | None, requester: Requester) -> Prompt:
        return Prompt(PASSWORD)
