"""Group commit for SQLite on the event loop.

SQLite has one writer at a time, and each commit costs a WAL write. When the server runs its
flows inline on the event loop, the requests that are ready together share one write
transaction: their units of work are queued during a turn of the loop, and at the start of the
next turn the write lock is taken (without blocking the loop: a helper thread waits for it when
another process holds it), the queued units run one after another, each in its own SAVEPOINT of
one transaction, and one COMMIT ends the batch. No request is answered before the commit that
holds its writes: :meth:`GroupCommit.run` returns only then.

The lock is held only while the units run and commit, never while the loop serves HTTP, so
several server processes spend little time waiting for each other. Units in a batch see each
other's writes exactly as they would in separate transactions run in that order; a failed unit
of work rolls back to its savepoint and leaves the others alone (a refusal that keeps its
count, ``CountedRefusal``, releases it instead); a failed COMMIT fails every
request of the batch. A unit whose caller was cancelled before the batch ran is not run.

Work that only reads is batched the same way (``write=False``): the units of a turn share one
read transaction, without the lock (WAL readers never wait for the writer) or savepoints.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine

from vitalkey.adapters.db.engine import SqliteWriteLock, write_lock
from vitalkey.domain.flows import CountedRefusal

P = ParamSpec("P")
R = TypeVar("R")


class Batch:
    """The shared transaction that the queued units of one turn run in (or, without savepoints,
    the one transaction of a single piece of work that reads, then writes)."""

    def __init__(self, engine: Engine, connection: Any, *, writable: bool = True, savepoints: bool = True) -> None:
        self.engine = engine
        self.connection = connection
        self.writable = writable
        self.savepoints = savepoints and writable  # without them, a failing unit fails the transaction
        self.dbapi_connection = connection.dbapi_connection  # the units' cursors come from it directly
        self.cursor = self.dbapi_connection.cursor()
        self.open = True
        self.memo: dict[str, Any] = {}  # what the transaction read and may read again (statements.Db)
        self.on_commit: set[Callable[[], None]] = set()  # each called once after the COMMIT

    def committed(self) -> None:
        for callback in self.on_commit:
            callback()

    @contextmanager
    def savepoint(self) -> Iterator[Any]:
        """One unit's part of the transaction (nothing to undo in a read-only batch)."""
        if not self.savepoints:  # a CountedRefusal goes on to the transaction's owner, which commits
            yield self.dbapi_connection
            return
        self.cursor.execute("SAVEPOINT unit")
        try:
            yield self.dbapi_connection
        except CountedRefusal as refusal:  # the unit's writes stay; its caller gets the refusal
            self.cursor.execute("RELEASE unit")
            raise refusal.error from None
        except BaseException:
            self.cursor.execute("ROLLBACK TO unit")
            self.cursor.execute("RELEASE unit")
            self.memo.clear()  # it may hold what the unit wrote
            raise
        self.cursor.execute("RELEASE unit")


# The batch that the running unit of work joined (set by GroupCommit for its call only).
joined: contextvars.ContextVar[Batch | None] = contextvars.ContextVar("vitalkey_batch", default=None)


@dataclass(slots=True)
class Unit:
    """A queued call, with its caller's context (request id for the logs) and its answer."""

    call: Callable[[], Any]
    context: contextvars.Context
    answer: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None


class GroupCommit:
    """Batches the write transactions of one event loop (one per loop and database), or with
    ``write=False`` its read-only work."""

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop, *, write: bool = True) -> None:
        self.engine = engine
        self.loop = loop
        self.write = write
        self.lock: SqliteWriteLock | None = write_lock(engine) if write else None
        self.queue: list[Unit] = []
        self.scheduled = False  # a flush is due in the next turn
        self.acquiring = False  # the helper thread is waiting for the lock
        self.commits = 0  # batches ended, and units of work run in them: the batching achieved
        self.units = 0
        self.helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vitalkey-write-lock")

    async def run(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``function`` (blocking database work) in the next batch; return after the batch's
        COMMIT, or raise what the function or the COMMIT raised."""
        answer: asyncio.Future[R] = self.loop.create_future()
        self.queue.append(Unit(lambda: function(*args, **kwargs), contextvars.copy_context(), answer))
        if not self.scheduled and not self.acquiring:
            self.scheduled = True
            self.loop.call_soon(self._flush)
        return await answer

    def _flush(self) -> None:
        self.scheduled = False
        if not self.queue or self.acquiring:
            return
        try:
            free = self.lock is None or self.lock.try_acquire()
        except Exception as error:  # the lock cannot be taken at all: every queued unit fails
            units, self.queue = self.queue, []
            self._answer(units, error)
            return
        if free:
            self._run_batch()
        elif self.lock is not None:  # another process (or the relay thread) writes: wait off the loop
            self.acquiring = True
            self.loop.run_in_executor(self.helper, self.lock.acquire).add_done_callback(self._acquired)

    def _acquired(self, done: asyncio.Future[None]) -> None:  # with a lock only
        self.acquiring = False
        error = done.exception()
        if error is not None:
            units, self.queue = self.queue, []
            self._answer(units, error)
        else:
            self._run_batch()

    def _run_batch(self) -> None:
        """With the write lock held (if writing): run the queued units in one transaction,
        commit, answer."""
        units, self.queue = [unit for unit in self.queue if not unit.answer.cancelled()], []
        try:
            failure = self._transaction(units) if units else None
        finally:
            if self.lock is not None:
                self.lock.release()
        self._answer(units, failure)

    def _transaction(self, units: list[Unit]) -> BaseException | None:
        """The batch's transaction; what made it fail, if it did."""
        try:
            connection = self.engine.raw_connection()
        except Exception as error:
            return error
        try:
            connection.cursor().execute("BEGIN IMMEDIATE" if self.write else "BEGIN")
            batch = Batch(self.engine, connection, writable=self.write)
            for unit in units:
                unit.context.run(self._run_unit, batch, unit)
            batch.open = False
            self.commits += 1
            self.units += len(units)
            connection.commit()
        except Exception as error:
            connection.rollback()
            return error
        finally:
            connection.close()  # back to the pool
        batch.committed()
        return None

    @staticmethod
    def _run_unit(batch: Batch, unit: Unit) -> None:
        token = joined.set(batch)
        try:
            unit.result = unit.call()
        except Exception as error:  # the unit's own failure: its savepoint is rolled back
            unit.error = error
        finally:
            joined.reset(token)

    @staticmethod
    def _answer(units: list[Unit], failure: BaseException | None) -> None:
        for unit in units:
            if unit.answer.done():
                continue
            error = failure or unit.error
            if error is not None:
                unit.answer.set_exception(error)
            else:
                unit.answer.set_result(unit.result)
        units.clear()  # no reference cycles through the answers' tracebacks

    @property
    def busy(self) -> bool:
        """Whether this loop has units waiting for the write lock (a direct write on its thread
        could wait for the helper thread that holds it for them)."""
        return self.acquiring or bool(self.queue)

    def close(self) -> None:
        self.helper.shutdown(wait=False)
