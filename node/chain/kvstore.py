"""py-evm's key-value store on SQLite: one file, WAL mode, a SQLite transaction per atomic batch.

py-evm reads and writes its whole world (state trie nodes, headers, block bodies,
receipts, the canonical-head pointer, transaction lookups) through a flat
``bytes -> bytes`` store, ``eth.abc.AtomicDatabaseAPI``. This module is that store on the
standard library's ``sqlite3``:

- one table ``kv (key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID``; writes are
  individual rows, so committing a block touches only the keys it wrote;
- ``atomic_batch()`` collects writes in memory and applies them in one SQLite
  transaction, committed when the batch ends, so py-evm's unit of atomicity
  (``ChainDB.persist_block`` writes the block, its lookups and the new canonical head in
  one batch) is SQLite's: after a crash, even SIGKILL mid-commit, a block is either all
  there or not at all;
- writes outside a batch (py-evm writes a few content-addressed trie nodes that way)
  join the open SQLite transaction and become durable with the next batch's commit, or
  at ``commit()``/``close()``. Until then they are visible to this connection only, and a
  crash loses only data that no committed pointer refers to;
- a small ``meta`` table holds the store's own facts (format, chain id, genesis hash);
- reads are remembered (``READ_CACHE_ENTRIES`` keys): py-evm reads a state trie's nodes
  again at every block, and SQLite's query costs more than the node's decoding. Every
  write of the connection updates or drops its key and a rollback forgets them all, so a
  read says what this connection's SQLite says (no other connection writes the file).

``SqliteSnapshot`` reads the same file from another process (the ``/rpc`` readers,
api/rpc_readers.py, and the gateway of ``tracenode serve``, whose commit process writes
the chain: node/chain/embedded.py, ``FollowedChain``): read-only at the SQLite level
(``mode=ro``), every read of one ``snapshot()`` inside one read transaction (WAL: one
consistent state, the last committed block's, while the writer goes on), and whatever
py-evm writes while it executes a call kept in memory and dropped when the snapshot ends.

The connection is opened with ``check_same_thread=False`` and guarded by a lock, so the
store may be used from whichever thread holds the chain; it does not make py-evm
thread-safe. One process at a time: the caller (``node.chain.embedded``) holds an
exclusive lock on the data directory.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Literal

from eth.abc import AtomicWriteBatchAPI
from eth.db.backends.base import BaseAtomicDB, BaseDB
from eth_utils.exceptions import ValidationError

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
_SYNCHRONOUS: tuple[Synchronous, ...] = ("OFF", "NORMAL", "FULL", "EXTRA")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_GET = "SELECT value FROM kv WHERE key = ?"
_EXISTS = "SELECT 1 FROM kv WHERE key = ?"
_PUT = (
    "INSERT INTO kv (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
_DELETE = "DELETE FROM kv WHERE key = ?"
#: How many keys a store remembers the values of (trie nodes, headers, lookups: tens to
#: hundreds of bytes each), so a state read need not ask SQLite again; past it, the cache
#: starts over.
READ_CACHE_ENTRIES = 100_000


class SqliteDB(BaseAtomicDB):
    """An ``AtomicDatabaseAPI`` in one SQLite file (created if missing)."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: Synchronous = "FULL",
        commit_on: Collection[bytes] | None = None,
    ) -> None:
        """Open ``path``.

        ``synchronous`` is SQLite's: FULL (an fsync per commit) survives power loss; NORMAL
        survives a crash of the process but may lose the last commits on power loss. Both
        keep every commit atomic.

        ``commit_on`` chooses when batches become durable. None: at the end of every
        batch. A set of keys: at the end of a batch that writes one of them; other batches
        join the open SQLite transaction and commit with it (or at ``commit()``/``close()``).
        py-evm writes several batches per block, but only the one that moves the canonical
        head makes them reachable: committing there costs one fsync per block instead of
        four, and a crash still leaves exactly the last committed head and all it refers to.
        """
        if synchronous not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {_SYNCHRONOUS}, not {synchronous!r}")
        self.path = path
        self._commit_on = None if commit_on is None else frozenset(bytes(k) for k in commit_on)
        self._lock = threading.RLock()
        self._hold = 0
        self._cache: dict[bytes, bytes] = {}
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False
        )
        try:
            (mode,) = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"{path}: WAL journal mode refused ({mode})")
            self._conn.execute(f"PRAGMA synchronous = {synchronous}")
            for statement in _SCHEMA:
                self._conn.execute(statement)
        except BaseException:
            self._conn.close()
            self._conn = None
            raise

    # -- DatabaseAPI ------------------------------------------------------------------

    def __getitem__(self, key: bytes) -> bytes:
        key = bytes(key)
        with self._lock:
            value = self._cache.get(key)
            if value is not None:
                return value
            row = self._db.execute(_GET, (key,)).fetchone()
            if row is None:
                raise KeyError(key)
            value = bytes(row[0])
            self._remember(key, value)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        key, value = bytes(key), bytes(value)
        with self._writing() as db:
            db.execute(_PUT, (key, value))
            self._remember(key, value)

    def __delitem__(self, key: bytes) -> None:
        key = bytes(key)
        with self._writing() as db:
            self._cache.pop(key, None)
            deleted = db.execute(_DELETE, (key,)).rowcount
        if deleted == 0:
            raise KeyError(key)

    def _exists(self, key: bytes) -> bool:
        key = bytes(key)
        with self._lock:
            if key in self._cache:
                return True
            return self._db.execute(_EXISTS, (key,)).fetchone() is not None

    def _remember(self, key: bytes, value: bytes) -> None:
        """Keep ``value`` as what ``key`` reads (the caller holds the lock). Every write of
        this connection passes here or drops the key, and a rollback forgets everything, so
        the cache always says what this connection's SQLite would: the process holds the
        data directory's lock, and no other connection writes the file."""
        cache = self._cache
        if len(cache) >= READ_CACHE_ENTRIES:
            cache.clear()
        cache[key] = value

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        """Writes inside are seen only through the batch; at a normal exit they are
        applied together (and committed, see ``commit_on``), on an exception dropped."""
        with _open_batch(self) as batch:
            yield batch
        changes = batch.changes
        if changes:
            with self._writing() as db:
                db.executemany(_PUT, [(k, v) for k, v in changes.items() if v is not None])
                db.executemany(_DELETE, [(k,) for k, v in changes.items() if v is None])
                for key, value in changes.items():
                    if value is None:
                        self._cache.pop(key, None)
                    else:
                        self._remember(key, value)
        if self._commit_on is None or not self._commit_on.isdisjoint(changes):
            self.commit()

    # -- transactions -----------------------------------------------------------------

    def commit(self) -> None:
        """Make every write so far durable (unless inside ``transaction()``)."""
        with self._lock:
            if self._hold == 0 and self._db.in_transaction:
                with self._writing() as db:
                    db.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything written inside, batches included, commits at the end as one SQLite
        transaction; an exception rolls back every uncommitted write."""
        with self._lock:
            self._hold += 1
            try:
                yield
            except BaseException:
                self._hold -= 1
                if self._hold == 0 and self._db.in_transaction:
                    self._cache.clear()
                    self._db.execute("ROLLBACK")
                raise
            else:
                self._hold -= 1
                self.commit()

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """The connection, inside a write transaction. If SQLite fails (disk full, I/O
        error) the store stops: the open transaction is rolled back and the connection
        closed, because py-evm's objects in memory may now refer to writes that are lost.
        Reopening finds the last commit, whole."""
        with self._lock:
            db = self._db
            try:
                if not db.in_transaction:
                    db.execute("BEGIN IMMEDIATE")
                yield db
            except sqlite3.Error:
                self._conn = None
                self._cache.clear()
                with suppress(sqlite3.Error):
                    db.rollback()
                db.close()
                raise

    # -- the store's own facts ------------------------------------------------------

    def get_meta(self, name: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        """Set ``name``; durable with the next commit, like any loose write."""
        with self._writing() as db:
            db.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    def copy_all(self) -> dict[bytes, bytes]:
        """Every key and value, as committed or written so far (a copy, in memory)."""
        with self._lock:
            return {bytes(k): bytes(v) for k, v in self._db.execute("SELECT key, value FROM kv")}

    def is_empty(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM kv LIMIT 1").fetchone() is None

    def close(self) -> None:
        """Commit what is pending and close the file. Idempotent."""
        with self._lock:
            if self._conn is None:
                return
            try:
                if self._conn.in_transaction:
                    self._conn.execute("COMMIT")
            finally:
                self._conn.close()
                self._conn = None
                self._cache.clear()

    def __enter__(self) -> SqliteDB:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._conn is None

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise sqlite3.ProgrammingError(f"{self.path}: the chain database is closed")
        return self._conn

    def __repr__(self) -> str:
        return f"SqliteDB({str(self.path)!r})"


class _Overlaid(BaseDB):
    """Writes kept in ``changes`` (None marks a deletion) over what :meth:`_below` reads."""

    changes: dict[bytes, bytes | None]

    def _below(self, key: bytes) -> bytes:
        raise NotImplementedError

    def _usable(self) -> None:
        """Raise if the view may not be used now."""

    def __getitem__(self, key: bytes) -> bytes:
        self._usable()
        key = bytes(key)
        if key in self.changes:
            value = self.changes[key]
            if value is None:
                raise KeyError(key)
            return value
        return self._below(key)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._usable()
        self.changes[bytes(key)] = bytes(value)

    def __delitem__(self, key: bytes) -> None:
        self._usable()
        if not self._exists(key):
            raise KeyError(key)
        self.changes[bytes(key)] = None

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True


class SqliteSnapshot(_Overlaid, BaseAtomicDB):
    """A read-only view of a ``SqliteDB`` file that another process writes: reads inside
    :meth:`snapshot` see one committed state; writes stay in memory until it ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Any thread may read through it; its user serialises them (``FollowedChain``).
        self._conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
        self.changes = {}

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Read one committed state throughout (a SQLite read transaction), and forget
        every write made meanwhile at the end."""
        if self._conn.in_transaction:  # one an interrupted snapshot left open
            self._conn.execute("ROLLBACK")
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            self.changes.clear()
            self._conn.execute("ROLLBACK")

    def get_meta(self, name: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def _below(self, key: bytes) -> bytes:
        row = self._conn.execute(_GET, (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        found: bytes = row[0]
        return found

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        with _open_batch(self) as batch:
            yield batch
        self.changes.update(batch.changes)

    def close(self) -> None:
        self._conn.close()


class _WriteBatch(_Overlaid, AtomicWriteBatchAPI):
    """The view of a store inside ``atomic_batch()``: pending writes over the store."""

    def __init__(self, target: SqliteDB | SqliteSnapshot) -> None:
        self._target: SqliteDB | SqliteSnapshot | None = target
        self.changes = {}

    def _below(self, key: bytes) -> bytes:
        return self._open()[key]

    def _usable(self) -> None:
        self._open()

    def close(self) -> None:
        self._target = None

    def _open(self) -> SqliteDB | SqliteSnapshot:
        if self._target is None:
            raise ValidationError("the atomic batch was used outside its context")
        return self._target


@contextmanager
def _open_batch(target: SqliteDB | SqliteSnapshot) -> Iterator[_WriteBatch]:
    """A write batch over ``target``, unusable after the block (its ``changes`` stay)."""
    batch = _WriteBatch(target)
    try:
        yield batch
    finally:
        batch.close()
