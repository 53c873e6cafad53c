"""The rules of federated sign-in (domain/federation.py): the identity's key, what a finished
upstream sign-in leads to, and when unlinking would leave no way to sign in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vitalkey.domain.accounts import Account
from vitalkey.domain.authenticators import FEDERATED, METHOD_LABELS, StoredAuthenticator
from vitalkey.domain.federation import (
    ADDRESS_UNCONFIRMED,
    CreateAccount,
    LinkNeeded,
    SignInAs,
    address_unconfirmed,
    can_unlink,
    identity_data,
    lookup_of,
    outcome,
)
from vitalkey.domain.two_factor import method_hint

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
GOOGLE = "https://accounts.google.com"
APPLE = "https://appleid.apple.com"
RELAY = "x7k2p9q4zz@privaterelay.appleid.com"


def account(account_id: int = 7, email: str = "ann@example.org", *, password: bool = False) -> Account:
    return Account(account_id, email, NOW, "en", None, "2026-01", NOW, NOW if password else None)


def identity(row_id: int, issuer: str = GOOGLE, *, unconfirmed: bool = False) -> StoredAuthenticator:
    data = identity_data("google", issuer, f"sub-{row_id}", "ann@gmail.com", True, address_unconfirmed=unconfirmed)
    return StoredAuthenticator(
        row_id, 7, FEDERATED, NOW, name="Google", lookup=lookup_of(issuer, f"sub-{row_id}"), data=data
    )


def row(row_id: int, kind: str) -> StoredAuthenticator:
    return StoredAuthenticator(row_id, 7, kind, NOW)


def test_an_identity_is_keyed_by_issuer_and_subject_never_by_address() -> None:
    assert lookup_of(GOOGLE, "1234") == "https://accounts.google.com#1234"
    assert lookup_of(GOOGLE, "1234") != lookup_of(APPLE, "1234")  # one subject, two issuers: two people
    with pytest.raises(ValueError):
        lookup_of(GOOGLE, "")
    with pytest.raises(ValueError):
        lookup_of("", "1234")


def test_a_known_identity_signs_in_to_its_account_whatever_the_address_says() -> None:
    known = identity(3)
    other = account(9, "bob@example.org")
    assert outcome(known, "bob@example.org", True, other) == SignInAs(7, 3)
    assert outcome(known, None, False, None) == SignInAs(7, 3)


def test_a_new_identity_with_a_verified_free_address_creates_an_account_without_code() -> None:
    assert outcome(None, "ann@gmail.com", True, None) == CreateAccount("ann@gmail.com", confirm_by_code=False)
    # Apple's private relay address: an address like any other.
    assert outcome(None, RELAY, True, None) == CreateAccount(RELAY, confirm_by_code=False)


def test_an_unverified_or_missing_address_goes_through_the_emailed_code() -> None:
    assert outcome(None, "ann@gmail.com", False, None) == CreateAccount("ann@gmail.com", confirm_by_code=True)
    # Even when the address is an account's: the sign-up's code tells its owner, and nobody else.
    assert outcome(None, "ann@example.org", False, account()) == CreateAccount("ann@example.org", True)
    assert outcome(None, None, True, None) == CreateAccount(None, confirm_by_code=True)
    assert outcome(None, "", False, None) == CreateAccount(None, confirm_by_code=True)


def test_a_verified_address_of_an_account_is_never_linked_automatically() -> None:
    assert outcome(None, "ann@example.org", True, account()) == LinkNeeded(7, "ann@example.org")
    relay_account = account(8, RELAY)
    assert outcome(None, RELAY, True, relay_account) == LinkNeeded(8, RELAY)


def test_the_last_identity_of_an_account_whose_address_was_never_confirmed_stays() -> None:
    only = identity(1, unconfirmed=True)
    assert not can_unlink(account(), [only], only)
    assert not can_unlink(account(), [only, row(2, "totp"), row(3, "recovery_code"), row(4, "sms")], only)


@pytest.mark.parametrize(
    "left",
    [
        pytest.param("federated", id="another identity"),
        pytest.param("passkey", id="a passkey"),
    ],
)
def test_another_way_to_sign_in_lets_it_go(left: str) -> None:
    only = identity(1, unconfirmed=True)
    other = identity(2, APPLE, unconfirmed=True) if left == FEDERATED else row(2, left)
    assert can_unlink(account(), [only, other], only)


def test_a_password_or_an_address_confirmed_by_code_lets_the_last_identity_go() -> None:
    marked, plain = identity(1, unconfirmed=True), identity(1)
    assert can_unlink(account(password=True), [marked], marked)
    assert can_unlink(account(), [plain], plain)  # the address is the account's way in: the emailed code


def test_the_mark_of_an_unconfirmed_address_is_read_from_every_identity() -> None:
    assert address_unconfirmed([identity(1), identity(2, unconfirmed=True)])
    assert not address_unconfirmed([identity(1), row(2, "passkey")])
    assert identity_data("apple", APPLE, "s", None, False, address_unconfirmed=False) == {
        "provider": "apple",
        "issuer": APPLE,
        "subject": "s",
        "email": None,
        "email_verified": False,
    }
    assert identity(1, unconfirmed=True).data[ADDRESS_UNCONFIRMED] is True


def test_the_method_list_names_an_identity_by_its_provider_and_address() -> None:
    assert METHOD_LABELS[FEDERATED] == "Linked account"
    assert "%" not in METHOD_LABELS[FEDERATED]  # generic pages translate labels without arguments
    assert method_hint(identity(1)) == "Google · ann@gmail.com"
    no_address = StoredAuthenticator(1, 7, FEDERATED, NOW, name="Acme SSO", data={"email": None})
    assert method_hint(no_address) == "Acme SSO"
