"""AppRepository."""

from __future__ import annotations

from dataclasses import replace

from tests.storage.conftest import COACH, NOW, an_app
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.apps import App, ClientType


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
