"""The node's database, on SQLite or PostgreSQL: one engine, its transaction rules, and a
repository per kind of data.

A repository holds no connection and no state: every method takes the connection of the
caller's transaction (``with store.write() as conn``), so that one transaction may span
several repositories (the ingest writes events, batches and lineage together) and the
caller decides where it begins and ends. Reads and writes use SQLAlchemy Core over the
SQLModel tables (``node.store.models``); bulk paths use one statement per kind of row
(``executemany``), never an ORM object per event, and never load more than the rows a
call names: the store stays flat in memory and in time as it grows (epochs:
``node.store.tables``). Readers return typed records (``node.store.records``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, select

from node.store.alertlog import AlertLogRepository
from node.store.alerts import AlertRepository
from node.store.batches import BatchRepository
from node.store.engine import WRITE_OPTION, WRITER_WAIT_S, open_engine
from node.store.epcis import EpcisRepository
from node.store.epcis_jobs import EpcisJobRepository, EpcisQueryRepository
from node.store.events import EventRepository
from node.store.licences import LicenceRepository
from node.store.masterdata import MasterDataRepository
from node.store.participants import ParticipantRepository
from node.store.refusals import RefusalRepository
from node.store.webhooks import WebhookRepository
from node.store.windows import WindowRepository


class Store:
    """The node's database: transactions, and the repositories that read and write in them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: SQLite: this process's writers queue here for the database's write lock
        #: (node.store.engine._begin_immediate); None on PostgreSQL.
        self._writers = threading.RLock() if engine.dialect.name == "sqlite" else None
        #: Seconds a writer waits for the write lock (SQLite), queue included.
        self.writer_wait = WRITER_WAIT_S
        self.dialect = engine.dialect.name
        self.participants = ParticipantRepository()
        self.licences = LicenceRepository()
        self.batches = BatchRepository()
        self.events = EventRepository(self.batches)
        self.windows = WindowRepository()
        self.epcis = EpcisRepository()
        self.epcis_jobs = EpcisJobRepository()
        self.epcis_queries = EpcisQueryRepository()
        self.alert_log = AlertLogRepository()
        self.alerts = AlertRepository(self.alert_log)
        self.webhooks = WebhookRepository(self.batches)
        self.refusals = RefusalRepository()
        self.master_data = MasterDataRepository(self.events)

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (and migrate) the database at ``url``."""
        return cls(open_engine(url))

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on exit, rolled back on any exception.

        On SQLite, one writer at a time holds the database's write lock: this process's
        writers queue for it on a lock of their own (the next one woken as soon as the
        one before is done) and only the first looks at SQLite's, so that several
        request threads do not all poll it; both waits together end at
        ``writer_wait`` seconds, then SQLite's busy error."""
        deadline = time.monotonic() + self.writer_wait
        queued = self._writers is not None and self._writers.acquire(timeout=self.writer_wait)
        try:
            connection = self.engine.connect().execution_options(**{WRITE_OPTION: deadline})
            with connection as conn, conn.begin():
                yield conn
        finally:
            if queued and self._writers is not None:
                self._writers.release()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (a consistent snapshot on PostgreSQL and on SQLite's WAL)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def ping(self) -> None:
        """A round trip to the database (readiness)."""
        with self.read() as conn:
            conn.execute(select(1))
