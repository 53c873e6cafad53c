"""Sign-in: address → emailed "temporary identification code" → signed in; or, from the code
page, "Login with password instead" → password → signed in, with "Forgot your password?" →
"Validate" → an "Update password" link mailed (see ``password_reset``).

The second factor will be one more stage of this same flow, after either first factor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vitalkey.domain.accounts import Account
from vitalkey.domain.emails import normalize_email
from vitalkey.domain.errors import WrongPassword, WrongState
from vitalkey.domain.flows import Flow, FlowKind, Requester, StateMachine
from vitalkey.domain.passwords import normalize_password
from vitalkey.flows import email_code, password, password_reset
from vitalkey.flows.email_flow import CODE_SENT, COMPLETE, CONFIRM_EMAIL, DEAD, NEW, EmailCodeFlow, FlowView
from vitalkey.flows.sessions import Started, start
from vitalkey.ports import Transaction

DIAGRAM = Path(__file__).with_name("login.mermaid")
PASSWORD = "password"  # noqa: S105 (a state: "Login with password instead")
FORGOT = "forgot_password"  # "Forgot your password?": asks to "Validate"
RESET_SENT = "reset_sent"  # the "Update password" link has been mailed

MACHINE = StateMachine(
    name="login",
    initial=NEW,
    transitions={
        (NEW, "email_submitted"): CODE_SENT,
        (NEW, "typo_suspected"): CONFIRM_EMAIL,
        (NEW, "password_started"): PASSWORD,
        (CONFIRM_EMAIL, "suggestion_accepted"): CODE_SENT,
        (CONFIRM_EMAIL, "suggestion_declined"): CODE_SENT,
        (CODE_SENT, "code_resent"): CODE_SENT,
        (CODE_SENT, "code_verified"): COMPLETE,
        (CODE_SENT, "attempts_exhausted"): DEAD,
        (CODE_SENT, "password_chosen"): PASSWORD,
        (PASSWORD, "code_chosen"): CODE_SENT,
        (PASSWORD, "password_verified"): COMPLETE,
        (PASSWORD, "forgot_chosen"): FORGOT,
        (PASSWORD, "reset_requested"): RESET_SENT,
        (FORGOT, "password_chosen"): PASSWORD,
        (FORGOT, "reset_requested"): RESET_SENT,
        (RESET_SENT, "password_chosen"): PASSWORD,
        (RESET_SENT, "code_chosen"): CODE_SENT,
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
            password.succeeded(self.deps, tx, flow.email)  # the mailbox is proved: the password opens
            return start(self.deps, tx, account, req, ("email_code",))

        return self.verify_code(flow_id, code, req, sign_in)

    # The password stage ------------------------------------------------------------
    CHOICES = frozenset({"password_chosen", "code_chosen", "forgot_chosen"})

    def start_with_password(self, raw_email: str, req: Requester) -> FlowView:
        """An API client that wants the password straight away: no code is mailed (one is, if
        the user turns to the code later). Known and unknown addresses take the same path."""
        flow = self.new_flow(normalize_email(raw_email), req)
        flow = flow.moved(self.machine.check(flow, "password_started", self.deps.clock.now()))
        with self.deps.uow.begin() as tx:
            tx.flows.add(flow)
        return FlowView(flow, None, {})

    def choose(self, flow_id: str, event: str, req: Requester) -> Flow:
        """Move between the code, the password and "Forgot your password?" (``CHOICES``)."""
        if event not in self.CHOICES:
            raise WrongState()
        with self.deps.uow.begin() as tx:
            flow = self._load(tx, flow_id, req)
            moved = flow.moved(self.machine.check(flow, event, self.deps.clock.now()))
            self._save(tx, moved, flow.state)
            if moved.state == CODE_SENT and tx.codes.get(flow.id, email_code.PURPOSE) is None:
                self._send_code(tx, moved, req)  # the flow began with the password
        return moved

    def request_reset(self, flow_id: str, req: Requester) -> Flow:
        """ "Validate": mail the "Update password" link (or, to an unknown address, a mail saying
        that no account uses it); the page and the answer are the same for both."""
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            flow = self._load(tx, flow_id, req)
            moved = flow.moved(self.machine.check(flow, "reset_requested", now))
            self._save(tx, moved, flow.state)
            password_reset.send_link(self.deps, tx, flow, req, now)
        return moved

    async def submit_password(self, flow_id: str, raw_password: str, req: Requester) -> Started:
        """Check the password off the event loop (argon2id takes tens of milliseconds) between
        two short transactions: the attempt is counted before the check, the outcome after it.
        An unknown address or an account without a password costs the same check and gets the
        same answer as a wrong password."""
        flow, account, stored = await self.deps.uow.run(self._count_password_attempt, flow_id, req)
        given = normalize_password(raw_password)
        right = await self.deps.hasher.verify(stored, given)
        if not right or account is None or stored is None:
            await self.deps.uow.run(self._password_refused, flow)
            raise WrongPassword()
        rehashed = await self.deps.hasher.hash(given) if self.deps.hasher.needs_rehash(stored) else None
        return await self.deps.uow.run(self._password_accepted, flow, account, stored, rehashed, req)

    def _count_password_attempt(self, flow_id: str, req: Requester) -> tuple[Flow, Account | None, str | None]:
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            flow = self._load(tx, flow_id, req)
            self.machine.check(flow, "password_verified", now)
            password.count_attempt(self.deps, tx, flow.email, req, now)
            account = self._account_for(tx, flow)
            stored = tx.passwords.hash_of(account.id) if account else None
        return flow, account, stored

    def _password_refused(self, flow: Flow) -> None:
        with self.deps.uow.begin() as tx:
            tx.audit.record("password.rejected", self.deps.clock.now(), None, flow_kind=flow.kind.value)

    def _password_accepted(
        self, flow: Flow, account: Account, stored: str, rehashed: str | None, req: Requester
    ) -> Started:
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            state = self.machine.check(flow, "password_verified", now)
            self._save(tx, flow.moved(state, account_id=account.id), flow.state)
            password.succeeded(self.deps, tx, flow.email)
            if rehashed:
                tx.passwords.rehash(account.id, stored, rehashed)
            return start(self.deps, tx, account, req, ("password",))
