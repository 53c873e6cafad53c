"""What every password step shares: the throttle, the rules for a new password, hashing.

Throttling (SECURITY "Enumeration and throttling"; NIST SP 800-63B §3.2.2): consecutive failures
are counted per address — known or not, so that the waits tell nothing — before the password is
checked (a parallel burst cannot outrun the count), with growing waits after the first few and
the password stage closed after ``lockout_failures`` until the mailbox is proved. Attempts per IP
network are limited as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import anyio

from vitalkey.domain.accounts import Account, mail_names
from vitalkey.domain.addresses import network_of
from vitalkey.domain.emails import account_key
from vitalkey.domain.errors import PasswordLocked, PasswordThrottled, RateLimited, wait_seconds
from vitalkey.domain.flows import Requester
from vitalkey.domain.passwords import Strength, check_password, normalize_password, personal_words, rate
from vitalkey.domain.tokens import keyed_digest, new_token
from vitalkey.flows import rate_limits
from vitalkey.flows.deps import FlowDeps
from vitalkey.ports import OutgoingMail, Transaction


def throttle_key(deps: FlowDeps, email: str) -> str:
    return keyed_digest(deps.secret, "password:" + account_key(email))


def count_attempt(deps: FlowDeps, tx: Transaction, email: str, requester: Requester, now: datetime) -> None:
    """Refuse while the address waits or is locked; otherwise count this attempt as a failure
    (cleared by :func:`succeeded`) and set the wait that follows it if it fails."""
    rate_limits.take(deps, tx, "password:ip:" + network_of(requester.ip), deps.password_limit_per_ip, now, RateLimited)
    policy = deps.password_policy
    key = throttle_key(deps, email)
    consecutive, blocked_until = tx.password_failures.get(key)
    if consecutive >= policy.lockout_failures:
        raise PasswordLocked()
    if now < blocked_until:
        raise PasswordThrottled(seconds=wait_seconds(blocked_until, now))
    rate_limits.count_failure(deps, tx, email, now)  # the cap across every factor; a right password forgives it
    consecutive, _ = tx.password_failures.count(key)
    wait = policy.wait_after(consecutive)
    if wait:
        tx.password_failures.block(key, now + wait)


def right_password(deps: FlowDeps, tx: Transaction, email: str, counted_at: datetime) -> None:
    """The attempt counted at ``counted_at`` was right: the consecutive failures restart and the
    attempt leaves the failures across factors."""
    succeeded(deps, tx, email)
    rate_limits.forgive_failure(deps, tx, email, counted_at)


def succeeded(deps: FlowDeps, tx: Transaction, email: str) -> None:
    """A right password, or proof of the mailbox (an emailed code, a reset): the count restarts."""
    tx.password_failures.clear(throttle_key(deps, email))


@dataclass(frozen=True, slots=True)
class Typist:
    """What a page knows of whoever types a new password, where it has no account at hand (the
    live meter): the address, and on the account page the names and birth date it shows."""

    email: str = ""
    names: Sequence[str] = ()
    birth_date: date | None = None


def own_words(deps: FlowDeps, who: Account | Typist) -> list[str]:
    """What a password must not be built from: the user's names, address and birth date, and
    the service's name."""
    context = deps.password_policy.context_words
    if isinstance(who, Typist):
        return personal_words(who.email, who.names, who.birth_date, context)
    account, profile = who, who.profile
    names = (profile.first_name, profile.last_name) if profile else ()
    return personal_words(account.email, names, profile.birth_date if profile else None, context)


async def check_new_password(deps: FlowDeps, password: str, account: Account) -> str:
    """The NFKC form of an acceptable new password, or PasswordRejected with the reason. In a
    worker thread: zxcvbn takes 10-30 ms of CPU."""
    normalized = normalize_password(password)
    await anyio.to_thread.run_sync(
        lambda: check_password(
            normalized, deps.password_policy, is_common=deps.is_common_password, personal=own_words(deps, account)
        )
    )
    return normalized


ESTIMATES_PER_IP = (600, 3600)  # the meter asks as the user types; zxcvbn costs 10-30 ms of CPU


def count_estimate(deps: FlowDeps, requester: Requester) -> None:
    """Refuse the meter to a network that asks far more often than typing would."""
    with deps.uow.begin() as tx:
        rate_limits.take(
            deps, tx, "strength:ip:" + network_of(requester.ip), ESTIMATES_PER_IP, deps.clock.now(), RateLimited
        )


def strength_of(deps: FlowDeps, password: str, who: Account | Typist = Typist()) -> Strength:
    """The meter's estimate, with the same user data as the rules (at most "Weak" if refused)."""
    return rate(
        normalize_password(password),
        deps.password_policy,
        is_common=deps.is_common_password,
        personal=own_words(deps, who),
    )


def notify_changed(
    deps: FlowDeps, tx: Transaction, account: Account, event: str, now: datetime, *, sessions_ended: bool
) -> None:
    """Mail the account whenever its password is set, changed or reset (``event``)."""
    tx.outbox.enqueue(
        OutgoingMail(
            to=account.email,
            template="password_changed",
            language=account.language,
            context={
                "event": event,
                "when": now.strftime("%Y-%m-%d %H:%M UTC"),
                **mail_names(account),
                "sessions_ended": sessions_ended,
            },
            idempotency_key=f"password_changed:{account.id}:{new_token(12)}",
        ),
        now,
    )
    tx.audit.record(f"password.{event}", now, account.id, sessions_ended=sessions_ended)
