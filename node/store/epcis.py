"""Captured EPCIS 2.0 events (node.epcis): hash IDs and the TraceEvents they map to."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from node.store.records import EpcisEventRecord, EpcisEventRow
from node.store.tables import EPCIS_EVENTS, chunks, insert_many, split32


class EpcisRepository:
    """EPCIS events by CBV 2.0 hash ID."""

    def known(self, conn: Connection, hash_ids: Sequence[str]) -> dict[str, bytes]:
        """The concatenated TraceEvent hashes of each hash ID in ``hash_ids`` already stored."""
        found: dict[str, bytes] = {}
        for chunk in chunks(sorted(set(hash_ids))):
            rows = conn.execute(
                select(EPCIS_EVENTS.c.hash_id, EPCIS_EVENTS.c.trace_events).where(
                    EPCIS_EVENTS.c.hash_id.in_(chunk)
                )
            )
            found.update((h, bytes(t)) for h, t in rows)
        return found

    def hash_ids_of(self, conn: Connection, event_ids: Sequence[str]) -> dict[str, str]:
        """The hash ID stored under each of ``event_ids`` that names a captured event."""
        found: dict[str, str] = {}
        for chunk in chunks(sorted(set(event_ids))):
            rows = conn.execute(
                select(EPCIS_EVENTS.c.event_id, EPCIS_EVENTS.c.hash_id).where(
                    EPCIS_EVENTS.c.event_id.in_(chunk)
                )
            )
            found.update((str(e), str(h)) for e, h in rows)
        return found

    def insert(self, conn: Connection, rows: Sequence[EpcisEventRow]) -> None:
        insert_many(conn, EPCIS_EVENTS, rows)

    def get(self, conn: Connection, hash_id: str) -> EpcisEventRecord | None:
        row = conn.execute(select(EPCIS_EVENTS).where(EPCIS_EVENTS.c.hash_id == hash_id)).first()
        if row is None:
            return None
        return EpcisEventRecord(
            id=int(row.id),
            hash_id=str(row.hash_id),
            event_id=row.event_id,
            event_type=str(row.event_type),
            trace_events=split32(bytes(row.trace_events)),
            context=None if row.context is None else bytes(row.context),
            captured_at=int(row.captured_at),
        )
