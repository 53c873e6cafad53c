"""Portal accounts on SQLite and PostgreSQL: argon2id, throttled sign-in, browser sessions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.engine import Engine

from vitalkey_portal.accounts import AccountError, Accounts
from vitalkey_portal.db.tables import browser_sessions, users
from vitalkey_portal.ports import Throttled

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # still argon2id, cheap for tests


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def engine(portal_engine: Engine) -> Engine:
    """The migrated portal database, on SQLite and on PostgreSQL (tests/portal/conftest.py)."""
    return portal_engine


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(engine: Engine, clock: Callable[[], datetime]) -> Accounts:
    return Accounts(engine, "5/900", now=clock, hasher=FAST)


def test_a_user_is_kept_casefolded_with_an_argon2id_hash(accounts: Accounts, engine: Engine) -> None:
    user = accounts.create("  Alice.Martin ", "correct horse", "Alice Martin", "Europe/Paris")
    assert (user.username, user.display_name, user.timezone) == ("alice.martin", "Alice Martin", "Europe/Paris")
    with engine.connect() as conn:
        stored = conn.execute(select(users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert accounts.user(user.id) == user
    assert accounts.sign_in("ALICE.MARTIN", "correct horse", "10.0.0.1") == user


@pytest.mark.parametrize(
    ("username", "password", "display", "zone", "message"),
    [
        ("bob", "short", "Bob", "UTC", "8 to 1024 characters"),
        ("b ob", "long enough", "Bob", "UTC", "without spaces"),
        ("", "long enough", "Bob", "UTC", "without spaces"),
        ("bob", "long enough", "  ", "UTC", "display name"),
        ("bob", "long enough", "Bob", "Mars/Olympus", "Unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_account_values_are_refused_with_the_reason(
    accounts: Accounts, username: str, password: str, display: str, zone: str, message: str
) -> None:
    with pytest.raises(AccountError, match=message):
        accounts.create(username, password, display, zone)


def test_a_taken_username_is_refused(accounts: Accounts) -> None:
    accounts.create("carol", "password one", "Carol", "UTC")
    with pytest.raises(AccountError, match="'carol' is taken"):
        accounts.create("CAROL", "password two", "Carol B", "UTC")


def test_wrong_password_and_unknown_user_both_give_none(accounts: Accounts) -> None:
    accounts.create("dave", "right password", "Dave", "UTC")
    assert accounts.sign_in("dave", "wrong password", "10.0.0.2") is None
    assert accounts.sign_in("nobody", "right password", "10.0.0.2") is None


def test_five_failures_for_a_username_throttle_it_until_the_window_ends(accounts: Accounts, clock: Clock) -> None:
    accounts.create("erin", "right password", "Erin", "UTC")
    for attempt in range(5):
        clock.at += timedelta(seconds=10)
        assert accounts.sign_in("erin", f"wrong {attempt}", f"10.1.0.{attempt}") is None
    # The right password is refused too while throttled: the limit is on guesses, not outcomes.
    with pytest.raises(Throttled) as caught:
        accounts.sign_in("Erin", "right password", "10.9.9.9")
    assert caught.value.retry_after_s == 900 - 40  # the first failure was 40 s before the last
    clock.at += timedelta(seconds=861)
    assert accounts.sign_in("erin", "right password", "10.9.9.9") is not None


def test_five_failures_from_one_address_throttle_that_address_for_any_name(accounts: Accounts, clock: Clock) -> None:
    accounts.create("frank", "right password", "Frank", "UTC")
    for attempt in range(5):
        assert accounts.sign_in(f"guess{attempt}", "whatever1", "192.0.2.7") is None
    with pytest.raises(Throttled):
        accounts.sign_in("frank", "right password", "192.0.2.7")
    assert accounts.sign_in("frank", "right password", "192.0.2.8") is not None


def test_a_success_clears_the_usernames_failures(accounts: Accounts) -> None:
    accounts.create("gina", "right password", "Gina", "UTC")
    for attempt in range(4):
        assert accounts.sign_in("gina", "wrong", f"10.2.0.{attempt}") is None
    assert accounts.sign_in("gina", "right password", "10.2.1.1") is not None
    for attempt in range(4):
        assert accounts.sign_in("gina", "wrong", f"10.3.0.{attempt}") is None
    assert accounts.sign_in("gina", "right password", "10.3.1.1") is not None


def test_a_session_is_kept_hashed_carries_a_csrf_token_and_ends_after_12_hours(
    accounts: Accounts, engine: Engine, clock: Clock
) -> None:
    user = accounts.create("hank", "right password", "Hank", "America/New_York")
    cookie, opened = accounts.open_session(user.id)
    assert len(cookie) >= 43 and len(opened.csrf_token) >= 43
    with engine.connect() as conn:
        stored = conn.execute(select(browser_sessions.c.id_hash)).scalar_one()
    assert stored != cookie and len(stored) == 64
    found = accounts.session(cookie)
    assert found is not None and found.user == user and found.csrf_token == opened.csrf_token
    assert accounts.session(cookie + "x") is None
    clock.at += timedelta(hours=11, minutes=59)
    assert accounts.session(cookie) is not None
    clock.at += timedelta(minutes=2)
    assert accounts.session(cookie) is None


def test_closing_a_session_ends_it(accounts: Accounts) -> None:
    user = accounts.create("ivy", "right password", "Ivy", "UTC")
    cookie, _ = accounts.open_session(user.id)
    accounts.close_session(cookie)
    assert accounts.session(cookie) is None
