"""Answering an EPCIS query: a page of captured events, as EPCIS 2.0 query documents carry
them.

Each event is its TraceEvents' payload (the event as captured, with the ``@context`` it
was read under as its own), plus what a repository adds: ``recordTime`` (when this node
captured it) and, for an event captured without one, ``eventID`` set to its CBV 2.0 hash
ID (CBV 2.0 §8.9 names the hash ID as an eventID). An event declared in error is returned
as its declaration carries it, with its ``errorDeclaration``. Nothing else is changed: the
hash ID of a returned event is the one it was captured under.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection

from node.epcis.hashid import capture_key
from node.epcis.query import Cursor, EventQuery, Order, QueryPage
from node.epcis.vocabulary import GS1_CONTEXT_URLS
from node.store.records import EpcisEventRecord
from node.store.store import Store

#: The context a query document names (GS1's, by its ratified URL).
EPCIS_CONTEXT: Final = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
assert EPCIS_CONTEXT in GS1_CONTEXT_URLS


def run_query(store: Store, query: EventQuery) -> QueryPage:
    """One page of the events matching ``query``, and the cursor of the next page."""
    served = query.page.served if query.page is not None else 0
    room = query.per_page
    if query.count_limit is not None:
        room = min(room, query.count_limit - served)
    if room <= 0:
        return QueryPage()
    with store.read() as conn:
        records = store.epcis.query(conn, query, limit=room + 1)
        page = records[:room]
        events = answered(conn, store, page)
    more = len(records) > room and (
        query.count_limit is None or served + len(page) < query.count_limit
    )
    last = page[-1] if page else None
    cursor = None
    if more and last is not None:
        key = last.event_time if query.order is Order.EVENT_TIME else last.captured_at
        cursor = Cursor(key or 0, last.id, served + len(page))
    return QueryPage(events, cursor)


def answered(
    conn: Connection, store: Store, records: Sequence[EpcisEventRecord]
) -> list[dict[str, Any]]:
    """``records`` as a query answers them, in the caller's transaction (module docstring)."""
    # An event declared in error is answered with its declaration (docs/epcis.md).
    declared = store.epcis.known(conn, [capture_key(r.hash_id, True) for r in records])
    first = {
        r.hash_id: declared.get(capture_key(r.hash_id, True), b"")[:32] or r.trace_events[0]
        for r in records
    }
    payloads = store.events.payloads(conn, list(first.values()))
    events: list[dict[str, Any]] = []
    for record in records:
        payload = payloads.get(first[record.hash_id])
        if payload is None:  # a capture's TraceEvents are stored with it; never absent
            continue
        event: dict[str, Any] = json.loads(payload)
        if "@context" not in event and record.context is not None:
            event = {"@context": json.loads(record.context)} | event
        event.setdefault("eventID", record.hash_id)
        event["recordTime"] = timestamp(record.captured_at)
        events.append(event)
    return events


def query_document(
    events: list[dict[str, Any]],
    *,
    created_ms: int,
    query_name: str = "SimpleEventQuery",
    subscription_id: str | None = None,
) -> dict[str, Any]:
    """An EPCIS 2.0 query document holding ``events``: SimpleEventQuery results, or a named
    query's (``query_name``), delivered to ``subscription_id``."""
    results: dict[str, Any] = {"queryName": query_name}
    if subscription_id is not None:
        results["subscriptionID"] = subscription_id
    results["resultsBody"] = {"eventList": events}
    return {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": timestamp(created_ms),
        "epcisBody": {"queryResults": results},
    }


def timestamp(ms: int) -> str:
    """``ms`` since the Unix epoch as EPCIS writes times (UTC, milliseconds)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
