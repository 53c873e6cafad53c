"""TwoFactorRepository."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.storage.conftest import NOW, an_account
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.two_factor import TwoFactor


def test_enable_once_change_and_disable(store: SqlUnitOfWork) -> None:
    account = an_account(store)
    factor = TwoFactor(account.id, "sms", "+33612345678", NOW, "digest-1", "sealed-1", NOW)
    later = NOW + timedelta(days=1)
    with store.begin() as tx:
        assert tx.two_factor.get(account.id) is None
        assert tx.two_factor.enable(factor)
        assert not tx.two_factor.enable(replace(factor, phone="+33700000000"))  # it has one
        assert tx.two_factor.get(account.id) == factor
        assert tx.two_factor.set_phone(account.id, "+33700000000")
        assert not tx.two_factor.replace_recovery(account.id, "not-it", "digest-2", "sealed-2", later)
        assert tx.two_factor.replace_recovery(account.id, "digest-1", "digest-2", "sealed-2", later)
        assert not tx.two_factor.replace_recovery(account.id, "digest-1", "digest-3", "sealed-3", later)  # used once
        assert tx.two_factor.get(account.id) == replace(
            factor,
            phone="+33700000000",
            recovery_digest="digest-2",
            recovery_sealed="sealed-2",
            recovery_issued_at=later,
        )
        assert tx.two_factor.disable(account.id)
        assert not tx.two_factor.disable(account.id)
        assert not tx.two_factor.set_phone(account.id, "+33612345678")
        assert tx.two_factor.get(account.id) is None
