"""Account & Security → Two-factor authentication → "Authenticator app": a new secret shown as a
QR code and as a key to type, then confirmed by the app's first code.

It is the two-factor set-up flow (``two_factor.MACHINE``) with the method "totp": ``new`` →
``enrolling`` (``secret_issued``; the secret sealed in the flow, ``totp_sealed``) → with 2FA off,
``recovery_shown`` (``totp_verified``: 2FA turns on, the recovery code is shown once) → ``complete``;
with 2FA on, ``complete`` at once (``totp_added``: beside the text message, or replacing the
account's app). One app per account. Every change needs a fresh sign-in and is mailed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vitalkey.domain.authenticators import RECOVERY_CODE, TOTP, StoredAuthenticator, of_kind
from vitalkey.domain.errors import FlowNotFound, WrongState
from vitalkey.domain.flows import Flow, FlowKind, Requester
from vitalkey.domain.two_factor import grouped, two_factor_of
from vitalkey.flows import second_factor
from vitalkey.flows.authenticators.base import Answer, Prompt
from vitalkey.flows.authenticators.totp import SEALED_KEY, TotpKind
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.email_flow import CodeFlow
from vitalkey.flows.sessions import Authenticated
from vitalkey.flows.two_factor import MACHINE, TwoFactorEvent, TwoFactorState
from vitalkey.ports import Transaction


@dataclass(frozen=True, slots=True)
class TotpSetupView:
    flow: Flow
    secret: str = ""  # while enrolling: the key (for the QR code and for typing)
    uri: str = ""  # its otpauth:// URI
    replacing: bool = False  # the account has an app already: this secret replaces its
    authenticator: StoredAuthenticator | None = None  # the stored row, once confirmed
    recovery_code: str | None = None  # grouped; only while the flow shows it (2FA just turned on)


class TotpSetup(CodeFlow):
    kind = FlowKind.TWO_FACTOR
    machine = MACHINE

    def __init__(self, deps: FlowDeps, totp: TotpKind) -> None:
        super().__init__(deps)
        self.totp = totp

    def current(self, account_id: int) -> StoredAuthenticator | None:
        """The account's authenticator app, if it has one."""
        with self.deps.uow.read() as tx:
            return of_kind(tx.authenticators.for_account(account_id), TOTP)

    def begin(self, auth: Authenticated, requester: Requester) -> TotpSetupView:
        """A new secret for the app to add (a fresh sign-in is needed: it changes a factor)."""
        account = auth.account
        with self.deps.uow.begin() as tx:
            second_factor.require_fresh(self.deps, tx, auth)
            replacing = of_kind(tx.authenticators.for_account(account.id), TOTP) is not None
            flow = self.new_flow(
                account.email, requester, account.language, account_id=account.id, session=auth.session.id, method=TOTP
            )
            prompt = self.totp.enrol(tx, flow, auth, None, requester)
            assert isinstance(prompt, Prompt)
            flow = flow.moved(MACHINE.next(flow.state, TwoFactorEvent.SECRET_ISSUED), **prompt.context)
            tx.flows.add(flow)
        return TotpSetupView(flow, prompt.secret, prompt.uri, replacing)

    def view(self, auth: Authenticated, flow_id: str, requester: Requester) -> TotpSetupView:
        """The flow as its page shows it: the secret while enrolling, the recovery code while shown."""
        with self.deps.uow.read() as tx:
            flow = self._load_for(tx, auth, flow_id, requester, allow_finished=True)
            rows = tx.authenticators.for_account(auth.account.id)
        app = of_kind(rows, TOTP)
        if flow.state == TwoFactorState.ENROLLING:
            prompt = self.totp.prompt_for_setup(flow, auth.account.email)
            return TotpSetupView(flow, prompt.secret, prompt.uri, app is not None)
        recovery = of_kind(rows, RECOVERY_CODE) if flow.state == TwoFactorState.RECOVERY_SHOWN else None
        code = grouped(self.deps.two_factor.sealer.open(recovery.sealed)) if recovery else None
        return TotpSetupView(flow, authenticator=app, recovery_code=code)

    def confirm(self, auth: Authenticated, flow_id: str, code: str, requester: Requester) -> TotpSetupView:
        """The app's first code proves it holds the secret: the app is stored (replacing the
        account's app, if any). With 2FA off this turns it on, with a recovery code shown once;
        either way the account address is mailed. A wrong code stays counted."""
        with self.deps.uow.begin() as tx:
            flow = self._load_for(tx, auth, flow_id, requester)
            now = self.deps.clock.now()
            MACHINE.check(flow, TwoFactorEvent.TOTP_VERIFIED, now)  # enrolling, and not expired
            confirmed = self.totp.enrol(tx, flow, auth, Answer(code=code), requester)
            assert isinstance(confirmed, StoredAuthenticator)
            return self._store(tx, auth, flow, confirmed, now)

    def finish(self, auth: Authenticated, flow_id: str, requester: Requester) -> Flow:
        """ "Next" after the recovery code: the set-up is done."""
        with self.deps.uow.begin() as tx:
            flow = self._load_for(tx, auth, flow_id, requester)
            moved = flow.moved(MACHINE.check(flow, TwoFactorEvent.RECOVERY_SAVED, self.deps.clock.now()))
            self._save(tx, moved, flow.state)
        return moved

    # Helpers -------------------------------------------------------------------------
    def _store(
        self, tx: Transaction, auth: Authenticated, flow: Flow, confirmed: StoredAuthenticator, now: datetime
    ) -> TotpSetupView:
        account = auth.account
        rows = tx.authenticators.for_account(account.id)
        enabling = two_factor_of(rows) is None
        old = of_kind(rows, TOTP)
        if old is not None and not tx.authenticators.remove(account.id, old.id):
            raise WrongState()  # replaced from another page meanwhile
        # The account's only second factor is its default; a replaced app keeps its place.
        default = old.is_default if old is not None else not any(row.is_default for row in rows)
        stored = tx.authenticators.add(
            StoredAuthenticator(
                0, account.id, TOTP, now, last_used_at=now, is_default=default, counter=confirmed.counter,
                sealed=confirmed.sealed,
            )
        )  # fmt: skip
        if stored is None:
            raise WrongState()  # added from another page meanwhile
        recovery = None
        if enabling:
            recovery = second_factor.issue_recovery(self.deps, account.id)
            code_row = StoredAuthenticator(
                0, account.id, RECOVERY_CODE, now, lookup=recovery.digest, sealed=recovery.sealed
            )
            tx.authenticators.remove_kind(account.id, RECOVERY_CODE)  # a leftover without a factor
            if tx.authenticators.add(code_row) is None:
                raise WrongState()
            second_factor.notify(self.deps, tx, account, "enabled", now, method=TOTP)
        else:
            second_factor.notify(self.deps, tx, account, "method_added", now, method=TOTP, replaced=old is not None)
        # The first code just proved the app within this session: a fresh sign-in with it.
        policy = self.deps.session_policy
        tx.sessions.add_factor(auth.session, TOTP, now, now + policy.absolute_two_factor)
        event = TwoFactorEvent.TOTP_VERIFIED if enabling else TwoFactorEvent.TOTP_ADDED
        moved = flow.moved(MACHINE.next(flow.state, event), **{SEALED_KEY: None})  # the secret leaves the flow
        self._save(tx, moved, flow.state)
        shown = grouped(recovery.code) if recovery else None
        return TotpSetupView(moved, replacing=old is not None, authenticator=stored, recovery_code=shown)

    def _load_for(
        self, tx: Transaction, auth: Authenticated, flow_id: str, requester: Requester, *, allow_finished: bool = False
    ) -> Flow:
        """The flow, if this very session started it and it sets up an authenticator app."""
        flow = self._load(tx, flow_id, requester, allow_finished=allow_finished)
        mine = flow.context.get("account_id") == auth.account.id and flow.context.get("session") == auth.session.id
        if not mine or flow.context.get("method") != TOTP:
            raise FlowNotFound()
        return flow
