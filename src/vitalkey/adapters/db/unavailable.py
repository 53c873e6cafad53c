"""Which database failures mean "the database cannot be reached now", as opposed to a bug.

Unreachable, precisely:
- PostgreSQL (psycopg): an ``OperationalError`` raised by the client itself (no SQLSTATE:
  connection refused, the server or the database refusing connections, the connection lost
  or closed), SQLSTATE class 08 (connection exception), 57P01-57P03 (the server shutting down,
  crashed or starting) and 53300 (too many connections);
- SQLAlchemy: ``DisconnectionError``, the pool's ``TimeoutError`` (no connection free in time),
  and any DBAPI error that invalidated its connection;
- SQLite: the file cannot be opened (``SQLITE_CANTOPEN``), an I/O error (``SQLITE_IOERR*``), or
  the file was moved or deleted under an open connection (``SQLITE_READONLY_DBMOVED``).

Everything else (constraint violations, syntax errors, ...) is a bug and stays what it is.
"""

from __future__ import annotations

import functools
import sqlite3
import sys
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import exc as sa

from vitalkey.ports import StorageUnavailable

P = ParamSpec("P")
R = TypeVar("R")

_PG_STATES = frozenset({"57P01", "57P02", "57P03", "53300"})
_SQLITE_NAMES = ("SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_READONLY_DBMOVED")


def unreachable(error: BaseException) -> bool:
    if isinstance(error, StorageUnavailable | sa.DisconnectionError | sa.TimeoutError):
        return True
    if isinstance(error, sa.DBAPIError):
        if error.connection_invalidated:
            return True
        return error.orig is not None and unreachable(error.orig)
    # psycopg is looked up, not imported: on SQLite it is never loaded (it costs a process ~9 MB
    # and 70 ms at start), and then no error can be one of its.
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(error, psycopg.OperationalError):
        state = error.sqlstate
        return state is None or state.startswith("08") or state in _PG_STATES
    if isinstance(error, sqlite3.Error):
        return getattr(error, "sqlite_errorname", "").startswith(_SQLITE_NAMES)
    return False


def reason(error: BaseException) -> str:
    """What failed, without the driver's message (which may quote values): a class and a code."""
    cause = error.orig if isinstance(error, sa.DBAPIError) and error.orig is not None else error
    code = getattr(cause, "sqlstate", None) or getattr(cause, "sqlite_errorname", None) or ""
    return f"{type(cause).__module__}.{type(cause).__qualname__}" + (f" {code}" if code else "")


def storage_errors(method: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Wraps a unit of work's ``run``: an unreachable database becomes :class:`StorageUnavailable`
    (its cause kept), so the layers above need not know the drivers."""

    @functools.wraps(method)
    async def translated(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except StorageUnavailable:
            raise
        except Exception as error:  # classified here, not in every caller
            if unreachable(error):
                raise StorageUnavailable(reason(error)) from error
            raise

    return translated
