"""Passwordless sign-in: address → emailed "temporary identification code" → signed in.

Today the emailed code is the only step between the address and the session; the password (as
another first factor) and the second factor will be added as further stages of this same flow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vitalkey.domain.errors import WrongState
from vitalkey.domain.flows import Flow, FlowKind, Requester, StateMachine
from vitalkey.flows.email_flow import CODE_SENT, COMPLETE, CONFIRM_EMAIL, DEAD, NEW, EmailCodeFlow
from vitalkey.flows.sessions import Started, start
from vitalkey.ports import Transaction

DIAGRAM = Path(__file__).with_name("login.mermaid")

MACHINE = StateMachine(
    name="login",
    initial=NEW,
    transitions={
        (NEW, "email_submitted"): CODE_SENT,
        (NEW, "typo_suspected"): CONFIRM_EMAIL,
        (CONFIRM_EMAIL, "suggestion_accepted"): CODE_SENT,
        (CONFIRM_EMAIL, "suggestion_declined"): CODE_SENT,
        (CODE_SENT, "code_resent"): CODE_SENT,
        (CODE_SENT, "code_verified"): COMPLETE,
        (CODE_SENT, "attempts_exhausted"): DEAD,
    },
)


class LoginFlow(EmailCodeFlow):
    kind = FlowKind.LOGIN
    machine = MACHINE

    def code_mail(self, tx: Transaction, flow: Flow) -> tuple[str, dict[str, Any], bool]:
        account = self._account_for(tx, flow)
        if account is None:
            return "login_unknown", {"signup_url": f"{self.deps.public_url}/signup"}, False
        name = account.profile.first_name if account.profile else ""
        return "login_code", {"first_name": name}, True

    def submit_code(self, flow_id: str, code: str, req: Requester) -> Started:
        def sign_in(tx: Transaction, flow: Flow, state: str) -> Started:
            account = self._account_for(tx, flow)
            if account is None:  # no code was ever mailed for an unknown address
                raise WrongState()
            self._save(tx, flow.moved(state, account_id=account.id), flow.state)
            return start(self.deps, tx, account, req, ("email_code",))

        return self.verify_code(flow_id, code, req, sign_in)
