"""Group commit for SQLite on the event loop.

SQLite has one writer at a time, and each commit costs a WAL write. When the server runs its
flows inline on the event loop, the requests that are ready together share one write
transaction: the write lock is awaited without blocking the loop (a helper thread waits for it
when another process holds it), each request's unit of work runs in its own SAVEPOINT inside
the shared transaction, and one COMMIT ends the batch in the next turn of the loop. No request
is answered before the commit that holds its writes: :meth:`GroupCommit.run` returns only then.

Requests in a batch run one after another on one connection, so they see each other's writes
exactly as they would in separate transactions run in that order; a failed unit of work rolls
back to its savepoint and leaves the others alone; a failed COMMIT fails every request of the
batch.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine

from vitalkey.adapters.db.engine import SqliteWriteLock, write_lock

P = ParamSpec("P")
R = TypeVar("R")


class Batch:
    """The open shared transaction of one event loop."""

    def __init__(self, engine: Engine, connection: Any, committed: asyncio.Future[None]) -> None:
        self.engine = engine
        self.connection = connection
        self.dbapi_connection = connection.dbapi_connection  # the units' cursors come from it directly
        self.cursor = self.dbapi_connection.cursor()
        self.committed = committed
        self.open = True
        self.awaited = 0  # woken waiters whose units have not run yet (0: end in the next turn)
        self.memo: dict[str, Any] = {}  # what the transaction read and may read again (uow.Db)

    @contextmanager
    def savepoint(self) -> Iterator[Any]:
        self.cursor.execute("SAVEPOINT unit")
        try:
            yield self.dbapi_connection
        except BaseException:
            self.cursor.execute("ROLLBACK TO unit")
            self.cursor.execute("RELEASE unit")
            self.memo.clear()  # it may hold what the unit wrote
            raise
        self.cursor.execute("RELEASE unit")


# The batch that the running unit of work joined (set by GroupCommit.run for its call only).
joined: contextvars.ContextVar[Batch | None] = contextvars.ContextVar("vitalkey_batch", default=None)


class GroupCommit:
    """Batches the write transactions of one event loop (one per loop and database)."""

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop) -> None:
        self.engine = engine
        self.loop = loop
        self.lock: SqliteWriteLock = write_lock(engine)
        self.batch: Batch | None = None
        self.waiters: list[asyncio.Future[None]] = []
        self.acquiring = False
        self.commits = 0  # batches ended, and units of work run in them: the batching achieved
        self.units = 0
        self.helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vitalkey-write-lock")

    async def run(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``function`` (blocking database work) inside the loop's batch; return after the
        batch's COMMIT, or raise what the function or the COMMIT raised."""
        while self.batch is None:
            await self._wait_for_batch()
        batch = self.batch
        self.units += 1
        token = joined.set(batch)
        try:
            result = function(*args, **kwargs)
        except BaseException:
            self._unit_done(batch)
            await asyncio.shield(batch.committed)
            raise
        finally:
            joined.reset(token)
        self._unit_done(batch)
        await asyncio.shield(batch.committed)
        return result

    def _unit_done(self, batch: Batch) -> None:
        """A batch opened after a wait ends as soon as the units that waited for it have run:
        another process is waiting for the lock."""
        if batch.awaited:
            batch.awaited -= 1
            if batch.awaited == 0:
                self._flush(batch)

    async def _wait_for_batch(self) -> None:
        waiter = self.loop.create_future()
        self.waiters.append(waiter)
        if not self.acquiring:
            self.acquiring = True
            if self.lock.try_acquire():
                self._open(waited=False)
            else:
                self.loop.run_in_executor(self.helper, self.lock.acquire).add_done_callback(self._acquired)
        await waiter

    def _acquired(self, done: asyncio.Future[None]) -> None:
        error = done.exception()
        if error is not None:
            self._fail_waiters(error)
        else:
            self._open(waited=True)

    def _open(self, *, waited: bool) -> None:
        try:
            connection = self.engine.raw_connection()
            try:
                connection.cursor().execute("BEGIN IMMEDIATE")
            except BaseException:
                connection.close()
                raise
        except Exception as error:
            self.lock.release()
            self._fail_waiters(error)
            return
        batch = self.batch = Batch(self.engine, connection, self.loop.create_future())
        self.acquiring = False
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:  # each waiter runs its unit of work before the flush below
            if not waiter.done():
                waiter.set_result(None)
                batch.awaited += waited
        self.loop.call_soon(self._flush, batch)  # at the latest; units joining in this turn share it

    def _fail_waiters(self, error: BaseException) -> None:
        self.acquiring = False
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)

    def _flush(self, batch: Batch) -> None:
        if not batch.open:
            return
        self.batch = None
        batch.open = False
        self.commits += 1
        try:
            batch.connection.commit()
        except Exception as error:
            batch.connection.rollback()
            batch.committed.set_exception(error)
        else:
            batch.committed.set_result(None)
        finally:
            batch.connection.close()  # back to the pool
            self.lock.release()

    @property
    def busy(self) -> bool:
        """Whether this loop holds, or is waiting for, the write lock."""
        return self.acquiring or self.batch is not None

    def close(self) -> None:
        self.helper.shutdown(wait=False)
