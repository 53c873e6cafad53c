"""The signed-in user's own account: profile and language."""

from __future__ import annotations

from typing import Any

from vitalkey.domain.accounts import Account, clean_profile
from vitalkey.domain.errors import NotAuthenticated
from vitalkey.flows.deps import FlowDeps


class AccountService:
    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    def update_profile(self, account: Account, data: dict[str, Any]) -> Account:
        now = self.deps.clock.now()
        profile = clean_profile(data, now.date())
        with self.deps.uow.begin() as tx:
            tx.accounts.update_profile(account.id, profile, now)
            tx.audit.record("account.profile_updated", now, account.id)
            updated = tx.accounts.get(account.id)
        if updated is None:
            raise NotAuthenticated()
        return updated

    def set_language(self, account: Account, language: str) -> None:
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            tx.accounts.set_language(account.id, language)
            tx.audit.record("account.language_changed", now, account.id, language=language)
