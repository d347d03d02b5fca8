"""The rules over the goods, for one batch at a time: mass balance, cold chain, impossible
travel (docs/monitor.md). :class:`node.monitor.service.Monitor` calls :func:`sources` once
per page of batches (inside its read) and :func:`check_goods` for each batch."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence

from sqlalchemy import Connection

from node.events.batch import BatchState
from node.events.typed_data import Action
from node.monitor.cold_chain import check_cold_chain
from node.monitor.mass_balance import check_shipments, check_transform
from node.monitor.payloads import creates, hexed, live
from node.monitor.products import ProductTable
from node.monitor.travel import check_travel
from node.store.records import EventRecord, Finding, RecordMemo
from node.store.store import Store

log = logging.getLogger(__name__)


def creation(batch_id: bytes, events: Sequence[EventRecord]) -> EventRecord | None:
    """The event that made the batch, among its events."""
    return next((r for r in events if live(r) and creates(r, batch_id)), None)


def sources(
    conn: Connection,
    store: Store,
    named: Mapping[bytes, Sequence[EventRecord]],
    complete: Collection[bytes] = (),
    memo: RecordMemo | None = None,
) -> dict[bytes, EventRecord]:
    """The event that made each input of the transformations among ``named``'s events.

    ``complete``: the batches of which ``named`` holds every event. An input among them
    is found there; only the others' events are read (a transformation names its inputs,
    so the monitor's read of its batches holds them already; ``memo``: see RecordMemo)."""
    inputs = {
        batch_id
        for events in named.values()
        for record in events
        if record.action is Action.TRANSFORM
        for batch_id in record.event.inputs
    }
    if not inputs:
        return {}
    made: dict[bytes, EventRecord] = {}
    for batch_id in inputs.intersection(complete):
        found = creation(batch_id, named.get(batch_id, ()))
        if found is not None:
            made[batch_id] = found
    unread = inputs.difference(complete)
    for row in store.events.of_batches(conn, sorted(unread), memo=memo) if unread else ():
        for batch_id in row.record.event.batch_ids() & unread:
            if live(row.record) and creates(row.record, batch_id):
                made.setdefault(batch_id, row.record)
    return made


def check_goods(
    state: BatchState,
    events: Sequence[EventRecord],
    made_from: Mapping[bytes, EventRecord],
    table: ProductTable,
) -> list[Finding]:
    """Every goods rule over one batch (``events``: those naming it, in the order
    accepted; ``made_from``: from :func:`sources`)."""
    made = creation(state.batch_id, events)
    if made is None:
        return []
    product = table.product(made.event.product)
    try:
        found = check_cold_chain(state, events, product, table.cold_chain)
        found += check_travel(state, events, product, table)
        found += check_shipments(state, events, made, table)
        if made.action is Action.TRANSFORM and made.event.outputs[0] == state.batch_id:
            found += check_transform(made, made_from, table)  # once, from its first output
    except (ArithmeticError, ValueError) as exc:
        # Signed data no rule foresaw must not blind the monitor to every other batch.
        log.warning("goods rules skipped batch %s: %r", hexed(state.batch_id), exc)
        return []
    return found
