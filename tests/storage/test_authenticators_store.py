"""AuthenticatorRepository, on both engines: the unique rules, and the conditional writes that
guard a secret (a recovery code used once, a TOTP step or passkey count only forward)."""

from __future__ import annotations

from dataclasses import replace

from tests.storage.conftest import LATER, NOW, an_account
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.authenticators import StoredAuthenticator


def sms(account_id: int, **changes: object) -> StoredAuthenticator:
    row = StoredAuthenticator(0, account_id, "sms", NOW, is_default=True, data={"phone": "+33612345678"})
    return replace(row, **changes)  # type: ignore[arg-type]


def recovery(account_id: int, digest: str = "digest-1") -> StoredAuthenticator:
    return StoredAuthenticator(0, account_id, "recovery_code", NOW, lookup=digest, sealed="sealed-1")


def passkey(account_id: int, credential: str) -> StoredAuthenticator:
    return StoredAuthenticator(0, account_id, "passkey", NOW, name="Phone", lookup=credential, data={"aaguid": "x"})


def test_add_read_back_and_the_unique_rules(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    with store.begin() as tx:
        assert tx.authenticators.for_account(ann) == []
        text = tx.authenticators.add(sms(ann))
        code = tx.authenticators.add(recovery(ann))
        assert text is not None and code is not None and text.id != code.id
        assert text == replace(sms(ann), id=text.id)
        assert tx.authenticators.for_account(ann) == [text, code]
        assert tx.authenticators.get(ann, text.id) == text
        assert tx.authenticators.get(bob, text.id) is None  # another account's
        assert tx.authenticators.by_lookup("recovery_code", "digest-1") == code
        assert tx.authenticators.by_lookup("passkey", "digest-1") is None
        assert tx.authenticators.add(sms(ann, is_default=False, data={"phone": "+33700000000"})) is None  # one SMS
        assert tx.authenticators.add(recovery(bob, "digest-1")) is None  # the lookup is taken
        assert tx.authenticators.add(sms(bob)) is not None  # no lookup: many accounts have SMS
        first = tx.authenticators.add(passkey(ann, "cred-1"))
        second = tx.authenticators.add(passkey(ann, "cred-2"))  # several passkeys
        assert first is not None and second is not None
        assert tx.authenticators.add(replace(passkey(ann, "cred-3"), is_default=True)) is None  # one default
        assert [row.kind for row in tx.authenticators.for_account(ann)] == [
            "sms",
            "recovery_code",
            "passkey",
            "passkey",
        ]


def test_advance_only_forward_touch_and_set_data(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    with store.begin() as tx:
        key = tx.authenticators.add(passkey(ann, "cred-1"))
        assert key is not None
        assert tx.authenticators.advance(key.id, 5, NOW)
        assert not tx.authenticators.advance(key.id, 5, LATER)  # replayed
        assert not tx.authenticators.advance(key.id, 4, LATER)  # backwards
        assert tx.authenticators.advance(key.id, 6, LATER)
        assert tx.authenticators.set_data(key.id, {"aaguid": "x", "backed_up": True})
        assert tx.authenticators.touch(key.id, NOW)
        assert tx.authenticators.get(ann, key.id) == replace(
            key, counter=6, last_used_at=NOW, data={"aaguid": "x", "backed_up": True}
        )
        assert not tx.authenticators.touch(key.id + 100, NOW)


def test_swap_secret_once_rename_default_and_remove(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    with store.begin() as tx:
        text = tx.authenticators.add(sms(ann))
        code = tx.authenticators.add(recovery(ann))
        key = tx.authenticators.add(passkey(ann, "cred-1"))
        assert text is not None and code is not None and key is not None
        assert not tx.authenticators.swap_secret(code.id, "not-it", "digest-2", "sealed-2", LATER)
        assert tx.authenticators.swap_secret(code.id, "digest-1", "digest-2", "sealed-2", LATER)
        assert not tx.authenticators.swap_secret(code.id, "digest-1", "digest-3", "sealed-3", LATER)  # used once
        assert tx.authenticators.get(ann, code.id) == replace(
            code, lookup="digest-2", sealed="sealed-2", created_at=LATER
        )

        assert tx.authenticators.rename(ann, key.id, "Laptop")
        assert not tx.authenticators.rename(bob, key.id, "Mine")
        assert not tx.authenticators.set_default(ann, code.id)  # never the recovery code
        assert not tx.authenticators.set_default(bob, key.id)  # not bob's: ann's default stays
        assert tx.authenticators.set_default(ann, key.id)
        rows = {row.id: row for row in tx.authenticators.for_account(ann)}
        assert (rows[text.id].is_default, rows[key.id].is_default, rows[key.id].name) == (False, True, "Laptop")

        assert not tx.authenticators.remove(bob, key.id)
        assert tx.authenticators.remove(ann, key.id)
        assert tx.authenticators.remove_kind(ann, "sms") == 1
        assert tx.authenticators.remove_kind(ann, "sms") == 0
        assert [row.kind for row in tx.authenticators.for_account(ann)] == ["recovery_code"]


def test_an_accounts_authenticators_go_with_it(store: SqlUnitOfWork) -> None:
    ann = an_account(store)
    with store.begin() as tx:
        assert tx.authenticators.add(sms(ann.id)) is not None
        assert tx.accounts.delete(ann.id)
        assert tx.authenticators.for_account(ann.id) == []
