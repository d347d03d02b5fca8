"""The commit leadership lock: one holder per node key, released when its holder goes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from node.commit.leader import FileLeaderLock, PostgresLeaderLock, lead, leader_lock
from node.store.store import Store

KEY = "0x00000000000000000000000000000000000000aa"


def test_only_one_holder_until_it_releases(store: Store) -> None:
    first, second = leader_lock(store, KEY), leader_lock(store, KEY)
    other_key = leader_lock(store, KEY.replace("aa", "bb"))

    assert first.try_acquire()
    assert first.alive()
    assert not second.try_acquire()
    assert other_key.try_acquire()
    first.release()
    assert not first.alive()
    assert second.try_acquire()
    second.release()
    other_key.release()


def test_a_postgres_lock_is_lost_when_its_session_dies(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("PostgreSQL sessions only")
    holder, waiter = PostgresLeaderLock(store, KEY), PostgresLeaderLock(store, KEY)
    assert holder.try_acquire()
    assert holder._conn is not None
    pid = holder._conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()

    with store.engine.connect() as admin:
        admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid or 0)})")
        admin.commit()

    assert not holder.alive()
    assert waiter.try_acquire()
    holder.release()  # harmless after the loss
    waiter.release()


def test_lead_runs_the_work_only_while_holding_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "leader.lock"
    other = FileLeaderLock(path)
    assert other.try_acquire()
    stop = threading.Event()
    started = threading.Event()
    changes: list[bool] = []

    def work(term: threading.Event) -> None:
        started.set()
        term.wait()

    runner = threading.Thread(
        target=lead,
        kwargs={
            "lock": FileLeaderLock(path),
            "work": work,
            "stop": stop,
            "poll": 0.05,
            "on_change": changes.append,
        },
    )
    runner.start()

    assert not started.wait(0.3)  # the other holder keeps it out
    other.release()
    assert started.wait(5)
    stop.set()
    runner.join(5)
    assert not runner.is_alive()
    assert changes == [True, False]
