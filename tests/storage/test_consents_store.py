"""ConsentRepository."""

from __future__ import annotations

from datetime import timedelta

from tests.storage.conftest import LATER, NOW, an_account, an_app
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.oauth import Consent


def test_consents_widen_mark_use_list_and_forget(store: SqlUnitOfWork) -> None:
    account = an_account(store)
    an_app(store)
    precision = timedelta(hours=1)
    with store.begin() as tx:
        assert tx.consents.get(account.id, "coach") is None
        tx.consents.allow(account.id, "coach", ("user.info",), NOW)
        tx.consents.allow(account.id, "coach", ("user.info", "user.metrics"), LATER)
        assert tx.consents.get(account.id, "coach") == Consent(account.id, "coach", ("user.info", "user.metrics"), NOW)
        tx.consents.used(account.id, "coach", NOW, precision)
        tx.consents.used(account.id, "coach", LATER, precision)  # within the precision: not written
        consent = Consent(account.id, "coach", ("user.info", "user.metrics"), NOW, NOW)
        assert tx.consents.for_account(account.id) == [consent]
        assert tx.consents.for_account(account.id + 1) == []
        assert tx.consents.forget(account.id, "coach")
        assert not tx.consents.forget(account.id, "coach")
        assert tx.consents.get(account.id, "coach") is None
