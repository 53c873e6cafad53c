"""The kinds of authenticator as plug-ins, and their registry (docs/architecture.md
"Authenticators"). A new kind is one module here and one entry in the container's registry."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from vitalkey.domain.accounts import Account
from vitalkey.domain.authenticators import RECOVERY_CODE, StoredAuthenticator
from vitalkey.domain.errors import WrongState
from vitalkey.flows.authenticators.base import Authenticator, Role


class Authenticators:
    """The kinds in the order the flows ask them: a second factor is offered in this order
    (after the account's default), the recovery code last."""

    def __init__(self, kinds: Iterable[Authenticator]) -> None:
        self.kinds = tuple(kinds)
        self._by_kind = {kind.kind: kind for kind in self.kinds}
        assert len(self._by_kind) == len(self.kinds), "a kind is registered twice"

    def __getitem__(self, kind: str) -> Authenticator:
        """The kind named ``kind``; WrongState for a method this server does not offer."""
        found = self._by_kind.get(kind)
        if found is None:
            raise WrongState()
        return found

    def __contains__(self, kind: object) -> bool:
        return kind in self._by_kind

    def usable(self, account: Account | None, rows: Sequence[StoredAuthenticator], role: Role) -> list[Authenticator]:
        """The kinds that can serve ``role`` for this account, in registry order."""
        return [kind for kind in self.kinds if role & kind.roles and kind.applies(account, rows, role)]

    def second_factors(self, account: Account, rows: Sequence[StoredAuthenticator]) -> list[Authenticator]:
        """The account's second factors, best first: its default, then registry order; the
        recovery code last (never the default); empty when 2FA is off."""
        usable = self.usable(account, rows, Role.SECOND)
        default = next((row.kind for row in rows if row.is_default), None)
        usable.sort(key=lambda kind: (kind.kind == RECOVERY_CODE, kind.kind != default))
        if all(kind.kind == RECOVERY_CODE for kind in usable):
            return []  # a recovery code alone is no second factor
        return usable
