"""Query subscriptions over WebSocket (EPCIS 2.0 REST bindings: ``GET
/queries/{queryName}/events?stream=true`` with ``Upgrade: websocket``; docs/epcis.md,
"Subscriptions over WebSocket").

A :class:`Stream` follows what the node captures after it opened: each :meth:`Stream.poll`
reads the events (and declarations of error) stored since the last one, keeps those that
match its named query (:func:`node.epcis.named.matching`, what a webhook subscription
delivers, one definition) and gives them as EPCIS 2.0 query documents, each within
:data:`MAX_MESSAGE_BYTES` and :data:`MAX_EVENTS_PER_MESSAGE`.

It reads the store, not the capture's process, so captures made by any process of the node
(another worker, ``tracenode epcis capture``) reach it. Rows are followed by their row id;
on PostgreSQL a transaction may commit after one that took a higher id, so an id skipped
over is kept as *missing* and looked for again for :data:`MISSING_SECONDS` (a capture's
transaction is far shorter) before it is given up as rolled back.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any, Final

from sqlalchemy import Connection

from node.epcis.named import matching, pairs
from node.epcis.query import EventQuery, Order, parse_query
from node.epcis.results import answered, find, query_document
from node.epcis.schedule import Schedule
from node.exceptions import EpcisLimitError
from node.store.records import NamedQueryRecord
from node.store.store import Store

#: How often a stream looks for new events (seconds).
POLL_SECONDS: Final = 0.5
#: Rows read per poll and table; a stream behind by more catches up over several polls.
BATCH: Final = 500
#: How long an id skipped over is looked for again, and how many are kept at most.
MISSING_SECONDS: Final = 60.0
MAX_MISSING: Final = 2_000
#: A message (one query document) holds at most this many events and bytes (an event's
#: payload is at most 256 KiB, so one always fits).
MAX_EVENTS_PER_MESSAGE: Final = 100
MAX_MESSAGE_BYTES: Final = 1 << 20
#: Open streams: per owner (a participant, the admin) and per process.
MAX_PER_OWNER: Final = 4
MAX_STREAMS: Final = 64
#: A message the client does not take within this many seconds closes the stream.
SEND_SECONDS: Final = 10.0


@dataclass
class _Tail:
    """New rows of one table (events or declarations), by row id."""

    declarations: bool
    last: int
    missing: dict[int, float] = field(default_factory=dict)  # id -> when first missed

    def new(self, store: Store, conn: Connection, now: float) -> list[str]:
        rows = store.epcis.new_since(
            conn,
            declarations=self.declarations,
            after=self.last,
            missing=list(self.missing),
            limit=BATCH,
        )
        for id_, _hash_id in rows:
            self.missing.pop(id_, None)
            if id_ > self.last:
                first = max(self.last + 1, id_ - MAX_MISSING)
                self.missing.update((gap, now) for gap in range(first, id_))
                self.last = id_
        for id_, since in list(self.missing.items()):
            if now - since > MISSING_SECONDS:
                del self.missing[id_]
        while len(self.missing) > MAX_MISSING:
            del self.missing[min(self.missing)]
        return [hash_id for _id, hash_id in rows]


@dataclass
class Stream:
    """One WebSocket subscription to a named query, from the moment it opened: each
    poll's new matching events at once, or, with a ``schedule``, gathered until its next
    query time (then sent, or an empty document when ``report_if_empty``)."""

    query: NamedQueryRecord
    base: EventQuery
    events: _Tail
    declarations: _Tail
    schedule: Schedule | None = None
    report_if_empty: bool = False
    #: Matching events not sent yet (a schedule's, and those since ``initialRecordTime``).
    waiting: list[dict[str, Any]] = field(default_factory=list)
    checked_ms: int = 0  # until when the schedule was looked at

    @classmethod
    def open(
        cls,
        store: Store,
        query: NamedQueryRecord,
        *,
        schedule: Schedule | None = None,
        report_if_empty: bool = False,
        initial_record_ms: int | None = None,
        now_ms: int = 0,
    ) -> Stream:
        """A stream of ``query`` starting after everything stored now (its definition was
        checked when stored; :class:`~node.exceptions.EpcisQueryError` if no longer), and,
        with ``initial_record_ms``, the matching events recorded since then first
        (at most :data:`MAX_WAITING`, else :class:`~node.exceptions.EpcisLimitError`)."""
        base = parse_query(pairs(query.definition), max_per_page=1)
        with store.read() as conn:
            events, declarations = store.epcis.last_ids(conn)
            earlier = (
                _recorded_since(conn, store, base, initial_record_ms, events)
                if initial_record_ms is not None
                else []
            )
        return cls(
            query,
            base,
            _Tail(False, events),
            _Tail(True, declarations),
            schedule,
            report_if_empty,
            earlier,
            now_ms,
        )

    def poll(self, store: Store, *, now_ms: int) -> list[str] | None:
        """The messages (JSON texts of query documents) due now; None when the query was
        deleted meanwhile (the stream ends)."""
        now = time.monotonic()
        with store.read() as conn:
            current = store.epcis_queries.get(conn, self.query.owner, self.query.name)
            if current is None or current.id != self.query.id:
                return None
            hash_ids = self.events.new(store, conn, now) + self.declarations.new(store, conn, now)
            self.waiting.extend(matching(conn, store, self.base, list(dict.fromkeys(hash_ids))))
        if len(self.waiting) > MAX_WAITING:
            raise EpcisLimitError(
                f"more than {MAX_WAITING} matching events wait for the schedule's next query "
                "time: subscribe with a schedule that runs more often"
            )
        if self.schedule is not None:
            due = self.schedule.due(self.checked_ms, now_ms)
            self.checked_ms = now_ms
            if not due or (not self.waiting and not self.report_if_empty):
                return []
        sent, self.waiting = self.waiting, []
        return [
            json.dumps(query_document(chunk, created_ms=now_ms, query_name=self.query.name))
            for chunk in _chunks(sent) or ([[]] if self.schedule is not None else [])
        ]


#: Matching events a stream keeps for its next query time, or from ``initialRecordTime``.
MAX_WAITING: Final = 10_000


def _recorded_since(
    conn: Connection, store: Store, base: EventQuery, since_ms: int, last_id: int
) -> list[dict[str, Any]]:
    """The events matching ``base`` recorded since ``since_ms``, up to row ``last_id`` (the
    stream follows the rest), oldest first."""
    query = replace(
        base, record_time=(since_ms, None), order=Order.RECORD_TIME, descending=False, page=None
    )
    records = [r for r in find(conn, store, query, limit=MAX_WAITING + 1) if r.id <= last_id]
    if len(records) > MAX_WAITING:
        raise EpcisLimitError(
            f"more than {MAX_WAITING} matching events were recorded since initialRecordTime: "
            "run the query for them, then subscribe"
        )
    return answered(conn, store, records)


def _chunks(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``events`` in messages of at most :data:`MAX_EVENTS_PER_MESSAGE` events and about
    :data:`MAX_MESSAGE_BYTES` (the document's own few hundred bytes aside)."""
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    budget = MAX_MESSAGE_BYTES - 1024
    for event in events:
        length = len(json.dumps(event).encode())
        if current and (len(current) >= MAX_EVENTS_PER_MESSAGE or size + length > budget):
            chunks.append(current)
            current, size = [], 0
        current.append(event)
        size += length
    if current:
        chunks.append(current)
    return chunks
