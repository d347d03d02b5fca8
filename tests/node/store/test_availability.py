"""Which real database errors mean "the store cannot be reached now" (503, try again)
and which are bugs (500): node/store/availability.py, on SQLite and on a PostgreSQL of the
test's own that is stopped; and how a SQLite writer waits for the write lock."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from node.exceptions import StoreUnavailableError
from node.store.availability import store_unavailable
from node.store.store import Store
from tests.postgres import ThrowawayPostgres, started_postgres


def raised(statement: str, url: str, **engine: object) -> SQLAlchemyError:
    """The error running ``statement`` on a fresh engine raises (the engine disposed)."""
    made = create_engine(url, **engine)
    try:
        with pytest.raises(SQLAlchemyError) as caught, made.connect() as conn:
            conn.execute(text(statement))
    finally:
        made.dispose()
    return caught.value


def test_a_statement_sqlite_refuses_is_a_bug_not_an_outage(tmp_path: Path) -> None:
    error = raised("SELEC 1", f"sqlite:///{tmp_path / 'a.sqlite3'}")

    assert store_unavailable(error) is None


def test_sqlite_locked_past_its_wait_is_unavailable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.sqlite3'}"
    holder = create_engine(url, connect_args={"isolation_level": None})
    with holder.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        error = raised(
            "INSERT INTO t VALUES (1)", url, connect_args={"timeout": 0.1, "isolation_level": None}
        )
        conn.exec_driver_sql("ROLLBACK")
    holder.dispose()

    found = store_unavailable(error)

    assert isinstance(found, StoreUnavailableError)
    assert "database is locked" in str(found)


def test_no_pooled_connection_free_in_time_is_unavailable(tmp_path: Path) -> None:
    engine = create_engine(
        f"sqlite:///{tmp_path / 'c.sqlite3'}", pool_size=1, max_overflow=0, pool_timeout=0.1
    )
    with engine.connect(), pytest.raises(SQLAlchemyError) as caught, engine.connect():
        pass
    engine.dispose()

    assert isinstance(store_unavailable(caught.value), StoreUnavailableError)


@pytest.fixture
def postgres() -> Iterator[ThrowawayPostgres]:
    yield from started_postgres()


def test_postgresql_stopped_is_unavailable_and_a_bad_statement_is_not(
    postgres: ThrowawayPostgres,
) -> None:
    engine = create_engine(postgres.url)
    with engine.connect() as conn:
        bad = raised("SELECT * FROM no_such_table", postgres.url)
        postgres.stop()
        with pytest.raises(SQLAlchemyError) as lost:
            conn.execute(text("SELECT 1"))  # a session the server ended (57P01)
    refused = raised("SELECT 1", postgres.url)  # nobody listens: refused by the client
    engine.dispose()

    assert store_unavailable(bad) is None
    assert isinstance(store_unavailable(lost.value), StoreUnavailableError)
    assert isinstance(store_unavailable(refused), StoreUnavailableError)
    assert "Connection refused" in str(store_unavailable(refused))


def test_a_writer_waits_for_another_process_lock_and_gives_up_busy_at_its_bound(
    tmp_path: Path,
) -> None:
    path = tmp_path / "d.sqlite3"
    store = Store.open(f"sqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)  # as the commit process would
    try:
        other.execute("BEGIN IMMEDIATE")
        got: list[str] = []

        def write() -> None:
            with store.write() as conn:
                conn.execute(text("CREATE TABLE IF NOT EXISTS scratch_a (x INTEGER)"))
            got.append("written")

        writer = threading.Thread(target=write)
        writer.start()
        writer.join(0.5)
        assert got == []  # waiting for the other's lock, not failed
        other.execute("ROLLBACK")
        writer.join(30)
        assert got == ["written"]

        # Held past the bound: SQLite's busy error, told apart as "unavailable" (503).
        store.writer_wait = 0.3
        other.execute("BEGIN IMMEDIATE")
        began = time.monotonic()
        with pytest.raises(SQLAlchemyError) as caught, store.write():
            pass
        waited = time.monotonic() - began
        other.execute("ROLLBACK")
        assert isinstance(store_unavailable(caught.value), StoreUnavailableError)
        assert 0.3 <= waited < 5  # its bound, not SQLite's busy timeout of 10 s
        with store.write() as conn:  # the connection's own busy timeout is back
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
    finally:
        other.close()
        store.close()


def test_a_process_writers_queue_for_each_other(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'e.sqlite3'}")
    try:
        first_in, release = threading.Event(), threading.Event()
        done: list[str] = []

        def first() -> None:
            with store.write() as conn:
                conn.execute(text("CREATE TABLE IF NOT EXISTS scratch_a (x INTEGER)"))
                first_in.set()
                release.wait(30)
            done.append("first")

        def second() -> None:
            with store.write() as conn:
                done.append("second began")
                conn.execute(text("CREATE TABLE IF NOT EXISTS scratch_b (x INTEGER)"))
            done.append("second")

        holder = threading.Thread(target=first)
        holder.start()
        assert first_in.wait(30)
        waiter = threading.Thread(target=second)
        waiter.start()
        waiter.join(0.5)
        assert done == []
        assert store._writers is not None
        assert not store._writers.acquire(blocking=False)  # the first holds the queue
        release.set()
        holder.join(30)
        waiter.join(30)
        assert done == ["first", "second began", "second"]
    finally:
        store.close()
