"""AuthorizationCodeRepository."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.storage.conftest import LATER, NOW, an_account, an_app, an_authorization_code
from vitalkey.adapters.db.uow import SqlUnitOfWork


def test_authorization_codes_are_used_once(store: SqlUnitOfWork) -> None:
    account = an_account(store)
    an_app(store)
    code = an_authorization_code(account.id)
    with store.begin() as tx:
        tx.authorization_codes.add(code)
        tx.authorization_codes.add(an_authorization_code(account.id, "expired"))
        assert tx.authorization_codes.get("c1") == code
        assert tx.authorization_codes.get("none") is None
        assert tx.authorization_codes.use("c1", LATER) == replace(code, used_at=LATER)
        assert tx.authorization_codes.use("c1", LATER) is None
        assert tx.authorization_codes.use("expired", NOW + timedelta(minutes=5)) is None
        assert tx.authorization_codes.get("c1") == replace(code, used_at=LATER)
