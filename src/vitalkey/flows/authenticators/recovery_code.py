"""The recovery code: a second factor that works once (then a new one replaces it, shown after
the sign-in and mailed about), for a user who cannot use the others. Never the default."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from vitalkey.domain.accounts import Account
from vitalkey.domain.authenticators import RECOVERY_CODE, StoredAuthenticator, of_kind
from vitalkey.domain.errors import TooManyRecoveryFailures, WrongRecoveryCode, WrongState
from vitalkey.domain.flows import CountedRefusal, Flow, Requester
from vitalkey.domain.two_factor import clean_recovery_code
from vitalkey.flows import rate_limits, second_factor
from vitalkey.flows.authenticators.base import Answer, KindBase, Proof, Role
from vitalkey.flows.deps import FlowDeps
from vitalkey.ports import Transaction


class RecoveryCode(KindBase):
    kind: ClassVar[str] = RECOVERY_CODE
    roles: ClassVar[Role] = Role.SECOND

    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    def applies(self, account: Account | None, rows: Sequence[StoredAuthenticator], role: Role) -> bool:
        return bool(role & self.roles) and of_kind(rows, RECOVERY_CODE) is not None

    def verify(
        self, tx: Transaction, flow: Flow, account: Account | None, answer: Answer, requester: Requester
    ) -> Proof:
        """Spent by a conditional swap for a new one, so parallel uses give one sign-in. Wrong
        codes are capped per account and, with the other factors, per address: the attempt is
        counted before it is judged, and taken back when it is right."""
        code = clean_recovery_code(answer.recovery_code)
        now = self.deps.clock.now()
        limit = self.deps.two_factor.recovery_failures
        row = of_kind(tx.authenticators.for_account(account.id), RECOVERY_CODE) if account else None
        if account is None or row is None:
            raise WrongState()
        failures = f"recovery:fail:{account.id}"
        rate_limits.take(self.deps, tx, failures, limit, now, TooManyRecoveryFailures)
        rate_limits.count_failure(self.deps, tx, flow.email, now)
        new = second_factor.issue_recovery(self.deps, account.id)
        given = second_factor.recovery_digest(self.deps, account.id, code)
        if row.lookup == given and tx.authenticators.swap_secret(row.id, given, new.digest, new.sealed, now):
            self.deps.limiter.forgive(tx, failures, limit[1], now)
            rate_limits.forgive_failure(self.deps, tx, flow.email, now)
            second_factor.notify(self.deps, tx, account, "recovery_used", now)
            return Proof(RECOVERY_CODE, account, Role.SECOND, row.id, new.code)
        tx.audit.record("recovery.rejected", now, account.id)
        raise CountedRefusal(WrongRecoveryCode())
