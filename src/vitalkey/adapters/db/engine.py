"""Engines for the embedded SQLite default and for PostgreSQL."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import weakref
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from vitalkey.ports import StorageUnavailable


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


# A pooled PostgreSQL connection is pinged before it is lent only when it sat in the pool longer
# than this: a restart or an idle time-out ends those, while one returned moments ago is alive.
# Pinging every loan (pool_pre_ping) cost a round trip per unit of work: a quarter of the server's
# CPU for a Withings read. A connection that fails anyway makes the unit of work drop the whole
# pool (SqlUnitOfWork: ``engine.dispose()``), so a restart costs at most the requests in flight.
PING_AFTER_IDLE_S = 1.0


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["vitalkey_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _lent(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("vitalkey_idle_since")
        if idle_since is None or time.monotonic() - idle_since <= PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool then opens a new connection (SQLAlchemy's contract)
            raise DisconnectionError("the pooled connection is gone") from error


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=16, max_overflow=16)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, start transactions, so that we can begin IMMEDIATE:
        # the write lock is taken up front and concurrent writers queue instead of failing.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    if database and database != ":memory:":
        _refuse_moved_file(engine, database)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get("vitalkey_read", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _refuse_moved_file(engine: Engine, database: str) -> None:
    """An open SQLite connection keeps reading and writing its file after the file was deleted
    or replaced (its directory removed, a volume gone): what it writes is then lost. Each
    connection remembers which file it opened and is given out only while that file is still at
    the path; otherwise the pool opens a new one, which fails if the file cannot be opened."""

    def identity() -> tuple[int, int] | None:
        try:
            found = os.stat(database)
        except OSError:
            return None
        return found.st_dev, found.st_ino

    @event.listens_for(engine, "connect")
    def _remember(_dbapi_connection: Any, record: Any) -> None:
        record.info["vitalkey_file"] = identity()

    @event.listens_for(engine, "checkout")
    def _check(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.get("vitalkey_file") != identity():
            raise DisconnectionError("the database file is no longer at its path")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, SqliteWriteLock] = weakref.WeakKeyDictionary()


def writing(engine: Engine) -> AbstractContextManager[None]:
    """Hold this around every write transaction: on SQLite it is the one writer queue that all
    threads and processes share (the request path, the relay, the dev outbox); elsewhere nothing."""
    if not is_sqlite(engine):
        return contextlib.nullcontext()
    return write_lock(engine)


def write_lock(engine: Engine) -> SqliteWriteLock:
    lock = _WRITE_LOCKS.get(engine)
    if lock is None:
        lock = _WRITE_LOCKS.setdefault(engine, SqliteWriteLock(engine))
    return lock


class SqliteWriteLock:
    """One writer at a time across the threads of this process (a mutex) and across processes
    (``flock`` on a file beside the database), so writers wait in a queue instead of in
    SQLite's sleeping busy handler."""

    def __init__(self, engine: Engine) -> None:
        database = engine.url.database or ""
        self.path = f"{database}.lock" if database and database != ":memory:" else ""
        self.mutex = threading.Lock()
        self.fd: int | None = None
        self.pid = 0

    def acquire(self) -> None:
        self.mutex.acquire()
        try:
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self.mutex.release()
            raise

    def try_acquire(self) -> bool:
        """Take the lock if no thread or process holds it; never waits."""
        if not self.mutex.acquire(blocking=False):
            return False
        try:
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.mutex.release()
            return False
        except BaseException:
            self.mutex.release()
            raise
        return True

    def release(self) -> None:
        """May be called from another thread than the one that acquired (the mutex is a plain
        lock): the group commit waits for the lock in a helper thread and releases it on the loop."""
        if self.fd is not None and self.path:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.mutex.release()

    def _file(self) -> int | None:
        if not self.path:
            return None
        if self.fd is None or self.pid != os.getpid():  # a forked worker opens its own
            try:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as error:  # its directory is gone or unwritable: so is the database
                raise StorageUnavailable("the write lock beside the database cannot be opened") from error
            self.pid = os.getpid()
        return self.fd

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
