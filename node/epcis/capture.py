"""EPCIS 2.0 capture: a signed capture request in, TraceEvents ingested, hash IDs stored.

A **capture request** is the EPCIS document together with the participant's EIP-712
signatures over the TraceEvents the document maps to (node/epcis/mapping.py)::

    {
      "document":    { an EPCISDocument, EPCISQueryDocument or bare event, unchanged },
      "traceEvents": [ {"event": {EIP-712 TraceEvent message}, "signature": "0x..."}, ... ]
    }

``traceEvents`` lists, in document order, the TraceEvents of every EPCIS event not
captured before and not refused by the mapping (an event whose CBV 2.0 hash ID the node
already holds is a duplicate and maps to nothing new). Each TraceEvent's ``payloadHash``
is keccak-256 of the RFC 8785 form of its EPCIS event's JSON, exactly as the document
carries it.

The node trusts nothing in ``traceEvents`` but the signatures: it re-derives the mapping
from the document and refuses the request (:class:`~node.exceptions.EpcisSignatureMismatchError`)
unless every signed TraceEvent is the one the document maps to — same action, batches,
receiver, product, quantity, time, location and payload hash. Only the links to the
batches' heads and the nonce are the signer's to choose, and the ingest rules check them
(and, for an event first naming lots the network never held, whether its signer adopts
them or the event is anchored-only, which the node judges from the signature:
node/epcis/adoption.py).
Capture gives every event an outcome (:class:`Outcome`): one refused event writes nothing
of itself or of the events depending on it, and the rest is captured, unless the client
asks for all or nothing (:class:`CaptureErrorBehaviour`, docs/epcis.md "Outcomes").

:func:`sign_document` builds such a request against the store's current heads and
nonces; :func:`capture` is the service the CLI and ``POST /v1/epcis/capture`` call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, TypeVar

from sqlalchemy import Connection

from node.epcis.adoption import (
    DECLARED,
    Unheld,
    adopted_note,
    adopting,
    adoption_refusal,
    anchored_note,
    anchored_only,
    lots_extended,
    names,
    splits_of,
)
from node.epcis.document import EpcisDocument, EpcisEvent, parse_document
from node.epcis.hashid import capture_key
from node.epcis.mapping import (
    MAX_TRACE_EVENTS,
    MappedDocument,
    MappedEvent,
    check_event_ids,
    event_id_conflicts,
    event_id_of,
    map_document,
    with_forms,
    with_refusals,
)
from node.epcis.masterdata import (
    HeaderElement,
    MasterDataElement,
    assertion_event,
    header_elements,
    is_assertion_of,
)
from node.epcis.named import deliver_captured
from node.epcis.performers import compose_for_keys, party_resolver
from node.epcis.query import index_terms
from node.events.hashing import keccak
from node.events.payload import canonical_json
from node.events.signatures import address_of, recover_signer, sign_digest
from node.events.submission import SignedEvent, parse_event, parse_hex
from node.events.typed_data import ZERO32, Domain, TraceEvent
from node.exceptions import (
    EpcisAdoptionChangedError,
    EpcisDependencyError,
    EpcisDocumentError,
    EpcisError,
    EpcisEventRejectedError,
    EpcisLimitError,
    EpcisMasterDataError,
    EpcisRolledBackError,
    EpcisSignatureMismatchError,
    EventRejectedError,
    InvalidEventError,
    InvalidSignatureError,
    SignerMismatchError,
    TraceNodeError,
)
from node.ingest.service import IngestResult, IngestService
from node.ingest.service import Outcome as IngestOutcome
from node.store.records import EpcisDeclarationRow, EpcisEventRow, SignerView
from node.store.store import Store

_T = TypeVar("_T")
_REQUEST_FIELDS: Final = frozenset({"document", "traceEvents", "masterData"})
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
    """What became of one EPCIS event of a capture (docs/epcis.md, "Outcomes")."""

    CAPTURED = "captured"  # ingested: anchored, and lifecycle events enforced on-chain
    ANCHORED_ONLY = "anchored-only"  # recorded and anchored; no custody-tracked batch
    DUPLICATE = "duplicate"  # its hash ID was held already: nothing written
    REFUSED = "refused"  # nothing of it written; ``refusal`` says why


class CaptureErrorBehaviour(StrEnum):
    """What one refused event does to the others (EPCIS 2.0 REST bindings'
    ``GS1-Capture-Error-Behaviour``): ``proceed``, TraceNode's default, captures the rest;
    ``rollback`` captures all or nothing."""

    PROCEED = "proceed"
    ROLLBACK = "rollback"


@dataclass(frozen=True, slots=True)
class EpcisResult:
    """What became of one EPCIS event of a captured document."""

    index: int
    hash_id: str  # the CBV 2.0 event hash ID
    outcome: Outcome
    trace_events: tuple[bytes, ...]  # the TraceEvent hashes it maps to (empty if known)
    #: Why it was refused: a typed error naming the event and field (REFUSED only).
    refusal: EpcisError | None = None
    #: Lots first seen mid-chain: which it adopted (CAPTURED), or why it is anchored-only
    #: (node/epcis/adoption.py).
    note: str | None = None

    @property
    def stored(self) -> bool:
        """Whether the node holds the event after the capture (written now or before)."""
        return self.outcome is not Outcome.REFUSED

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "index": self.index,
            "eventHashId": self.hash_id,
            "outcome": str(self.outcome),
            "traceEvents": ["0x" + h.hex() for h in self.trace_events],
        }
        if self.refusal is not None:
            found["refusal"] = refusal_json(self.refusal)
        found["note"] = self.note
        return found


def refusal_json(error: EpcisError) -> dict[str, Any]:
    """An event's refusal in the node's own terms (the gateway makes it a problem)."""
    found: dict[str, Any] = {"code": error.code, "detail": str(error), "pointer": error.pointer}
    cause = getattr(error, "cause", None)
    if isinstance(cause, TraceNodeError):
        found["cause"] = {"code": cause.code, "detail": str(cause)}
    depends_on = getattr(error, "depends_on", None)
    if isinstance(depends_on, int):
        found["dependsOn"] = depends_on
    return found


@dataclass(frozen=True, slots=True)
class CaptureRequest:
    document: EpcisDocument
    signed: tuple[tuple[TraceEvent, bytes], ...]
    #: The submitter's assertions of the header's master-data elements (``masterData``).
    master_data: tuple[tuple[TraceEvent, bytes], ...] = ()


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
    signed = _signed_entries(request, "traceEvents")
    return CaptureRequest(document, signed, _signed_entries(request, "masterData"))


def _signed_entries(request: dict[str, Any], member: str) -> tuple[tuple[TraceEvent, bytes], ...]:
    """A request's list of ``{"event", "signature"}`` entries (``traceEvents``,
    ``masterData``), parsed."""
    entries = request.get(member, [])
    if not isinstance(entries, list):
        raise EpcisDocumentError(f"{member} must be a list", pointer=f"/{member}")
    if len(entries) > MAX_TRACE_EVENTS:
        raise EpcisLimitError(f"more than {MAX_TRACE_EVENTS} {member}", pointer=f"/{member}")
    signed: list[tuple[TraceEvent, bytes]] = []
    for k, entry in enumerate(entries):
        where = f"/{member}/{k}"
        if not isinstance(entry, dict) or entry.keys() != {"event", "signature"}:
            raise EpcisDocumentError(
                f"each of {member} is an object with exactly 'event' and 'signature'",
                pointer=where,
            )
        try:
            event = parse_event(entry["event"])
            signature = parse_hex(entry["signature"], 65, "signature")
        except InvalidEventError as exc:
            field = exc.details.get("field", "event")
            sub = "/signature" if field == "signature" else f"/event/{field}"
            raise EpcisDocumentError(f"{member}[{k}]: {exc}", pointer=where + sub) from None
        signed.append((event, signature))
    return tuple(signed)


def _prefixed(parse: Callable[[], _T], base: str) -> _T:
    """Run ``parse``, making the pointer of any EPCIS error relative to the request."""
    try:
        return parse()
    except EpcisError as exc:
        exc.pointer = base + exc.pointer
        raise


def map_request_document(store: Store, document: EpcisDocument) -> tuple[MappedDocument, set[str]]:
    """The document's mapping under the store's participants (events whose ``eventID``
    names another stored event refused), and the hash IDs it holds."""
    with store.read() as conn:
        parties = party_resolver(store, conn)
        mapped = map_document(document.events, parties)
        known = set(store.epcis.known(conn, list(mapped.keys)))
        ids = [i for i in map(event_id_of, document.events) if i is not None]
        stored = store.epcis.hash_ids_of(conn, ids)
    conflicts = event_id_conflicts(document.events, mapped.hash_ids, stored)
    return with_refusals(mapped, conflicts), known


# ----- signing (the participant's side) -----


@dataclass(frozen=True, slots=True)
class SignedCapture:
    """A signed capture request, and the events left unsigned because the mapping (or an
    ``eventID`` held for another event) refuses them: the node would refuse them too."""

    request: dict[str, Any]
    refused: tuple[EpcisError, ...]
    #: Why events are anchored-only although they name lots (first seen mid-chain, and
    #: their signer may not adopt them: node/epcis/adoption.py).
    notes: tuple[str, ...] = ()


def sign_capture(
    *,
    store: Store,
    domain: Domain,
    private_key: bytes,
    document: Any,
    others: Sequence[bytes] = (),
) -> SignedCapture:
    """A capture request for ``document``: the TraceEvents of every new event that maps
    (captured or anchored-only), refused events skipped. Each is signed with
    ``private_key`` (the submitter's), or, for a document of several parties, with the key
    among ``others`` of the party that performed it (node/epcis/performers.py)."""
    parsed = _prefixed(lambda: parse_document(document), "/document")
    mapped, known = _prefixed(lambda: map_request_document(store, parsed), "/document")
    performed, mapped = compose_for_keys(
        store=store,
        domain=domain,
        private_keys=[private_key, *others],
        mapped=mapped,
        indexes=mapped.to_sign(known),
    )
    request: dict[str, Any] = {
        "document": document,
        "traceEvents": [
            {
                "event": p.event.message(),
                "signature": "0x" + sign_digest(p.event.digest(domain), p.private_key).hex(),
            }
            for p in performed
        ],
    }
    # The header's master data is the submitter's own to assert: signed with its key,
    # numbered after its events.
    submitter = address_of(private_key)
    elements = _unheld_elements(store, parsed, submitter)
    if elements:
        with store.read() as conn:
            nonce = store.events.next_nonce(conn, submitter)
        nonce = max(
            [nonce, *(p.event.nonce + 1 for p in performed if p.private_key == private_key)]
        )
        now = int(time.time() * 1000)
        request["masterData"] = []
        for offset, element in enumerate(elements):
            event = assertion_event(element, nonce=nonce + offset, event_time=now)
            signature = sign_digest(event.digest(domain), private_key)
            request["masterData"].append(
                {"event": event.message(), "signature": "0x" + signature.hex()}
            )
    refused = tuple(_document_refusal(mapped.refused[i]) for i in sorted(mapped.refused))
    return SignedCapture(request, refused, tuple(mapped.notes[i] for i in sorted(mapped.notes)))


def sign_document(
    *, store: Store, domain: Domain, private_key: bytes, document: Any
) -> dict[str, Any]:
    """A capture request for ``document``, signed with ``private_key`` (:func:`sign_capture`)."""
    return sign_capture(
        store=store, domain=domain, private_key=private_key, document=document
    ).request


# ----- capture (the node's side) -----


class _Undo(Exception):  # noqa: N818 - control flow inside the ingest transaction
    """Roll the ingest transaction back: ``refused`` events must be left out first."""

    def __init__(self, refused: dict[int, EpcisError]) -> None:
        super().__init__("capture rolled back")
        self.refused = refused


def capture(
    *,
    ingest: IngestService,
    request: Any,
    clock: Callable[[], float] = time.time,
    as_participant: int | None = None,
    behaviour: CaptureErrorBehaviour = CaptureErrorBehaviour.PROCEED,
    submitter: int | None = None,
    master_data: list[AssertionResult] | None = None,
) -> list[EpcisResult]:
    """Capture a signed request (parsed JSON or :class:`CaptureRequest`): an outcome for
    every EPCIS event (captured, anchored-only, duplicate or refused with its reason).

    A refused event writes nothing, and neither does an event that depends on it (extends
    a head one of its TraceEvents would have set); every TraceEvent of one EPCIS event is
    written or none is. With ``behaviour`` ROLLBACK, any refusal writes nothing at all and
    raises the first event's refusal (``outcomes`` holds every event's). A request that
    is malformed, over the limits, or signs other TraceEvents than the document maps to
    raises its typed :class:`~node.exceptions.EpcisError` and writes nothing.
    ``as_participant`` (the gateway: the API key's participant) refuses TraceEvents signed
    by anyone else. The header's master data is asserted by the request's ``masterData``
    in the same transaction, each element's outcome appended to ``master_data``;
    ``submitter`` (the API key's participant) is the only one who may assert it.

    :func:`plan_capture` then :func:`run_capture`, in one transaction."""
    planned = plan_capture(
        ingest=ingest,
        request=request,
        as_participant=as_participant,
        behaviour=behaviour,
        submitter=submitter,
    )
    return run_capture(planned, clock=clock, master_data=master_data)


#: What a capture run in steps reports after each step (node/epcis/jobs.py): inside the
#: step's own transaction (its connection) or, for a step that wrote nothing, None; how
#: many events are decided; and their outcomes, in document order.
Progress = Callable[[Connection | None, int, list["EpcisResult"]], None]


@dataclass(slots=True)
class PlannedCapture:
    """A capture request checked whole (:func:`plan_capture`): what :func:`run_capture`
    ingests. Everything that refuses the whole request is behind it."""

    ingest: IngestService
    mapped: MappedDocument
    fresh: Sequence[int]
    refused: dict[int, EpcisError]
    plan: _Plan
    behaviour: CaptureErrorBehaviour
    as_participant: int | None

    @property
    def events(self) -> int:
        """How many EPCIS events the document holds."""
        return len(self.mapped.hash_ids)


def plan_capture(
    *,
    ingest: IngestService,
    request: Any,
    as_participant: int | None = None,
    behaviour: CaptureErrorBehaviour = CaptureErrorBehaviour.PROCEED,
    submitter: int | None = None,
) -> PlannedCapture:
    """Check a capture request whole and plan it: raises the typed error of a request that
    is malformed, over the limits, or signs other TraceEvents (or master data) than the
    document maps to; writes nothing (:func:`capture`)."""
    parsed = request if isinstance(request, CaptureRequest) else parse_capture_request(request)
    store, domain = ingest.store, ingest.domain
    mapped, known = _prefixed(lambda: map_request_document(store, parsed.document), "/document")
    fresh = mapped.new_events(known)
    digests = [event.digest(domain) for event, _ in parsed.signed]
    with store.read() as conn:
        held = store.events.known(conn, digests) if digests else set()
    # A request sent again after part of it was captured: what the node holds is skipped.
    forms = _Forms(store, domain, parsed, mapped, fresh)
    pairs, changed, mapped = _align(
        parsed, [k for k, d in enumerate(digests) if d not in held], mapped, fresh, forms
    )
    refused = {i: _document_refusal(mapped.refused[i]) for i in fresh if i in mapped.refused}
    refused |= changed
    assertions = _plan_assertions(store, domain, parsed, submitter)
    plan = _Plan(
        parsed,
        mapped,
        [(index, item) for _k, index, item in pairs],
        [digests[k] for k, _i, _m in pairs],
        [parsed.signed[k] for k, _i, _m in pairs],
        assertions,
    )
    refused |= _bad_signatures(plan, [k for k, _i, _m in pairs])
    return PlannedCapture(ingest, mapped, fresh, refused, plan, behaviour, as_participant)


def run_capture(
    planned: PlannedCapture,
    *,
    clock: Callable[[], float] = time.time,
    master_data: list[AssertionResult] | None = None,
    step: int | None = None,
    progress: Progress | None = None,
    start: int = 0,
    stop: threading.Event | None = None,
) -> list[EpcisResult]:
    """Ingest a planned capture: every event's outcome (:func:`capture`).

    With ``step``, the events are ingested ``step`` at a time in document order, each
    step in a transaction of its own, and ``progress`` is told after each (an asynchronous
    capture job's progress, node/epcis/jobs.py): a later event sees the earlier steps'
    events as one transaction would have, and depends on their refused events just the
    same. All or nothing (ROLLBACK) is one transaction whatever ``step`` says. Events before
    ``start`` were decided by an earlier run of the same request (a job resumed): they
    are not ingested again; their outcomes here are not theirs. ``stop`` is looked at
    after each step: once set, :class:`CaptureStopped` leaves the capture there."""
    plan, mapped, refused, behaviour = (
        planned.plan,
        planned.mapped,
        planned.refused,
        planned.behaviour,
    )
    assertions = plan.assertions
    total = planned.events
    for index in planned.fresh:
        if index < start and index not in refused:
            refused[index] = EpcisRolledBackError(
                f"event {index} was decided before the capture was resumed",
                event_index=index,
                pointer=f"/document{mapped.events[index].pointer}",
            )
    if start:  # what depends on events refused before is refused as it was then
        for index, (origin, batch) in plan.dependents(refused).items():
            if index >= start and index not in refused:
                refused[index] = _dependency(plan, index, origin, batch, refused)
    if behaviour is CaptureErrorBehaviour.ROLLBACK or step is None or step < 1:
        step = max(total - start, 1)
    written: dict[int, list[bytes]] = {}
    spans = [range(at, min(at + step, total)) for at in range(start, total, step)] or [
        range(start, start)
    ]
    if (plan.expected or assertions.to_ingest()) and (
        behaviour is CaptureErrorBehaviour.PROCEED or not (refused or assertions.refused)
    ):
        for span in spans:
            last = span is spans[-1]
            step_ = _Step(planned, progress, written, span)
            written |= _ingest(
                planned.ingest,
                plan,
                refused,
                clock,
                planned.as_participant,
                behaviour,
                span=span,
                last=last,
                on_commit=step_.report,
            )
            if not step_.reported and not last:
                step_.report(None, {})
            if stop is not None and stop.is_set() and not last:
                raise CaptureStopped(f"stopped after event {span.stop - 1}")
    first_element = min(assertions.refused, default=None)
    first = (
        refused[min(refused)]
        if refused
        else assertions.refused[first_element]
        if first_element is not None
        else None
    )
    results = _results(mapped, planned.fresh, refused, written, first)
    asserted = assertions.results(first)
    if master_data is not None:
        master_data.extend(asserted)
    if behaviour is CaptureErrorBehaviour.ROLLBACK and first is not None:
        first.outcomes = (*results, *asserted)
        raise first
    return results


class CaptureStopped(Exception):  # noqa: N818 - not an error: the runner is stopping
    """A capture run in steps left between two steps (:func:`run_capture`'s ``stop``)."""


@dataclass(slots=True)
class _Step:
    """One step of a capture run in steps: tells ``progress`` once it is decided."""

    planned: PlannedCapture
    progress: Progress | None
    written: dict[int, list[bytes]]  # by the steps before
    span: range
    reported: bool = False

    def report(self, conn: Connection | None, written: dict[int, list[bytes]]) -> None:
        """The events up to the step's end decided; ``written`` the step's own."""
        self.reported = True
        if self.progress is None:
            return
        planned = self.planned
        done = {**self.written, **written}
        results = _results(planned.mapped, planned.fresh, planned.refused, done)
        self.progress(conn, self.span.stop, results[: self.span.stop])


@dataclass(frozen=True, slots=True)
class _Plan:
    """The TraceEvents one capture ingests: ``expected[k]`` is signed as ``signed[k]``."""

    parsed: CaptureRequest
    mapped: MappedDocument
    expected: list[tuple[int, MappedEvent]]
    digests: list[bytes]
    signed: list[tuple[TraceEvent, bytes]]
    assertions: _Assertions

    def dependents(self, refused: Collection[int]) -> dict[int, tuple[int, bytes]]:
        """Events that extend a head a TraceEvent of a ``refused`` event (or of one of
        these) would have set, each with the event it depends on and the batch."""
        producer: dict[bytes, int] = {}
        found: dict[int, tuple[int, bytes]] = {}
        for (index, _item), digest, (event, _) in zip(
            self.expected, self.digests, self.signed, strict=True
        ):
            links = [(event.prev_event_hash, event.batch_id)]
            links += list(zip(event.input_prev_hashes, event.inputs, strict=True))
            for prev, batch in links:
                origin = producer.get(prev)
                if (
                    origin is not None
                    and origin != index
                    and index not in found
                    and (origin in refused or origin in found)
                ):
                    found[index] = (origin, batch)
            producer[digest] = index
        return found


def _ingest(
    ingest: IngestService,
    plan: _Plan,
    refused: dict[int, EpcisError],
    clock: Callable[[], float],
    as_participant: int | None,
    behaviour: CaptureErrorBehaviour,
    *,
    span: range | None = None,
    last: bool = True,
    on_commit: Callable[[Connection, dict[int, list[bytes]]], None] | None = None,
) -> dict[int, list[bytes]]:
    """Ingest the plan's TraceEvents of the events in ``span`` (all: None), leaving refused
    events (and their dependents) out, in one transaction that writes the ``epcis_events``
    rows too, and the master-data assertions when it is the ``last`` span; the TraceEvent
    hashes written, by event. A round in which a rule refuses part of an event is rolled
    back and run again without that event and its dependents: at most one round per event.
    ``on_commit`` runs last in the transaction, with what it writes."""
    for _round in range(len(plan.parsed.document.events) + 1):
        chosen = [
            k
            for k, (i, _) in enumerate(plan.expected)
            if i not in refused and (span is None or i in span)
        ]
        elements = plan.assertions.to_ingest() if last else []
        if not chosen and not elements:
            return {}
        submitted = [
            SignedEvent(
                plan.signed[k][0],
                plan.signed[k][1],
                plan.expected[k][1].payload,
                plan.expected[k][1].identifiers(),
            )
            for k in chosen
        ] + [plan.assertions.signed[e] for e in elements]
        by_event: dict[int, list[bytes]] = {}
        for k in chosen:
            by_event.setdefault(plan.expected[k][0], []).append(plan.digests[k])
        round_ = _Round(
            ingest.store, plan, chosen, by_event, refused, behaviour, clock(), elements, on_commit
        )
        try:
            ingest.submit_many(
                submitted, as_participant=as_participant, before_commit=round_.before_commit
            )
        except _Undo as undo:
            refused.update(undo.refused)
            if behaviour is CaptureErrorBehaviour.ROLLBACK:
                return {}
            continue
        return {i: d for i, d in by_event.items() if i not in refused}
    raise AssertionError("unreachable: each round refuses at least one more event")


@dataclass(frozen=True, slots=True)
class _Round:
    """One ingest attempt of a capture: ``chosen`` positions of the plan, by event."""

    store: Store
    plan: _Plan
    chosen: list[int]
    by_event: dict[int, list[bytes]]
    refused: dict[int, EpcisError]
    behaviour: CaptureErrorBehaviour
    now: float
    #: The master-data elements asserted after the chosen TraceEvents, in order.
    elements: list[int] = field(default_factory=list)
    #: Runs last in the transaction, with the TraceEvents it writes by event.
    on_commit: Callable[[Connection, dict[int, list[bytes]]], None] | None = None

    def before_commit(self, conn: Connection, results: dict[int, IngestResult]) -> None:
        """Inside the ingest transaction: keep the refusals and commit with the
        ``epcis_events`` rows of the captured events, or roll back (:class:`_Undo`) when a
        refused event would be written in part, or when the capture is all or nothing."""
        plan, document = self.plan, self.plan.parsed.document
        asserted = self._assertions(results)
        bad: dict[int, EpcisError] = {}
        for position, k in enumerate(self.chosen):
            result = results.get(position)
            if result is None or result.error is not None:
                bad.setdefault(plan.expected[k][0], _rejection(plan, k, result))
        if bad:
            for index, (origin, batch) in plan.dependents({*self.refused, *bad}).items():
                if index not in self.refused:
                    bad[index] = _dependency(plan, index, origin, batch, {**self.refused, **bad})
            partial = any(
                (result := results.get(position)) is not None
                and result.error is None
                and plan.expected[k][0] in bad
                for position, k in enumerate(self.chosen)
            )
            if partial or self.behaviour is CaptureErrorBehaviour.ROLLBACK:
                raise _Undo(bad)
            self.refused.update(bad)
        captured = [i for i in self.by_event if i not in self.refused]
        now = int(self.now * 1000)
        mapped = plan.mapped
        # A declaration of error is stored beside the event it corrects; it is the event's
        # first record too when the node never held the event (docs/epcis.md).
        held = self.store.epcis.known(conn, [mapped.hash_ids[i] for i in captured])
        originals = {**held}
        for i in captured:
            if not mapped.declares(i):
                originals.setdefault(mapped.hash_ids[i], b"".join(self.by_event[i]))
        recorded = [
            i for i in captured if not mapped.declares(i) or mapped.hash_ids[i] not in originals
        ]
        rows = _epcis_rows(document, mapped, recorded, self.by_event, now)
        declarations = [
            _declaration_row(
                document.events[i],
                mapped.hash_ids[i],
                self.by_event[i],
                now,
                originals.get(mapped.hash_ids[i], b"".join(self.by_event[i])),
            )
            for i in captured
            if mapped.declares(i)
        ]
        raced = self.store.epcis.known(
            conn,
            [row["hash_id"] for row in rows]
            + [capture_key(row["hash_id"], True) for row in declarations],
        )
        if raced:
            raise EpcisSignatureMismatchError(
                "another capture stored events of this document meanwhile; sign it again",
                pointer="/traceEvents",
            )
        ids = [row["event_id"] for row in rows if row["event_id"] is not None]
        stored = self.store.epcis.hash_ids_of(conn, ids)
        events = [document.events[i] for i in captured]
        hash_ids = [plan.mapped.hash_ids[i] for i in captured]
        _prefixed(lambda: check_event_ids(events, hash_ids, stored), "/document")
        self.store.epcis.insert(conn, rows, _terms(document, mapped, recorded))
        self.store.epcis.declare(conn, declarations)
        # Query subscriptions: the outbox is written in the transaction of the fact.
        new = [row["hash_id"] for row in rows] + [row["hash_id"] for row in declarations]
        deliver_captured(conn, self.store, list(dict.fromkeys(new)), now=now)
        plan.assertions.written = asserted
        if self.on_commit is not None:
            self.on_commit(conn, {i: self.by_event[i] for i in captured})

    def _assertions(self, results: dict[int, IngestResult]) -> dict[int, bytes]:
        """The master-data assertions written, by element; a refused one is kept as its
        element's refusal, and rolls everything back when the capture is all or nothing."""
        assertions = self.plan.assertions
        written: dict[int, bytes] = {}
        for offset, element in enumerate(self.elements):
            result = results.get(len(self.chosen) + offset)
            if result is None or result.error is not None:
                cause = result.error if result is not None and result.error else None
                assertions.refused[element] = _assertion_refusal(
                    assertions,
                    element,
                    cause or EventRejectedError("refused before it could be checked"),
                )
            elif result.outcome is IngestOutcome.DUPLICATE:
                assertions.held.add(element)
            else:
                written[element] = result.event_hash
        if self.behaviour is CaptureErrorBehaviour.ROLLBACK and assertions.refused:
            raise _Undo({})
        return written


def _bad_signatures(plan: _Plan, positions: list[int]) -> dict[int, EpcisError]:
    """Events with a signature that recovers to no key (named by its place in the
    request), and the events that depend on them."""
    bad: dict[int, EpcisError] = {}
    for k, (index, _item), digest, (_event, signature) in zip(
        positions, plan.expected, plan.digests, plan.signed, strict=True
    ):
        try:
            recover_signer(digest, signature)
        except InvalidSignatureError as exc:
            bad.setdefault(
                index,
                EpcisEventRejectedError(
                    f"event {index}: traceEvents[{k}] {exc}; nothing of the event was captured",
                    cause=exc,
                    event_index=index,
                    pointer=f"/traceEvents/{k}/signature",
                ),
            )
    for index, (origin, batch) in plan.dependents(bad).items():
        bad[index] = _dependency(plan, index, origin, batch, bad)
    return bad


def _align(
    parsed: CaptureRequest,
    signed: list[int],
    mapped: MappedDocument,
    fresh: Sequence[int],
    forms: _Forms,
) -> tuple[list[tuple[int, int, MappedEvent]], dict[int, EpcisError], MappedDocument]:
    """Pair each signed TraceEvent the node does not hold (``signed``: positions in the
    request, in order) with the one the document maps to, in document order: (position,
    event index, mapped TraceEvent) for every event to ingest. The TraceEvents of an event
    the node refuses after mapping it (an ``eventID`` it holds for another event: the
    signer could not know) may be signed or not, and are left out; so are those of an
    event whose lots first seen mid-chain were signed for as the network held them then
    (:class:`_Forms`: refused alone). Anything else that differs is
    :class:`~node.exceptions.EpcisSignatureMismatchError`. Also the events so refused,
    and the document in the form it was signed in (node/epcis/adoption.py)."""
    pairs: list[tuple[int, int, MappedEvent]] = []
    changed: dict[int, EpcisError] = {}
    chosen: dict[int, tuple[MappedEvent, ...]] = {}
    notes: dict[int, str] = {}
    position = 0
    for index in fresh:
        items = mapped.trace_events[index]
        if index in mapped.refused:
            if (
                items
                and position < len(signed)
                and _differs(parsed, signed[position], items[0]) is None
            ):
                for item in items:
                    if position >= len(signed) or _differs(parsed, signed[position], item):
                        break
                    position += 1
            continue
        form = forms.form(index, items, signed[position:])
        if form.refusal is not None:
            changed[index] = form.refusal
            position += form.skip
            continue
        if form.items is not items:
            chosen[index] = form.items
        if form.note is not None:
            notes[index] = form.note
        for item in form.items:
            if position >= len(signed):
                raise _count_mismatch(mapped, fresh, signed)
            name = _differs(parsed, signed[position], item)
            if name is not None:
                k = signed[position]
                raise EpcisSignatureMismatchError(
                    f"traceEvents[{k}] does not match EPCIS event {index}: its {name} is not "
                    "the one the document maps to",
                    event_index=index,
                    pointer=f"/traceEvents/{k}/event/{name}",
                )
            pairs.append((signed[position], index, item))
            position += 1
        forms.unheld.take(form.items)
    if position != len(signed):
        raise _count_mismatch(mapped, fresh, signed)
    return pairs, changed, with_forms(mapped, chosen, notes)


@dataclass(frozen=True, slots=True)
class _Form:
    """An event's TraceEvents in the form its signature shows (node/epcis/adoption.py),
    why it is anchored-only, or why it is refused and how many signed TraceEvents of it
    to pass over."""

    items: tuple[MappedEvent, ...]
    note: str | None = None
    refusal: EpcisError | None = None
    skip: int = 0


class _Forms:
    """The node's side of lots first seen mid-chain: which form each event was signed in,
    judged against what the network holds now and who may adopt (the same functions the
    signer's side chose with, node/epcis/performers.py)."""

    def __init__(
        self,
        store: Store,
        domain: Domain,
        parsed: CaptureRequest,
        mapped: MappedDocument,
        fresh: Sequence[int],
    ) -> None:
        self.store, self.domain, self.parsed, self.mapped = store, domain, parsed, mapped
        lots = {
            bytes(lot.batch_id): lot
            for i in fresh
            if i not in mapped.refused
            for lot in lots_extended(mapped.trace_events[i])
        }
        self.splits = splits_of(lots.values())
        wanted = {(s.kind, c) for s in self.splits.values() for c in s.candidates}
        with store.read() as conn:
            states = store.batches.load(conn, lots) if lots else {}
            self.licences = store.licences.current(conn, wanted) if wanted else {}
        self.held = frozenset(states)  # by the network, before this capture
        self.unheld = Unheld(states)

    def form(self, index: int, base: tuple[MappedEvent, ...], signed: Sequence[int]) -> _Form:
        """The form of event ``index`` (``base``: its TraceEvents when it adopts nothing),
        whose signed TraceEvents start at ``signed[0]``."""
        first = signed[0] if signed else None
        lots = self.unheld.lots(base)
        where = f"/document{self.mapped.events[index].pointer}"
        extended = {bytes(lot.batch_id): lot for lot in lots_extended(base)}
        # Signed for lots first seen mid-chain that the network holds now: a race.
        taken = {b: lot for b, lot in extended.items() if b in self.held}
        adoptions = 0
        while adoptions < len(signed):
            signed_event = self.parsed.signed[signed[adoptions]][0]
            if not (signed_event.adopts() and signed_event.batch_id in extended):
                break
            adoptions += 1
        anchored = anchored_only(base, self.mapped.hash_ids[index])
        raced = any(self.parsed.signed[k][0].batch_id in taken for k in signed[:adoptions])
        if not raced and taken and not lots and first is not None:
            raced = _differs(self.parsed, first, anchored[0]) is None  # signed anchored-only
            adoptions = 0
        if raced:
            return _Form(
                base,
                refusal=EpcisAdoptionChangedError(
                    f"event {index} was signed for {names(list(taken.values()))} as lots the "
                    "network never held, but the network holds them now (another event "
                    "adopted or created them before this capture): nothing of it was "
                    "captured and nothing adopted twice; sign it again",
                    event_index=index,
                    pointer=where,
                ),
                skip=adoptions + len(base) if adoptions else 1,
            )
        if not lots:
            return _Form(base)
        adopted = adopting(base, lots)
        if self.mapped.declares(index):
            return _Form(anchored, note=anchored_note(index, lots, DECLARED))
        if first is None or _differs(self.parsed, first, adopted[0]) is None:
            return _Form(adopted)
        if _differs(self.parsed, first, anchored[0]) is not None:
            return _Form(adopted)  # neither: the mismatch names the field
        why = adoption_refusal(self._view(first), lots, self.licences)
        if why is None:
            return _Form(
                base,
                refusal=EpcisAdoptionChangedError(
                    f"event {index} is signed as an anchored-only record, but its signer "
                    f"may adopt {names(lots)}, which the network never held: it maps to "
                    "their adoption; nothing of it was captured, sign it again",
                    event_index=index,
                    pointer=where,
                ),
                skip=1,
            )
        return _Form(anchored, note=anchored_note(index, lots, why))

    def _view(self, position: int) -> SignerView | None:
        event, signature = self.parsed.signed[position]
        try:
            signer = recover_signer(event.digest(self.domain), signature)
        except InvalidSignatureError:
            return None
        with self.store.read() as conn:
            return self.store.participants.signers(conn, [signer]).get(signer)


def _count_mismatch(
    mapped: MappedDocument, fresh: Sequence[int], signed: list[int]
) -> EpcisSignatureMismatchError:
    wanted = sum(len(mapped.trace_events[i]) for i in fresh if i not in mapped.refused)
    return EpcisSignatureMismatchError(
        f"the document maps to {wanted} TraceEvents of events not captured before and not "
        f"refused; the request signs {len(signed)} the node does not hold",
        pointer="/traceEvents",
    )


def _differs(parsed: CaptureRequest, k: int, item: MappedEvent) -> str | None:
    """The first field (its JSON name) in which signed TraceEvent ``k`` differs from what
    the document maps to, or None."""
    event = parsed.signed[k][0]
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
            return name
    return None


def _epcis_rows(
    document: EpcisDocument,
    mapped: MappedDocument,
    captured: list[int],
    by_event: dict[int, list[bytes]],
    received_at: int,
) -> list[EpcisEventRow]:
    rows: list[EpcisEventRow] = []
    for index in captured:
        event = document.events[index]
        rows.append(
            EpcisEventRow(
                hash_id=mapped.hash_ids[index],
                event_id=event_id_of(event),
                event_type=event.type[:64],
                trace_events=b"".join(by_event[index]),
                context=canonical_json(event.context) if event.context is not None else None,
                captured_at=received_at,
                event_time=mapped.trace_events[index][0].event_time,
            )
        )
    return rows


def _declaration_row(
    event: EpcisEvent, hash_id: str, trace_events: list[bytes], now: int, corrected: bytes
) -> EpcisDeclarationRow:
    declaration = event.data["errorDeclaration"]
    reason = declaration.get("reason")
    corrective = declaration.get("correctiveEventIDs")
    return {
        "hash_id": hash_id,
        "trace_events": b"".join(trace_events),
        "declaration_time": str(declaration.get("declarationTime", ""))[:64],
        "reason": reason[:512] if isinstance(reason, str) else None,
        "corrective_event_ids": canonical_json(
            [c for c in corrective if isinstance(c, str)] if isinstance(corrective, list) else []
        ),
        "captured_at": now,
        "corrected": corrected,
    }


def _terms(
    document: EpcisDocument, mapped: MappedDocument, captured: list[int]
) -> list[list[tuple[str, str]]]:
    """What a query finds each captured event by (node.epcis.query)."""
    return [
        index_terms(document.events[i].data, document.events[i].context, mapped.hash_ids[i])
        for i in captured
    ]


def _document_refusal(error: EpcisError) -> EpcisError:
    """A refusal from the document's mapping, its pointer made relative to the request."""
    if not error.pointer.startswith("/document"):
        error.pointer = "/document" + error.pointer
    return error


def _rejection(plan: _Plan, k: int, result: IngestResult | None) -> EpcisEventRejectedError:
    """The refusal of the event whose TraceEvent ``plan.expected[k]`` a rule refused."""
    index, item = plan.expected[k]
    cause = result.error if result is not None and result.error is not None else None
    if cause is None:
        cause = EventRejectedError("the event was refused before it could be checked")
    pointer = f"/document{plan.parsed.document.events[index].pointer}"
    if cause.details.get("field") == "eventTime":
        pointer += "/eventTime"  # the document's own member the TraceEvent's is mapped from
    return EpcisEventRejectedError(
        f"event {index}: its {item.action.name} TraceEvent was refused [{cause.code}]: "
        f"{cause}; nothing of the event was captured",
        cause=cause,
        event_index=index,
        pointer=pointer,
    )


def _dependency(
    plan: _Plan, index: int, origin: int, batch: bytes, refused: Mapping[int, EpcisError]
) -> EpcisDependencyError:
    """The refusal of event ``index``, which extends the head of ``batch`` that refused
    event ``origin`` would have set."""
    reason = refused.get(origin)
    cause = getattr(reason, "cause", None)
    code = cause.code if isinstance(cause, TraceNodeError) else (reason.code if reason else "")
    return EpcisDependencyError(
        f"event {index} depends on event {origin} (it extends the head event {origin} would "
        f"have set for batch 0x{batch.hex()}), which was refused [{code}]: nothing of "
        f"event {index} was captured",
        depends_on=origin,
        event_index=index,
        pointer=f"/document{plan.parsed.document.events[index].pointer}",
    )


def _results(
    mapped: MappedDocument,
    fresh: Sequence[int],
    refused: Mapping[int, EpcisError],
    written: Mapping[int, list[bytes]],
    first_refusal: EpcisError | None = None,
) -> list[EpcisResult]:
    new = set(fresh)
    first = min(refused, default=None)
    why = f"event {first} was refused" if first is not None else "a master-data element was refused"
    results: list[EpcisResult] = []
    for index, hash_id in enumerate(mapped.hash_ids):
        if index not in new:
            results.append(EpcisResult(index, hash_id, Outcome.DUPLICATE, ()))
        elif index in written:
            outcome = Outcome.ANCHORED_ONLY if mapped.anchored_only(index) else Outcome.CAPTURED
            adopted = [m.batch for m in mapped.trace_events[index] if m.adoption and m.batch]
            note = mapped.notes.get(index) or (adopted_note(adopted) if adopted else None)
            results.append(EpcisResult(index, hash_id, outcome, tuple(written[index]), note=note))
        else:
            reason = refused.get(index) or EpcisRolledBackError(
                f"event {index} was not captured: {why} and the capture "
                "asked for all or nothing (rollback)",
                event_index=index,
                pointer=f"/document{mapped.events[index].pointer}",
            )
            results.append(EpcisResult(index, hash_id, Outcome.REFUSED, (), reason))
    return results


def stored_count(results: Sequence[EpcisResult]) -> int:
    """How many events of a capture the node holds after it (written now or before)."""
    return sum(1 for r in results if r.stored)


# ----- master data (docs/epcis.md, "Master data") -----


class AssertionOutcome(StrEnum):
    """What became of one master-data element of a document's header."""

    ASSERTED = "asserted"  # written: the submitter's signed assertion, anchored with the rest
    DUPLICATE = "duplicate"  # the submitter's same assertion was held already
    #: The request signs no assertion of it (a client that does not assert master data):
    #: nothing written, and no refusal.
    UNSIGNED = "unsigned"
    REFUSED = "refused"  # nothing of it written; ``refusal`` says why


@dataclass(frozen=True, slots=True)
class AssertionResult:
    """What became of one element of ``epcisHeader.epcisMasterData``."""

    index: int  # the element's place among the header's elements
    pointer: str  # where it sits in the request
    code: str | None
    outcome: AssertionOutcome
    event_hash: bytes | None = None
    refusal: EpcisError | None = None

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "index": self.index,
            "pointer": self.pointer,
            "code": self.code,
            "outcome": str(self.outcome),
            "eventHash": None if self.event_hash is None else "0x" + self.event_hash.hex(),
        }
        if self.refusal is not None:
            found["refusal"] = refusal_json(self.refusal)
        return found


@dataclass(slots=True)
class _Assertions:
    """The header's elements of one capture, and what becomes of each."""

    elements: list[HeaderElement]
    #: element index -> its signed assertion
    signed: dict[int, SignedEvent] = field(default_factory=dict)
    refused: dict[int, EpcisError] = field(default_factory=dict)
    held: set[int] = field(default_factory=set)
    unsigned: set[int] = field(default_factory=set)
    written: dict[int, bytes] = field(default_factory=dict)

    def pointer(self, index: int) -> str:
        return "/document" + self.elements[index].pointer

    def to_ingest(self) -> list[int]:
        return [i for i in sorted(self.signed) if i not in self.refused]

    def results(self, rolled_back: EpcisError | None) -> list[AssertionResult]:
        found: list[AssertionResult] = []
        for item in self.elements:
            i = item.index
            code = item.element.code if item.element is not None else None
            if i in self.written:
                outcome, refusal = AssertionOutcome.ASSERTED, None
            elif i in self.held:
                outcome, refusal = AssertionOutcome.DUPLICATE, None
            elif i in self.unsigned:
                outcome, refusal = AssertionOutcome.UNSIGNED, None
            else:
                outcome = AssertionOutcome.REFUSED
                refusal = self.refused.get(i) or EpcisRolledBackError(
                    f"master-data element {i} was not asserted: "
                    f"{rolled_back or 'another part of the capture was refused'} and the "
                    "capture asked for all or nothing (rollback)",
                    pointer=self.pointer(i),
                )
            found.append(
                AssertionResult(i, self.pointer(i), code, outcome, self.written.get(i), refusal)
            )
        return found


def _held_by(store: Store, elements: Sequence[MasterDataElement]) -> set[tuple[bytes, bytes, int]]:
    """(key, element, participant) of every assertion held of ``elements``' codes."""
    if not elements:
        return set()
    with store.read() as conn:
        records = store.master_data.of_keys(conn, [bytes(e.key.batch_id) for e in elements])
    return {(r.key, r.element, r.participant_id) for r in records}


def _unheld_elements(
    store: Store, document: EpcisDocument, signer: bytes
) -> list[MasterDataElement]:
    """The header's elements the signer's participant has not asserted as they are (the
    node holds them already), each once, in order."""
    elements = [h.element for h in header_elements(document.data) if h.element is not None]
    with store.read() as conn:
        view = store.participants.signers(conn, [signer]).get(signer)
    held = _held_by(store, elements)
    found: dict[tuple[bytes, bytes], MasterDataElement] = {}
    for element in elements:
        mark = (bytes(element.key.batch_id), element.canonical())
        if view is not None and (*mark, view.participant_id) in held:
            continue
        found.setdefault(mark, element)
    return list(found.values())


def _plan_assertions(
    store: Store, domain: Domain, parsed: CaptureRequest, submitter: int | None
) -> _Assertions:
    """Pair the request's ``masterData`` with the header's elements: each must assert one
    of them (else the request is refused: :class:`EpcisSignatureMismatchError`); an element
    the submitter asserted before, as it is, is a duplicate; one left unsigned is not
    asserted (no refusal); one malformed, or signed by another participant than the
    submitter, is refused."""
    plan = _Assertions(header_elements(parsed.document.data))
    wanted: dict[tuple[bytes, bytes], int] = {}
    for item in plan.elements:
        if item.error is not None or item.element is None:
            plan.refused[item.index] = EpcisMasterDataError(
                f"master-data element {item.index}: {item.error}", pointer=plan.pointer(item.index)
            )
            continue
        mark = (bytes(item.element.key.batch_id), keccak(item.element.canonical()))
        if mark in wanted:
            plan.held.add(item.index)  # the same element twice in one header
            continue
        wanted[mark] = item.index
    for k, (event, signature) in enumerate(parsed.master_data):
        index = wanted.get((event.batch_id, event.payload_hash))
        element = None if index is None else plan.elements[index].element
        if index is None or element is None or index in plan.signed:
            raise EpcisSignatureMismatchError(
                f"masterData[{k}] asserts no element of the document's header (or one twice)",
                pointer=f"/masterData/{k}",
            )
        if not is_assertion_of(event, element):
            raise EpcisSignatureMismatchError(
                f"masterData[{k}] is not an assertion of master-data element {index}: an "
                "OBSERVE of its code naming nothing else",
                pointer=f"/masterData/{k}/event",
            )
        plan.signed[index] = SignedEvent(
            event, signature, element.canonical(), (element.key.canonical,)
        )
    signers: dict[int, bytes] = {}
    for index, signed in plan.signed.items():
        try:
            signers[index] = recover_signer(signed.event.digest(domain), signed.signature)
        except InvalidSignatureError as exc:
            plan.refused[index] = _assertion_refusal(plan, index, exc)
    with store.read() as conn:
        views = store.participants.signers(conn, sorted(set(signers.values())))
    for index, signer in signers.items():
        view = views.get(signer)
        if submitter is not None and view is not None and view.participant_id != submitter:
            cause = SignerMismatchError(
                "master data in a document's header is its submitter's to assert; this "
                f"element is signed by participant {view.participant_id}",
            )
            plan.refused[index] = _assertion_refusal(plan, index, cause)
    held = _held_by(store, [i.element for i in plan.elements if i.element is not None])
    for item in plan.elements:
        i = item.index
        if item.element is None or i in plan.refused or i in plan.held:
            continue
        mark = (bytes(item.element.key.batch_id), item.element.canonical())
        owners = {who for (*held_mark, who) in held if tuple(held_mark) == mark}
        if i in plan.signed:
            # Signed again by whoever asserted it as it is (the SDK signs every element
            # of a header): a duplicate, nothing written twice.
            view = views.get(signers.get(i, b""))
            if view is not None and view.participant_id in owners:
                del plan.signed[i]
                plan.held.add(i)
        elif submitter in owners or (submitter is None and owners):
            plan.held.add(i)
        else:
            plan.unsigned.add(i)
    return plan


def _assertion_refusal(
    plan: _Assertions, index: int, cause: EventRejectedError
) -> EpcisEventRejectedError:
    return EpcisEventRejectedError(
        f"master-data element {index}: its assertion was refused [{cause.code}]: {cause}",
        cause=cause,
        pointer=plan.pointer(index),
    )
