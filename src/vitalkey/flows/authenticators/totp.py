"""An authenticator app (TOTP, RFC 6238), a second factor: the app and the server share a secret
(sealed in the row), and a code is the secret's HMAC of the current 30-second step.

A step once used is refused again (``counter``, moved forward by a conditional UPDATE: a replayed
code, or two sign-ins racing with one code, give one success). Wrong codes count like texted ones:
against the flow (``code_policy.max_attempts`` each, then the flow is dead) and, with every other
factor, against the address (``rate_limits.count_failure``); a right code takes its count back."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from vitalkey.domain import codes
from vitalkey.domain.accounts import Account
from vitalkey.domain.authenticators import TOTP, StoredAuthenticator, of_kind
from vitalkey.domain.errors import DomainError, FlowDead, TooManyCodeFailures, TotpCodeReused, WrongState, WrongTotpCode
from vitalkey.domain.flows import CountedRefusal, Flow, Requester
from vitalkey.domain.totp import matching_step, new_totp_secret, provisioning_uri
from vitalkey.flows import rate_limits
from vitalkey.flows.authenticators.base import Answer, KindBase, Prompt, Proof, Role
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.email_flow import CodeFlowState
from vitalkey.flows.sessions import Authenticated
from vitalkey.ports import Transaction

SEALED_KEY = "totp_sealed"  # the set-up flow's context: the new secret, sealed, until its first code


class TotpKind(KindBase):
    kind: ClassVar[str] = TOTP
    roles: ClassVar[Role] = Role.SECOND

    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    def verify(
        self, tx: Transaction, flow: Flow, account: Account | None, answer: Answer, requester: Requester
    ) -> Proof:
        row = of_kind(tx.authenticators.for_account(account.id), TOTP) if account else None
        if account is None or row is None:
            raise WrongState()  # removed meanwhile: start again
        now = self.deps.clock.now()
        secret = self.deps.two_factor.sealer.open(row.sealed)
        step = self.check(tx, flow, secret, answer.code, row.counter, now)
        if not tx.authenticators.advance(row.id, step, now):  # a parallel sign-in used this step first
            raise self._reused(tx, flow, now, forgiven=True)
        return Proof(TOTP, account, Role.SECOND, row.id)

    def enrol(
        self, tx: Transaction, flow: Flow, auth: Authenticated, answer: Answer | None, requester: Requester
    ) -> Prompt | StoredAuthenticator:
        """``answer`` None: a new secret to show (kept sealed in the flow, under ``totp_sealed``).
        Else the app's first code proves it was added: the row to store, its step as the last
        used one (the same code cannot sign in afterwards). Storing it is the set-up flow's."""
        if answer is None:
            secret = new_totp_secret()
            uri = provisioning_uri(secret, auth.account.email)
            return Prompt(TOTP, secret=secret, uri=uri, context={SEALED_KEY: self.deps.two_factor.sealer.seal(secret)})
        sealed = str(flow.context.get(SEALED_KEY, ""))
        if not sealed:
            raise WrongState()
        now = self.deps.clock.now()
        step = self.check(tx, flow, self.deps.two_factor.sealer.open(sealed), answer.code, None, now)
        return StoredAuthenticator(0, auth.account.id, TOTP, now, last_used_at=now, counter=step, sealed=sealed)

    def prompt_for_setup(self, flow: Flow, email: str) -> Prompt:
        """The set-up page's secret and URI again, from the sealed secret in its flow."""
        secret = self.deps.two_factor.sealer.open(str(flow.context[SEALED_KEY]))
        return Prompt(TOTP, secret=secret, uri=provisioning_uri(secret, email))

    def check(
        self, tx: Transaction, flow: Flow, secret: str, raw_code: str, last_used: int | None, now: datetime
    ) -> int:
        """The step of a right, fresh code. The attempt is counted first (the flow's tries, then
        the address's failures across every factor), so a parallel burst cannot outrun the count;
        a right code, fresh or not, is no guess and takes the address's count back."""
        code = codes.clean_code(raw_code)  # a malformed code: refused, nothing counted
        if self.deps.limiter.hit(tx, _tries_key(flow), *self._tries(), now) is not None:
            tx.flows.save(flow.moved(CodeFlowState.DEAD), flow.state)  # attempts_exhausted
            raise self._refused(tx, flow, FlowDead(), now)
        try:
            rate_limits.count_failure(self.deps, tx, flow.email, now)
        except TooManyCodeFailures as too_many:  # nothing counted for the address: nothing to forgive
            raise self._refused(tx, flow, too_many, now) from None
        try:
            step = matching_step(secret, code, now, last_used)
        except TotpCodeReused:
            raise self._reused(tx, flow, now) from None
        if step is None:
            raise self._refused(tx, flow, WrongTotpCode(), now)
        rate_limits.forgive_failure(self.deps, tx, flow.email, now)
        return step

    def _tries(self) -> tuple[int, int]:
        """The flow's tries: as many as a texted code's, over the flow's life (a day at most:
        the limiter keeps no older counts)."""
        return self.deps.code_policy.max_attempts, min(int(self.deps.flow_ttl.total_seconds()), 86400)

    def _reused(self, tx: Transaction, flow: Flow, now: datetime, *, forgiven: bool = False) -> CountedRefusal:
        """A right code whose step was used: no guess, so its counts are taken back (once:
        ``forgiven`` when ``check`` already took the address's back)."""
        if not forgiven:
            rate_limits.forgive_failure(self.deps, tx, flow.email, now)
        self.deps.limiter.forgive(tx, _tries_key(flow), self._tries()[1], now)
        return self._refused(tx, flow, TotpCodeReused(), now)

    def _refused(self, tx: Transaction, flow: Flow, error: DomainError, now: datetime) -> CountedRefusal:
        tx.audit.record("code.rejected", now, None, flow_kind=flow.kind.value, reason=error.code, method=TOTP)
        return CountedRefusal(error)


def _tries_key(flow: Flow) -> str:
    return f"totp:flow:{flow.id}"
