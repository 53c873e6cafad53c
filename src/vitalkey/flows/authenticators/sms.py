"""A code texted to the verified number, a second factor (SP 800-63B §3.1.3.3: a restricted
authenticator). A text refused at a limit leaves the step open: the page says why and when a
text can be sent, and offers the other ways."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import ClassVar

from vitalkey.domain import codes
from vitalkey.domain.accounts import Account
from vitalkey.domain.authenticators import SMS, StoredAuthenticator, of_kind
from vitalkey.domain.errors import AuthenticatorNotFound, DomainError, WrongState
from vitalkey.domain.flows import Flow, Requester
from vitalkey.domain.two_factor import phone_hint
from vitalkey.flows import sms_code
from vitalkey.flows.authenticators.base import Answer, KindBase, Prompt, Proof, Role
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.email_flow import CodeFlowState, check_code
from vitalkey.flows.sessions import Authenticated
from vitalkey.ports import Transaction

PURPOSE = sms_code.PURPOSE


class Sms(KindBase):
    kind: ClassVar[str] = SMS
    roles: ClassVar[Role] = Role.SECOND

    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    def _row(self, tx: Transaction, account: Account | None) -> StoredAuthenticator:
        row = of_kind(tx.authenticators.for_account(account.id), SMS) if account else None
        if row is None:
            raise WrongState()  # turned off meanwhile: start again
        return row

    def begin(self, tx: Transaction, flow: Flow, account: Account | None, requester: Requester) -> Prompt:
        """Text the first code, unless this flow texted one already or was refused one (the user
        came back from another way: the page shows that code's state, or the refusal)."""
        row = self._row(tx, account)
        if tx.codes.get(flow.id, PURPOSE) is not None or flow.context.get("sms_refused"):
            return self.prompt(tx, flow, account)
        phone = str(row.data["phone"])
        try:
            stored = sms_code.send_first(self.deps, tx, flow, phone, row.account_id, requester, "login")
        except sms_code.REFUSALS as refused:
            # The first factor is proved all the same: the step waits, says why no text came and
            # offers the recovery code (and a text once the limit allows).
            seconds = int(refused.params.get("seconds", 0))
            retry_at = (self.deps.clock.now() + timedelta(seconds=seconds)).isoformat()
            noted = {"sms_refused": refused.code, "sms_retry_at": retry_at}
            return Prompt(SMS, phone_hint(phone), None, refused, context=noted)
        return Prompt(SMS, phone_hint(phone), stored)

    def resend(self, tx: Transaction, flow: Flow, account: Account | None, requester: Requester) -> Prompt:
        """A new text; the first one if it was refused at the limit (a refusal raises now)."""
        row = self._row(tx, account)
        phone = str(row.data["phone"])
        if tx.codes.get(flow.id, PURPOSE) is None:
            stored = sms_code.send_first(self.deps, tx, flow, phone, row.account_id, requester, "login")
            return Prompt(SMS, phone_hint(phone), stored, context={"sms_refused": None, "sms_retry_at": None})
        stored = sms_code.resend(self.deps, tx, flow, phone, row.account_id, requester, "login")
        return Prompt(SMS, phone_hint(phone), stored)

    def prompt(self, tx: Transaction, flow: Flow, account: Account | None) -> Prompt:
        row = self._row(tx, account)
        stored = tx.codes.get(flow.id, PURPOSE)
        refused = self._refusal_of(flow) if stored is None else None
        return Prompt(SMS, phone_hint(str(row.data["phone"])), stored, refused)

    def verify(
        self, tx: Transaction, flow: Flow, account: Account | None, answer: Answer, requester: Requester
    ) -> Proof:
        now = self.deps.clock.now()
        check_code(self.deps, tx, flow, PURPOSE, codes.clean_code(answer.code), now, CodeFlowState.DEAD)
        row = self._row(tx, account)
        assert account is not None
        tx.authenticators.touch(row.id, now)
        return Proof(SMS, account, Role.SECOND, row.id)

    def committed(self, proof: Proof) -> None:
        self.deps.events.sms_completed("login")

    def remove(self, tx: Transaction, auth: Authenticated, row: StoredAuthenticator) -> None:
        """The number goes (the caller checks freshness, mails, and turns 2FA off if it was the last)."""
        if not tx.authenticators.remove(auth.account.id, row.id):
            raise AuthenticatorNotFound()

    def _refusal_of(self, flow: Flow) -> DomainError | None:
        refusal = next((r for r in sms_code.REFUSALS if r.code == flow.context.get("sms_refused")), None)
        if refusal is None:
            return None
        retry_at = datetime.fromisoformat(str(flow.context["sms_retry_at"]))
        return refusal(seconds=max(0, math.ceil((retry_at - self.deps.clock.now()).total_seconds())))
