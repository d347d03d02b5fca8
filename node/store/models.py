"""The store's tables.

Hashes, ids and addresses are raw bytes (32 or 20); 256-bit integers that never need
arithmetic in SQL (nonces) are 32-byte big-endian, so they compare and index exactly on
both SQLite and PostgreSQL; quantities are decimal strings.
"""

from __future__ import annotations

from enum import IntEnum

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class EventStatus(IntEnum):
    ACCEPTED = 1
    ANCHORED = 2
    REJECTED = 3


class Participant(SQLModel, table=True):
    """A participant as mirrored from ParticipantRegistry (current state)."""

    __tablename__ = "participants"

    id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    key: bytes = Field(sa_type=LargeBinary(20), unique=True)
    name: str = Field(max_length=64)
    prefix: str = Field(default="", max_length=64, index=True)
    roles: int
    active: bool
    updated_block: int = Field(sa_type=BigInteger)


class ParticipantKey(SQLModel, table=True):
    """Every key a participant ever had: valid for blocks [valid_from, valid_until)."""

    __tablename__ = "participant_keys"

    key: bytes = Field(sa_type=LargeBinary(20), primary_key=True)
    participant_id: int = Field(sa_type=BigInteger, index=True)
    valid_from: int = Field(sa_type=BigInteger)
    valid_until: int | None = Field(default=None, sa_type=BigInteger)


class ParticipantStatus(SQLModel, table=True):
    """A participant's roles and status from a block on (the registry's checkpoints)."""

    __tablename__ = "participant_status"

    participant_id: int = Field(sa_type=BigInteger, primary_key=True)
    block: int = Field(sa_type=BigInteger, primary_key=True)
    roles: int
    active: bool


class PrefixLicence(SQLModel, table=True):
    """Every licence of every identifier prefix, as ParticipantRegistry's ``PrefixLicensed``
    and ``PrefixRevoked`` logs tell it (docs/contracts.md, "Identifier authority"): keyed by
    the grant's log, so a prefix's licences are in chain order and a replay changes nothing.
    ``valid_until`` 0: no end; a revocation sets it, clears ``held`` and notes its block."""

    __tablename__ = "licences"
    __table_args__ = (Index("ix_licences_holder", "holder"),)

    kind: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    prefix: str = Field(primary_key=True, max_length=64)
    block: int = Field(sa_type=BigInteger, primary_key=True)
    log_index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    holder: int = Field(sa_type=BigInteger)
    valid_from: int = Field(sa_type=BigInteger)
    valid_until: int = Field(sa_type=BigInteger)
    held: bool
    revoked_block: int | None = Field(default=None, sa_type=BigInteger)


class SyncCursor(SQLModel, table=True):
    """How far a mirror has read the chain (last block fully applied)."""

    __tablename__ = "sync_cursors"

    name: str = Field(primary_key=True, max_length=64)
    block: int = Field(sa_type=BigInteger)


class Event(SQLModel, table=True):
    """An accepted signed event, with everything needed to re-verify it."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("signer", "nonce", name="uq_events_signer_nonce"),
        # Random 32-byte keys come after an epoch (see EPOCH_BITS in node.store.tables), so
        # new entries land in the last few pages of each index, however large the store.
        Index("ix_events_epoch_hash", "epoch", "event_hash"),
        Index("ix_events_batch", "batch_epoch", "batch_id", "id"),
        Index("ix_events_status", "status", "id"),
        Index("ix_events_anchor_seq", "anchor_seq", unique=True),
    )

    # The order of acceptance. INTEGER on SQLite, where only that type auto-increments.
    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite")
    )
    # Unique without a unique index: one event per (signer, nonce), and the hash is a
    # function of both. Looked up through ix_events_epoch_hash.
    event_hash: bytes = Field(sa_type=LargeBinary(32))
    #: The store's epoch when the event was stored (node.store.tables.EPOCH_BITS).
    epoch: int = Field(default=0, sa_type=BigInteger)
    action: int
    batch_id: bytes = Field(sa_type=LargeBinary(32))
    #: The epoch of the subject batch's row (batches.epoch): its events sit together.
    batch_epoch: int = Field(default=0, sa_type=BigInteger)
    prev_event_hash: bytes = Field(sa_type=LargeBinary(32))
    inputs: bytes = Field(sa_type=LargeBinary)  # 32-byte items, concatenated
    input_prev_hashes: bytes = Field(sa_type=LargeBinary)
    outputs: bytes = Field(sa_type=LargeBinary)
    counterparty: bytes = Field(sa_type=LargeBinary(20))
    product: bytes = Field(sa_type=LargeBinary(32))
    quantity: str = Field(max_length=78)
    event_time: int = Field(sa_type=BigInteger)
    location: bytes = Field(sa_type=LargeBinary(32))
    payload_hash: bytes = Field(sa_type=LargeBinary(32))
    nonce: bytes = Field(sa_type=LargeBinary(32))
    signer: bytes = Field(sa_type=LargeBinary(20))
    participant_id: int = Field(sa_type=BigInteger)
    signature: bytes = Field(sa_type=LargeBinary(65))
    payload: bytes | None = Field(default=None, sa_type=LargeBinary)  # RFC 8785 JSON
    status: int = Field(default=EventStatus.ACCEPTED)
    received_at: int = Field(sa_type=BigInteger)  # ms since the Unix epoch
    # Set when the commit worker puts the event in a window (see Window).
    window_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    anchor_seq: int | None = Field(default=None, sa_type=BigInteger)
    tree_index: int | None = Field(default=None)
    proof: bytes | None = Field(default=None, sa_type=LargeBinary)  # 32-byte siblings
    reason: bytes | None = Field(default=None, sa_type=LargeBinary)  # the contract's error


class WindowStatus(IntEnum):
    PREPARED = 1  # events assigned, transaction signed and stored, maybe sent
    CONFIRMED = 2  # receipt stored, events marked
    FAILED = 3  # the transaction reverted as a whole; its events went back to the queue


class Window(SQLModel, table=True):
    """A window of accepted events committed in one transaction under one Merkle root.

    The signed transaction is stored before it is sent, so a node killed at any moment
    resumes by looking the transaction up (or sending the very same bytes again).
    """

    __tablename__ = "windows"

    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite")
    )
    first_seq: int = Field(sa_type=BigInteger)
    event_count: int
    # Not unique: a window that failed as a whole is retried with the same events (and
    # so the same root), possibly with the very same signed transaction.
    root: bytes = Field(sa_type=LargeBinary(32), index=True)
    status: int = Field(index=True)
    raw_tx: bytes = Field(sa_type=LargeBinary)
    tx_hash: bytes = Field(sa_type=LargeBinary(32), index=True)
    block_number: int | None = Field(default=None, sa_type=BigInteger)
    block_hash: bytes | None = Field(default=None, sa_type=LargeBinary(32))
    created_at: int = Field(sa_type=BigInteger)
    # The root of the window's state leaves (window_states), once computed; state_block
    # is the block AnchorRegistry.anchorState was mined in (None: not anchored yet).
    state_root: bytes | None = Field(default=None, sa_type=LargeBinary(32))
    state_block: int | None = Field(default=None, sa_type=BigInteger)
    # An anchor-only window's transition root (window_transitions; None: an enforced
    # window), anchored with its root and state root by one anchorWindow.
    transition_root: bytes | None = Field(default=None, sa_type=LargeBinary(32))


class WindowState(SQLModel, table=True):
    """The state leaf of a batch in a window's state tree (node.proofs.state), with its proof."""

    __tablename__ = "window_states"

    batch_id: bytes = Field(sa_type=LargeBinary(32), primary_key=True)
    window_id: int = Field(
        primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite"), index=True
    )
    head: bytes = Field(sa_type=LargeBinary(32))
    custodian: int = Field(sa_type=BigInteger)
    status: int
    event_count: int = Field(sa_type=BigInteger)
    proof: bytes = Field(sa_type=LargeBinary)  # sibling hashes, leaf first, concatenated


class WindowTransition(SQLModel, table=True):
    """A transition leaf of an anchor-only window (node.proofs.transitions), with its proof."""

    __tablename__ = "window_transitions"

    window_id: int = Field(primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite"))
    position: int = Field(primary_key=True)  # in window order: the tree's value index
    event_hash: bytes = Field(sa_type=LargeBinary(32), index=True)
    leaf: bytes = Field(sa_type=LargeBinary)  # the ABI-encoded transition
    proof: bytes = Field(sa_type=LargeBinary)  # sibling hashes, leaf first, concatenated


class Batch(SQLModel, table=True):
    """The node's view of a batch, from the events it accepted.

    Every subject of a stored event has a row. ``status`` NONE marks one that is no
    custody batch: a pallet (the subject of packing events), or a batch the chain never
    created (its creating event was rejected). The store's readers skip those rows; they
    keep ``epoch``, so that the subject's events are found where they were stored.
    """

    __tablename__ = "batches"

    batch_id: bytes = Field(sa_type=LargeBinary(32), primary_key=True)
    # The canonical identifier the batch id was derived from: unique because the id is.
    identifier: str | None = Field(default=None, max_length=512)
    producer_id: int = Field(sa_type=BigInteger)
    custodian_id: int = Field(sa_type=BigInteger, index=True)
    receiver_id: int = Field(default=0, sa_type=BigInteger)
    status: int
    head: bytes = Field(sa_type=LargeBinary(32))
    created_by: bytes = Field(sa_type=LargeBinary(32))  # the creating event's hash
    #: The store's epoch when the row was first written; never changes.
    epoch: int = Field(default=0, sa_type=BigInteger)


class Lineage(SQLModel, table=True):
    """``child`` was made from ``parent`` by the transformation ``event_hash``, or (an
    AGGREGATE) the lot ``parent`` was packed on the pallet ``child``. The first event
    that linked the two is kept."""

    __tablename__ = "lineage"
    __table_args__ = (Index("ix_lineage_child", "child"),)

    parent: bytes = Field(sa_type=LargeBinary(32), primary_key=True)
    child: bytes = Field(sa_type=LargeBinary(32), primary_key=True)
    event_hash: bytes = Field(sa_type=LargeBinary(32))


class EventBatch(SQLModel, table=True):
    """An event names ``batch_id`` other than as its subject (``events.batch_id``): the
    inputs and outputs of a transformation, the lots of a packing or unpacking.

    Single-batch events (most of them) write no row here; a batch's events are those with
    its id as subject plus those linked here.
    """

    __tablename__ = "event_batches"

    batch_id: bytes = Field(sa_type=LargeBinary(32), primary_key=True)
    event_hash: bytes = Field(sa_type=LargeBinary(32), primary_key=True)
    event_id: int = Field(sa_type=BigInteger)  # events.id


class EpcisEvent(SQLModel, table=True):
    """An EPCIS 2.0 event captured through ``node.epcis``: its CBV 2.0 event hash ID and
    the TraceEvents it was mapped to. The event's original JSON is the payload of each of
    those TraceEvents; ``context`` is the ``@context`` it was read under (RFC 8785 JSON),
    so that anyone can recompute the hash ID from the stored payload."""

    __tablename__ = "epcis_events"

    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite")
    )
    hash_id: str = Field(max_length=128, unique=True)  # ni:///sha-256;...?ver=CBV2.0
    event_id: str | None = Field(default=None, max_length=512, index=True)  # as given
    event_type: str = Field(max_length=64)
    trace_events: bytes = Field(sa_type=LargeBinary)  # 32-byte TraceEvent hashes, in order
    context: bytes | None = Field(default=None, sa_type=LargeBinary)
    captured_at: int = Field(sa_type=BigInteger)  # ms since the Unix epoch (recordTime)
    #: eventTime in ms since the Unix epoch, for queries (None for rows from before 0014).
    event_time: int | None = Field(default=None, sa_type=BigInteger, index=True)


class EpcisTerm(SQLModel, table=True):
    """A value a captured EPCIS event is found by (node.epcis.query): its bizStep, an EPC
    of its epcList, its read point... written as the hash ID writes it, so every spelling
    of a value finds it. The primary key is the index queries use."""

    __tablename__ = "epcis_terms"

    kind: str = Field(max_length=32, primary_key=True)
    value: str = Field(max_length=512, primary_key=True)
    epcis_event_id: int = Field(
        sa_type=BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        foreign_key="epcis_events.id",
    )


class EpcisDeclaration(SQLModel, table=True):
    """An EPCIS ``errorDeclaration`` (CBV: the event it names was in error) of a captured
    event: its own anchored TraceEvents (an OBSERVE of each batch of the event, the
    declaring event as payload), linked to the event it corrects by that event's hash ID.
    The corrected event and its TraceEvents are never changed (docs/epcis.md,
    "Corrections")."""

    __tablename__ = "epcis_declarations"

    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite")
    )
    hash_id: str = Field(max_length=128, unique=True)  # the corrected event's hash ID
    trace_events: bytes = Field(sa_type=LargeBinary)  # the declaration's own, in order
    declaration_time: str = Field(max_length=64)
    reason: str | None = Field(default=None, max_length=512)
    corrective_event_ids: bytes = Field(sa_type=LargeBinary)  # RFC 8785 JSON list
    captured_at: int = Field(sa_type=BigInteger)


class EpcisCorrected(SQLModel, table=True):
    """Each TraceEvent of an EPCIS event declared in error, and the declaration: how
    provenance finds that an event it shows was corrected."""

    __tablename__ = "epcis_corrected"

    event_hash: bytes = Field(sa_type=LargeBinary(32), primary_key=True)
    declaration_id: int = Field(
        sa_type=BigInteger().with_variant(Integer(), "sqlite"),
        foreign_key="epcis_declarations.id",
        index=True,
    )


class EpcisCaptureJob(SQLModel, table=True):
    """One EPCIS capture (``POST /v1/epcis/capture``, ``tracenode epcis capture``) as the
    REST bindings' capture job: who submitted it, when it ran, the error behaviour it
    asked for and each event's outcome (docs/epcis.md, "Capture jobs")."""

    __tablename__ = "epcis_capture_jobs"
    __table_args__ = (
        Index("ix_epcis_capture_jobs_submitter", "submitter", "id"),
        Index("ix_epcis_capture_jobs_running", "finished_at", "id"),
    )

    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite")
    )
    capture_id: str = Field(max_length=64, unique=True)  # the bindings' captureID: opaque
    #: The participant whose API key submitted it; None for the operator (the CLI).
    submitter: int | None = Field(default=None, sa_type=BigInteger)
    created_at: int = Field(sa_type=BigInteger)  # ms
    finished_at: int | None = Field(default=None, sa_type=BigInteger)  # ms; None: running
    behaviour: str = Field(max_length=16)  # proceed | rollback
    status: str = Field(max_length=16)  # running | succeeded | failed
    #: Each event's outcome, in document order (JSON, as the capture answered it).
    outcomes: bytes = Field(sa_type=LargeBinary)
    #: Events in the document, and how many are decided so far (outcomes holds theirs);
    #: None for a job recorded before jobs had progress.
    events_total: int | None = Field(default=None)
    events_done: int | None = Field(default=None)
    #: An asynchronous job's signed request (JSON) while it runs, so that a node
    #: stopped mid-job resumes it; None once finished.
    request: bytes | None = Field(default=None, sa_type=LargeBinary)
    #: Why a job that could not run to its end failed (the refusal of the whole request,
    #: JSON, as node.epcis.capture.refusal_json gives it); else None.
    error: bytes | None = Field(default=None, sa_type=LargeBinary)


class EpcisNamedQuery(SQLModel, table=True):
    """A named EPCIS query (SimpleEventQuery) of one owner: its parameters as given, each
    name once per owner (docs/epcis.md, "Named queries")."""

    __tablename__ = "epcis_named_queries"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_epcis_named_queries_owner"),)

    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite")
    )
    owner: str = Field(max_length=64)  # participant:<id>, admin, or key:<key id>
    name: str = Field(max_length=128)
    #: The parameters: RFC 8785 JSON object of parameter name -> list of values.
    definition: bytes = Field(sa_type=LargeBinary)
    created_at: int = Field(sa_type=BigInteger)


class EpcisSubscription(SQLModel, table=True):
    """A subscription to a named query: newly captured events matching it are delivered
    as EPCIS query documents through its webhook endpoint (docs/epcis.md)."""

    __tablename__ = "epcis_subscriptions"

    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite")
    )
    subscription_id: str = Field(max_length=64, unique=True)  # the bindings' subscriptionID
    query_id: int = Field(
        sa_type=BigInteger().with_variant(Integer(), "sqlite"),
        foreign_key="epcis_named_queries.id",
        index=True,
    )
    endpoint_id: int = Field(sa_type=BigInteger)  # its webhook_endpoints row
    created_at: int = Field(sa_type=BigInteger)


class ApiKey(SQLModel, table=True):
    """A gateway API key: only its SHA-256 is stored; the secret is shown once, at creation.

    A participant's key (``participant_id`` set) submits events signed by that participant
    only; an admin key (``admin``, no participant) manages participants and keys.
    """

    __tablename__ = "api_keys"

    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite")
    )
    key_id: str = Field(max_length=32, unique=True)  # public part, shown in listings
    secret_hash: bytes = Field(sa_type=LargeBinary(32))
    participant_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    admin: bool = Field(default=False)
    label: str = Field(default="", max_length=128)
    created_at: int = Field(sa_type=BigInteger)  # ms since the Unix epoch
    revoked_at: int | None = Field(default=None, sa_type=BigInteger)


class AlertSeverity(IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


class AlertStatus(IntEnum):
    OPEN = 1
    ACKNOWLEDGED = 2
    RESOLVED = 3
    FALSE_POSITIVE = 4


class Alert(SQLModel, table=True):
    """One incident the integrity monitor found (docs/monitor.md): raised once, updated as
    evidence grows (``incident`` is its key), and handled by people (``status``)."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_severity", "severity", "id"),
        UniqueConstraint("incident", name="uq_alerts_incident"),
    )

    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite")
    )
    #: The rule that found it (docs/monitor.md lists them).
    kind: str = Field(max_length=64)
    severity: int
    #: 0-100 from impact and confidence (docs/monitor.md's rubric).
    score: int = Field(default=0)
    #: What makes two findings one incident: the rule and what it is about.
    incident: str = Field(max_length=256)
    status: int = Field(default=AlertStatus.OPEN)
    batch_id: bytes | None = Field(default=None, sa_type=LargeBinary(32), index=True)
    event_hash: bytes | None = Field(default=None, sa_type=LargeBinary(32))
    participant_id: int | None = Field(default=None, sa_type=BigInteger)
    detail: str = Field(default="", max_length=1024)
    #: The evidence (RFC 8785 JSON): hashes, roots, readings, the rule's parameters.
    evidence: bytes = Field(default=b"{}", sa_type=LargeBinary)
    detected_at: int = Field(sa_type=BigInteger)  # ms since the Unix epoch: first seen
    updated_at: int = Field(default=0, sa_type=BigInteger)  # ms: last seen or handled
    occurrences: int = Field(default=1)
    block_number: int | None = Field(default=None, sa_type=BigInteger)
    #: Who last changed ``status``, and why.
    handled_by: str = Field(default="", max_length=128)
    note: str = Field(default="", max_length=1024)
    #: How many times its signed content changed (1 when raised); the alert log's entry
    #: that holds the current revision (docs/monitor.md, "The alert log").
    revision: int = Field(default=0)
    log_seq: int | None = Field(default=None, sa_type=BigInteger)


class AlertLogEntry(SQLModel, table=True):
    """One revision of one alert in the node's append-only alert log (docs/monitor.md):
    ``hash`` is the EIP-712 struct hash of ``AlertRevision(seq, prev, alertId, revision,
    content)``, ``prev`` the previous entry's hash, so each entry commits to the whole log
    before it. ``digest`` and ``signature`` (the node key's) are added when the entry is
    sealed; the head is anchored on AnchorRegistry."""

    __tablename__ = "alert_log"
    __table_args__ = (Index("ix_alert_log_alert", "alert_id", "seq"),)

    seq: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    alert_id: int = Field(sa_type=BigInteger)
    revision: int
    #: keccak256 of the revision's signed content (RFC 8785 JSON: node.store.alerts).
    content: bytes = Field(sa_type=LargeBinary(32))
    prev: bytes = Field(sa_type=LargeBinary(32))
    hash: bytes = Field(sa_type=LargeBinary(32), unique=True)
    digest: bytes | None = Field(default=None, sa_type=LargeBinary(32))
    signature: bytes | None = Field(default=None, sa_type=LargeBinary(65))
    created_at: int = Field(sa_type=BigInteger)  # ms since the Unix epoch


class AlertLogState(SQLModel, table=True):
    """The alert log's head (one row, ``id`` 1: writers lock it, so the log stays a chain)
    and its latest anchor on AnchorRegistry."""

    __tablename__ = "alert_log_state"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = Field(default=0, sa_type=BigInteger)  # entries in the log
    head: bytes = Field(sa_type=LargeBinary(32))  # the last entry's hash (zero: none)
    anchored_count: int = Field(default=0, sa_type=BigInteger)
    anchored_head: bytes | None = Field(default=None, sa_type=LargeBinary(32))
    anchored_block: int | None = Field(default=None, sa_type=BigInteger)
    anchored_tx: bytes | None = Field(default=None, sa_type=LargeBinary(32))


class DeliveryStatus(IntEnum):
    PENDING = 1  # waiting for its turn or its next attempt
    DELIVERED = 2  # the receiver answered 2xx
    DEAD = 3  # retried for a day without success: the dead-letter list


class WebhookEndpoint(SQLModel, table=True):
    """A partner's webhook receiver (docs/monitor.md): what it wants, and its secrets.

    ``secret`` signs every message (Standard Webhooks, HMAC-SHA256); after a rotation the
    previous secret signs too until ``previous_until``, so the receiver can switch over.
    """

    __tablename__ = "webhook_endpoints"

    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite")
    )
    url: str = Field(max_length=2048)
    #: Message types it subscribes to, comma-separated (docs/monitor.md lists them).
    event_types: str = Field(max_length=512)
    min_severity: int = Field(default=1)
    #: Its scope: these batches (0x ids, comma-separated) and the batches whose identifiers
    #: start with these prefixes (canonical, comma-separated); both empty: every batch.
    batch_ids: str = Field(default="", sa_type=Text)
    prefixes: str = Field(default="", sa_type=Text)
    label: str = Field(default="", max_length=128)
    secret: str = Field(max_length=128)
    previous_secret: str | None = Field(default=None, max_length=128)
    previous_until: int | None = Field(default=None, sa_type=BigInteger)  # ms
    created_at: int = Field(sa_type=BigInteger)
    disabled_at: int | None = Field(default=None, sa_type=BigInteger)


class WebhookDelivery(SQLModel, table=True):
    """One message to one endpoint: the durable outbox, the delivery log and the
    dead-letter list in one table."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "endpoint_id", "id"),
        UniqueConstraint("message_id", name="uq_webhook_deliveries_message_id"),
    )

    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite")
    )
    endpoint_id: int = Field(sa_type=BigInteger)
    #: The ``webhook-id`` header: the same on every attempt, so receivers deduplicate.
    message_id: str = Field(max_length=64)
    event_type: str = Field(max_length=64)
    payload: bytes = Field(sa_type=LargeBinary)  # the JSON body, exactly as sent
    status: int = Field(default=DeliveryStatus.PENDING)
    attempts: int = Field(default=0)
    next_attempt_at: int = Field(sa_type=BigInteger)  # ms
    created_at: int = Field(sa_type=BigInteger)  # ms
    delivered_at: int | None = Field(default=None, sa_type=BigInteger)
    last_status: int | None = Field(default=None)  # the receiver's HTTP status
    last_error: str = Field(default="", max_length=512)


class Refusal(SQLModel, table=True):
    """Something the gateway refused (docs/monitor.md, "The refusal record"): who asked,
    what was refused and why, for the monitor's rules over the ingest stream.

    Never the API key's secret, never a request body: the key's public id, the recovered
    signer, the batches and the event hash. ``count`` is how many refusals the row stands
    for: a flood is sampled, the rest counted in summary rows (node.monitor.refusals).
    """

    __tablename__ = "refusals"
    __table_args__ = (Index("ix_refusals_at", "at"),)

    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite")
    )
    at: int = Field(sa_type=BigInteger)  # ms since the Unix epoch
    #: The problem's code (docs/api.md), or ``rpc-refused`` / ``rpc-expensive`` for /rpc.
    code: str = Field(max_length=64)
    #: The caller: ``key:<keyId>`` or ``addr:<client address>`` (the rate limiter's key).
    caller: str = Field(max_length=96)
    key_id: str | None = Field(default=None, max_length=32)
    client: str = Field(default="", max_length=64)
    #: The API key's participant: who claims to have signed.
    claimed_participant: int | None = Field(default=None, sa_type=BigInteger)
    #: The key the event's signature recovers to (None: no event, or it does not recover).
    signer: bytes | None = Field(default=None, sa_type=LargeBinary(20))
    action: int | None = Field(default=None)
    event_hash: bytes | None = Field(default=None, sa_type=LargeBinary(32))
    nonce: bytes | None = Field(default=None, sa_type=LargeBinary(32))
    #: Every batch the event names, 32-byte items concatenated.
    batch_ids: bytes = Field(default=b"", sa_type=LargeBinary)
    #: The heads the event extends: (batch id, previous event hash) pairs, 64 bytes each.
    heads: bytes = Field(default=b"", sa_type=LargeBinary)
    #: What was refused, briefly (an /rpc method); never a secret or a body.
    detail: str = Field(default="", max_length=256)
    count: int = Field(default=1)


class MasterDataAssertion(SQLModel, table=True):
    """A master-data assertion (node.epcis.masterdata): an accepted event whose payload is
    a CBV vocabulary element, indexed by the record key of the element's id. Who says it
    is the event's participant; whether it is anchored is the event's status."""

    __tablename__ = "master_data"
    __table_args__ = (Index("ix_master_data_key", "key", "id"),)

    id: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer(), "sqlite")
    )
    #: keccak256 of the code's canonical form: the asserting OBSERVE's batchId.
    key: bytes = Field(sa_type=LargeBinary(32))
    event_hash: bytes = Field(sa_type=LargeBinary(32), unique=True)
    participant_id: int = Field(sa_type=BigInteger)
    element: bytes = Field(sa_type=LargeBinary)  # the payload, RFC 8785 JSON
    received_at: int = Field(sa_type=BigInteger)  # ms since the Unix epoch
