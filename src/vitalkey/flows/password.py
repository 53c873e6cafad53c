"""What every password step shares: the throttle, the rules for a new password, hashing.

Throttling (SECURITY "Enumeration and throttling"; NIST SP 800-63B §3.2.2): consecutive failures
are counted per address — known or not, so that the waits tell nothing — before the password is
checked (a parallel burst cannot outrun the count), with growing waits after the first few and
the password stage closed after ``lockout_failures`` until the mailbox is proved. Attempts per IP
network are limited as well.
"""

from __future__ import annotations

import math
from datetime import datetime

from vitalkey.domain.accounts import Account
from vitalkey.domain.addresses import network_of
from vitalkey.domain.emails import account_key
from vitalkey.domain.errors import PasswordLocked, PasswordThrottled, RateLimited
from vitalkey.domain.flows import Requester
from vitalkey.domain.passwords import check_password, normalize_password, personal_words
from vitalkey.domain.tokens import keyed_digest
from vitalkey.flows.deps import FlowDeps
from vitalkey.ports import Transaction


def throttle_key(deps: FlowDeps, email: str) -> str:
    return keyed_digest(deps.secret, "password:" + account_key(email))


def count_attempt(deps: FlowDeps, tx: Transaction, email: str, req: Requester, now: datetime) -> None:
    """Refuse while the address waits or is locked; otherwise count this attempt as a failure
    (cleared by :func:`succeeded`) and set the wait that follows it if it fails."""
    count, window = deps.password_limit_per_ip
    if not deps.limiter.hit(tx, "password:ip:" + network_of(req.ip), count, window, now):
        raise RateLimited()
    policy = deps.password_policy
    key = throttle_key(deps, email)
    consecutive, blocked_until = tx.passwords.failures(key)
    if consecutive >= policy.lockout_failures:
        raise PasswordLocked()
    if now < blocked_until:
        raise PasswordThrottled(seconds=math.ceil((blocked_until - now).total_seconds()))
    consecutive, _ = tx.passwords.count_failure(key)
    wait = policy.wait_after(consecutive)
    if wait:
        tx.passwords.block(key, now + wait)


def succeeded(deps: FlowDeps, tx: Transaction, email: str) -> None:
    """A right password, or proof of the mailbox (an emailed code, a reset): the count restarts."""
    tx.passwords.clear_failures(throttle_key(deps, email))


def check_new_password(deps: FlowDeps, password: str, account: Account) -> str:
    """The NFKC form of an acceptable new password, or PasswordRejected with the reason."""
    normalized = normalize_password(password)
    names = (account.profile.first_name, account.profile.last_name) if account.profile else ()
    check_password(
        normalized,
        deps.password_policy,
        is_common=deps.is_common_password,
        personal=personal_words(account.email, names),
    )
    return normalized
