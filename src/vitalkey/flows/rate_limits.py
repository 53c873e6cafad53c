"""Counting against the rate limiter, and the failures per address across every factor.

NIST SP 800-63B §3.2.2 caps the consecutive failed attempts on one account at 100, across its
authenticators. Here wrong passwords, wrong emailed or texted codes and wrong recovery codes are
counted together per address (a keyed digest: the same for known and unknown addresses) in a
sliding window (``code_failures_per_address``). An attempt is counted before it is judged, so
that a parallel burst cannot outrun the count, and a right answer takes its own count back; the
earlier failures stay until they leave the window, even after a success. So whoever guesses gets
at most ``limit`` wrong guesses per window, however they mix the factors and however often the
owner signs in meanwhile. Past the limit every factor is refused, the right one too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vitalkey.domain.emails import account_key
from vitalkey.domain.errors import DomainError, TooManyCodeFailures, wait_seconds
from vitalkey.domain.tokens import keyed_digest
from vitalkey.flows.deps import FlowDeps
from vitalkey.ports import Transaction


def take(
    deps: FlowDeps,
    tx: Transaction,
    key: str,
    limit: tuple[int, int],
    now: datetime,
    refusal: type[DomainError],
    /,
    **params: Any,
) -> None:
    """Count one hit of ``limit`` (count, seconds); when it is used up, raise ``refusal`` with
    the whole seconds until a hit can succeed (the answer's Retry-After)."""
    count, window = limit
    retry_at = deps.limiter.hit(tx, key, count, window, now)
    if retry_at is not None:
        raise refusal(seconds=wait_seconds(retry_at, now), **params)


def _failure_key(deps: FlowDeps, email: str) -> str:
    return "codefail:" + keyed_digest(deps.secret, account_key(email))


def count_failure(deps: FlowDeps, tx: Transaction, email: str, now: datetime) -> None:
    """Count an attempt at any factor as a failure before it is judged; refuse it
    (``TooManyCodeFailures``) when the address's window already holds the limit."""
    take(deps, tx, _failure_key(deps, email), deps.code_failure_limit, now, TooManyCodeFailures)


def forgive_failure(deps: FlowDeps, tx: Transaction, email: str, counted_at: datetime) -> None:
    """The attempt counted at ``counted_at`` was right (or no guess at all): take its count back."""
    deps.limiter.forgive(tx, _failure_key(deps, email), deps.code_failure_limit[1], counted_at)
