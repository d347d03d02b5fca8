"""EPCIS 2.0 documents mapped to TraceEvents away from the node.

The mapping is node/epcis/mapping.py's, the one the node re-derives when it captures
(a pure function of the document and of who the participants are). What
``node.epcis.capture.sign_document`` reads from the node's store is asked of the gateway
instead: which events it holds already (``POST /v1/epcis/lookup``: their CBV 2.0 hash
IDs), whom each destination party names (same request), the form of each event that
first names lots the network never held (``POST /v1/epcis/performers``' ``firstSeen``:
adopting them, or anchored-only; docs/epcis.md "Lots first seen mid-chain"), and —
through the client, like any event — the batches' heads and the signer's next nonce.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from node.epcis.document import EpcisDocument, EpcisEvent, parse_document
from node.epcis.hashid import event_hash_id
from node.epcis.mapping import (
    MappedDocument,
    MappedEvent,
    adopting,
    anchored_only,
    capture_keys,
    lots_extended,
    map_document,
    with_forms,
)
from node.epcis.masterdata import MasterDataElement, header_elements
from node.events.typed_data import Action

#: ``(hash IDs, party identifiers) -> (the hash IDs the node holds, party -> key or None)``
Lookup = Callable[
    [Sequence[str], Sequence[str]], tuple[Collection[str], Mapping[str, bytes | None]]
]


@dataclass(frozen=True, slots=True)
class CapturePlan:
    """A document, its mapping, and the TraceEvents still to sign (in document order)."""

    document: Any
    mapped: MappedDocument
    fresh: tuple[int, ...]  # indexes of the EPCIS events to sign: new, and not refused
    todo: tuple[MappedEvent, ...]
    #: The header's master-data elements, each once (the submitter asserts them; one it
    #: asserted before as it is comes back a duplicate): docs/epcis.md, "Master data".
    elements: tuple[MasterDataElement, ...] = ()


def destination_parties(events: Sequence[EpcisEvent]) -> list[str]:
    """Every destination party the document names (candidates for a SHIP's receiver)."""
    found: dict[str, None] = {}
    for event in events:
        entries = event.data.get("destinationList")
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("destination"), str):
                found[entry["destination"]] = None
    return list(found)


def hash_ids(document: Any) -> list[str]:
    """The CBV 2.0 hash ID of every event of ``document``."""
    return [event_hash_id(e.data, e.context) for e in parse_document(document).events]


def plan_capture(document: Any, lookup: Lookup) -> CapturePlan:
    """Parse and map ``document`` (typed :class:`~node.exceptions.EpcisError` when it is
    invalid) against what the gateway holds; events the mapping refuses
    (``mapped.refused``) are left unsigned, and the gateway reports them refused."""
    parsed = parse_document(document)
    hash_ids = [event_hash_id(e.data, e.context) for e in parsed.events]
    keys = list(capture_keys(parsed.events, hash_ids))  # a declaration of error: its own
    known, parties = lookup(keys, destination_parties(parsed.events))
    mapped = map_document(parsed.events, lambda party: parties.get(party))
    if list(mapped.keys) != keys:  # never, unless the mapping hashes otherwise
        known, _ = lookup(list(mapped.keys), [])
    fresh = mapped.to_sign(known)  # a refused event is not signed: the node refuses it too
    todo = tuple(m for i in fresh for m in mapped.trace_events[i])
    return CapturePlan(document, mapped, tuple(fresh), todo, header_master_data(parsed))


def header_master_data(document: EpcisDocument) -> tuple[MasterDataElement, ...]:
    """The well-formed master-data elements of ``document``'s header, each once (a
    malformed one is left unsigned: the gateway reports it refused)."""
    found: dict[tuple[bytes, bytes], MasterDataElement] = {}
    for item in header_elements(document.data):
        if item.element is not None:
            found.setdefault(
                (bytes(item.element.key.batch_id), item.element.canonical()), item.element
            )
    return tuple(found.values())


@dataclass(frozen=True, slots=True)
class FirstSeen:
    """The gateway's form of an event that first names lots the network never held
    (``POST /v1/epcis/performers``' ``firstSeen``, node/epcis/adoption.py): the lots its
    signer adopts before it, in order, or why it is anchored-only."""

    index: int
    adopts: tuple[str, ...]
    anchored_only: str | None


def with_first_seen(plan: CapturePlan, forms: Sequence[FirstSeen]) -> CapturePlan:
    """``plan`` with the events the gateway names in their form: adopting each lot it lists
    (each one the event's TraceEvents extend), or anchored-only. A :class:`ValueError` for
    a form that names an event not signed, or a lot the event does not extend."""
    chosen: dict[int, tuple[MappedEvent, ...]] = {}
    notes: dict[int, str] = {}
    for form in forms:
        if form.index not in plan.fresh or form.index in chosen:
            raise ValueError(f"event {form.index} is not one to sign, or named twice")
        base = plan.mapped.trace_events[form.index]
        if form.anchored_only is not None:
            chosen[form.index] = anchored_only(base, plan.mapped.hash_ids[form.index])
            notes[form.index] = form.anchored_only
            continue
        extended = {lot.canonical: lot for lot in lots_extended(base)}
        if not form.adopts or any(lot not in extended for lot in form.adopts):
            raise ValueError(f"event {form.index} names no such lot to adopt")
        chosen[form.index] = adopting(base, [extended[lot] for lot in form.adopts])
    mapped = with_forms(plan.mapped, chosen, notes)
    todo = tuple(m for i in plan.fresh for m in mapped.trace_events[i])
    return replace(plan, mapped=mapped, todo=todo)


def extended_batches(plan: CapturePlan) -> set[bytes]:
    """The lots the events to sign extend: any may be one the network never held (then
    the gateway says what form its event takes)."""
    return {
        bytes(lot.batch_id)
        for i in plan.fresh
        for lot in lots_extended(plan.mapped.trace_events[i])
    }


def created_batches(item: MappedEvent) -> list[bytes]:
    """The batches the TraceEvent creates or adopts (they have no head to fetch)."""
    if item.action is Action.COMMISSION and item.batch is not None:
        return [bytes(item.batch.batch_id)]
    if item.adoption and item.batch is not None:
        return [bytes(item.batch.batch_id)]
    if item.action is Action.TRANSFORM:
        return [bytes(o.batch_id) for o in item.outputs]
    return []
