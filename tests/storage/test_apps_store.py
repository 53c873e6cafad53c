"""AppRepository and AppPasswordRepository."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.storage.conftest import COACH, NOW, an_account, an_app
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.apps import App, ClientType
from vitalkey.domain.two_factor import AppPassword


def test_apps_round_trip_secret_and_delete(store: SqlUnitOfWork) -> None:
    app = an_app(
        store, replace(COACH, scopes=("user.info", "user.metrics"), logo_url="https://l.example/", secret_digest="s1")
    )
    public = App("phone", "Phone", True, True, NOW, ClientType.PUBLIC)
    with store.begin() as tx:
        assert not tx.apps.add(replace(app, name="Again"))
        assert tx.apps.add(public)
        assert tx.apps.get("coach") == app
        assert tx.apps.get("none") is None
        listed = tx.apps.all()
        assert app in listed and public in listed
        assert listed.index(public) < listed.index(app)  # first-party apps first
        assert tx.apps.set_secret("coach", "s2", "sealed")
        assert not tx.apps.set_secret("phone", "s2", "sealed")  # public clients have none
        assert not tx.apps.set_secret("none", "s2", "sealed")
        assert tx.apps.get("coach") == replace(app, secret_digest="s2", secret_sealed="sealed")
        assert tx.apps.delete("coach")
        assert not tx.apps.delete("coach")
        assert tx.apps.get("coach") is None


def test_app_passwords_use_and_revoke(store: SqlUnitOfWork) -> None:
    account = an_account(store)
    an_app(store)
    first = AppPassword("p1", account.id, "coach", "Watch", NOW, None)
    second = AppPassword("p2", account.id, "coach", "Scale", NOW + timedelta(seconds=1), None)
    later = NOW + timedelta(hours=1)
    with store.begin() as tx:
        tx.app_passwords.add(first, "d1")
        tx.app_passwords.add(second, "d2")
        assert tx.app_passwords.for_account(account.id) == [first, second]
        assert tx.app_passwords.use(account.id, "coach", "d1", later) == replace(first, last_used_at=later)
        assert tx.app_passwords.use(account.id, "coach", "unknown", later) is None
        assert tx.app_passwords.use(account.id, "other", "d1", later) is None
        assert tx.app_passwords.revoke(account.id, "p1", later)
        assert not tx.app_passwords.revoke(account.id, "p1", later)
        assert tx.app_passwords.use(account.id, "coach", "d1", later) is None
        assert tx.app_passwords.revoke_all(account.id, later) == 1
        assert tx.app_passwords.for_account(account.id) == []
