"""Open the store: an engine for SQLite (WAL) or PostgreSQL, migrated to the latest schema."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from node.exceptions import ConfigurationError
from node.filelock import FileLock

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: Execution option marking a connection that will write (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION = "tracenode_write"
#: Seconds a new PostgreSQL connection may take (libpq's connect_timeout).
CONNECT_TIMEOUT = 5


def sqlite_cache_mb() -> int:
    """SQLite page cache per connection, MiB (TRACENODE_SQLITE_CACHE_MB, default 64)."""
    value = os.environ.get("TRACENODE_SQLITE_CACHE_MB", "64")
    if not value.isdigit() or not 2 <= int(value) <= 65536:
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
        engine = create_engine(url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event issue BEGIN (pysqlite's own is disabled).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=10000")
            # A page cache per connection (SQLite's default is 2 MiB) large enough for the
            # hot index pages of a store with millions of events: a fixed bound, not growth.
            cursor.execute(f"PRAGMA cache_size=-{sqlite_cache_mb() * 1024}")
            # Checkpoint the WAL every 20,000 pages (~80 MiB) rather than SQLite's 1,000: a
            # bulk of events dirties thousands of index pages in a large store, and fewer,
            # larger checkpoints write each hot page once (measured: 0.63 -> 0.71 of the
            # empty-store ingest rate at 300,000 events; docs/benchmarks.md).
            checkpoint = os.environ.get("TRACENODE_SQLITE_CHECKPOINT_PAGES", "20000")
            if checkpoint.isdigit():
                cursor.execute(f"PRAGMA wal_autocheckpoint={int(checkpoint)}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Writers take the lock at BEGIN (IMMEDIATE), so two writers serialise instead
            # of one failing at its first write after reading state that then changed.
            immediate = conn.get_execution_options().get(WRITE_OPTION, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    # A server that does not answer (down, or packets dropped) fails a connection attempt
    # after this many seconds instead of the operating system's minutes; the URL's own
    # ?connect_timeout= wins.
    connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT}
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


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
