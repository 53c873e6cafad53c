"""Running a unit of work again when PostgreSQL aborted its transaction for a conflict with
another one: a serialization failure (SQLSTATE 40001) or a deadlock (40P01). Such a transaction
was rolled back whole and the same work in a fresh transaction may well succeed; any other
failure (a lost connection included) is not retried here.

Only whole units are retried (see :class:`Attempt`): the work runs again from its start, in new
transactions, never from the middle. SQLite needs none of this: its writers queue on one lock
(``engine.writing``), and its reads never wait for the writer.
"""

from __future__ import annotations

import contextvars
import random
from dataclasses import dataclass

# The conflicts PostgreSQL resolves by aborting one of the transactions; the name is the metric's.
RETRIED_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most ``attempts`` runs of a unit; before each further run a pause that doubles from
    ``first_delay_s`` (up to ``max_delay_s``), half of it random so that the transactions that
    conflicted do not meet again in step."""

    attempts: int = 5
    first_delay_s: float = 0.004
    max_delay_s: float = 0.1

    def delay(self, retry: int) -> float:
        """The pause before retry number ``retry`` (1, 2, …)."""
        ceiling = min(self.max_delay_s, self.first_delay_s * 2.0 ** (retry - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # jitter, not a secret


def retried_sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a conflict worth another attempt, if ``error`` is one or was raised
    while handling one (its transaction was aborted all the same)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        sqlstate = getattr(current, "sqlstate", None)  # psycopg's errors
        if sqlstate is None:
            sqlstate = getattr(getattr(current, "orig", None), "sqlstate", None)  # SQLAlchemy's wrappers
        if sqlstate in RETRIED_SQLSTATES:
            return str(sqlstate)
        current = current.__cause__ or current.__context__
    return None


class Attempt:
    """One run of a unit of work. A unit whose work runs several transactions (a read, then a
    write) is retried only while none of its write transactions has committed: running it
    again must not repeat what is already stored."""

    __slots__ = ("committed", "enqueued")

    def __init__(self) -> None:
        self.committed = False
        self.enqueued = False  # one of its committed transactions queued mail: wake the relay


# The attempt the running work belongs to (set in the worker thread for its call only).
attempt: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar("vitalkey_attempt", default=None)


def committed_write() -> None:
    """Record that the running unit's write transaction committed."""
    current = attempt.get()
    if current is not None:
        current.committed = True
