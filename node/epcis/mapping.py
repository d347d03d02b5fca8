"""EPCIS 2.0 events → TraceNode events: the one mapping, used by the signer and the node.

The mapping is a pure function of the EPCIS event and of who the registered participants
are (to name a SHIP's receiver); batch heads and nonces are not part of it, so the node
re-derives exactly what a signer derived and refuses signatures over anything else. An
event that first names lots the network never held takes one of two forms on top of it,
chosen with its signer (node/epcis/adoption.py, "Lots first seen mid-chain").
The table (docs/epcis.md), first rule that applies:

========================================================  ===============================
EPCIS event                                               TraceNode events
========================================================  ===============================
an event that names no lot, item or handle                an anchored-only record
                                                          (OBSERVE, no head) of each
                                                          identifier it names, or of its
                                                          hash ID when it names none
any event with ``errorDeclaration``                       OBSERVE each batch (the chain
                                                          is append-only: the correction
                                                          is recorded, nothing undone)
Transaction / Association event                           OBSERVE each batch
TransformationEvent                                       one TRANSFORM: inputs → outputs;
                                                          outputs only: COMMISSION each
                                                          output; inputs only: OBSERVE
                                                          each input (see below); its
                                                          disposition, ``recalled`` too,
                                                          stays in the payload
disposition ``recalled``                                  RECALL each batch
AggregationEvent ADD / DELETE                             one AGGREGATE / DISAGGREGATE:
                                                          parentID (the pallet) and its
                                                          child lots
ObjectEvent ADD, bizStep commissioning,                   COMMISSION each batch
creating_class_instance, encoding or none
bizStep ``destroying``, disposition destroyed / disposed  DESTROY each batch
bizStep ``shipping``                                      SHIP each batch to the
                                                          destination party
bizStep ``receiving``                                     RECEIVE each batch
anything else (inspecting, sensor_reporting, storing,     OBSERVE each batch
departing, arriving, ...)
========================================================  ===============================

*Batches* are the lots and items an event names (``epcList`` / ``childEPCs`` items and
``quantityList`` classes, as :mod:`node.events.identifiers` reads them: LGTIN lots,
SGTIN items, handles); other identifiers (SSCCs, GRAIs, GIAIs, GSRNs, product classes
without a lot, other URIs, open identifiers included) name no batch: beside batches they
stay in the payload, alone they are the event's records
(:func:`~node.events.identifiers.parse_record`).

A TransformationEvent that names lots on one side only (EPCIS lets a transformation be
split into events sharing a ``transformationID``, or name inputs that are no lots) says
what it says of those lots alone: outputs made here from inputs not named as lots are
created (COMMISSION, under the signer's licence as any creation), and inputs used in a
transformation whose outputs are not named are observed (OBSERVE: BatchRegistry consumes a
lot only into named outputs, so they stay ACTIVE on-chain). No lineage joins the parts;
the query interface finds them by ``EQ_transformationID``. Every TraceEvent of one EPCIS
event carries that event's original JSON as its payload, with the ``@context`` it was
read under (:func:`payload_of`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from node.epcis.digital_link import normalise_gs1_uri
from node.epcis.document import EVENT_TYPES, EpcisEvent
from node.epcis.hashid import capture_key, epoch_millis, event_hash_id
from node.epcis.vocabulary import CBV, expand_curie, gs1_prefixes, inline_prefixes
from node.events.compose import head_effects
from node.events.hashing import keccak
from node.events.identifiers import (
    Identifier,
    IdentifierKind,
    looks_like_gtin_batch,
    parse_identifier,
    parse_logistic_unit,
    parse_record,
)
from node.events.payload import canonical_json
from node.events.typed_data import MAX_LINKED_BATCHES, ZERO20, ZERO32, Action, Domain, TraceEvent
from node.exceptions import (
    EpcisError,
    EpcisEventIdConflictError,
    EpcisLimitError,
    EpcisMappingError,
    InvalidIdentifierError,
    InvalidPayloadError,
)

MAX_TRACE_EVENTS: Final = 1_000
#: The most keys that sign one document of several parties (a supplier's key set is a
#: few): node/epcis/performers.py judges at most these, the SDK signs with at most these.
MAX_SIGNERS: Final = 16

COMMISSION_STEPS: Final = frozenset({"commissioning", "creating_class_instance", "encoding"})
DESTROYED: Final = frozenset({"destroyed", "disposed"})

#: Resolves a party or location identifier (PGLN, SGLN, Digital Link 417/414) to the
#: current key of the registered participant it belongs to, or None.
PartyResolver = Callable[[str], bytes | None]


@dataclass(frozen=True, slots=True)
class MappedEvent:
    """A TraceEvent as the document determines it; heads and nonce are filled in later."""

    epcis_index: int
    action: Action
    batch: Identifier | None = None
    inputs: tuple[Identifier, ...] = ()
    outputs: tuple[Identifier, ...] = ()
    counterparty: bytes = ZERO20
    product: bytes = ZERO32
    quantity: int = 0
    event_time: int = 0
    location: bytes = ZERO32
    payload: bytes = b""  # the EPCIS event's JSON, RFC 8785
    #: An anchored-only record: an OBSERVE of ``batch``, a record key (parse_record)
    #: that is no batch, extending no head.
    record: bool = False
    #: A lot first seen mid-chain: the RECEIVE with no previous event that adopts
    #: ``batch`` before the EPCIS event that first names it (node/epcis/adoption.py).
    adoption: bool = False

    @property
    def payload_hash(self) -> bytes:
        return keccak(self.payload)

    def identifiers(self) -> tuple[str, ...]:
        """What the signed submission names beside the TraceEvent: the batches it creates,
        a record's key (the node checks the batch id derives from it), or a received lot
        (a lot the network never held is adopted from outside under it: docs/events.md,
        "Parties outside the network"), or a packing's pallet (the node lets the signer name
        only an SSCC, an asset, another URI, or a lot of its own prefix as a pallet)."""
        packs = self.action in (Action.AGGREGATE, Action.DISAGGREGATE)
        if (self.record or packs or self.action is Action.RECEIVE) and self.batch is not None:
            return (self.batch.canonical,)
        return self.created()

    def created(self) -> tuple[str, ...]:
        """Canonical identifiers of the batches this event creates (recorded on them)."""
        if self.action is Action.COMMISSION and self.batch is not None:
            return (self.batch.canonical,)
        if self.action is Action.TRANSFORM:
            return tuple(o.canonical for o in self.outputs)
        return ()

    def heads_needed(self) -> list[bytes]:
        """The batches whose heads the TraceEvent extends."""
        wanted = [bytes(i.batch_id) for i in self.inputs]
        if self.record:
            return wanted
        if self.action not in (Action.COMMISSION, Action.TRANSFORM) and self.batch is not None:
            wanted.insert(0, bytes(self.batch.batch_id))
        return wanted

    def trace_event(self, *, heads: Mapping[bytes, bytes], nonce: int) -> TraceEvent:
        """The TraceEvent of this event extending ``heads`` (a batch absent: no head yet),
        with ``nonce``."""
        subject = bytes(self.batch.batch_id) if self.batch is not None else ZERO32
        inputs = tuple(bytes(i.batch_id) for i in self.inputs)
        creates = self.action in (Action.COMMISSION, Action.TRANSFORM) or self.record
        return TraceEvent(
            self.action,
            batch_id=subject,
            prev_event_hash=ZERO32 if creates else heads.get(subject, ZERO32),
            inputs=inputs,
            input_prev_hashes=tuple(heads.get(i, ZERO32) for i in inputs),
            outputs=tuple(bytes(o.batch_id) for o in self.outputs),
            counterparty=self.counterparty,
            product=self.product,
            quantity=self.quantity,
            event_time=self.event_time,
            location=self.location,
            payload_hash=self.payload_hash,
            nonce=nonce,
        )


def chain_trace_events(
    items: Sequence[MappedEvent], *, heads: Mapping[bytes, bytes], nonce: int, domain: Domain
) -> tuple[list[tuple[TraceEvent, bytes]], dict[bytes, bytes]]:
    """The TraceEvents of ``items`` in order, each extending ``heads`` as the ones before
    it leave them, numbered from ``nonce``; each with its digest, and the heads they leave.

    The one composition of a document's TraceEvents: the node's ``tracenode epcis sign``
    (heads from its store) and the SDK (heads from the gateway) both use it."""
    return chain_signed(
        items, signers=[ZERO20] * len(items), heads=heads, nonces={ZERO20: nonce}, domain=domain
    )


def chain_signed(
    items: Sequence[MappedEvent],
    *,
    signers: Sequence[bytes],
    heads: Mapping[bytes, bytes],
    nonces: Mapping[bytes, int],
    domain: Domain,
) -> tuple[list[tuple[TraceEvent, bytes]], dict[bytes, bytes]]:
    """:func:`chain_trace_events` for a document of several parties: ``signers[i]`` signs
    ``items[i]``, and each signer's events are numbered on from its next nonce in
    ``nonces`` (node/epcis/performers.py chooses the signers)."""
    following = dict(nonces)
    current = dict(heads)
    changed: dict[bytes, bytes] = {}
    events: list[tuple[TraceEvent, bytes]] = []
    for item, signer in zip(items, signers, strict=True):
        event = item.trace_event(heads=current, nonce=following[signer])
        following[signer] += 1
        digest = event.digest(domain)
        effects = head_effects(event, digest)
        current.update(effects)
        changed.update(effects)
        events.append((event, digest))
    return events, changed


@dataclass(frozen=True, slots=True)
class MappedDocument:
    """Each EPCIS event's hash ID and the TraceEvents it maps to, or why it maps to none
    (``refused``, by event index: the event alone is refused, the others are not)."""

    events: tuple[EpcisEvent, ...]
    hash_ids: tuple[str, ...]
    trace_events: tuple[tuple[MappedEvent, ...], ...] = field(default=())
    refused: Mapping[int, EpcisError] = field(default_factory=dict)
    #: Why an event the network cannot track custody of is anchored-only (its lots first
    #: seen mid-chain, which its signer may not adopt), by event index.
    notes: Mapping[int, str] = field(default_factory=dict)

    def anchored_only(self, index: int) -> bool:
        """Whether the event maps to anchored-only records alone (no batch of its own)."""
        mapped = self.trace_events[index]
        return bool(mapped) and all(m.record for m in mapped)

    def to_sign(self, known: Collection[str]) -> list[int]:
        """Indexes of the events whose TraceEvents a capture request signs: new (not
        ``known``, not repeated in the document) and not refused by the mapping."""
        return [i for i in self.new_events(known) if i not in self.refused]

    @property
    def keys(self) -> tuple[str, ...]:
        """What capture knows each event by (:func:`capture_keys`)."""
        return capture_keys(self.events, self.hash_ids)

    def new_events(self, known: Collection[str]) -> list[int]:
        """Indexes of the events to capture: not ``known`` to the node (by capture key: an
        event's declaration of error is new beside the event), and not repeated within the
        document (the node's capture and the SDK's signing agree on this)."""
        seen = set(known)
        fresh: list[int] = []
        for index, key in enumerate(self.keys):
            if key not in seen:
                seen.add(key)
                fresh.append(index)
        return fresh

    def declares(self, index: int) -> bool:
        """Whether event ``index`` declares an error (it carries ``errorDeclaration``)."""
        return declares_error(self.events[index])


def declares_error(event: EpcisEvent) -> bool:
    """Whether an EPCIS event carries an ``errorDeclaration``: it states that the event of
    its hash ID was in error (docs/epcis.md, "Corrections")."""
    return isinstance(event.data.get("errorDeclaration"), dict)


def capture_keys(events: Sequence[EpcisEvent], hash_ids: Sequence[str]) -> tuple[str, ...]:
    """What capture knows each event by: its hash ID, marked for a declaration of error
    (the hash ID ignores ``errorDeclaration``, so an event and its declaration share it)."""
    return tuple(capture_key(h, declares_error(e)) for e, h in zip(events, hash_ids, strict=True))


@dataclass(frozen=True, slots=True)
class _Common:
    index: int
    event_time: int
    location: bytes


@dataclass(frozen=True, slots=True)
class _Named:
    identifier: Identifier
    quantity: int
    pointer: str


def bare_word(value: Any, kind: str, context: Any) -> str | None:
    """A CBV value (bare word, CBV URN, web URI or ``cbv:`` CURIE) as its bare word, e.g.
    ``shipping`` for ``urn:epcglobal:cbv:bizstep:shipping``; None when absent or not CBV."""
    if not isinstance(value, str):
        return None
    text = expand_curie(value.strip(), {**gs1_prefixes(), **inline_prefixes(context)})
    urn = f"urn:epcglobal:cbv:{kind.lower()}:"
    web = f"{CBV}{kind}-"
    for prefix in (urn, web, web.replace("https://", "http://")):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text if ":" not in text else None


def map_event(
    event: EpcisEvent, parties: PartyResolver, hash_id: str | None = None
) -> tuple[MappedEvent, ...]:
    """The TraceEvents one EPCIS event maps to (see the module docstring); an
    :class:`~node.exceptions.EpcisError` naming the field when it maps to none.
    ``hash_id`` (the event's CBV 2.0 hash ID, computed when not given) keys the record of
    an event that names nothing at all."""
    data = event.data
    kind = event.type
    if kind not in EVENT_TYPES:
        raise EpcisMappingError(
            f"event {event.index}: {kind!r} is not one of the five EPCIS 2.0 event types",
            event_index=event.index,
            pointer=f"{event.pointer}/type",
        )
    base = _Common(event.index, _time(event), _location(data))
    payload = _payload(event)
    step = bare_word(data.get("bizStep"), "BizStep", event.context)
    disposition = bare_word(data.get("disposition"), "Disp", event.context)
    action_field = data.get("action")

    batches = _subjects(event)
    if not batches:
        return _records(event, payload, base, hash_id)
    if kind == "TransformationEvent" and "errorDeclaration" not in data:
        return _transform(event, payload, base)
    packing = kind == "AggregationEvent" and action_field in ("ADD", "DELETE")
    if packing and "errorDeclaration" not in data and disposition != "recalled":
        return (_pack(event, payload, base),)

    if "errorDeclaration" in data or kind in ("TransactionEvent", "AssociationEvent"):
        action = Action.OBSERVE
    elif disposition == "recalled":
        action = Action.RECALL
    elif kind == "ObjectEvent" and action_field == "ADD" and (step in COMMISSION_STEPS or not step):
        action = Action.COMMISSION
    elif step == "destroying" or disposition in DESTROYED:
        action = Action.DESTROY
    elif step == "shipping":
        action = Action.SHIP
    elif step == "receiving":
        action = Action.RECEIVE
    else:
        action = Action.OBSERVE
    counterparty = _receiver(event, parties) if action is Action.SHIP else ZERO20
    return _each(action, batches, payload, base, counterparty)


def _each(
    action: Action,
    batches: Sequence[_Named],
    payload: bytes,
    base: _Common,
    counterparty: bytes = ZERO20,
) -> tuple[MappedEvent, ...]:
    """One ``action`` of each batch (a COMMISSION with its product and quantity)."""
    return tuple(
        MappedEvent(
            action=action,
            batch=named.identifier,
            counterparty=counterparty,
            product=_product(named.identifier) if action is Action.COMMISSION else ZERO32,
            quantity=named.quantity if action is Action.COMMISSION else 0,
            payload=payload,
            epcis_index=base.index,
            event_time=base.event_time,
            location=base.location,
        )
        for named in batches
    )


def lots_extended(items: Sequence[MappedEvent]) -> tuple[Identifier, ...]:
    """The lots whose heads an EPCIS event's TraceEvents extend, each once, in order: a
    SHIP's, OBSERVE's, RECALL's or DESTROY's lot, a TRANSFORM's inputs, the lots a pallet
    packs or unpacks. Not a COMMISSION's or a TRANSFORM's outputs (created), a RECEIVE's
    (it adopts a lot never seen itself), a record's or a pallet's."""
    found: dict[bytes, Identifier] = {}
    for item in items:
        if item.record or item.adoption:
            continue
        if item.action in (Action.COMMISSION, Action.RECEIVE):
            continue
        named = list(item.inputs)
        if item.batch is not None and item.action not in (
            Action.TRANSFORM,
            Action.AGGREGATE,
            Action.DISAGGREGATE,
        ):
            named.insert(0, item.batch)
        for lot in named:
            found.setdefault(bytes(lot.batch_id), lot)
    return tuple(found.values())


def adopting(items: Sequence[MappedEvent], lots: Sequence[Identifier]) -> tuple[MappedEvent, ...]:
    """``items`` preceded by the adoption of each of ``lots`` (node/epcis/adoption.py): a
    RECEIVE naming no previous event, with the EPCIS event's payload, time and place (its
    identifier goes with the submission, as for any adoption)."""
    first = items[0]
    adoptions = tuple(
        replace(
            first,
            action=Action.RECEIVE,
            batch=lot,
            inputs=(),
            outputs=(),
            counterparty=bytes(20),
            product=bytes(32),
            quantity=0,
            record=False,
            adoption=True,
        )
        for lot in lots
    )
    return adoptions + tuple(items)


def anchored_only(items: Sequence[MappedEvent], hash_id: str) -> tuple[MappedEvent, ...]:
    """The event as an anchored-only record: one OBSERVE of its own CBV 2.0 hash ID (the
    record key of an event that names nothing), with its payload, time and place."""
    key = parse_record(normalise_gs1_uri(hash_id))
    first = items[0]
    return (
        replace(
            first,
            action=Action.OBSERVE,
            batch=key,
            inputs=(),
            outputs=(),
            counterparty=bytes(20),
            product=bytes(32),
            quantity=0,
            record=True,
            adoption=False,
        ),
    )


def map_document(events: Sequence[EpcisEvent], parties: PartyResolver) -> MappedDocument:
    """Every event's hash ID and mapping, or the reason it maps to none (an event whose
    mapping fails, or whose ``eventID`` names an earlier event of the document, is refused
    alone); bounded in the number of TraceEvents."""
    hash_ids = tuple(event_hash_id(e.data, e.context) for e in events)
    mapped: list[tuple[MappedEvent, ...]] = []
    refused: dict[int, EpcisError] = {}
    total = 0
    for event, hash_id in zip(events, hash_ids, strict=True):
        try:
            trace = map_event(event, parties, hash_id)
        except EpcisError as exc:
            refused[len(mapped)] = exc
            trace = ()
        total += len(trace)
        if total > MAX_TRACE_EVENTS:
            raise EpcisLimitError(
                f"the document maps to more than {MAX_TRACE_EVENTS} TraceEvents",
                event_index=event.index,
                pointer=event.pointer,
            )
        mapped.append(trace)
    for index, conflict in event_id_conflicts(events, hash_ids, {}).items():
        refused.setdefault(index, conflict)
    return MappedDocument(tuple(events), hash_ids, tuple(mapped), refused)


def with_refusals(mapped: MappedDocument, more: Mapping[int, EpcisError]) -> MappedDocument:
    """``mapped`` with the events of ``more`` refused too (an earlier reason stays)."""
    if not more:
        return mapped
    return replace(mapped, refused={**more, **mapped.refused})


def with_forms(
    mapped: MappedDocument,
    forms: Mapping[int, tuple[MappedEvent, ...]],
    notes: Mapping[int, str],
) -> MappedDocument:
    """``mapped`` with the TraceEvents of some events in the form their signer gives them
    (lots first seen mid-chain adopted, or the event anchored-only: node/epcis/adoption.py),
    and why those anchored-only are."""
    if not forms and not notes:
        return mapped
    events = tuple(forms.get(i, items) for i, items in enumerate(mapped.trace_events))
    return replace(mapped, trace_events=events, notes={**mapped.notes, **notes})


#: The longest eventID kept (longer ones are not stored, so not compared either).
MAX_EVENT_ID: Final = 512


def event_id_of(event: EpcisEvent) -> str | None:
    """The event's ``eventID`` as stored, or None (absent, or too long to keep)."""
    raw = event.data.get("eventID")
    if not isinstance(raw, str) or not raw or len(raw) > MAX_EVENT_ID:
        return None
    return raw


def check_event_ids(
    events: Sequence[EpcisEvent], hash_ids: Sequence[str], stored: Mapping[str, str]
) -> None:
    """Raise the first of :func:`event_id_conflicts`."""
    for conflict in event_id_conflicts(events, hash_ids, stored).values():
        raise conflict


def event_id_conflicts(
    events: Sequence[EpcisEvent], hash_ids: Sequence[str], stored: Mapping[str, str]
) -> dict[int, EpcisEventIdConflictError]:
    """Each event whose ``eventID`` names another event, by index: one with the ID of an
    earlier event of the document but another hash ID, or one whose ID ``stored`` (event
    ID → hash ID) gives to another. The same event sent twice (one hash ID) is a
    duplicate, not a conflict."""
    conflicts: dict[int, EpcisEventIdConflictError] = {}
    first: dict[str, tuple[int, str]] = {}
    for event, hash_id in zip(events, hash_ids, strict=True):
        event_id = event_id_of(event)
        if event_id is None:
            continue
        pointer = f"{event.pointer}/eventID"
        other = stored.get(event_id)
        if other is not None and other != hash_id:
            conflicts[event.index] = EpcisEventIdConflictError(
                f"event {event.index}: eventID {event_id!r} names another event this node "
                f"captured before ({other}); this one hashes to {hash_id}",
                event_index=event.index,
                pointer=pointer,
            )
            continue
        seen = first.setdefault(event_id, (event.index, hash_id))
        if seen[1] != hash_id:
            conflicts[event.index] = EpcisEventIdConflictError(
                f"events {seen[0]} and {event.index} share eventID {event_id!r} but are "
                "different events",
                event_index=event.index,
                pointer=pointer,
            )
    return conflicts


# ----- the parts of a TraceEvent -----


def _time(event: EpcisEvent) -> int:
    try:
        return epoch_millis(str(event.data["eventTime"]))
    except (KeyError, ValueError):
        raise EpcisMappingError(
            f"event {event.index} has no usable eventTime",
            event_index=event.index,
            pointer=f"{event.pointer}/eventTime",
        ) from None


def _location(data: Mapping[str, Any]) -> bytes:
    """keccak-256 of the read point (else the business location), as a canonical
    Digital Link when it is a GS1 key (an SGLN URN and its Digital Link agree)."""
    for name in ("readPoint", "bizLocation"):
        place = data.get(name)
        if isinstance(place, dict) and isinstance(place.get("id"), str) and place["id"].strip():
            return keccak(normalise_gs1_uri(place["id"].strip()).encode())
    return ZERO32


def _product(identifier: Identifier) -> bytes:
    """keccak-256 of the GTIN's canonical Digital Link (``https://id.gs1.org/01/{gtin}``)."""
    if identifier.gtin is None:
        return ZERO32
    return keccak(f"https://id.gs1.org/01/{identifier.gtin}".encode())


def payload_of(event: EpcisEvent) -> dict[str, Any]:
    """What a TraceEvent keeps of an EPCIS event: the event as given, with the ``@context``
    it was read under (the document's, then its own) as its own ``@context``: a bare
    EPCIS 2.0 event that stands alone, whose hash ID anyone can re-derive from it
    (``event_hash_id(payload, payload["@context"])``; the hash ID ignores ``@context``)."""
    if event.context is None:
        return dict(event.data)
    return {"@context": event.context} | {k: v for k, v in event.data.items() if k != "@context"}


def _payload(event: EpcisEvent) -> bytes:
    try:
        return canonical_json(payload_of(event))
    except InvalidPayloadError as exc:
        raise EpcisLimitError(
            f"event {event.index} cannot be kept as a payload: {exc}",
            event_index=event.index,
            pointer=event.pointer,
        ) from None


def _quantity(raw: Any) -> int:
    """A quantity as the TraceEvent's whole number: rounded up (the exact amount and its
    unit stay in the payload); unspecified is 1."""
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        return 1
    return max(1, math.ceil(raw))


def _identifier(text: Any, where: str, event: EpcisEvent) -> Identifier | None:
    """The batch an identifier names, None when it names none (an SSCC, an asset, a
    product class, an open identifier: a record key here); a GTIN-based lot or item that
    is malformed is an error."""
    if not isinstance(text, str):
        return None
    try:
        identifier = parse_identifier(text)
    except InvalidIdentifierError as exc:
        if looks_like_gtin_batch(normalise_gs1_uri(text.strip())) or looks_like_gtin_batch(text):
            raise EpcisMappingError(
                f"event {event.index}: {exc}", event_index=event.index, pointer=where
            ) from None
        return None
    # An open identifier (urn:acme:lot:7) is read as a record key: EPCIS capture creates
    # no batch under one, and an event naming one that a batch holds is the batch's, which
    # the ingest judges (names_open_batch): docs/epcis.md, "Open identifiers".
    if identifier.kind in (IdentifierKind.BATCH_ID, IdentifierKind.OPEN):
        return None
    return identifier


def _named(event: EpcisEvent, epcs: str, quantities: str) -> list[_Named]:
    """Batches named by an EPC list and a quantity list, each once, in document order."""
    data = event.data
    found: dict[bytes, _Named] = {}
    for i, text in enumerate(data.get(epcs) or []):
        where = f"{event.pointer}/{epcs}/{i}"
        identifier = _identifier(text, where, event)
        if identifier is not None:
            found.setdefault(identifier.batch_id, _Named(identifier, 1, where))
    for i, element in enumerate(data.get(quantities) or []):
        if not isinstance(element, dict):
            continue
        where = f"{event.pointer}/{quantities}/{i}/epcClass"
        identifier = _identifier(element.get("epcClass"), where, event)
        if identifier is not None:
            quantity = _quantity(element.get("quantity"))
            found.setdefault(identifier.batch_id, _Named(identifier, quantity, where))
    return list(found.values())


def _subjects(event: EpcisEvent) -> list[_Named]:
    if event.type in ("AggregationEvent", "AssociationEvent"):
        return _named(event, "childEPCs", "childQuantityList")
    if event.type == "TransformationEvent":
        return _named(event, "inputEPCList", "inputQuantityList") + _named(
            event, "outputEPCList", "outputQuantityList"
        )
    return _named(event, "epcList", "quantityList")


def _transform(event: EpcisEvent, payload: bytes, base: _Common) -> tuple[MappedEvent, ...]:
    inputs = _named(event, "inputEPCList", "inputQuantityList")
    outputs = _named(event, "outputEPCList", "outputQuantityList")
    if len(inputs) + len(outputs) > MAX_LINKED_BATCHES:
        raise EpcisLimitError(
            f"event {event.index} links more than {MAX_LINKED_BATCHES} batches",
            event_index=event.index,
            pointer=event.pointer,
        )
    if not inputs or not outputs:
        # One side only (the module docstring): what it says of those lots alone.
        if outputs:
            return _each(Action.COMMISSION, outputs, payload, base)
        return _each(Action.OBSERVE, inputs, payload, base)
    gtins = {o.identifier.gtin for o in outputs}
    product = _product(outputs[0].identifier) if len(gtins) == 1 else ZERO32
    return (
        MappedEvent(
            action=Action.TRANSFORM,
            inputs=tuple(i.identifier for i in inputs),
            outputs=tuple(o.identifier for o in outputs),
            product=product,
            quantity=sum(o.quantity for o in outputs),
            payload=payload,
            epcis_index=base.index,
            event_time=base.event_time,
            location=base.location,
        ),
    )


def _pack(event: EpcisEvent, payload: bytes, base: _Common) -> MappedEvent:
    parent = event.data.get("parentID")
    where = f"{event.pointer}/parentID"
    pallet: Identifier | None = None
    if isinstance(parent, str):
        try:
            pallet = parse_logistic_unit(parent)
        except InvalidIdentifierError:
            pallet = _identifier(parent, where, event) or _record_key(parent, where, event)
    if pallet is None:
        raise EpcisMappingError(
            f"event {event.index}: packing needs a parentID that names the pallet (an SSCC, "
            "an asset, a lot, an item, a handle or another URI)",
            event_index=event.index,
            pointer=where,
        )
    children = _named(event, "childEPCs", "childQuantityList")
    if not children:
        raise EpcisMappingError(
            f"event {event.index} packs or unpacks no TraceNode lot or item",
            event_index=event.index,
            pointer=event.pointer,
        )
    if len(children) > MAX_LINKED_BATCHES:
        raise EpcisLimitError(
            f"event {event.index} packs more than {MAX_LINKED_BATCHES} batches",
            event_index=event.index,
            pointer=event.pointer,
        )
    action = Action.AGGREGATE if event.data.get("action") == "ADD" else Action.DISAGGREGATE
    return MappedEvent(
        action=action,
        batch=pallet,
        inputs=tuple(c.identifier for c in children),
        payload=payload,
        epcis_index=base.index,
        event_time=base.event_time,
        location=base.location,
    )


#: Where an event names what it is about: EPC lists and parentID, and quantity lists.
_WHAT_EPCS: Final = ("parentID", "epcList", "childEPCs", "inputEPCList", "outputEPCList")
_WHAT_CLASSES: Final = ("quantityList", "childQuantityList", "inputQuantityList")
_WHAT_OUTPUT_CLASSES: Final = ("outputQuantityList",)


def _record_key(text: str, where: str, event: EpcisEvent) -> Identifier:
    """A record key (:func:`~node.events.identifiers.parse_record`) of an identifier that
    names no batch, GS1 keys as their canonical Digital Link (the hash ID's rules)."""
    try:
        return parse_record(normalise_gs1_uri(text.strip()))
    except InvalidIdentifierError as exc:
        raise EpcisMappingError(
            f"event {event.index}: {exc}", event_index=event.index, pointer=where
        ) from None


def _records(
    event: EpcisEvent, payload: bytes, base: _Common, hash_id: str | None
) -> tuple[MappedEvent, ...]:
    """An event that names no lot or item: an anchored-only record (OBSERVE) of each
    identifier it names (SSCCs, assets, service relations, product classes, other URIs),
    or, when it names none, of its own CBV 2.0 hash ID. Never custody: whatever its
    action says, nothing is created or moved."""
    data = event.data
    texts: list[tuple[str, str]] = []
    for name in _WHAT_EPCS:
        value = data.get(name)
        if isinstance(value, str):
            texts.append((value, f"{event.pointer}/{name}"))
        elif isinstance(value, list):
            texts.extend(
                (item, f"{event.pointer}/{name}/{i}")
                for i, item in enumerate(value)
                if isinstance(item, str)
            )
    for name in _WHAT_CLASSES + _WHAT_OUTPUT_CLASSES:
        for i, element in enumerate(data.get(name) or []):
            if isinstance(element, dict) and isinstance(element.get("epcClass"), str):
                texts.append((element["epcClass"], f"{event.pointer}/{name}/{i}/epcClass"))
    keys: dict[bytes, Identifier] = {}
    for text, where in texts:
        if not text.strip() or _identifier(text, where, event) is not None:
            continue  # a batch named where the mapping reads none (a parentID lot)
        key = _record_key(text, where, event)
        keys.setdefault(bytes(key.batch_id), key)
    if not keys:
        own = hash_id if hash_id is not None else event_hash_id(data, event.context)
        key = _record_key(own, event.pointer, event)
        keys[bytes(key.batch_id)] = key
    return tuple(
        MappedEvent(
            action=Action.OBSERVE,
            batch=key,
            record=True,
            payload=payload,
            epcis_index=base.index,
            event_time=base.event_time,
            location=base.location,
        )
        for key in keys.values()
    )


def _receiver(event: EpcisEvent, parties: PartyResolver) -> bytes:
    """The participant a shipment goes to: the possessing party among the destinations,
    else the owning party, that names a registered participant; else nobody in the network
    (zero: the lot leaves it, docs/events.md "Parties outside the network"), the
    destinations staying in the payload."""
    ranked: list[tuple[int, int, str]] = []
    for i, entry in enumerate(event.data.get("destinationList") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("destination"), str):
            continue
        kind = bare_word(entry.get("type"), "SDT", event.context)
        rank = {"possessing_party": 0, "owning_party": 1}.get(kind or "")
        if rank is not None:
            ranked.append((rank, i, entry["destination"]))
    for _rank, _i, destination in sorted(ranked):
        key = parties(destination)
        if key is not None:
            return key
    return ZERO20
