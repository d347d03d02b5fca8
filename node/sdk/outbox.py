"""The outbox: signed events kept on disk until the gateway has them.

A SQLite file (``outbox.sqlite3``, WAL, synchronous=FULL: a committed write survives a
power cut) in a directory the user gives; ``outbox.lock`` next to it is held (``flock``)
by the one client using it, so two clients never number events from the same nonce.

An **entry** is what is sent as a unit: one signed event (sent in lists with its
neighbours) or one EPCIS capture request (all or nothing). Entries are written before
anything is sent, sent in the order they were signed, and deleted only once the gateway
answered ``accepted`` or ``duplicate``; a refused entry is kept aside (state
``rejected``) with the gateway's problem document. Each entry records the batch heads its
events leave behind and the nonces it used, so a client signing while earlier entries
wait extends them, not the gateway's older view.

``Outbox(None)`` keeps the same tables in memory: nothing survives the process.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal

from node.exceptions import OutboxError, OutboxLockedError

DATABASE: Final = "outbox.sqlite3"
LOCK: Final = "outbox.lock"
#: Last-known batch heads remembered for signing offline (oldest forgotten first).
MAX_REMEMBERED_HEADS: Final = 100_000
SCHEMA_VERSION: Final = 1

Kind = Literal["event", "epcis"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS entries (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL CHECK (kind IN ('event', 'epcis')),
    body         TEXT NOT NULL,     -- a submission, or a capture request (JSON)
    event_hashes TEXT NOT NULL,     -- JSON list of 0x hashes, in signing order
    heads        TEXT NOT NULL,     -- JSON {batchId: head} the entry's events leave
    max_nonce    TEXT,              -- decimal: the largest nonce of the signer's it uses
    created_at   INTEGER NOT NULL,  -- ms since the epoch
    state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'rejected')),
    problem      TEXT,              -- the gateway's problem document, once rejected
    rejected_at  INTEGER
);
CREATE INDEX IF NOT EXISTS entries_state ON entries (state, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS heads (
    batch_id TEXT PRIMARY KEY,
    head     TEXT NOT NULL,
    seen     INTEGER NOT NULL       -- ordering for forgetting the oldest
);
"""


@dataclass(frozen=True, slots=True)
class Entry:
    """One unit of the outbox."""

    seq: int
    kind: Kind
    body: dict[str, Any]
    event_hashes: tuple[str, ...]
    heads: dict[str, str]
    max_nonce: int | None  # the largest nonce of the outbox's signer it uses
    created_at: int
    size: int  # bytes of the body as sent
    text: str = ""  # the body as sent (JSON)
    problem: dict[str, Any] | None = None  # for a rejected entry
    rejected_at: int | None = None


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry to add (the outbox numbers it)."""

    kind: Kind
    body: dict[str, Any]
    event_hashes: tuple[str, ...]
    heads: dict[str, str]
    max_nonce: int | None  # None: no nonce of the outbox's signer (events signed elsewhere)


def encode(body: Any) -> str:
    """JSON as the SDK sends it (compact, UTF-8)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


class Outbox:
    """Entries waiting for the gateway, and what the client remembers between runs."""

    def __init__(
        self, directory: str | os.PathLike[str] | None, *, max_heads: int = MAX_REMEMBERED_HEADS
    ) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.max_heads = max_heads
        self._lock_file: IO[bytes] | None = None
        self._mutex = threading.RLock()
        directory_path = self.directory
        path = ":memory:" if directory_path is None else str(self._open_directory(directory_path))
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            if version not in (0, SCHEMA_VERSION):
                raise OutboxError(f"{path} is an outbox of a newer SDK (version {version})")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self._release()
            raise OutboxError(f"{path} cannot be used as an outbox: {exc}") from None
        except OutboxError:
            self._release()
            raise

    def _open_directory(self, directory: Path) -> Path:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            lock = (directory / LOCK).open("ab")
        except OSError as exc:
            raise OutboxError(f"cannot use {directory} as an outbox: {exc}") from None
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise OutboxLockedError(f"another client has the outbox {directory} open") from None
        self._lock_file = lock
        return directory / DATABASE

    def _release(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def close(self) -> None:
        with self._mutex:
            self._db.close()
            self._release()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._mutex:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ----- entries -----

    def add(
        self, entries: Sequence[NewEntry], *, meta: dict[str, Any] | None = None
    ) -> list[Entry]:
        """Write ``entries`` (and ``meta`` values) in one durable transaction."""
        now = int(time.time() * 1000)
        added: list[Entry] = []
        with self._transaction() as db:
            for new in entries:
                body = encode(new.body)
                cursor = db.execute(
                    "INSERT INTO entries (kind, body, event_hashes, heads, max_nonce, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        new.kind,
                        body,
                        encode(list(new.event_hashes)),
                        encode(new.heads),
                        str(new.max_nonce) if new.max_nonce is not None else None,
                        now,
                    ),
                )
                seq = cursor.lastrowid
                assert seq is not None
                added.append(
                    Entry(
                        seq=seq,
                        kind=new.kind,
                        body=new.body,
                        event_hashes=new.event_hashes,
                        heads=new.heads,
                        max_nonce=new.max_nonce,
                        created_at=now,
                        size=len(body.encode()),
                        text=body,
                    )
                )
            for key, value in (meta or {}).items():
                self._set_meta(db, key, value)
        return added

    def pending(self) -> list[Entry]:
        """Entries not yet delivered, oldest first."""
        return self._select("pending")

    def rejected(self) -> list[Entry]:
        """Entries the gateway refused, with its problem, oldest first."""
        return self._select("rejected")

    def count(self) -> int:
        with self._mutex:
            row = self._db.execute("SELECT count(*) FROM entries WHERE state = 'pending'")
            return int(row.fetchone()[0])

    def delivered(self, entries: Iterable[Entry]) -> None:
        """The gateway holds these: forget them."""
        with self._transaction() as db:
            db.executemany("DELETE FROM entries WHERE seq = ?", [(e.seq,) for e in entries])

    def reject(self, entry: Entry, problem: dict[str, Any]) -> None:
        """Keep ``entry`` aside with the gateway's problem."""
        with self._transaction() as db:
            db.execute(
                "UPDATE entries SET state = 'rejected', problem = ?, rejected_at = ? WHERE seq = ?",
                (encode(problem), int(time.time() * 1000), entry.seq),
            )

    def requeue(self, seq: int) -> None:
        """Put a rejected entry back in line (after fixing what refused it, e.g. an API key
        or a participant's registration); it is sent at its original place in the order."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE entries SET state = 'pending', problem = NULL, rejected_at = NULL"
                " WHERE seq = ? AND state = 'rejected'",
                (seq,),
            )
            if cursor.rowcount != 1:
                raise OutboxError(f"no rejected entry {seq}")

    def discard(self, seq: int) -> None:
        """Forget a rejected entry."""
        with self._transaction() as db:
            cursor = db.execute("DELETE FROM entries WHERE seq = ? AND state = 'rejected'", (seq,))
            if cursor.rowcount != 1:
                raise OutboxError(f"no rejected entry {seq}")

    def _select(self, state: str) -> list[Entry]:
        with self._mutex:
            rows = self._db.execute(
                "SELECT seq, kind, body, event_hashes, heads, max_nonce, created_at, problem,"
                " rejected_at FROM entries WHERE state = ? ORDER BY seq",
                (state,),
            ).fetchall()
        return [
            Entry(
                seq=int(seq),
                kind=kind,
                body=json.loads(body),
                event_hashes=tuple(json.loads(hashes)),
                heads=json.loads(heads),
                max_nonce=int(max_nonce) if max_nonce is not None else None,
                created_at=int(created_at),
                size=len(body.encode()),
                text=body,
                problem=json.loads(problem) if problem is not None else None,
                rejected_at=rejected_at,
            )
            for seq, kind, body, hashes, heads, max_nonce, created_at, problem, rejected_at in rows
        ]

    def pending_heads(self) -> dict[str, str]:
        """Each batch's head after every pending entry (later entries win)."""
        heads: dict[str, str] = {}
        with self._mutex:
            rows = self._db.execute(
                "SELECT heads FROM entries WHERE state = 'pending' ORDER BY seq"
            ).fetchall()
        for (text,) in rows:
            heads.update(json.loads(text))
        return heads

    def max_nonce(self) -> int | None:
        """The largest nonce of any entry, pending or rejected."""
        with self._mutex:
            rows = self._db.execute(
                "SELECT max_nonce FROM entries WHERE max_nonce IS NOT NULL"
            ).fetchall()
        return max((int(n) for (n,) in rows), default=None)

    # ----- what the client remembers -----

    def bind(self, signer: str) -> None:
        """Make ``signer`` the outbox's: its nonces are counted from the gateway's again.
        Refused while another signer's events wait to be sent."""
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'signer'").fetchone()
            bound = json.loads(row[0]) if row is not None else None
            if bound == signer:
                return
            if bound is not None:
                (waiting,) = db.execute(
                    "SELECT count(*) FROM entries WHERE state = 'pending'"
                ).fetchone()
                if waiting:
                    raise OutboxError(
                        f"the outbox holds events of {bound} still to send; flush them with "
                        "that key or use another directory"
                    )
            db.execute("UPDATE entries SET max_nonce = NULL")
            db.execute("DELETE FROM meta WHERE key = 'next_nonce'")
            self._set_meta(db, "signer", signer)

    def meta(self, key: str) -> Any:
        with self._mutex:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row is not None else None

    def set_meta(self, **values: Any) -> None:
        with self._transaction() as db:
            for key, value in values.items():
                self._set_meta(db, key, value)

    @staticmethod
    def _set_meta(db: sqlite3.Connection, key: str, value: Any) -> None:
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, encode(value)),
        )

    def remember_heads(self, heads: dict[str, str]) -> None:
        """Record batches' last-known heads (for signing while the gateway is away)."""
        if not heads:
            return
        with self._transaction() as db:
            (top,) = db.execute("SELECT coalesce(max(seen), 0) FROM heads").fetchone()
            db.executemany(
                "INSERT INTO heads (batch_id, head, seen) VALUES (?, ?, ?)"
                " ON CONFLICT (batch_id) DO UPDATE SET head = excluded.head, seen = excluded.seen",
                [(b, h, top + 1 + i) for i, (b, h) in enumerate(heads.items())],
            )
            (count,) = db.execute("SELECT count(*) FROM heads").fetchone()
            if count > self.max_heads:
                db.execute(
                    "DELETE FROM heads WHERE seen <= ?", (top + len(heads) - self.max_heads,)
                )

    def remembered_heads(self, batch_ids: Iterable[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(batch_ids))
        found: dict[str, str] = {}
        with self._mutex:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT batch_id, head FROM heads WHERE batch_id IN ({marks})",  # noqa: S608
                    chunk,
                )
                found.update(rows.fetchall())
        return found
