"""Captured EPCIS 2.0 events (node.epcis): hash IDs and the TraceEvents they map to."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, func, or_, select

from node.epcis.hashid import capture_key, split_capture_key
from node.epcis.query import Cursor, EventQuery, Order, Term
from node.store.records import (
    EpcisDeclarationRecord,
    EpcisDeclarationRow,
    EpcisEventRecord,
    EpcisEventRow,
)
from node.store.tables import (
    EPCIS_CORRECTED,
    EPCIS_DECLARATIONS,
    EPCIS_EVENTS,
    EPCIS_TERMS,
    chunks,
    insert_many,
    split32,
)


class EpcisRepository:
    """EPCIS events by CBV 2.0 hash ID."""

    def known(self, conn: Connection, keys: Sequence[str]) -> dict[str, bytes]:
        """The concatenated TraceEvent hashes of each capture key in ``keys`` already
        stored: a hash ID's event, or a declared one's (:func:`capture_key`) declaration."""
        found: dict[str, bytes] = {}
        plain = sorted({k for k in keys if not split_capture_key(k)[1]})
        declared = sorted({split_capture_key(k)[0] for k in keys if split_capture_key(k)[1]})
        for h, t in _by_hash_id(conn, EPCIS_EVENTS, "trace_events", plain).items():
            found[h] = bytes(t)
        for h, t in _by_hash_id(conn, EPCIS_DECLARATIONS, "trace_events", declared).items():
            found[capture_key(h, True)] = bytes(t)
        return found

    def declare(self, conn: Connection, rows: Sequence[EpcisDeclarationRow]) -> None:
        """Store declarations of error, each linked to every TraceEvent of the event it
        corrects (``corrected``: hash ID -> its TraceEvent hashes)."""
        if not rows:
            return
        insert_many(
            conn,
            EPCIS_DECLARATIONS,
            [{k: v for k, v in row.items() if k != "corrected"} for row in rows],
        )
        hash_ids = [row["hash_id"] for row in rows]
        ids = _by_hash_id(conn, EPCIS_DECLARATIONS, "id", hash_ids)
        # An EPCIS query for events with an error declaration finds the declared event.
        events = _by_hash_id(conn, EPCIS_EVENTS, "id", hash_ids)
        insert_many(
            conn,
            EPCIS_TERMS,
            [
                {"kind": Term.ERROR_DECLARATION.value, "value": "", "epcis_event_id": i}
                for i in events.values()
            ],
            ignore_conflicts=True,
        )
        insert_many(
            conn,
            EPCIS_CORRECTED,
            [
                {"event_hash": event_hash, "declaration_id": ids[row["hash_id"]]}
                for row in rows
                for event_hash in split32(row["corrected"])
            ],
        )

    def corrections(
        self, conn: Connection, event_hashes: Sequence[bytes]
    ) -> dict[bytes, EpcisDeclarationRecord]:
        """The declaration of error of each of ``event_hashes`` that is a TraceEvent of a
        corrected EPCIS event."""
        found: dict[bytes, EpcisDeclarationRecord] = {}
        d, c = EPCIS_DECLARATIONS.c, EPCIS_CORRECTED.c
        for chunk in chunks(sorted(set(event_hashes))):
            rows = conn.execute(
                select(
                    c.event_hash,
                    d.hash_id,
                    d.trace_events,
                    d.declaration_time,
                    d.reason,
                    d.corrective_event_ids,
                    d.captured_at,
                )
                .join(EPCIS_DECLARATIONS, d.id == c.declaration_id)
                .where(c.event_hash.in_(chunk))
            )
            for event_hash, hash_id, trace, when, reason, corrective, captured in rows:
                found[bytes(event_hash)] = EpcisDeclarationRecord(
                    hash_id=str(hash_id),
                    trace_events=split32(bytes(trace)),
                    declaration_time=str(when),
                    reason=reason,
                    corrective_event_ids=tuple(json.loads(bytes(corrective))),
                    captured_at=int(captured),
                )
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

    def insert(
        self,
        conn: Connection,
        rows: Sequence[EpcisEventRow],
        terms: Sequence[Sequence[tuple[str, str]]] = (),
    ) -> None:
        """Store captured events and, for each (``terms[i]`` for ``rows[i]``), the terms a
        query finds it by (node.epcis.query.index_terms)."""
        insert_many(conn, EPCIS_EVENTS, rows)
        if not terms:
            return
        ids = _by_hash_id(conn, EPCIS_EVENTS, "id", [row["hash_id"] for row in rows])
        insert_many(
            conn,
            EPCIS_TERMS,
            [
                {"kind": kind, "value": value, "epcis_event_id": ids[row["hash_id"]]}
                for row, row_terms in zip(rows, terms, strict=True)
                for kind, value in row_terms
            ],
        )

    def query(self, conn: Connection, query: EventQuery, *, limit: int) -> list[EpcisEventRecord]:
        """Up to ``limit`` captured events matching ``query``, in its order, after its
        page cursor. Master-data filters are resolved into matches first
        (node.epcis.results.find): never ignored here."""
        if query.master_data:
            raise ValueError("resolve the query's master-data filters first")
        e = EPCIS_EVENTS.c
        conditions: list[ColumnElement[bool]] = []
        if query.event_types:
            conditions.append(e.event_type.in_(sorted(query.event_types)))
        for column, (low, high) in (
            (e.event_time, query.event_time),
            (e.captured_at, query.record_time),
        ):
            if low is not None:
                conditions.append(column >= low)
            if high is not None:
                conditions.append(column < high)
        for match in query.matches:
            t = EPCIS_TERMS.c
            conditions.append(
                e.id.in_(
                    select(t.epcis_event_id).where(
                        t.kind.in_(sorted(match.kinds)), t.value.in_(sorted(match.values))
                    )
                )
            )
        key = e.event_time if query.order is Order.EVENT_TIME else e.captured_at
        if query.page is not None:
            conditions.append(_after(key, e.id, query.page, descending=query.descending))
        order: list[Any] = (
            [key.desc(), e.id.desc()] if query.descending else [key.asc(), e.id.asc()]
        )
        if query.order is Order.EVENT_TIME:
            conditions.append(key.is_not(None))
        rows = conn.execute(
            select(EPCIS_EVENTS).where(and_(True, *conditions)).order_by(*order).limit(limit)
        )
        return [_record(row) for row in rows]

    def last_ids(self, conn: Connection) -> tuple[int, int]:
        """The highest row id of the events and of the declarations (0 when none)."""
        return (
            int(conn.execute(select(func.max(EPCIS_EVENTS.c.id))).scalar() or 0),
            int(conn.execute(select(func.max(EPCIS_DECLARATIONS.c.id))).scalar() or 0),
        )

    def new_since(
        self,
        conn: Connection,
        *,
        declarations: bool,
        after: int,
        missing: Sequence[int],
        limit: int,
    ) -> list[tuple[int, str]]:
        """``(row id, hash ID)`` of events (or declarations) whose row id is above
        ``after`` or among ``missing``, by row id: what a stream has not seen
        (node.epcis.stream)."""
        table = EPCIS_DECLARATIONS if declarations else EPCIS_EVENTS
        c = table.c
        condition = c.id > after
        if missing:
            condition = or_(condition, c.id.in_(sorted(missing)))
        rows = conn.execute(select(c.id, c.hash_id).where(condition).order_by(c.id).limit(limit))
        return [(int(i), str(h)) for i, h in rows]

    def get(self, conn: Connection, hash_id: str) -> EpcisEventRecord | None:
        row = conn.execute(select(EPCIS_EVENTS).where(EPCIS_EVENTS.c.hash_id == hash_id)).first()
        return None if row is None else _record(row)


def _record(row: Any) -> EpcisEventRecord:
    return EpcisEventRecord(
        id=int(row.id),
        hash_id=str(row.hash_id),
        event_id=row.event_id,
        event_type=str(row.event_type),
        trace_events=split32(bytes(row.trace_events)),
        context=None if row.context is None else bytes(row.context),
        captured_at=int(row.captured_at),
        event_time=None if row.event_time is None else int(row.event_time),
    )


def _after(key: Any, id_: Any, cursor: Cursor, *, descending: bool) -> ColumnElement[bool]:
    """Rows past ``cursor`` in (key, id) order."""
    if descending:
        return or_(key < cursor.key, and_(key == cursor.key, id_ < cursor.id))
    return or_(key > cursor.key, and_(key == cursor.key, id_ > cursor.id))


def _by_hash_id(
    conn: Connection, table: Table, column: str, hash_ids: Sequence[str]
) -> dict[str, Any]:
    """``column`` of the rows of ``table`` (events or declarations) with these hash IDs."""
    found: dict[str, Any] = {}
    for chunk in chunks(sorted(set(hash_ids))):
        rows = conn.execute(
            select(table.c.hash_id, table.c[column]).where(table.c.hash_id.in_(chunk))
        )
        found.update((str(h), value) for h, value in rows)
    return found
