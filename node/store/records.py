"""What the store's readers return: one frozen record per kind of row, typed, so that a
renamed column fails mypy rather than a request. Writers take the row mappings below
(``TypedDict``): the bulk paths insert them as they are (``node.store.tables.insert_many``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import Any, Final, NamedTuple, NotRequired, TypedDict

from sqlalchemy import Result

from node.events.identifiers import Licence, PrefixKind
from node.events.typed_data import Action, BatchStatus, Role, TraceEvent
from node.store.models import (
    AlertSeverity,
    AlertStatus,
    DeliveryStatus,
    EventStatus,
    WindowStatus,
)
from node.store.tables import split32


@dataclass(frozen=True, slots=True)
class ParticipantRecord:
    """A participant as the mirror of ParticipantRegistry holds it now."""

    id: int
    key: bytes  # the current signing key (20 bytes)
    name: str
    prefix: str
    roles: Role
    active: bool
    updated_block: int


@dataclass(frozen=True, slots=True)
class ParticipantKeyRecord:
    """A key a participant had: valid for blocks [valid_from, valid_until)."""

    key: bytes
    participant_id: int
    valid_from: int
    valid_until: int | None


@dataclass(frozen=True, slots=True)
class LicenceRecord:
    """One licence of a prefix as the mirror holds it: the licence itself, the block it
    was granted at and, once revoked, the block of the revocation."""

    kind: PrefixKind
    prefix: str
    licence: Licence
    block: int
    revoked_block: int | None


@dataclass(frozen=True, slots=True)
class SignerView:
    """A key's participant as the mirror holds it now."""

    participant_id: int
    roles: Role
    active: bool
    current: bool  # False when the key was rotated out


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A stored signed event, with where it stands in the commit pipeline."""

    id: int  # the order of acceptance
    event_hash: bytes
    event: TraceEvent
    signer: bytes
    participant_id: int
    signature: bytes
    payload: bytes | None  # RFC 8785 JSON
    status: EventStatus
    received_at: int  # ms since the Unix epoch
    window_id: int | None
    anchor_seq: int | None
    tree_index: int | None
    proof: tuple[bytes, ...]  # Merkle siblings, leaf first; () until in a window
    reason: bytes | None  # the contract's error, for a REJECTED event

    @property
    def action(self) -> Action:
        return self.event.action


@dataclass(frozen=True, slots=True)
class WindowAnchor:
    """Where a window's root went on-chain."""

    tx_hash: bytes
    block_number: int | None  # None until the window is confirmed
    root: bytes


@dataclass(frozen=True, slots=True)
class BatchEvent:
    """An event naming a batch, with its window's anchor (None before it has a window)."""

    record: EventRecord
    anchor: WindowAnchor | None


@dataclass(frozen=True, slots=True)
class WindowRecord:
    """A window of events committed in one transaction under one Merkle root."""

    id: int
    first_seq: int
    event_count: int
    root: bytes
    status: WindowStatus
    raw_tx: bytes
    tx_hash: bytes
    block_number: int | None
    block_hash: bytes | None
    created_at: int  # ms since the Unix epoch
    state_root: bytes | None = None  # the root of its state leaves, once computed
    state_block: int | None = None  # where anchorState was mined; 0: given up; None: not yet
    transition_root: bytes | None = None  # an anchor-only window's (None: enforced)


@dataclass(frozen=True, slots=True)
class WindowStateRecord:
    """A batch's state leaf in a window's state tree, with its proof and the window."""

    batch_id: bytes
    head: bytes
    custodian: int
    status: int
    count: int
    proof: tuple[bytes, ...]
    window_id: int
    root: bytes  # the window's event root
    state_root: bytes | None
    block_number: int | None  # the window's block


class LineageLink(NamedTuple):
    """``child`` was made from (or packed with) ``parent`` by the event ``event_hash``."""

    parent: bytes
    child: bytes
    event_hash: bytes


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """A custody batch's state in the downstream trace."""

    identifier: str | None
    status: BatchStatus
    producer_id: int
    custodian_id: int
    receiver_id: int


@dataclass(frozen=True, slots=True)
class BatchListing:
    """A custody batch as a search lists it (:meth:`BatchRepository.matching`)."""

    batch_id: bytes
    identifier: str  # canonical
    status: BatchStatus
    producer_id: int


@dataclass(frozen=True, slots=True)
class BatchMatches:
    """The first batches a search found, in identifier order, and whether more matched."""

    batches: list[BatchListing]
    more: bool


@dataclass(frozen=True, slots=True)
class Downstream:
    """What :meth:`BatchRepository.downstream` found: links, the states of the batches
    reached, and receptions (batch id, participant id) in the order they happened."""

    links: list[LineageLink]
    states: dict[bytes, BatchSummary]
    received: list[tuple[bytes, int]]


@dataclass(frozen=True, slots=True)
class EpcisEventRecord:
    """A captured EPCIS event: its hash ID and the TraceEvents it was mapped to."""

    id: int
    hash_id: str
    event_id: str | None
    event_type: str
    trace_events: tuple[bytes, ...]
    context: bytes | None  # the @context it was read under (RFC 8785 JSON)
    captured_at: int
    event_time: int | None = None


@dataclass(frozen=True, slots=True)
class EpcisDeclarationRecord:
    """A declaration that a captured EPCIS event was in error (docs/epcis.md, "Corrections")."""

    hash_id: str  # the corrected event's
    trace_events: tuple[bytes, ...]  # the declaration's own TraceEvents
    declaration_time: str
    reason: str | None
    corrective_event_ids: tuple[str, ...]
    captured_at: int


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One incident the integrity monitor found, and how it has been handled."""

    id: int
    kind: str
    severity: AlertSeverity
    score: int
    incident: str
    status: AlertStatus
    batch_id: bytes | None
    event_hash: bytes | None
    participant_id: int | None
    detail: str
    evidence: dict[str, Any]
    detected_at: int
    updated_at: int
    occurrences: int
    block_number: int | None
    handled_by: str
    note: str
    #: Its current revision (0: not yet in the alert log) and that revision's log entry,
    #: with the log's anchor when it covers the entry.
    revision: int = 0
    log: AlertLogRecord | None = None
    anchor: LogAnchor | None = None


@dataclass(frozen=True, slots=True)
class AlertLogRecord:
    """An entry of the alert log (docs/monitor.md, "The alert log")."""

    seq: int
    alert_id: int
    revision: int
    content: bytes
    prev: bytes
    hash: bytes
    digest: bytes | None  # None until sealed
    signature: bytes | None
    created_at: int


@dataclass(frozen=True, slots=True)
class LogAnchor:
    """The alert log's head as anchored on AnchorRegistry: ``head`` is the hash of entry
    ``count``, written in block ``block_number`` by ``tx_hash``."""

    head: bytes
    count: int
    block_number: int
    tx_hash: bytes


@dataclass(frozen=True, slots=True)
class AlertLogState:
    """The alert log's length and head, and its latest anchor (None before the first)."""

    seq: int
    head: bytes
    anchor: LogAnchor | None


@dataclass(frozen=True, slots=True)
class Subscription:
    """What a webhook endpoint subscribes to: message types, the least severity of the
    alerts sent, and the scope: these batches and the batches whose identifiers start
    with these (canonical) prefixes; both empty: every batch, and messages about none.
    (node/webhooks/subscriptions.py reads and checks one.)"""

    types: tuple[str, ...]
    min_severity: AlertSeverity
    batch_ids: tuple[bytes, ...] = ()
    prefixes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """A webhook endpoint, with its secrets (they sign; they are never served back)."""

    id: int
    url: str
    subscription: Subscription
    label: str
    secret: str
    previous_secret: str | None
    previous_until: int | None
    created_at: int
    disabled_at: int | None

    def secrets(self, now: int) -> tuple[str, ...]:
        """The secrets that sign a message sent at ``now`` (two during a rotation)."""
        if self.previous_secret and self.previous_until and now < self.previous_until:
            return (self.secret, self.previous_secret)
        return (self.secret,)


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One message to one endpoint, and how its delivery went."""

    id: int
    endpoint_id: int
    message_id: str
    event_type: str
    payload: bytes
    status: DeliveryStatus
    attempts: int
    next_attempt_at: int
    created_at: int
    delivered_at: int | None
    last_status: int | None
    last_error: str


@dataclass(frozen=True, slots=True)
class RefusalRecord:
    """Something the gateway refused (``node.store.models.Refusal``); ``count`` refusals."""

    id: int
    at: int  # ms since the Unix epoch
    code: str
    caller: str  # key:<keyId> or addr:<client address>
    key_id: str | None
    client: str
    claimed_participant: int | None
    signer: bytes | None
    action: Action | None
    event_hash: bytes | None
    nonce: bytes | None
    batch_ids: tuple[bytes, ...]
    heads: tuple[tuple[bytes, bytes], ...]  # (batch id, previous event hash)
    detail: str
    count: int


# ----- rows the writers take -----


@dataclass(frozen=True, slots=True)
class Finding:
    """What a rule found, before it is an alert: ``incident`` keys the alert it raises or
    updates."""

    kind: str
    severity: AlertSeverity
    score: int
    incident: str
    detail: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    batch_id: bytes | None = None
    event_hash: bytes | None = None
    participant_id: int | None = None
    block_number: int | None = None


class EventRow(TypedDict):
    """An accepted event as ingest writes it (``epoch`` and ``batch_epoch`` are the store's)."""

    event_hash: bytes
    action: int
    batch_id: bytes
    prev_event_hash: bytes
    inputs: bytes
    input_prev_hashes: bytes
    outputs: bytes
    counterparty: bytes
    product: bytes
    quantity: str
    event_time: int
    location: bytes
    payload_hash: bytes
    nonce: bytes
    signer: bytes
    participant_id: int
    signature: bytes
    payload: bytes | None
    status: int
    received_at: int
    epoch: NotRequired[int]
    batch_epoch: NotRequired[int]


class RefusalRow(TypedDict):
    """A refusal as the refusal log writes it (``node.monitor.refusals``)."""

    at: int
    code: str
    caller: str
    key_id: str | None
    client: str
    claimed_participant: int | None
    signer: bytes | None
    action: int | None
    event_hash: bytes | None
    nonce: bytes | None
    batch_ids: bytes
    heads: bytes
    detail: str
    count: int


class LineageRow(TypedDict):
    parent: bytes
    child: bytes
    event_hash: bytes


class EventBatchRow(TypedDict):
    """An event naming ``batch_id`` other than as its subject."""

    batch_id: bytes
    event_hash: bytes


class EpcisDeclarationRow(TypedDict):
    hash_id: str  # the corrected event's
    trace_events: bytes  # the declaration's own TraceEvent hashes
    declaration_time: str
    reason: str | None
    corrective_event_ids: bytes  # RFC 8785 JSON list
    captured_at: int
    corrected: bytes  # the corrected event's TraceEvent hashes (epcis_corrected)


class EpcisEventRow(TypedDict):
    hash_id: str
    event_id: str | None
    event_type: str
    trace_events: bytes
    context: bytes | None
    captured_at: int
    event_time: int | None


class WindowMember(TypedDict):
    """An event's place in a new window."""

    id: int
    tree_index: int
    proof: bytes


# ----- from rows -----


#: The ``events`` columns an :class:`EventRecord` is made of, in the order
#: :func:`event_record` reads them.
_EVENT_COLUMNS: Final = (
    "id",
    "event_hash",
    "action",
    "batch_id",
    "prev_event_hash",
    "inputs",
    "input_prev_hashes",
    "outputs",
    "counterparty",
    "product",
    "quantity",
    "event_time",
    "location",
    "payload_hash",
    "nonce",
    "signer",
    "participant_id",
    "signature",
    "payload",
    "status",
    "received_at",
    "window_id",
    "anchor_seq",
    "tree_index",
    "proof",
    "reason",
)
_ACTIONS: Final = {int(a): a for a in Action}
#: A RecordMemo's default bound, bytes: ~11,000 records of the mixed workload.
MEMO_BYTES: Final = 32 * 1024 * 1024
#: The largest payload, bytes, whose record a RecordMemo keeps (the mixed workload's are
#: 120-530 bytes; ingest takes up to 256 KiB).
MEMO_MAX_PAYLOAD: Final = 16 * 1024
#: The bytes of a kept record besides its payload and proof (its objects, the row's
#: values, the memo's entry), measured (tracemalloc) over 5,000 mixed events: ~2.5 KB.
_MEMO_ENTRY_BYTES: Final = 2_500
_STATUSES: Final = {int(s): s for s in EventStatus}


@lru_cache(maxsize=64)
def _event_columns(fields: tuple[str, ...]) -> itemgetter[tuple[Any, ...]]:
    """What takes :data:`_EVENT_COLUMNS` out of a row whose columns are ``fields`` (the
    first of a repeated name), by position: a row's attributes are looked up by name
    one at a time, a third of the record's cost when it was read that way."""
    first: dict[str, int] = {}
    for position, name in enumerate(fields):
        first.setdefault(name, position)
    return itemgetter(*(first[name] for name in _EVENT_COLUMNS))


def _split(data: bytes) -> tuple[bytes, ...]:
    """:func:`split32` of a stored column, with no work for the empty lists most events
    have."""
    return split32(bytes(data)) if data else ()


def event_record(row: Any) -> EventRecord:
    """The record of an ``events`` row (any row with its columns)."""
    return _event_record(_event_columns(row._fields)(row))


class RecordMemo:
    """Event records already made, by their row's values, for a reader that reads the
    same rows again and again: the integrity monitor's watch reads the whole history of
    every batch its new events name, on every look, and the new events themselves again
    in their window. A record is reused only when every column it is made of is as it
    was (an event's status, window and proof change once it is in a window), so what a
    read returns is what making it afresh gives.

    Bounded by an estimate of the bytes it holds (``budget``): the records read least
    recently are forgotten first, and a record whose payload is larger than
    :data:`MEMO_MAX_PAYLOAD` is not kept. For one thread."""

    def __init__(self, budget: int = MEMO_BYTES) -> None:
        self.budget = budget
        self.held = 0  # the estimated bytes of what is kept
        self._records: OrderedDict[int, tuple[tuple[Any, ...], EventRecord, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def record(self, values: tuple[Any, ...]) -> EventRecord:
        """The record of an ``events`` row's :data:`_EVENT_COLUMNS` values."""
        key = values[0]
        kept = self._records.get(key)
        if kept is not None:
            if kept[0] == values:
                self._records.move_to_end(key)
                return kept[1]
            del self._records[key]
            self.held -= kept[2]
        made = _event_record(values)
        payload = len(made.payload or b"")
        if payload <= MEMO_MAX_PAYLOAD:
            size = _MEMO_ENTRY_BYTES + payload + 32 * len(made.proof)
            self._records[key] = (values, made, size)
            self.held += size
            while self.held > self.budget:
                self.held -= self._records.popitem(last=False)[1][2]
        return made


def event_reader(
    keys: Iterable[str], memo: RecordMemo | None = None
) -> Callable[[Any], EventRecord]:
    """:func:`event_record` for the rows of one result, whose columns are ``keys`` (its
    ``keys()``): the columns are found once, not in each row. ``memo``: records made
    before are reused from it."""
    take = _event_columns(tuple(keys))
    if memo is not None:
        return lambda row: memo.record(take(row))
    return lambda row: _event_record(take(row))


def event_records(result: Result[Any], memo: RecordMemo | None = None) -> list[EventRecord]:
    """The records of every row of ``result`` (:func:`event_reader`)."""
    read = event_reader(result.keys(), memo)
    return [read(row) for row in result]


def _event_record(values: tuple[Any, ...]) -> EventRecord:
    (
        id_,
        event_hash,
        action,
        batch_id,
        prev_event_hash,
        inputs,
        input_prev_hashes,
        outputs,
        counterparty,
        product,
        quantity,
        event_time,
        location,
        payload_hash,
        nonce,
        signer,
        participant_id,
        signature,
        payload,
        status,
        received_at,
        window_id,
        anchor_seq,
        tree_index,
        proof,
        reason,
    ) = values
    return EventRecord(
        id=int(id_),
        event_hash=bytes(event_hash),
        event=TraceEvent(
            action=_ACTIONS.get(action) or Action(action),
            batch_id=bytes(batch_id),
            prev_event_hash=bytes(prev_event_hash),
            inputs=_split(inputs),
            input_prev_hashes=_split(input_prev_hashes),
            outputs=_split(outputs),
            counterparty=bytes(counterparty),
            product=bytes(product),
            quantity=int(quantity),
            event_time=int(event_time),
            location=bytes(location),
            payload_hash=bytes(payload_hash),
            nonce=int.from_bytes(bytes(nonce), "big"),
        ),
        signer=bytes(signer),
        participant_id=int(participant_id),
        signature=bytes(signature),
        payload=None if payload is None else bytes(payload),
        status=_STATUSES.get(status) or EventStatus(status),
        received_at=int(received_at),
        window_id=None if window_id is None else int(window_id),
        anchor_seq=None if anchor_seq is None else int(anchor_seq),
        tree_index=None if tree_index is None else int(tree_index),
        proof=_split(proof),
        reason=None if reason is None else bytes(reason),
    )


def window_record(row: Any) -> WindowRecord:
    return WindowRecord(
        id=int(row.id),
        first_seq=int(row.first_seq),
        event_count=int(row.event_count),
        root=bytes(row.root),
        status=WindowStatus(row.status),
        raw_tx=bytes(row.raw_tx),
        tx_hash=bytes(row.tx_hash),
        block_number=None if row.block_number is None else int(row.block_number),
        block_hash=None if row.block_hash is None else bytes(row.block_hash),
        created_at=int(row.created_at),
        state_root=None if row.state_root is None else bytes(row.state_root),
        state_block=None if row.state_block is None else int(row.state_block),
        transition_root=None if row.transition_root is None else bytes(row.transition_root),
    )


def participant_record(row: Any) -> ParticipantRecord:
    return ParticipantRecord(
        id=int(row.id),
        key=bytes(row.key),
        name=str(row.name),
        prefix=str(row.prefix),
        roles=Role(row.roles),
        active=bool(row.active),
        updated_block=int(row.updated_block),
    )


@dataclass(frozen=True, slots=True)
class CaptureJobRecord:
    """An EPCIS capture as the REST bindings' capture job (docs/epcis.md, "Capture jobs")."""

    id: int
    capture_id: str
    submitter: int | None  # the participant whose key submitted it; None: the operator
    created_at: int  # ms
    finished_at: int | None  # ms; None while it runs
    behaviour: str  # proceed | rollback
    status: str  # running | succeeded | failed
    outcomes: tuple[dict[str, Any], ...]  # each event's, as EpcisResult.as_json gives it
    events_total: int | None = None  # events in the document (None: an older job)
    events_done: int | None = None  # events decided so far (their outcomes are above)
    #: Why the job could not run to its end (a refusal of the whole request), else None.
    error: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class NamedQueryRecord:
    """A named EPCIS query of one owner: its parameters, each a list of values."""

    id: int
    owner: str
    name: str
    definition: dict[str, list[str]]
    created_at: int


@dataclass(frozen=True, slots=True)
class QuerySubscriptionRecord:
    """A subscription to a named query, delivered through webhook endpoint ``endpoint_id``."""

    id: int
    subscription_id: str
    query_id: int
    endpoint_id: int
    created_at: int


class MasterDataRow(TypedDict):
    key: bytes
    event_hash: bytes
    participant_id: int
    element: bytes
    received_at: int


@dataclass(frozen=True, slots=True)
class MasterDataRecord:
    """A master-data assertion: the code's key, the asserting event and its status."""

    key: bytes
    event_hash: bytes
    participant_id: int
    element: bytes  # the vocabulary element, RFC 8785 JSON
    received_at: int
    status: EventStatus  # of the asserting event
