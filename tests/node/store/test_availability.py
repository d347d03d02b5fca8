"""Which real database errors mean "the store cannot be reached now" (503, try again)
and which are bugs (500): node/store/availability.py, on SQLite and on a PostgreSQL of the
test's own that is stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from node.exceptions import StoreUnavailableError
from node.store.availability import store_unavailable
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
