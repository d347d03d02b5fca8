"""EPCIS 2.0 capture: a signed capture request in, TraceEvents ingested, hash IDs stored.

A **capture request** is the EPCIS document together with the participant's EIP-712
signatures over the TraceEvents the document maps to (node/epcis/mapping.py)::

    {
      "document":    { an EPCISDocument, EPCISQueryDocument or bare event, unchanged },
      "traceEvents": [ {"event": {EIP-712 TraceEvent message}, "signature": "0x..."}, ... ]
    }

``traceEvents`` lists, in document order, the TraceEvents of every EPCIS event not
captured before (an event whose CBV 2.0 hash ID the node already holds is a duplicate and
maps to nothing new). Each TraceEvent's ``payloadHash`` is keccak-256 of the RFC 8785
form of its EPCIS event's JSON, exactly as the document carries it.

The node trusts nothing in ``traceEvents`` but the signatures: it re-derives the mapping
from the document and refuses the request (:class:`~node.exceptions.EpcisSignatureMismatchError`)
unless every signed TraceEvent is the one the document maps to — same action, batches,
receiver, product, quantity, time, location and payload hash. Only the links to the
batches' heads and the nonce are the signer's to choose, and the ingest rules check them.
Capture is all or nothing: one refused TraceEvent rolls the whole request back.

:func:`sign_document` builds such a request against the store's current heads and
nonces; :func:`capture` is the service the CLI and ``POST /v1/epcis/capture`` call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TypeVar

from sqlalchemy import Connection

from node.epcis.digital_link import normalise_gs1_uri
from node.epcis.document import EpcisDocument, parse_document
from node.epcis.mapping import (
    MAX_TRACE_EVENTS,
    MappedDocument,
    MappedEvent,
    PartyResolver,
    chain_trace_events,
    check_event_ids,
    event_id_of,
    map_document,
)
from node.epcis.query import index_terms
from node.events.batch import BatchState
from node.events.identifiers import GS1_MAX_PREFIX, GS1_MIN_PREFIX, PrefixKind
from node.events.payload import canonical_json
from node.events.signatures import address_of, recover_signer, sign_digest
from node.events.submission import SignedEvent, parse_event, parse_hex
from node.events.typed_data import ZERO32, Domain, TraceEvent
from node.exceptions import (
    EpcisDocumentError,
    EpcisError,
    EpcisEventRejectedError,
    EpcisLimitError,
    EpcisSignatureMismatchError,
    EventRejectedError,
    InvalidEventError,
    InvalidSignatureError,
)
from node.ingest.service import IngestResult, IngestService
from node.participants.sync import CURSOR as PARTICIPANTS_CURSOR
from node.store.records import EpcisEventRow
from node.store.store import Store

_T = TypeVar("_T")
_REQUEST_FIELDS: Final = frozenset({"document", "traceEvents"})
#: TraceEvent fields the document determines (the others are heads and the nonce).
_DERIVED_FIELDS: Final = (
    ("action", "action"),
    ("batchId", "batch_id"),
    ("inputs", "inputs"),
    ("outputs", "outputs"),
    ("counterparty", "counterparty"),
    ("product", "product"),
    ("quantity", "quantity"),
    ("eventTime", "event_time"),
    ("location", "location"),
    ("payloadHash", "payload_hash"),
)


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class EpcisResult:
    """What became of one EPCIS event of a captured document."""

    index: int
    hash_id: str  # the CBV 2.0 event hash ID
    outcome: Outcome
    trace_events: tuple[bytes, ...]  # the TraceEvent hashes it maps to (empty if known)

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "eventHashId": self.hash_id,
            "outcome": str(self.outcome),
            "traceEvents": ["0x" + h.hex() for h in self.trace_events],
        }


@dataclass(frozen=True, slots=True)
class CaptureRequest:
    document: EpcisDocument
    signed: tuple[tuple[TraceEvent, bytes], ...]


def parse_capture_request(request: Any) -> CaptureRequest:
    """A capture request from parsed JSON (see the module docstring)."""
    if not isinstance(request, dict):
        raise EpcisDocumentError("a capture request must be a JSON object")
    extra = request.keys() - _REQUEST_FIELDS
    if extra:
        raise EpcisDocumentError(
            f"a capture request has unknown members {', '.join(sorted(map(str, extra)))}",
            pointer="",
        )
    if "document" not in request:
        raise EpcisDocumentError("a capture request needs its EPCIS document", pointer="/document")
    document = _prefixed(lambda: parse_document(request["document"]), "/document")
    entries = request.get("traceEvents", [])
    if not isinstance(entries, list):
        raise EpcisDocumentError("traceEvents must be a list", pointer="/traceEvents")
    if len(entries) > MAX_TRACE_EVENTS:
        raise EpcisLimitError(f"more than {MAX_TRACE_EVENTS} traceEvents", pointer="/traceEvents")
    signed: list[tuple[TraceEvent, bytes]] = []
    for k, entry in enumerate(entries):
        where = f"/traceEvents/{k}"
        if not isinstance(entry, dict) or entry.keys() != {"event", "signature"}:
            raise EpcisDocumentError(
                "each traceEvent is an object with exactly 'event' and 'signature'",
                pointer=where,
            )
        try:
            event = parse_event(entry["event"])
            signature = parse_hex(entry["signature"], 65, "signature")
        except InvalidEventError as exc:
            field = exc.details.get("field", "event")
            sub = "/signature" if field == "signature" else f"/event/{field}"
            raise EpcisDocumentError(f"traceEvents[{k}]: {exc}", pointer=where + sub) from None
        signed.append((event, signature))
    return CaptureRequest(document, tuple(signed))


def _prefixed(parse: Callable[[], _T], base: str) -> _T:
    """Run ``parse``, making the pointer of any EPCIS error relative to the request."""
    try:
        return parse()
    except EpcisError as exc:
        exc.pointer = base + exc.pointer
        raise


def party_resolver(store: Store, conn: Connection) -> PartyResolver:
    """Names a party or location (PGLN, SGLN or their Digital Links, AI 417 / 414) by the
    participant holding, at the licence mirror's head, the GS1 company prefix licence its
    GLN begins with (licences never overlap: at most one does), so a participant holding
    several company prefixes is found by any of them. One indexed lookup per GLN, in
    ``conn``'s transaction: use the resolver only while it is open."""
    head = store.participants.cursor(conn, PARTICIPANTS_CURSOR) or 0
    found: dict[str, bytes | None] = {}

    def by_gln(gln: str) -> bytes | None:
        candidates = [gln[:length] for length in range(GS1_MIN_PREFIX, GS1_MAX_PREFIX + 1)]
        holder = store.licences.holder_at(conn, PrefixKind.GS1, candidates, head)
        record = None if holder is None else store.participants.get(conn, holder)
        return None if record is None else record.key

    def resolve(identifier: str) -> bytes | None:
        canonical = normalise_gs1_uri(identifier.strip())
        for ai in ("/417/", "/414/"):
            head_of = "https://id.gs1.org" + ai
            if canonical.startswith(head_of):
                gln = canonical[len(head_of) :].split("/", 1)[0]
                if gln not in found:
                    found[gln] = by_gln(gln)
                return found[gln]
        return None

    return resolve


def map_request_document(store: Store, document: EpcisDocument) -> tuple[MappedDocument, set[str]]:
    """The document's mapping under the store's participants, and the hash IDs it holds."""
    with store.read() as conn:
        parties = party_resolver(store, conn)
        mapped = map_document(document.events, parties)
        known = set(store.epcis.known(conn, list(mapped.hash_ids)))
        ids = [i for i in map(event_id_of, document.events) if i is not None]
        stored = store.epcis.hash_ids_of(conn, ids)
    check_event_ids(document.events, mapped.hash_ids, stored)
    return mapped, known


# ----- signing (the participant's side) -----


def compose_trace_events(
    *,
    store: Store,
    domain: Domain,
    signer: bytes,
    mapped: Sequence[MappedEvent],
) -> list[TraceEvent]:
    """TraceEvents for ``mapped``, linked to the store's batch heads (and to each other,
    in order) and numbered from the signer's next nonce."""
    wanted = {b for m in mapped for b in m.heads_needed()}
    with store.read() as conn:
        nonce = store.events.next_nonce(conn, signer)
        states: dict[bytes, BatchState] = store.batches.load(conn, wanted)
    heads = {batch_id: state.head for batch_id, state in states.items()}
    events, _heads = chain_trace_events(mapped, heads=heads, nonce=nonce, domain=domain)
    return [event for event, _digest in events]


def sign_document(
    *, store: Store, domain: Domain, private_key: bytes, document: Any
) -> dict[str, Any]:
    """A capture request for ``document``, signed with ``private_key``."""
    parsed = _prefixed(lambda: parse_document(document), "/document")
    mapped, known = _prefixed(lambda: map_request_document(store, parsed), "/document")
    todo = [m for i in mapped.new_events(known) for m in mapped.trace_events[i]]
    events = compose_trace_events(
        store=store, domain=domain, signer=address_of(private_key), mapped=todo
    )
    return {
        "document": document,
        "traceEvents": [
            {
                "event": event.message(),
                "signature": "0x" + sign_digest(event.digest(domain), private_key).hex(),
            }
            for event in events
        ],
    }


# ----- capture (the node's side) -----


class _Rollback(Exception):  # noqa: N818 - control flow inside the ingest transaction
    def __init__(self, results: dict[int, IngestResult]) -> None:
        super().__init__("capture rolled back")
        self.results = results


def capture(
    *,
    ingest: IngestService,
    request: Any,
    clock: Callable[[], float] = time.time,
    as_participant: int | None = None,
) -> list[EpcisResult]:
    """Capture a signed request (parsed JSON or :class:`CaptureRequest`): every EPCIS event
    accepted or a duplicate, or a typed :class:`~node.exceptions.EpcisError` and nothing
    written. ``as_participant`` (the gateway: the API key's participant) refuses
    TraceEvents signed by anyone else."""
    parsed = request if isinstance(request, CaptureRequest) else parse_capture_request(request)
    store, domain = ingest.store, ingest.domain
    mapped, known = _prefixed(lambda: map_request_document(store, parsed.document), "/document")
    fresh = mapped.new_events(known)
    expected = [(i, m) for i in fresh for m in mapped.trace_events[i]]
    digests = [event.digest(domain) for event, _ in parsed.signed]
    if not expected:
        with store.read() as conn:
            stored = store.events.known(conn, digests)
        if len(stored) != len(set(digests)):
            raise EpcisSignatureMismatchError(
                "every event of the document was captured before; the signed TraceEvents "
                "are not the ones stored for it",
                pointer="/traceEvents",
            )
        return [_duplicate(mapped, i) for i in range(len(mapped.hash_ids))]
    _check_matches(parsed, expected)
    for k, ((_event, signature), digest) in enumerate(zip(parsed.signed, digests, strict=True)):
        try:
            recover_signer(digest, signature)
        except InvalidSignatureError as exc:
            index, _ = expected[k]
            raise EpcisEventRejectedError(
                f"event {index}: traceEvents[{k}] {exc}",
                cause=exc,
                event_index=index,
                pointer=f"/traceEvents/{k}/signature",
            ) from None
    signed = [
        SignedEvent(event, signature, item.payload, item.created())
        for (event, signature), (_, item) in zip(parsed.signed, expected, strict=True)
    ]
    received_at = int(clock() * 1000)
    rows = _epcis_rows(parsed.document, mapped, fresh, expected, digests, received_at)
    terms = _terms(parsed.document, mapped, fresh)

    def before_commit(conn: Connection, results: dict[int, IngestResult]) -> None:
        if any(results.get(k) is None or results[k].error for k in range(len(signed))):
            raise _Rollback(results)
        raced = store.epcis.known(conn, [row["hash_id"] for row in rows])
        if raced:
            raise EpcisSignatureMismatchError(
                "another capture stored events of this document meanwhile; sign it again",
                pointer="/traceEvents",
            )
        ids = [row["event_id"] for row in rows if row["event_id"] is not None]
        stored = store.epcis.hash_ids_of(conn, ids)
        events = parsed.document.events
        _prefixed(lambda: check_event_ids(events, mapped.hash_ids, stored), "/document")
        store.epcis.insert(conn, rows, terms)

    try:
        ingest.submit_many(signed, as_participant=as_participant, before_commit=before_commit)
    except _Rollback as rollback:
        raise _rejection(parsed, expected, rollback.results) from None
    results = [_duplicate(mapped, i) for i in range(len(mapped.hash_ids))]
    for row, index in zip(rows, fresh, strict=True):
        results[index] = EpcisResult(
            index, row["hash_id"], Outcome.ACCEPTED, tuple(_split(row["trace_events"]))
        )
    return results


def _check_matches(parsed: CaptureRequest, expected: list[tuple[int, MappedEvent]]) -> None:
    if len(parsed.signed) != len(expected):
        raise EpcisSignatureMismatchError(
            f"the document maps to {len(expected)} TraceEvents not captured before; the "
            f"request signs {len(parsed.signed)}",
            pointer="/traceEvents",
        )
    for k, ((event, _), (index, item)) in enumerate(zip(parsed.signed, expected, strict=True)):
        derived = {
            "action": item.action,
            "batch_id": item.batch.batch_id if item.batch is not None else ZERO32,
            "inputs": tuple(i.batch_id for i in item.inputs),
            "outputs": tuple(o.batch_id for o in item.outputs),
            "counterparty": item.counterparty,
            "product": item.product,
            "quantity": item.quantity,
            "event_time": item.event_time,
            "location": item.location,
            "payload_hash": item.payload_hash,
        }
        for name, attribute in _DERIVED_FIELDS:
            if getattr(event, attribute) != derived[attribute]:
                raise EpcisSignatureMismatchError(
                    f"traceEvents[{k}] does not match EPCIS event {index}: its {name} is not "
                    "the one the document maps to",
                    event_index=index,
                    pointer=f"/traceEvents/{k}/event/{name}",
                )


def _epcis_rows(
    document: EpcisDocument,
    mapped: MappedDocument,
    fresh: list[int],
    expected: list[tuple[int, MappedEvent]],
    digests: list[bytes],
    received_at: int,
) -> list[EpcisEventRow]:
    by_event: dict[int, list[bytes]] = {}
    for (index, _), digest in zip(expected, digests, strict=True):
        by_event.setdefault(index, []).append(digest)
    rows: list[EpcisEventRow] = []
    for index in fresh:
        event = document.events[index]
        event_id = event_id_of(event)
        rows.append(
            EpcisEventRow(
                hash_id=mapped.hash_ids[index],
                event_id=event_id,
                event_type=event.type[:64],
                trace_events=b"".join(by_event.get(index, [])),
                context=canonical_json(event.context) if event.context is not None else None,
                captured_at=received_at,
                event_time=mapped.trace_events[index][0].event_time
                if mapped.trace_events[index]
                else None,
            )
        )
    return rows


def _terms(
    document: EpcisDocument, mapped: MappedDocument, fresh: list[int]
) -> list[list[tuple[str, str]]]:
    """What a query finds each captured event by (node.epcis.query)."""
    return [
        index_terms(document.events[i].data, document.events[i].context, mapped.hash_ids[i])
        for i in fresh
    ]


def _rejection(
    parsed: CaptureRequest,
    expected: list[tuple[int, MappedEvent]],
    results: dict[int, IngestResult],
) -> EpcisEventRejectedError:
    k = next(k for k in range(len(expected)) if results.get(k) is None or results[k].error)
    index, item = expected[k]
    result = results.get(k)
    cause = result.error if result is not None and result.error is not None else None
    if cause is None:
        cause = EventRejectedError("the event was refused before it could be checked")
    pointer = f"/document{parsed.document.events[index].pointer}"
    if cause.details.get("field") == "eventTime":
        pointer += "/eventTime"  # the document's own member the TraceEvent's is mapped from
    return EpcisEventRejectedError(
        f"event {index}: its {item.action.name} TraceEvent (traceEvents[{k}]) was refused "
        f"[{cause.code}]: {cause}; nothing of the document was captured",
        cause=cause,
        event_index=index,
        pointer=pointer,
        results=tuple(results.get(i) for i in range(len(expected))),
    )


def _duplicate(mapped: MappedDocument, index: int) -> EpcisResult:
    return EpcisResult(index, mapped.hash_ids[index], Outcome.DUPLICATE, ())


def _split(data: bytes) -> list[bytes]:
    return [data[i : i + 32] for i in range(0, len(data), 32)]


def accepted_count(results: Sequence[EpcisResult]) -> int:
    return sum(1 for r in results if r.outcome is Outcome.ACCEPTED)
