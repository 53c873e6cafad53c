"""AccountRepository."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.storage.conftest import NOW, PROFILE, an_account
from vitalkey.adapters.db.uow import SqlUnitOfWork


def test_create_get_and_by_email_round_trip(store: SqlUnitOfWork) -> None:
    account = an_account(store)
    assert (account.email, account.language, account.profile, account.created_at) == (
        "ann@example.org",
        "en",
        PROFILE,
        NOW,
    )
    assert (account.policy_version, account.policy_accepted_at, account.password_changed_at) == ("2026-01", NOW, None)
    with store.read() as tx:
        assert tx.accounts.get(account.id) == account
        assert tx.accounts.by_email("ann@example.org") == account
        assert tx.accounts.get(account.id + 1) is None
        assert tx.accounts.by_email("bob@example.org") is None


def test_a_second_account_with_the_same_key_is_refused(store: SqlUnitOfWork) -> None:
    an_account(store)
    with store.begin() as tx:
        assert tx.accounts.create("ANN@example.org", "ann@example.org", "de", PROFILE, "2026-01", NOW) is None


def test_profile_and_language_updates(store: SqlUnitOfWork) -> None:
    account = an_account(store)
    taller = replace(PROFILE, height_cm=170.5, first_name="Anne")
    with store.begin() as tx:
        tx.accounts.update_profile(account.id, taller, NOW + timedelta(days=1))
        tx.accounts.set_language(account.id, "fr")
    with store.read() as tx:
        stored = tx.accounts.get(account.id)
    assert stored is not None
    assert (stored.profile, stored.language) == (taller, "fr")
