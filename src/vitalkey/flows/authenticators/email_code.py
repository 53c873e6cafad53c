"""The code mailed to the address: the first factor every sign-in starts with."""

from __future__ import annotations

from typing import Any, ClassVar

from vitalkey.domain import codes
from vitalkey.domain.accounts import Account, mail_names
from vitalkey.domain.authenticators import EMAIL_CODE
from vitalkey.domain.emails import account_key
from vitalkey.domain.errors import WrongState
from vitalkey.domain.flows import Flow, Requester
from vitalkey.flows import email_code, password
from vitalkey.flows.authenticators.base import Answer, KindBase, Prompt, Proof, Role
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.email_flow import CodeFlowState, check_code
from vitalkey.ports import Transaction

PURPOSE = email_code.PURPOSE


class EmailCode(KindBase):
    kind: ClassVar[str] = EMAIL_CODE
    roles: ClassVar[Role] = Role.FIRST

    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    def applies(self, account: Account | None, rows: object, role: Role) -> bool:
        return bool(role & self.roles)  # any address: unknown ones take the same path

    def mail(self, tx: Transaction, flow: Flow) -> tuple[str, dict[str, Any], bool]:
        """(template, context, include_code) of the mail carrying the code: an unknown address
        gets no code, but a mail saying so with a link to sign up."""
        account = tx.accounts.by_email(account_key(flow.email))
        if account is None:
            return "login_unknown", {"signup_url": f"{self.deps.public_url}/signup"}, False
        return "login_code", mail_names(account), True

    def begin(self, tx: Transaction, flow: Flow, account: Account | None, requester: Requester) -> Prompt:
        """Mail the code, unless this flow mailed one already (the user came back to it)."""
        stored = tx.codes.get(flow.id, PURPOSE)
        if stored is None:
            template, context, include = self.mail(tx, flow)
            stored = email_code.send_first(self.deps, tx, flow, requester, template, context, include_code=include)
        return Prompt(EMAIL_CODE, code=stored)

    def prompt(self, tx: Transaction, flow: Flow, account: Account | None) -> Prompt:
        return Prompt(EMAIL_CODE, code=tx.codes.get(flow.id, PURPOSE))

    def verify(
        self, tx: Transaction, flow: Flow, account: Account | None, answer: Answer, requester: Requester
    ) -> Proof:
        now = self.deps.clock.now()
        check_code(self.deps, tx, flow, PURPOSE, codes.clean_code(answer.code), now, CodeFlowState.DEAD)
        if account is None:  # no code was ever mailed for an unknown address
            raise WrongState()
        password.succeeded(self.deps, tx, flow.email)  # the mailbox is proved: the password opens
        return Proof(EMAIL_CODE, account, Role.FIRST)
