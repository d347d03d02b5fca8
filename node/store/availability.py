"""Which database errors mean "the store cannot be reached now" rather than a bug.

SQLAlchemy raises the driver's errors wrapped in its own classes; some of them say that
the database is gone or busy (a refused or lost connection, a server shutting down, no
connection free in the pool, SQLite's lock held past the busy timeout), others that a
statement is wrong. :func:`store_unavailable` tells them apart and gives the first kind
as a typed :class:`~node.exceptions.StoreUnavailableError`, so that callers — the
gateway's problem handlers (api/problems.py), the commit leader, ``/metrics`` — answer
"try again later" with one line instead of a bug's traceback. The gateway may not import
SQLAlchemy (docs/design.md §2): it registers its handler for :data:`DATABASE_ERRORS`.
"""

from __future__ import annotations

import sqlite3
from typing import Final

import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from node.exceptions import StoreUnavailableError

#: The SQLAlchemy classes whose instances may mean the store is unreachable (and are
#: handed to :func:`store_unavailable` to decide).
DATABASE_ERRORS: Final[tuple[type[Exception], ...]] = (DBAPIError, PoolTimeoutError)

#: SQLSTATE classes of a database that cannot serve now: connection exceptions (08),
#: insufficient resources such as too many connections (53), and operator intervention
#: — shutdown, crash, starting up (57P).
_POSTGRES_UNAVAILABLE: Final = ("08", "53", "57P")
#: SQLite's result codes of a database that is busy or cannot be opened or written.
_SQLITE_UNAVAILABLE: Final = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_PROTOCOL",
)


def store_unavailable(error: BaseException) -> StoreUnavailableError | None:
    """``error`` as a :class:`StoreUnavailableError` when it says the database cannot be
    reached or is busy; None when it is something else (a bug, a constraint)."""
    if isinstance(error, StoreUnavailableError):
        return error
    if isinstance(error, PoolTimeoutError):
        return StoreUnavailableError("no database connection became free in time")
    if not isinstance(error, DBAPIError):
        return None
    if error.connection_invalidated or _unavailable(error.orig):
        return StoreUnavailableError(f"the database cannot be reached: {summary(error.orig)}")
    return None


def _unavailable(error: BaseException | None) -> bool:
    if isinstance(error, psycopg.Error):
        if error.sqlstate is None:
            # Raised by the client: refused, reset, closed, timed out while connecting.
            return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
        return error.sqlstate.startswith(_POSTGRES_UNAVAILABLE)
    if isinstance(error, sqlite3.Error):
        name = getattr(error, "sqlite_errorname", "") or ""
        return name.startswith(_SQLITE_UNAVAILABLE)
    return False


def summary(error: BaseException | None, limit: int = 200) -> str:
    """The first line of ``error``'s message, at most ``limit`` characters (for one log
    line; drivers' messages run over several)."""
    text = str(error).strip().splitlines()[0] if error is not None and str(error).strip() else ""
    text = text or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
