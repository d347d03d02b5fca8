"""Which process commits for a node key: the holder of a database lock.

Several gateway processes may share one store; only one may run the commit worker for a
given node key, or two would race to anchor the same events. The lock is the database's:

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) held on a
  dedicated connection. It is released when that session ends — on a clean release, and
  when the process dies or its connection breaks — so another process takes over.
- SQLite (a file): an exclusive ``flock`` on a file beside the database, released by
  the kernel when the process dies (SIGKILL included).
- SQLite in memory: one process by construction; always the leader.

:func:`lead` runs a piece of work (the commit worker's ``run``) for as long as this
process holds the lock, and hands over when it is lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from eth_account.signers.local import LocalAccount
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from node.chain.commits import CommitClient
from node.commit.worker import CommitPolicy, CommitWorker
from node.filelock import FileLock
from node.runtime import Precedence
from node.store.availability import store_unavailable
from node.store.engine import advisory_key
from node.store.store import Store

log = logging.getLogger(__name__)


class LeaderLock(Protocol):
    def try_acquire(self) -> bool:
        """Take the lock if it is free (True), without waiting."""

    def alive(self) -> bool:
        """Whether the lock taken is still held."""

    def release(self) -> None: ...


def lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for ``name`` (e.g. a node key's address)."""
    return advisory_key(f"commit:{name.lower()}")


class PostgresLeaderLock:
    """A PostgreSQL session-level advisory lock on a connection of its own."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.key = lock_key(name)
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = self.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(
                conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            )
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def alive(self) -> bool:
        if self._conn is None:
            return False
        try:
            # A session-level lock lives as long as its session: a live session holds it.
            self._conn.execute(text("SELECT 1"))
        except Exception as exc:
            _failed("the commit leadership connection failed", exc)
            return False
        return True

    def release(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            if not conn.invalidated:  # else the session, and with it the lock, is gone
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        except Exception as exc:
            _failed("could not unlock; closing the session releases it", exc)
        finally:
            conn.invalidate()  # never back to the pool: the session (and any lock) ends
            conn.close()


class FileLeaderLock(FileLock):
    """An exclusive ``flock`` on ``path`` (node.filelock), held until released or the
    process dies."""

    def alive(self) -> bool:
        return self.held


class SoleLeaderLock:
    """For a store no other process can open (SQLite in memory)."""

    def __init__(self) -> None:
        self._held = False

    def try_acquire(self) -> bool:
        self._held = True
        return True

    def alive(self) -> bool:
        return self._held

    def release(self) -> None:
        self._held = False


def leader_lock(store: Store, name: str) -> LeaderLock:
    """The commit lock for node key ``name`` on ``store``'s database."""
    if store.dialect == "postgresql":
        return PostgresLeaderLock(store, name)
    database = make_url(str(store.engine.url)).database
    if not database or database == ":memory:":
        return SoleLeaderLock()
    return FileLeaderLock(Path(f"{database}.commit-{name.lower()}.lock"))


def lead(
    *,
    lock: LeaderLock,
    work: Callable[[threading.Event], None],
    stop: threading.Event,
    poll: float = 1.0,
    on_change: Callable[[bool], None] | None = None,
) -> None:
    """Until ``stop`` is set: take the lock when free, and run ``work(term)`` while it is
    held. ``term`` is set when the lock is lost or ``stop`` is set; ``work`` must return
    then. Work that fails is logged and restarted after ``poll`` seconds."""
    while not stop.is_set():
        try:
            acquired = lock.try_acquire()
        except Exception as exc:
            _failed("could not try the commit leadership lock", exc)
            acquired = False
        if not acquired:
            stop.wait(poll)
            continue
        log.info("this process now commits (leadership taken)")
        if on_change is not None:
            on_change(True)
        term = threading.Event()
        watcher = threading.Thread(
            target=_watch, args=(lock, stop, term, poll), name="commit-leader-watch", daemon=True
        )
        watcher.start()
        try:
            work(term)
        except Exception as exc:
            _failed(f"the commit worker failed; it restarts in {poll} s", exc, logging.ERROR)
            stop.wait(poll)
        finally:
            term.set()
            watcher.join()
            lock.release()
            if on_change is not None:
                on_change(False)
            log.info("this process no longer commits (leadership released)")


def committing(
    *,
    store: Store,
    client: CommitClient,
    node_key: LocalAccount,
    policy: CommitPolicy,
    stop: threading.Event,
    poll: float = 1.0,
    on_change: Callable[[bool], None] | None = None,
    idle: Callable[[], None] | None = None,
    precedence: Precedence | None = None,
) -> Callable[[], None]:
    """What a node's commit thread runs (``tracenode serve``'s, and ``tracenode bench``'s
    so that it measures the same): the commit worker, while this process holds the node
    key's commit lock, until ``stop`` is set; ``idle`` runs on its idle turns (serve seals
    the alert log there); its windows go first of ``precedence``'s deferring work."""
    worker = CommitWorker(
        store=store,
        client=client,
        node=node_key,
        policy=policy,
        idle=idle,
        precedence=precedence,
    )

    def run() -> None:
        lead(
            lock=leader_lock(store, node_key.address),
            work=worker.run,
            stop=stop,
            poll=poll,
            on_change=on_change,
        )

    return run


def _failed(message: str, error: Exception, level: int = logging.WARNING) -> None:
    """Log a failure: one warning line when the store cannot be reached (the operator's
    news, on every try until it is back), with the traceback when it is anything else."""
    unavailable = store_unavailable(error)
    if unavailable is not None:
        log.warning("%s: %s", message, unavailable)
    else:
        log.log(level, message, exc_info=error)


def _watch(lock: LeaderLock, stop: threading.Event, term: threading.Event, poll: float) -> None:
    while not term.is_set():
        if stop.is_set() or not lock.alive():
            term.set()
            return
        term.wait(poll)
