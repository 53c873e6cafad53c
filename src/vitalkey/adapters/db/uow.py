"""The unit of work: one DBAPI connection (from SQLAlchemy's pool) per transaction, and the
repositories of :mod:`vitalkey.adapters.db.repositories` made on it when first used."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, Generic, ParamSpec, TypeVar

import anyio.to_thread
from sqlalchemy import Engine

from vitalkey.adapters.db.batch import Batch, GroupCommit, joined
from vitalkey.adapters.db.engine import is_sqlite, writing
from vitalkey.adapters.db.repositories.accounts import SqlAccounts
from vitalkey.adapters.db.repositories.activity import SqlActivity
from vitalkey.adapters.db.repositories.apps import SqlAppPasswords, SqlApps
from vitalkey.adapters.db.repositories.audit import SqlAudit
from vitalkey.adapters.db.repositories.authenticators import SqlAuthenticators
from vitalkey.adapters.db.repositories.codes import SqlCodes
from vitalkey.adapters.db.repositories.consents import SqlConsents
from vitalkey.adapters.db.repositories.counters import SqlCounters
from vitalkey.adapters.db.repositories.dashboard_prefs import SqlDashboardPrefs
from vitalkey.adapters.db.repositories.data_exports import SqlDataExports
from vitalkey.adapters.db.repositories.deliveries import SqlDeliveries
from vitalkey.adapters.db.repositories.devices import SqlDevices
from vitalkey.adapters.db.repositories.flows import SqlFlows
from vitalkey.adapters.db.repositories.goals import SqlGoals
from vitalkey.adapters.db.repositories.heart import SqlHeart
from vitalkey.adapters.db.repositories.intraday import SqlIntraday
from vitalkey.adapters.db.repositories.measures import SqlMeasureGroups
from vitalkey.adapters.db.repositories.nonces import SqlNonces
from vitalkey.adapters.db.repositories.oauth_grants import SqlAuthorizationCodes, SqlOAuthTokens
from vitalkey.adapters.db.repositories.outbox import SqlOutbox
from vitalkey.adapters.db.repositories.passwords import SqlPasswordFailures, SqlPasswordHashes, SqlPasswordResets
from vitalkey.adapters.db.repositories.receipts import SqlReceipts
from vitalkey.adapters.db.repositories.sessions import SqlSessions
from vitalkey.adapters.db.repositories.signing_keys import SqlSigningKeys
from vitalkey.adapters.db.repositories.sleep import SqlSleep
from vitalkey.adapters.db.repositories.subscriptions import SqlSubscriptions
from vitalkey.adapters.db.repositories.workouts import SqlWorkouts
from vitalkey.adapters.db.retry import Attempt, RetryPolicy, attempt, committed_write, retried_sqlstate
from vitalkey.adapters.db.statements import Db
from vitalkey.adapters.db.unavailable import storage_errors, unreachable
from vitalkey.domain.flows import CountedRefusal
from vitalkey.observability import DB_RETRIES, DB_RETRIES_EXHAUSTED, logger
from vitalkey.ports import DatabaseBusy, Pending

log = logger("vitalkey.db")

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
WORKER_THREADS = 8  # units of work in worker threads at once, per event loop (see SqlUnitOfWork._threads)


class _Repository(Generic[T]):
    """A repository made when a transaction first uses it, then kept on the transaction:
    ``functools.cached_property`` without the lock it takes on every access before Python 3.12,
    which cost more than making the repository."""

    def __init__(self, make: Callable[[Db], T]) -> None:
        self.make = make
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, tx: SqlTransaction, owner: type | None = None) -> T:
        repository = tx.__dict__[self.name] = self.make(tx.db)
        return repository


class SqlTransaction:
    """The repositories of one transaction, each made when first used (most units use two)."""

    def __init__(self, db: Db) -> None:
        self.db = db

    flows = _Repository(SqlFlows)
    codes = _Repository(SqlCodes)
    accounts = _Repository(SqlAccounts)
    sessions = _Repository(SqlSessions)
    password_hashes = _Repository(SqlPasswordHashes)
    password_failures = _Repository(SqlPasswordFailures)
    password_resets = _Repository(SqlPasswordResets)
    authenticators = _Repository(SqlAuthenticators)
    apps = _Repository(SqlApps)
    app_passwords = _Repository(SqlAppPasswords)
    authorization_codes = _Repository(SqlAuthorizationCodes)
    oauth_tokens = _Repository(SqlOAuthTokens)
    consents = _Repository(SqlConsents)
    nonces = _Repository(SqlNonces)
    signing_keys = _Repository(SqlSigningKeys)
    outbox = _Repository(SqlOutbox)
    audit = _Repository(SqlAudit)
    counters = _Repository(SqlCounters)
    devices = _Repository(SqlDevices)
    measure_groups = _Repository(SqlMeasureGroups)
    activity = _Repository(SqlActivity)
    intraday = _Repository(SqlIntraday)
    workouts = _Repository(SqlWorkouts)
    sleep = _Repository(SqlSleep)
    heart = _Repository(SqlHeart)
    goals = _Repository(SqlGoals)
    dashboard_prefs = _Repository(SqlDashboardPrefs)
    receipts = _Repository(SqlReceipts)
    data_exports = _Repository(SqlDataExports)
    subscriptions = _Repository(SqlSubscriptions)
    deliveries = _Repository(SqlDeliveries)


class SqlUnitOfWork:
    """``on_outbox_commit`` is called after each COMMIT of a transaction that queued mail or a
    text (the relay's wake-up, so that no caller has to remember it): once per group commit, on
    the event loop; for work that :meth:`run` gave a worker thread, once it is back on the loop;
    never for a rollback."""

    def __init__(
        self, engine: Engine, retry: RetryPolicy | None = None, *, on_outbox_commit: Callable[[], None] | None = None
    ) -> None:
        self.engine = engine
        self.retry = retry or RetryPolicy()
        self.on_outbox_commit = on_outbox_commit
        self.sqlite = is_sqlite(engine)
        self._group_commits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommit] = (
            weakref.WeakKeyDictionary()
        )
        self._group_reads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommit] = (
            weakref.WeakKeyDictionary()
        )
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )

    def _threads(self) -> anyio.CapacityLimiter:
        """The loop's turns for units in worker threads. A few threads keep the database busy;
        anyio's default of 40 had every request's unit in a thread of its own, and the threads
        fought for the interpreter lock: with 1,000 apps sending at once on PostgreSQL the p99
        from commit to partner callback fell from 1.1–1.6 s to 0.7 s with 8 (bench/notifications.py)."""
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = anyio.CapacityLimiter(WORKER_THREADS)
        return limiter

    @storage_errors
    async def run(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run blocking work that uses this unit of work, from the event loop. On SQLite it runs
        inline in the loop's group commit (its transactions are short, and handing each to a
        thread costs more than the work); elsewhere in a worker thread, so that network waits do
        not stall the loop, and run again whole if the database aborts its transaction for a
        conflict with another one (:mod:`vitalkey.adapters.db.retry`)."""
        if not self.sqlite:
            return await self._retrying(function, partial(function, *args, **kwargs))
        return await self._group_commit(asyncio.get_running_loop()).run(function, *args, **kwargs)

    @storage_errors
    async def read_long(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Long work that only reads (its own ``read()`` transactions), in a worker thread on
        both engines: on SQLite ``run`` would hold the event loop for the whole of it. Not
        retried (a read transaction is never aborted for a conflict)."""
        return await anyio.to_thread.run_sync(partial(function, *args, **kwargs))

    @storage_errors
    async def run_optimistic(self, prepare: Callable[P, R | Pending[R]], *args: P.args, **kwargs: P.kwargs) -> R:
        """On SQLite the reads run inline, sharing one read transaction with the other reads of
        the loop's turn (WAL readers never wait for the writer), and only the pending writes join
        the group commit, so the write lock is held for them alone. Elsewhere there is no one
        writer to spare, and a transaction costs round trips: both steps run in one worker
        thread, in one transaction, and a retry runs both again."""
        if not self.sqlite:
            return await self._retrying(prepare, partial(self._settle, prepare, *args, **kwargs))
        loop = asyncio.get_running_loop()
        reads = self._group_reads.get(loop)
        if reads is None:
            reads = self._group_reads[loop] = GroupCommit(self.engine, loop, write=False)
        outcome = await reads.run(prepare, *args, **kwargs)
        if isinstance(outcome, Pending):
            return await self._group_commit(loop).run(outcome.write)
        return outcome

    async def _retrying(self, function: Callable[..., Any], work: Callable[[], R]) -> R:
        """``work`` in a worker thread; again, after a short pause, while the database aborts
        its transaction for a conflict and nothing of it has committed, up to the policy's
        attempts; then :class:`DatabaseBusy`."""
        name = getattr(function, "__qualname__", "")
        for number in range(1, self.retry.attempts + 1):
            this = Attempt()
            try:
                return await anyio.to_thread.run_sync(self._attempt, this, work, limiter=self._threads())
            except Exception as error:
                sqlstate = retried_sqlstate(error)
                if sqlstate is None:
                    if unreachable(error):  # the other pooled connections are likely gone too
                        self.engine.dispose()
                    raise
                if this.committed or number == self.retry.attempts:
                    DB_RETRIES_EXHAUSTED.labels(sqlstate=sqlstate).inc()
                    # committed: a transaction of the unit is stored; running it again would repeat it
                    log.error(
                        "db.retries_exhausted", sqlstate=sqlstate, attempts=number, work=name, committed=this.committed
                    )
                    raise DatabaseBusy(sqlstate) from error
                delay = self.retry.delay(number)
                DB_RETRIES.labels(sqlstate=sqlstate).inc()
                log.warning("db.retry", sqlstate=sqlstate, attempt=number, work=name, delay_ms=round(delay * 1000, 1))
            finally:
                if this.enqueued:  # back on the loop, after the commit that queued mail
                    self._wake_relay()
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    @staticmethod
    def _attempt(this: Attempt, work: Callable[[], R]) -> R:
        token = attempt.set(this)
        try:
            return work()
        finally:
            attempt.reset(token)

    def _settle(self, prepare: Callable[P, R | Pending[R]], *args: P.args, **kwargs: P.kwargs) -> R:
        """``prepare``'s reads, then its pending write in a transaction, on one connection. The
        reads run in autocommit, as on SQLite they run outside the write lock: a read-only
        request (most of them: a Withings data read, a refused grant) costs no BEGIN and no
        COMMIT round trip; the pending write re-checks what they saw, as it does on SQLite."""
        connection = self.engine.raw_connection()
        batch: Batch | None = None
        try:
            outcome = self._autocommit_reads(connection, prepare, *args, **kwargs)
            if not isinstance(outcome, Pending):
                return outcome
            batch = Batch(self.engine, connection, savepoints=False)
            token = joined.set(batch)
            try:
                result = outcome.write()
            finally:
                joined.reset(token)
        except CountedRefusal as refusal:  # raised by a write: its count is kept
            self._commit(connection, write=False)
            if batch is not None:
                batch.committed()
            raise refusal.error from None
        except BaseException:
            connection.rollback()
            raise
        else:
            self._commit(connection, write=False)
            batch.committed()
            return result
        finally:
            connection.close()  # back to the pool

    def _autocommit_reads(
        self, connection: Any, prepare: Callable[P, R | Pending[R]], *args: P.args, **kwargs: P.kwargs
    ) -> R | Pending[R]:
        dbapi_connection = connection.dbapi_connection
        dbapi_connection.autocommit = True
        token = joined.set(Batch(self.engine, connection, writable=False))
        try:
            return prepare(*args, **kwargs)
        finally:
            joined.reset(token)
            dbapi_connection.autocommit = False

    def _group_commit(self, loop: asyncio.AbstractEventLoop) -> GroupCommit:
        group = self._group_commits.get(loop)
        if group is None:
            group = self._group_commits[loop] = GroupCommit(self.engine, loop)
        return group

    @contextmanager
    def begin(self) -> Iterator[SqlTransaction]:
        batch = joined.get()
        if batch is not None and batch.open and batch.engine is self.engine:
            if not batch.writable:
                raise RuntimeError("a read-only unit of work cannot write")
            with batch.savepoint() as connection:
                tx = SqlTransaction(Db(connection, sqlite=self.sqlite, memo=batch.memo))
                try:
                    yield tx
                except CountedRefusal:  # its writes are kept too
                    self._wake_with(batch, tx)
                    raise
            self._wake_with(batch, tx)
            return
        if self.sqlite:
            self._refuse_on_busy_loop()
        # SQLite has one writer at a time: writers queue on one lock (threads and processes)
        # instead of in SQLite's busy handler, which sleeps and retries and collapses under load.
        with writing(self.engine), self._transaction("BEGIN IMMEDIATE" if self.sqlite else "", write=True) as tx:
            yield tx

    @contextmanager
    def read(self) -> Iterator[SqlTransaction]:
        batch = joined.get()
        if batch is not None and batch.open and batch.engine is self.engine:
            with batch.savepoint() as connection:  # sees the writes of the batch so far
                yield SqlTransaction(Db(connection, sqlite=self.sqlite, memo=batch.memo))
            return
        with self._transaction("BEGIN" if self.sqlite else "", write=False) as tx:
            yield tx

    def _refuse_on_busy_loop(self) -> None:
        """A write on the loop's own thread outside :meth:`run` while the loop's group commit
        holds (or awaits) the write lock would wait for itself."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        group = self._group_commits.get(loop)
        if group is not None and group.busy:
            raise RuntimeError("database writes on the event loop must go through UnitOfWork.run")

    @contextmanager
    def _transaction(self, begin: str, *, write: bool) -> Iterator[SqlTransaction]:
        connection = self.engine.raw_connection()
        try:
            db = Db(connection, sqlite=self.sqlite)
            if begin:
                db.cursor.execute(begin)
            yield SqlTransaction(db)
        except CountedRefusal as refusal:
            self._commit(connection, write)
            if db.enqueued:
                self._outbox_committed()
            raise refusal.error from None
        except BaseException:
            connection.rollback()
            raise
        else:
            self._commit(connection, write)
        finally:
            connection.close()  # back to the pool
        if db.enqueued:
            self._outbox_committed()

    def _wake_with(self, batch: Batch, tx: SqlTransaction) -> None:
        """Wake the relay when the batch commits, if this unit queued mail or a text."""
        if tx.db.enqueued:
            batch.on_commit.add(self._outbox_committed)

    def _outbox_committed(self) -> None:
        """A transaction that queued mail or a text committed. The relay waits on the event
        loop: work in a worker thread of :meth:`run` leaves the wake-up to it, once back there."""
        this = attempt.get()
        if this is not None:
            this.enqueued = True
        else:
            self._wake_relay()

    def _wake_relay(self) -> None:
        if self.on_outbox_commit is not None:
            self.on_outbox_commit()

    @staticmethod
    def _commit(connection: Any, write: bool) -> None:
        try:
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        if write:
            committed_write()  # from now on, running the unit again would repeat this

    def ping(self) -> None:
        with self.read() as tx:
            tx.flows.get("")
