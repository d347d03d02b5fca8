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
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection

from node.epcis.document import schema_view
from node.epcis.hashid import canonical_value, capture_key
from node.epcis.masterdata import MasterDataElement, cbv_name
from node.epcis.names import MAX_FILTERED, shown_elements
from node.epcis.query import (
    Cursor,
    EventQuery,
    MasterDataFilter,
    MasterDataTest,
    Match,
    Order,
    QueryPage,
    Term,
)
from node.epcis.vocabulary import GS1_CONTEXT_URLS
from node.exceptions import EpcisQueryError
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
        records = find(conn, store, query, limit=room + 1)
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


def find(
    conn: Connection, store: Store, query: EventQuery, *, limit: int
) -> list[EpcisEventRecord]:
    """Up to ``limit`` events matching ``query``, its master-data filters resolved first
    (:func:`resolve`)."""
    return store.epcis.query(conn, resolve(conn, store, query), limit=limit)


def resolve(conn: Connection, store: Store, query: EventQuery) -> EventQuery:
    """``query`` with each master-data filter (EQATTR_, HASATTR_, WD_) made a match of the
    codes it holds for: the codes whose *shown* element (the choice rule: the licence
    holder's latest anchored assertion first, as the page shows it) passes the test."""
    if not query.master_data:
        return query
    elements = shown_elements(store, conn)
    if elements is None:
        raise EpcisQueryError(
            f"this node holds more than {MAX_FILTERED} master-data assertions: it does not "
            "filter by master data",
            parameter=_parameter(query.master_data[0]),
        )
    matches = list(query.matches)
    for wanted in query.master_data:
        path = ("readPoint", "id") if wanted.field is Term.READ_POINT else ("bizLocation", "id")
        by_code = {canonical_value(e.code, path): e for e in elements}
        if wanted.test is MasterDataTest.WITH_DESCENDANTS:
            codes = _descendants(wanted.values, by_code, path)
        else:
            codes = {code for code, e in by_code.items() if _passes(e, wanted)}
        matches.append(Match(frozenset({wanted.field.value}), frozenset(codes)))
    return replace(query, matches=tuple(matches), master_data=())


def _parameter(wanted: MasterDataFilter) -> str:
    if wanted.test is MasterDataTest.EQUALS:
        return f"EQATTR_{wanted.field.value}_{wanted.attribute}"
    return f"{wanted.test.value}_{wanted.field.value}"


def _same_attribute(asked: str, attribute: str) -> bool:
    """One attribute, CBV master-data attributes by their local name in any spelling
    (``city``, ``urn:epcglobal:cbv:mda#city``, ``cbvmda:city``...)."""
    if asked == attribute:
        return True
    local = cbv_name(attribute)
    return local is not None and local == (cbv_name(asked) or asked.rpartition(":")[2])


def _passes(element: MasterDataElement, wanted: MasterDataFilter) -> bool:
    if wanted.test is MasterDataTest.HAS:
        names = [name for name, _ in element.attributes]
        return any(_same_attribute(a, name) for name in names for a in wanted.values)
    return any(
        _same_attribute(wanted.attribute, name)
        and isinstance(value, str | int | float)
        and not isinstance(value, bool)
        and str(value) in wanted.values
        for name, value in element.attributes
    )


#: WD_: how many levels of children, and how many codes in all, are followed.
MAX_DEPTH: Final = 16
MAX_DESCENDANTS: Final = 10_000


def _descendants(
    roots: frozenset[str], by_code: dict[str, MasterDataElement], path: tuple[str, ...]
) -> set[str]:
    """``roots`` and every code their shown elements name as children, transitively."""
    found = set(roots)
    level = set(roots)
    for _ in range(MAX_DEPTH):
        below = {
            canonical_value(child, path)
            for code in level
            if (element := by_code.get(code)) is not None
            for child in element.children
        } - found
        if not below or len(found) + len(below) > MAX_DESCENDANTS:
            break
        found |= below
        level = below
    return found


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
        # CBV 1.x vocabulary URNs, accepted at capture, answered as the 2.0 words they
        # stand for: GS1's 2.0 JSON schema excludes them (the hash ID reads both alike).
        event: dict[str, Any] = schema_view(json.loads(payload))
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
