"""Master-data assertions (node.epcis.masterdata) by the record key of their code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from node.store.events import EventRepository
from node.store.records import MasterDataRecord, MasterDataRow
from node.store.tables import MASTER_DATA, chunks, insert_many


class MasterDataRepository:
    """Who asserted what about a code: each assertion is an event (its status, its proof)."""

    def __init__(self, events: EventRepository) -> None:
        self._events = events

    def insert(self, conn: Connection, rows: Sequence[MasterDataRow]) -> None:
        insert_many(conn, MASTER_DATA, rows)

    def of_keys(self, conn: Connection, keys: Sequence[bytes]) -> list[MasterDataRecord]:
        """Every assertion about each of ``keys``, oldest first, with its event's status."""
        found: list[Any] = []
        for chunk in chunks(sorted(set(keys))):
            rows = conn.execute(
                select(MASTER_DATA).where(MASTER_DATA.c.key.in_(chunk)).order_by(MASTER_DATA.c.id)
            )
            found.extend(rows)
        return self._records(conn, found)

    def every(self, conn: Connection, *, limit: int) -> list[MasterDataRecord]:
        """The first ``limit`` assertions about any code (what a query's master-data filter
        reads: node.epcis.results), oldest first, with their events' status."""
        rows = conn.execute(select(MASTER_DATA).order_by(MASTER_DATA.c.id).limit(limit))
        return self._records(conn, list(rows))

    def _records(self, conn: Connection, found: list[Any]) -> list[MasterDataRecord]:
        # Each event's status, through the events' own (epoch, hash) index.
        status = self._events.known(conn, [bytes(row.event_hash) for row in found])
        records = [
            MasterDataRecord(
                key=bytes(row.key),
                event_hash=bytes(row.event_hash),
                participant_id=int(row.participant_id),
                element=bytes(row.element),
                received_at=int(row.received_at),
                status=status[bytes(row.event_hash)],
            )
            for row in found
            if bytes(row.event_hash) in status
        ]
        records.sort(key=lambda r: (r.received_at, r.event_hash))
        return records
