"""Open the store: an engine for SQLite (WAL) or PostgreSQL, migrated to the latest schema."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from node.events.digits import is_decimal
from node.exceptions import ConfigurationError
from node.filelock import FileLock

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: Execution option marking a connection that will write (SQLite: BEGIN IMMEDIATE), its
#: value the ``time.monotonic()`` by which it must have the database's write lock.
WRITE_OPTION = "tracenode_write"
#: SQLite: how long a writer waits for the database's write lock (and, before it, for
#: the writers of its own process: node.store.store.Store.write), in seconds; SQLite's
#: busy timeout for anything else.
WRITER_WAIT_S: Final = 10.0
#: SQLite: seconds between a waiting writer's looks at the write lock.
WRITER_POLL_S: Final = 0.0005
#: Seconds a new PostgreSQL connection may take (libpq's connect_timeout).
CONNECT_TIMEOUT = 5


def sqlite_cache_mb() -> int:
    """SQLite page cache per connection, MiB (TRACENODE_SQLITE_CACHE_MB, default 64)."""
    value = os.environ.get("TRACENODE_SQLITE_CACHE_MB", "64")
    if not is_decimal(value) or not 2 <= int(value) <= 65536:
        raise ConfigurationError(f"TRACENODE_SQLITE_CACHE_MB must be 2..65536 MiB, not {value!r}")
    return int(value)


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'tracenode.sqlite3'}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite runs in WAL mode with full fsync on commit.

    ``synchronous=FULL`` makes a committed write survive power loss, not just a crash:
    the node answers 202 only after the event is durable.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # No bound value in an error's text: it is logged, and a row may hold a secret.
        engine = create_engine(url, connect_args={"check_same_thread": False}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event issue BEGIN (pysqlite's own is disabled).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA busy_timeout={int(WRITER_WAIT_S * 1000)}")
            # A page cache per connection (SQLite's default is 2 MiB) large enough for the
            # hot index pages of a store with millions of events: a fixed bound, not growth.
            cursor.execute(f"PRAGMA cache_size=-{sqlite_cache_mb() * 1024}")
            # Checkpoint the WAL every 20,000 pages (~80 MiB) rather than SQLite's 1,000: a
            # bulk of events dirties thousands of index pages in a large store, and fewer,
            # larger checkpoints write each hot page once (measured: 0.63 -> 0.71 of the
            # empty-store ingest rate at 300,000 events; docs/benchmarks.md).
            checkpoint = os.environ.get("TRACENODE_SQLITE_CHECKPOINT_PAGES", "20000")
            if is_decimal(checkpoint):
                cursor.execute(f"PRAGMA wal_autocheckpoint={int(checkpoint)}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Writers take the lock at BEGIN (IMMEDIATE), so two writers serialise instead
            # of one failing at its first write after reading state that then changed.
            deadline = conn.get_execution_options().get(WRITE_OPTION)
            if deadline is None:
                conn.exec_driver_sql("BEGIN")
            else:
                _begin_immediate(conn, float(deadline))

        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    # A server that does not answer (down, or packets dropped) fails a connection attempt
    # after this many seconds instead of the operating system's minutes; the URL's own
    # ?connect_timeout= wins.
    connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT}
    return create_engine(
        parsed, pool_pre_ping=True, connect_args=connect_args, hide_parameters=True
    )


def _begin_immediate(conn: Any, deadline: float) -> None:
    """``BEGIN IMMEDIATE``, waiting for the database's write lock until ``deadline``
    (``time.monotonic()``), then SQLite's busy error (503 ``store-unavailable``).

    The wait is ours, not SQLite's busy handler's: that one sleeps in growing steps (up to
    100 ms) before it looks again, whether or not the lock was freed meanwhile, and with
    the commit process writing a window a few times a second, the gateway's request
    threads spent more time in those sleeps than the lock was held (profiled:
    docs/benchmarks.md). Here the writer looks again every :data:`WRITER_POLL_S`, and
    this process's other writers queue before it (node.store.store.Store.write), so one
    thread looks at a time."""
    raw = conn.connection.dbapi_connection
    raw.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:  # BUSY, or extended
                    raise
                if time.monotonic() >= deadline:
                    break
            time.sleep(WRITER_POLL_S)
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # busy: raised as SQLAlchemy raises it
    finally:
        raw.execute(f"PRAGMA busy_timeout={int(WRITER_WAIT_S * 1000)}")


def advisory_key(purpose: str) -> int:
    """A signed 64-bit PostgreSQL advisory-lock key for ``purpose``."""
    digest = hashlib.sha256(f"tracenode-{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest Alembic revision, one process at a time.

    Processes that open one database at once (several ``serve`` on a PostgreSQL) take a
    lock first, so the first upgrades and the others then find the schema current.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if database and database != ":memory:":
        # A new file's first connection switches it to WAL, which fails at once (no busy
        # wait) while another process holds it: starters queue on a file lock first.
        with FileLock(Path(f"{database}.migrate.lock")):
            _upgrade(engine, config)
        return
    _upgrade(engine, config)


def _upgrade(engine: Engine, config: Config) -> None:
    # SQLite: BEGIN IMMEDIATE takes the database's write lock before Alembic reads the
    # revision; PostgreSQL: a transaction-level advisory lock does the same.
    connection = engine.connect().execution_options(**{WRITE_OPTION: True})
    with connection, connection.begin():
        if connection.dialect.name == "postgresql":
            key = advisory_key("migrate")
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_engine(url: str) -> Engine:
    engine = make_engine(url)
    migrate(engine)
    return engine
