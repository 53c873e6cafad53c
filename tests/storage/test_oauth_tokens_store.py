"""TokenRepository."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.storage.conftest import LATER, NOW, a_token_generation, an_account, an_app, an_authorization_code
from vitalkey.adapters.db.uow import SqlUnitOfWork


def test_token_generations_first_use_rotate_and_revoke(store: SqlUnitOfWork) -> None:
    account = an_account(store)
    an_app(store)
    with store.begin() as tx:
        first_id = tx.oauth_tokens.add(a_token_generation(account.id))
        first = replace(a_token_generation(account.id), id=first_id)
        assert tx.oauth_tokens.get(first_id) == first
        assert tx.oauth_tokens.get(first_id + 100) is None
        assert tx.oauth_tokens.legacy_id("unknown") is None
        assert tx.oauth_tokens.rotate(first_id, NOW, retire_at=LATER + timedelta(minutes=1))
        assert tx.oauth_tokens.rotate(first_id, NOW, retire_at=LATER)  # earlier: moved
        assert not tx.oauth_tokens.rotate(first_id, LATER, retire_at=LATER)  # retired by then
        child_id = tx.oauth_tokens.add(a_token_generation(account.id, parent_id=first_id))
        child = replace(a_token_generation(account.id, parent_id=first_id), id=child_id)
        assert tx.oauth_tokens.first_use(child, NOW)
        assert not tx.oauth_tokens.first_use(child, LATER)  # once
        assert tx.oauth_tokens.get(first_id) == replace(first, retire_at=NOW)
        stored_child = tx.oauth_tokens.get(child_id)
        assert stored_child is not None
        assert stored_child.access_used_at == NOW
        other_id = tx.oauth_tokens.add(a_token_generation(account.id, family_id="family-2"))
        assert tx.oauth_tokens.revoke_family(account.id, "coach", "family-1", LATER) == 2
        assert tx.oauth_tokens.revoke_family(account.id, "coach", "family-1", LATER) == 0
        assert not tx.oauth_tokens.rotate(child_id, NOW, LATER)  # revoked
        tx.authorization_codes.add(an_authorization_code(account.id))
        assert tx.oauth_tokens.revoke_app(account.id, "coach", LATER) == 1
        revoked = tx.oauth_tokens.get(other_id)
        assert revoked is not None
        assert revoked.revoked_at == LATER
        assert tx.authorization_codes.use("c1", LATER) is None  # spent with the app's tokens


def test_a_token_is_read_with_its_owner_in_one_statement(store: SqlUnitOfWork) -> None:
    """The resource requests' read: the generation as ``get`` reads it and the account as
    ``accounts.get`` reads it (profile included), from one row; nothing for an unknown id."""
    an_account(store, "first@example.org")  # the owner's id is not the token's
    account = an_account(store)
    an_app(store)
    with store.begin() as tx:
        token_id = tx.oauth_tokens.add(a_token_generation(account.id))
    with store.read() as tx:
        assert tx.oauth_tokens.get_with_owner(token_id) == (tx.oauth_tokens.get(token_id), account)
        assert tx.oauth_tokens.get_with_owner(token_id + 100) is None
    assert account.profile is not None  # the owner's columns, not the token's, were read
