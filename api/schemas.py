"""The gateway's JSON documents (camelCase on the wire). Table models never leave the
store as they are: routes build these from store rows."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from api.body import submission_schema
from api.problems import Problem
from node.events.submission import parse_uint
from node.proofs.bundle import schema as bundle_schema
from node.proofs.verify import Check, Outcome
from node.store.models import AlertSeverity, AlertStatus, EventStatus, WindowStatus
from node.webhooks.messages import MESSAGE_TYPES, MessageType
from node.webhooks.subscriptions import MAX_BATCHES, MAX_PREFIXES

#: A 32-byte value (hash, batch id, Merkle root) as 0x + 64 hex digits.
Hex32 = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]
#: An EVM address, EIP-55 checksummed.
Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]


def _uint(value: object) -> int:
    return parse_uint(value, 256, "value")


#: A uint256 or uint64 (nonce, chain id, block number, sequence number) on the wire: a
#: decimal string, since JavaScript's JSON numbers lose precision past 2**53.
DecimalInt = Annotated[
    int,
    BeforeValidator(_uint),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": "^(0|[1-9][0-9]{0,77})$"}),
]
#: A block number the contracts keep in a uint48 (a licence's validity), as DecimalInt.
Block48 = Annotated[
    int,
    BeforeValidator(_uint),
    Field(lt=2**48),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": "^(0|[1-9][0-9]{0,14})$"}),
]
#: The EIP-712 TraceEvent message; its schema is built from the typed data's field list.
TraceEventMessage = Annotated[
    dict[str, Any], WithJsonSchema(submission_schema()["properties"]["event"])
]


def _valid_unicode(value: str) -> str:
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode (a lone surrogate)") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("control characters are not allowed")
    return value


#: Text from a client: valid Unicode, no control characters.
Text = Annotated[str, AfterValidator(_valid_unicode)]


class Schema(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        extra="forbid",
    )


# ----- health -----


class Health(Schema):
    status: Literal["ok"]


class Readiness(Schema):
    status: Literal["ready", "unready"]
    store: bool
    chain: bool
    chain_head: DecimalInt | None = None
    detail: str | None = None


# ----- info -----


class TypedField(Schema):
    name: str
    type: str


class Eip712Domain(Schema):
    name: str
    version: str
    chain_id: DecimalInt
    verifying_contract: Address


class Eip712(Schema):
    """Everything ``eth_signTypedData_v4`` needs except the message itself."""

    types: dict[str, list[TypedField]]
    primary_type: Literal["TraceEvent"]
    domain: Eip712Domain


class Contracts(Schema):
    participant_registry: Address
    batch_registry: Address = Field(description="Also the EIP-712 verifying contract.")
    anchor_registry: Address
    deployment_block: DecimalInt
    custody_challenge: Address | None = Field(
        default=None,
        description="The anchor-only mode's CustodyChallenge, whose fraud marks verifiers "
        "read (nothing on the chain leads from the registries to it); null when enforced.",
    )


class CommitPolicyOut(Schema):
    interval_seconds: float
    max_events: int
    max_operations: int
    confirmations: int


class BacklogOut(Schema):
    queued: int = Field(description="Accepted events not yet in a window.")
    predicted_seconds: float = Field(
        description="Predicted wait for a new event's proof (docs/api.md, Backpressure)."
    )
    capacity_events_per_second: float | None = Field(
        description="The most events per second anchored lately; null before two windows."
    )
    stalled: bool = Field(description="Events wait and nothing was anchored for a minute.")
    max_proof_delay_seconds: float = Field(
        description="Above this prediction submissions are refused (0: never)."
    )


class Limits(Schema):
    max_body_bytes: int
    max_json_depth: int
    max_events_per_request: int
    max_identifier_length: int
    rate_per_second: float
    rate_burst: int
    max_page_size: int
    max_payload_bytes: int
    max_batch_list_items: int


class Info(Schema):
    chain_id: DecimalInt
    node_version: str
    node_address: Address = Field(description="The node key: relays and anchors.")
    custody_mode: Literal["enforced", "anchor-only"] = Field(
        description="enforced: BatchRegistry executes every lifecycle event on-chain. "
        "anchor-only: the node applies the rules at ingest and anchors each window's "
        "event, state and transition roots; verifiers replay them, anyone may challenge "
        "a window (docs/operations.md)."
    )
    contracts: Contracts
    commit_policy: CommitPolicyOut
    backlog: BacklogOut
    eip712: Eip712
    actions: dict[str, int]
    roles: dict[str, int]
    batch_statuses: dict[str, int]
    limits: Limits
    public_reads: bool


# ----- events -----


class EventResult(Schema):
    index: int = Field(description="Position in the submitted list (0 for a single event).")
    outcome: Literal["accepted", "duplicate", "rejected"]
    event_hash: Hex32 | None = Field(description="Absent when the event could not be parsed.")
    problem: Problem | None = None


class BulkResult(Schema):
    accepted: int
    duplicate: int
    rejected: int
    results: list[EventResult]


WindowStatusName = Literal["prepared", "confirmed", "failed"]
EventStatusName = Literal["accepted", "anchored", "rejected"]
SeverityName = Literal["low", "medium", "high", "critical"]
#: Stored statuses by the names the API gives them.
WINDOW_STATUS_NAMES: dict[WindowStatus, WindowStatusName] = {
    WindowStatus.PREPARED: "prepared",
    WindowStatus.CONFIRMED: "confirmed",
    WindowStatus.FAILED: "failed",
}
EVENT_STATUS_NAMES: dict[EventStatus, EventStatusName] = {
    EventStatus.ACCEPTED: "accepted",
    EventStatus.ANCHORED: "anchored",
    EventStatus.REJECTED: "rejected",
}
SEVERITY_NAMES: dict[AlertSeverity, SeverityName] = {
    AlertSeverity.LOW: "low",
    AlertSeverity.MEDIUM: "medium",
    AlertSeverity.HIGH: "high",
    AlertSeverity.CRITICAL: "critical",
}


class WindowRef(Schema):
    id: int
    root: Hex32
    status: WindowStatusName
    tx_hash: Hex32
    block_number: DecimalInt | None
    block_hash: Hex32 | None


class ProofOut(Schema):
    """A Merkle proof in OpenZeppelin StandardMerkleTree form (leaf type bytes32)."""

    event_hash: Hex32
    leaf: Hex32 = Field(description="keccak256(keccak256(abi.encode(eventHash)))")
    root: Hex32
    proof: list[Hex32]
    tree_index: int
    anchor_seq: DecimalInt
    window_id: int
    tx_hash: Hex32
    block_number: DecimalInt
    block_hash: Hex32
    chain_id: DecimalInt
    anchor_registry: Address
    verify_with: str = Field(
        description="The on-chain check: AnchorRegistry.verifyEvent(root, proof, eventHash)"
    )


class EventOut(Schema):
    event_hash: Hex32
    status: EventStatusName
    action: str
    event: TraceEventMessage = Field(description="The signed EIP-712 message.")
    signature: str
    signer: Address
    participant_id: int
    received_at: int = Field(description="Milliseconds since the Unix epoch.")
    payload: Any | None = None
    window: WindowRef | None = None
    proof: ProofOut | None = None
    rejection: Problem | None = None


# ----- participants and keys -----


RoleName = Literal["producer", "processor", "logistics", "retailer", "auditor", "regulator"]


class StrictSchema(Schema):
    """A request body: no coercion ("yes" is not true, 1 is not "1")."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        extra="forbid",
        strict=True,
    )


class ParticipantIn(StrictSchema):
    name: Text = Field(min_length=1, max_length=64)
    address: str = Field(pattern=r"^0[xX][0-9a-fA-F]{40}$")
    roles: list[RoleName] = Field(min_length=1, max_length=6)
    prefix: Text = Field(default="", max_length=64)


class KeyHistory(Schema):
    address: Address
    valid_from_block: DecimalInt
    valid_until_block: DecimalInt | None


#: A licence's prefix: a GS1 company prefix (4-12 digits) or a handle prefix (digit groups
#: joined by dots), as ParticipantRegistry takes it (docs/contracts.md).
PREFIX_PATTERN: Final = r"^([0-9]{4,12}|[0-9]+(\.[0-9]+)+)$"


class LicenceIn(StrictSchema):
    """A licence of ``prefix`` for a participant of this node, valid for blocks
    ``validFrom`` .. ``validUntil - 1``."""

    prefix: str = Field(max_length=64, pattern=PREFIX_PATTERN)
    valid_from: Block48 = Field(
        default=0,
        description="First block it is valid at (0: the block that grants it); below 2**48.",
    )
    valid_until: Block48 = Field(
        default=0, description="First block it is no longer valid at (0: no end); below 2**48."
    )


class LicenceOut(Schema):
    """One licence of a prefix, as the node's mirror of ParticipantRegistry holds it."""

    prefix: str
    kind: Literal["gs1", "handle"]
    holder: int = Field(description="The participant licensed.")
    holder_name: str | None
    valid_from: DecimalInt
    valid_until: DecimalInt | None = Field(description="None: no end.")
    held: bool = Field(description="False once revoked.")
    valid: bool = Field(description="Whether it is valid at the mirror's head (validAt).")
    valid_at: DecimalInt = Field(description="The block the mirror has read the chain to.")
    granted_block: DecimalInt
    revoked_block: DecimalInt | None


class PrefixOut(Schema):
    """Who holds a prefix now, and every licence it ever had, oldest first."""

    prefix: str
    kind: Literal["gs1", "handle"]
    current: LicenceOut | None = Field(
        description="The licence valid at the mirror's head (None: nobody may use it now)."
    )
    licences: list[LicenceOut]


class ParticipantOut(Schema):
    id: int
    name: str
    address: Address
    roles: list[str]
    prefix: str
    active: bool
    updated_block: DecimalInt
    keys: list[KeyHistory]
    licences: list[LicenceOut] = Field(description="Every licence it was granted, oldest first.")


class ApiKeyIn(StrictSchema):
    participant: str = Field(
        description="The participant's address or id; omit with admin=true.",
        default="",
        pattern=r"^(0[xX][0-9a-fA-F]{40}|[0-9]{1,10})?$",
    )
    admin: bool = False
    label: Text = Field(default="", max_length=128)


class ApiKeyOut(Schema):
    key_id: str
    participant_id: int | None
    admin: bool
    label: str
    created_at: int
    revoked_at: int | None


class ApiKeyCreated(ApiKeyOut):
    token: str = Field(description="The key itself: shown this once, stored only hashed.")


# ----- batches -----


class ParticipantRef(Schema):
    id: int
    name: str | None
    address: Address | None


_BATCH_LINKS = {
    "self": "The batch's state (this document)",
    "provenance": "GET .../provenance: every event verified against the chain",
    "trace": "GET .../trace?direction=downstream: every batch made from it",
    "bundle": "GET .../bundle: the proof bundle",
    "page": "The buyer page",
}
#: Where to go from a batch: relative URLs by name.
BatchLinks = Annotated[
    dict[str, str],
    WithJsonSchema(
        {
            "type": "object",
            "required": list(_BATCH_LINKS),
            "additionalProperties": False,
            "properties": {
                name: {"type": "string", "description": text} for name, text in _BATCH_LINKS.items()
            },
        }
    ),
]


class RecalledBatch(Schema):
    batch_id: Hex32
    identifier: str | None


RecallState = Literal["recalled", "made-from-recalled", "none"]


class RecallOut(Schema):
    """Whether the batch, or anything it was made from, has been recalled."""

    state: RecallState = Field(
        description="recalled: this batch was recalled; made-from-recalled: it was not, but "
        "a batch it was made from (at any depth, through transformations and aggregations) was; "
        "none: no recall of it or its inputs is recorded on this node."
    )
    recalled_inputs: list[RecalledBatch] = Field(
        description="Every recalled batch it was made from, at any depth."
    )


class BatchOut(Schema):
    batch_id: Hex32
    identifier: str | None
    identifier_kind: Literal["gs1", "handle", "other"] | None = Field(
        description="Its identifier's prefix kind, as the contracts read it: other is an open "
        "identifier (urn:acme:lot:7), a node-local name with no prefix and no brand owner, "
        'allowed by its node\'s policy (docs/events.md, "Open identifiers"); null: none.'
    )
    status: str
    recall: RecallOut
    producer: ParticipantRef
    custodian: ParticipantRef
    receiver: ParticipantRef | None
    head: Hex32
    created_by: Hex32 = Field(
        description="The hash of the event that created the batch; zero when this node "
        "learnt the batch from the chain (another node's lot, or one adopted there): its "
        "history before this node's first event of it is held by another node."
    )
    parents: list[Hex32]
    children: list[Hex32]
    links: BatchLinks


# ----- search: what a person typed, and the batches it names -----


class SearchMatch(Schema):
    """A batch a search found."""

    batch_id: Hex32
    identifier: str = Field(description="Its canonical identifier.")
    status: str = Field(
        description="ACTIVE, IN_TRANSIT, CONSUMED, RECALLED, DESTROYED or EXPORTED (shipped to "
        "a party outside the network)."
    )
    producer: ParticipantRef
    page: str = Field(description="The buyer page of the batch (/?id=...).")


SearchKind = Literal["batch", "product", "lot"]


class SearchOut(Schema):
    """What a query names, and the batches this node holds of it."""

    query: str = Field(description="The text as read, without surrounding whitespace.")
    kind: SearchKind = Field(
        description="batch: the query names one batch (``identifier``); product: a GTIN "
        "alone, its lots and items are listed; lot: a lot code alone, the lots of that code "
        "of any product are listed."
    )
    identifier: str | None = Field(
        description="The batch's canonical identifier, or the product's Digital Link; "
        "null for a lot code."
    )
    gtin: str | None = Field(description="The GTIN-14, when the query names one.")
    lot: str | None = Field(description="The lot code, when the query names one.")
    batches: list[SearchMatch] = Field(
        description="The matching batches this node holds: the first ``limit``, in "
        "identifier order (for a batch: it, when held)."
    )
    limit: int
    truncated: bool = Field(description="More batches match than ``batches`` lists.")


# ----- anchors and alerts -----


class AnchorOut(Schema):
    window_id: int
    root: Hex32
    first_seq: DecimalInt
    last_seq: DecimalInt
    event_count: int
    tx_hash: Hex32
    block_number: DecimalInt | None
    block_hash: Hex32 | None
    created_at: int


class AnchorPage(Schema):
    items: list[AnchorOut]
    next: str | None = Field(description="The next (older) page, when there is one.")


AlertStatusName = Literal["open", "acknowledged", "resolved", "false_positive"]
ALERT_STATUS_NAMES: dict[AlertStatus, AlertStatusName] = {
    AlertStatus.OPEN: "open",
    AlertStatus.ACKNOWLEDGED: "acknowledged",
    AlertStatus.RESOLVED: "resolved",
    AlertStatus.FALSE_POSITIVE: "false_positive",
}


class AlertLogAnchorOut(Schema):
    """The alert log's head as AnchorRegistry holds it (``alertLogAnchorOf(node, head)``)."""

    head: Hex32 = Field(description="The struct hash of log entry `count`.")
    count: DecimalInt = Field(description="Log entries the head covers.")
    block_number: DecimalInt
    tx_hash: Hex32


class AlertLogEntryOut(Schema):
    """An entry of the node's alert log: revision ``revision`` of alert ``alertId``
    (docs/monitor.md, "The alert log")."""

    seq: DecimalInt = Field(description="The entry's position in the log, from 1.")
    alert_id: int
    revision: int
    prev: Hex32 = Field(description="The previous entry's hash (zero for the first).")
    content: Hex32 = Field(description="keccak256 of the RFC 8785 JSON of the signed fields.")
    hash: Hex32 = Field(
        description="hashStruct(AlertRevision(seq, prev, alertId, revision, content))."
    )
    digest: Hex32 | None = Field(description="The EIP-712 digest the node key signed.")
    signature: str | None = Field(
        pattern=r"^0x[0-9a-f]{130}$", description="The node key's signature (once sealed)."
    )


class AlertLogOut(AlertLogEntryOut):
    """Where the alert log holds the alert's current revision."""

    anchor: AlertLogAnchorOut | None = Field(
        description="The anchored head that covers the entry (None until anchored)."
    )


class AlertLogPage(Schema):
    """A page of the alert log, with what checking it needs: the node key's address (the
    signer and anchorer), the EIP-712 domain, and the latest anchored head."""

    node: Address
    domain: dict[str, str]
    entries: list[AlertLogEntryOut]
    anchor: AlertLogAnchorOut | None
    next: str | None


class AlertOut(Schema):
    """One incident (docs/monitor.md): raised once, updated each time it is seen again.

    Mirrors node.store.alerts.alert_document, the one JSON of an alert (the CLI prints it,
    webhooks send it): a test holds the two to the same fields."""

    id: int
    kind: str = Field(description="The rule that found it.")
    severity: SeverityName
    score: int = Field(ge=0, le=100, description="From impact and confidence (the rubric).")
    status: AlertStatusName
    batch_id: Hex32 | None
    event_hash: Hex32 | None
    participant_id: int | None
    detail: str
    evidence: dict[str, Any] = Field(description="Hashes, roots, readings, the rule's inputs.")
    detected_at: int = Field(description="First seen, ms since the Unix epoch.")
    block_number: DecimalInt | None
    handled_by: str
    note: str
    revision: int = Field(description="Its signed content's revision, from 1.")
    occurrences: int
    updated_at: int = Field(description="Last seen or handled, ms since the Unix epoch.")
    log: AlertLogOut | None = Field(description="Its current revision in the alert log.")


class AlertAction(StrictSchema):
    """Acknowledging, resolving or dismissing an alert."""

    why: Text = Field(default="", max_length=1024, description="Kept with the alert.")


Identifier = Annotated[str, Field(min_length=1, max_length=512)]


class WebhookIn(StrictSchema):
    """A subscription: where, and to which messages (docs/monitor.md, "Subscriptions")."""

    url: Text = Field(min_length=8, max_length=2048, description="http(s); public addresses only")
    events: list[MessageType] = Field(min_length=1, max_length=len(MESSAGE_TYPES))
    min_severity: SeverityName = Field(default="low", description="Alerts of this grade and up.")
    batches: list[Identifier] = Field(
        default_factory=list,
        max_length=MAX_BATCHES,
        description="Only messages about these batches (any identifier spelling) ...",
    )
    prefixes: list[Identifier] = Field(
        default_factory=list,
        max_length=MAX_PREFIXES,
        description="... or about batches whose identifiers start so: a GS1 company prefix "
        "(digits), a product (its GTIN's Digital Link) or a handle prefix (88.123). "
        "Neither batches nor prefixes: every message.",
    )
    label: Text = Field(default="", max_length=128)


class WebhookUpdate(StrictSchema):
    """A change of subscription: each field given replaces the endpoint's (lists whole)."""

    url: Text | None = Field(default=None, min_length=8, max_length=2048)
    events: list[MessageType] | None = Field(
        default=None, min_length=1, max_length=len(MESSAGE_TYPES)
    )
    min_severity: SeverityName | None = None
    batches: list[Identifier] | None = Field(default=None, max_length=MAX_BATCHES)
    prefixes: list[Identifier] | None = Field(default=None, max_length=MAX_PREFIXES)
    label: Text | None = Field(default=None, max_length=128)


class WebhookOut(Schema):
    id: int
    url: str
    events: list[str]
    min_severity: SeverityName
    batches: list[Hex32] = Field(description="Batch ids of its scope.")
    prefixes: list[str] = Field(description="Identifier prefixes of its scope (canonical).")
    label: str
    created_at: int
    disabled_at: int | None
    rotating_until: int | None = Field(
        description="While a rotation's overlap lasts, the previous secret signs too (ms)."
    )


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Shown once: verify signatures with it (whsec_...).")


class RotateIn(StrictSchema):
    overlap_seconds: int = Field(
        default=86_400, ge=0, le=7 * 86_400, description="How long the old secret signs too."
    )


class DeliveryOut(Schema):
    id: int
    endpoint_id: int
    message_id: str
    event_type: str
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: int
    created_at: int
    delivered_at: int | None
    last_status: int | None
    last_error: str


class AlertPage(Schema):
    items: list[AlertOut]
    next: str | None


# ----- provenance, trace, proof bundles (node/proofs, node/provenance) -----


class CheckOut(Schema):
    """One check of a verification report (docs/proofs.md lists them)."""

    check: Check
    outcome: Outcome
    detail: str


ReportOutcome = Literal["pass", "fail", "pending"]


class PartyName(Schema):
    id: int = Field(description="The participant's id (0: none).")
    name: str


class ReportLicenceOut(Schema):
    """The licence the ``licence`` check found (docs/proofs.md)."""

    kind: Literal["gs1", "handle"]
    prefix: str
    holder: PartyName
    valid_from: DecimalInt = Field(description="The first block it is valid at.")
    valid_until: DecimalInt | None = Field(description="Its end (exclusive); null: none.")


class BatchReportOut(Schema):
    batch_id: Hex32
    identifier: str | None
    outcome: ReportOutcome
    parents: list[Hex32]
    status: str = Field(description="The batch's status on-chain (BatchStatus name).")
    custodian: PartyName
    licence: ReportLicenceOut | None = Field(
        description="Who held the identifier's prefix when the batch was created; null "
        "when the licence check did not find one."
    )
    events: list[int] = Field(description="Indexes into the report's events.")
    adopted_at: int | None = Field(
        description="The index of the event that received the batch from outside TraceNode "
        "(a RECEIVE of a lot the network never held): its history before lies outside. "
        "null: the network made it."
    )
    first_seen_mid_chain: bool = Field(
        default=False,
        description="Whether that adoption is of a lot first seen mid-chain: signed with the "
        "event that first named the lot here (one EPCIS event, no receipt), so history "
        "before that event was not captured by this network (docs/epcis.md).",
    )
    elsewhere_at: int | None = Field(
        default=None,
        description="The index of the batch's first event in the bundle when its history "
        "before that event is held by another node of the network (cross-node custody): "
        "the event extends a head BatchRegistry held, which the bundle does not hold. "
        "null: the bundle holds the batch's history from its start.",
    )
    continued_at: int | None = Field(
        default=None,
        description="The index of the batch's last event in the bundle when its history "
        "after that event is held by another node (continued on another node): a SHIP, "
        "accepted on-chain, to another node's participant, and the chain's head of the "
        "batch is no event of the bundle; its custody check is skipped, never passed. "
        "null: the bundle's history of the batch reaches the chain's head (or fails).",
    )
    continued_to: int | None = Field(
        default=None,
        description="The participant that SHIP named as receiver (null: not continued).",
    )
    chain_head: Hex32 | None = Field(
        default=None,
        description="The chain's head of the batch when continued on another node: where "
        "the later part must end.",
    )
    checks: list[CheckOut]


class EventReportOut(Schema):
    index: int
    event_hash: Hex32
    action: str
    batch_ids: list[Hex32]
    event_time: DecimalInt
    signer: Address | None
    participant: PartyName
    block_number: DecimalInt | None
    tx_hash: Hex32 | None
    root: Hex32 | None
    outcome: ReportOutcome
    checks: list[CheckOut]


class VerificationReport(Schema):
    """Every check of a proof bundle against the chain (node/proofs/verify.py)."""

    subject: Hex32
    outcome: ReportOutcome = Field(
        description="fail if any check failed; else pending if an event is not anchored yet"
    )
    chain_id: DecimalInt
    contracts: dict[str, Address]
    checks: list[CheckOut] = Field(description="Checks about the bundle as a whole.")
    failures: list[str] = Field(description="One line per failed check.")
    batches: list[BatchReportOut]
    events: list[EventReportOut]


class RejectedOut(Schema):
    event_hash: Hex32
    reason: str = Field(pattern=r"^0x([0-9a-fA-F]{2})*$", description="The revert data.")


class AnchoredAt(Schema):
    """When the block that anchored an event was mined (its timestamp, from the chain)."""

    time: str = Field(description="ISO 8601, UTC, e.g. 2026-01-02T03:04:05Z.")
    timestamp: str = Field(pattern=r"^[0-9]+$", description="Unix seconds, a decimal string.")


class TimeGap(Schema):
    """A large gap between when an event claims it happened and when it was anchored
    (node/provenance/timing.py): a warning for the reader, not a failed check."""

    kind: Literal["claimed-after-anchoring", "anchored-long-after"] = Field(
        description="claimed-after-anchoring: the claimed time is after the anchoring "
        "block (beyond a tolerance for clock skew); anchored-long-after: the claimed time "
        "is long before it."
    )
    seconds: str = Field(pattern=r"^[0-9]+$", description="How far apart, decimal seconds.")
    limit_seconds: str = Field(
        pattern=r"^[0-9]+$", description="The threshold it exceeded, decimal seconds."
    )


class CorrectionOut(Schema):
    """An EPCIS errorDeclaration of the event (docs/epcis.md, "Corrections"): the event
    stays as it was, declared in error."""

    hash_id: str = Field(description="The CBV 2.0 hash ID of the EPCIS event declared in error.")
    declaration_time: str
    reason: str | None = Field(description="The CBV error reason, e.g. incorrect_data.")
    declared_by: list[Hex32] = Field(
        description="The TraceEvents that declare it: anchored events of their own."
    )
    corrective_event_ids: list[str] = Field(description="The eventIDs that correct it.")
    corrective_events: dict[str, list[Hex32]] = Field(
        description="Of those, the ones this node holds, with their TraceEvents."
    )


# ----- master data -----


class MasterDataAttribute(Schema):
    id: str = Field(description="The attribute's URI (urn:epcglobal:cbv:mda#name, ...).")
    attribute: str | float | dict[str, Any]


class SaidBy(Schema):
    participant_id: DecimalInt
    participant: str | None = Field(description="The asserting participant's name.")
    brand_owner: bool = Field(
        description="Whether it holds the licence of the code's GS1 company prefix."
    )
    holder_of: str | None = Field(description="That prefix, when it does.")


class MasterDataElementOut(Schema):
    vocabulary_type: str
    name: str | None = Field(description="Its urn:epcglobal:cbv:mda#name, if given.")
    address: str | None = Field(description="Its CBV address attributes, joined.")
    attributes: list[MasterDataAttribute]
    children: list[str]
    said_by: SaidBy
    event_hash: Hex32 = Field(description="The asserting event (signed and anchored).")


class MasterDataShown(MasterDataElementOut):
    """The assertion a reader is shown: the brand owner's, else the latest anchored."""

    code: str
    canonical: str
    others: int = Field(description="Further assertions about the code.")
    link: str = Field(description="GET this for every assertion about the code.")


class MasterDataAssertionOut(MasterDataElementOut):
    status: Literal["accepted", "anchored", "rejected"]
    received_at: DecimalInt
    event: str
    proof: str


class BrandOwner(Schema):
    participant_id: DecimalInt
    participant: str | None
    prefix: str


class MasterDataAbout(Schema):
    """Every master-data assertion the node holds about a code."""

    code: str
    canonical: str = Field(description="The code's record key form (GS1 keys as Digital Link).")
    key: Hex32 = Field(description="keccak256 of the canonical form: the assertions' batchId.")
    brand_owner: BrandOwner | None
    shown: MasterDataShown | None = Field(
        description="What a reader is shown; null while nothing is anchored."
    )
    assertions: list[MasterDataAssertionOut]


class MasterDataResult(Schema):
    """What became of one master-data assertion (POST /v1/masterdata, or an element of an
    EPCIS document's header)."""

    index: int
    pointer: str | None = None
    code: str | None
    outcome: Literal["asserted", "duplicate", "unsigned", "refused"]
    event_hash: Hex32 | None
    problem: dict[str, Any] | None = None


class ProvenanceEventOut(EventReportOut):
    anchored_at: AnchoredAt | None = Field(
        description="When the block holding the event's root was mined; null until anchored."
    )
    time_gap: TimeGap | None = Field(
        description="Set when the claimed eventTime is far from anchoredAt; else null."
    )
    correction: CorrectionOut | None = Field(
        description="Set when the event was declared in error (EPCIS errorDeclaration); else null."
    )


class ProvenanceReport(VerificationReport):
    events: list[ProvenanceEventOut]  # type: ignore[assignment]
    rejected: list[RejectedOut] = Field(
        description="Events the chain refused after the node had accepted them."
    )
    remote_parts: list[RemotePartOut] = Field(
        description="The parts of the lineage other nodes hold (a batch's ``elsewhereAt``), "
        "each fetched from its node and judged by THIS node's verifier; ``outcome`` above "
        "is this node's own part only (docs/network.md, 'Provenance across nodes')."
    )
    master_data: dict[str, MasterDataShown] = Field(
        description="What the places, parties and products the events name are called, by "
        "code as written, each attributed (docs/epcis.md, Master data)."
    )


class TracedBatch(Schema):
    batch_id: Hex32
    identifier: str | None
    depth: int = Field(description="Transformations or aggregations from the origin.")
    parents: list[Hex32]
    via: list[Hex32] = Field(description="The events that made it from its parents.")
    status: str = Field(description="A BatchStatus name, or PALLET for an aggregate.")
    producer: PartyName | None
    custodian: PartyName | None
    in_transit_to: PartyName | None
    received_by: list[PartyName | None]


class DownstreamTrace(Schema):
    """Every batch made from the origin, at any depth (``direction=downstream``)."""

    origin: Hex32
    count: int = Field(description="Batches made from the origin (the origin not counted).")
    batches: list[TracedBatch]


class BatchRefOut(Schema):
    batch_id: Hex32
    identifier: str | None


class LineageOut(Schema):
    parent: Hex32
    child: Hex32
    event_hash: Hex32


class UpstreamTrace(Schema):
    """The origin and all its ancestors (``direction=upstream``)."""

    origin: Hex32
    ancestors: list[BatchRefOut]
    lineage: list[LineageOut]


# ----- EPCIS capture -----


class EpcisEventResult(Schema):
    index: int = Field(description="The EPCIS event's position in the document.")
    event_hash_id: str = Field(
        pattern=r"^ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0$",
        description="The CBV 2.0 event hash ID.",
    )
    outcome: Literal["captured", "anchored-only", "duplicate", "refused"] = Field(
        description="captured: ingested, anchored and (lifecycle events) enforced on-chain; "
        "anchored-only: recorded and anchored, no custody-tracked batch; duplicate: held "
        "already; refused: nothing of it written (see problem)."
    )
    trace_events: list[Hex32] = Field(description="The TraceEvents written for it.")
    problem: dict[str, Any] | None = Field(
        default=None,
        description="Why it was refused: an RFC 9457 problem naming the event (eventIndex) "
        "and field (pointer).",
    )
    note: str | None = Field(
        default=None,
        description="Lots first seen mid-chain (docs/epcis.md): the lots it adopted, whose "
        "history before it was not captured by this network (captured), or why it is "
        "anchored-only although it names lots.",
    )


class CaptureResult(Schema):
    capture_id: str | None = Field(
        default=None,
        alias="captureID",
        description="The capture job (GET /v1/epcis/capture/{captureID}, the Location).",
    )
    success: bool = Field(description="Whether no event and no master-data element was refused.")
    capture_error_behaviour: Literal["proceed", "rollback"] = Field(
        description="What a refused event did to the others (GS1-Capture-Error-Behaviour)."
    )
    captured: int
    anchored_only: int
    duplicate: int
    refused: int
    results: list[EpcisEventResult]
    master_data: list[MasterDataResult] = Field(
        default_factory=list,
        description="What became of each element of the header's master data (asserted, "
        "duplicate or refused with its problem).",
    )


# ----- resolution -----


class LinkTarget(Schema):
    href: str
    type: str
    title: str


class LinksetContext(BaseModel):
    """One RFC 9264 link context: ``anchor`` and a list of targets per relation type."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, list[LinkTarget]] = Field(init=False)

    anchor: str


class Linkset(Schema):
    linkset: list[LinksetContext]


class LinkTypeNamespace(Schema):
    namespace: str
    prefix: str


class ResolverDescription(Schema):
    """The GS1 resolver description file (``/.well-known/gs1resolver``), as GS1's
    description-file schema defines it."""

    name: str
    resolver_root: str
    supported_primary_keys: list[str]
    supported_link_type: list[LinkTypeNamespace]
    link_type_default_can_be_linkset: bool
    json_ld_context_location: str


# ----- JSON Schema components that are not pydantic models -----

_ID = {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}


def json_rpc_components() -> dict[str, dict[str, Any]]:
    """JSON-RPC 2.0 request and response objects, as ``POST /rpc`` takes and answers them."""
    return {
        "JsonRpcRequest": {
            "type": "object",
            "required": ["jsonrpc", "method"],
            "properties": {
                "jsonrpc": {"const": "2.0"},
                "id": _ID,
                "method": {"type": "string"},
                "params": {"type": "array"},
            },
        },
        "JsonRpcResponse": {
            "description": "A result, or an error (JSON-RPC errors are answered with HTTP 200).",
            "type": "object",
            "required": ["jsonrpc", "id"],
            "additionalProperties": False,
            "properties": {
                "jsonrpc": {"const": "2.0"},
                "id": _ID,
                "result": {},
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "additionalProperties": False,
                    "properties": {
                        "code": {"type": "integer"},
                        "message": {"type": "string"},
                        "data": {"type": "string", "description": "Revert data (0x hex)."},
                    },
                },
            },
            "oneOf": [{"required": ["result"]}, {"required": ["error"]}],
        },
    }


#: Where the bundle schema's own definitions (``$defs``) live in the OpenAPI document.
_BUNDLE_DEFS = "BundleDefs_"


def bundle_components() -> dict[str, dict[str, Any]]:
    """The proof bundle's JSON Schema (node/proofs/bundle.schema.json, the one definition)
    as OpenAPI components: ``Bundle`` and its ``$defs``, references rewritten to them."""
    document = bundle_schema()

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            out = {k: rewrite(v) for k, v in value.items() if k not in ("$schema", "$id", "$defs")}
            ref = out.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                out["$ref"] = f"#/components/schemas/{_BUNDLE_DEFS}{ref.removeprefix('#/$defs/')}"
            return out
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    components = {"Bundle": rewrite(document)}
    for name, definition in document.get("$defs", {}).items():
        components[_BUNDLE_DEFS + name] = rewrite(definition)
    return components


BUNDLE_REF: dict[str, str] = {"$ref": "#/components/schemas/Bundle"}


# ----- the network of nodes (api/routes/network.py, docs/network.md) -----

#: A range's prefix: digits (GS1, 0-12 of them; empty: the whole kind) or digit groups.
RANGE_PREFIX_PATTERN: Final = r"^([0-9]{0,12}|[0-9]+(\.[0-9]+)*)$"
#: A node's public URL as the registry accepts it (its contract checks the same).
NODE_URL_PATTERN: Final = r"^https?://[!-.0-~][!-~]*$"


class RangeOut(Schema):
    """A prefix range delegated to a node's registrar ("": the whole kind)."""

    kind: Literal["gs1", "handle"]
    prefix: str = Field(max_length=64, pattern=RANGE_PREFIX_PATTERN)


class NodeOut(Schema):
    """A node of the network, as ParticipantRegistry holds it."""

    id: DecimalInt
    operator: Address = Field(description="Its registrar: registers its participants.")
    url: str = Field(description="Its public API base (where its bundles are fetched).")
    ranges: list[RangeOut]
    this_node: bool = Field(description="Whether it is the node answering.")


class NodeIn(StrictSchema):
    """A node to register (root), with ranges to delegate to its registrar."""

    registrar: Address
    url: str = Field(max_length=256, pattern=NODE_URL_PATTERN)
    ranges: list[RangeOut] = Field(default_factory=list, max_length=16)


class OpenIdentifiersIn(StrictSchema):
    """The root's open-identifier policy for a node (docs/contracts.md, "Identifiers of no
    prefix kind")."""

    allowed: bool = Field(
        description="Whether the node's participants may create batches under identifiers "
        "of no prefix kind (urn:acme:lot:7)."
    )
    registrar: Address | None = Field(
        default=None, description="The node's registrar (default: this node's)."
    )


class OpenIdentifiersOut(Schema):
    registrar: Address
    allowed: bool


class NodeUrlIn(StrictSchema):
    url: str = Field(max_length=256, pattern=NODE_URL_PATTERN)


class ChainStateOut(Schema):
    """What the chain records of a batch (BatchRegistry), whatever any node says."""

    status: str = Field(description="NONE when the chain has no such batch.")
    producer: ParticipantRef | None
    custodian: ParticipantRef | None
    head: Hex32


class RemoteOut(Schema):
    """What came of asking the node that answers for the batch."""

    outcome: Literal[
        "verified",
        "pending",
        "failed-verification",
        "unreachable",
        "not-found",
        "invalid-answer",
        "refused-address",
        "no-node",
        "this-node",
    ]
    detail: str
    bundle: str | None = Field(description="The bundle URL asked (or that would be).")
    page: str | None = Field(description="Its page of the batch.")


class ElsewhereOut(Schema):
    """A batch this node's store does not hold: what the chain proves, which node answers
    for it, and that node's proof bundle as THIS node's verifier judged it. ``verified``
    is true only when that bundle passed every check here."""

    batch_id: Hex32
    identifier: str | None
    held_here: Literal[False] = False
    verified: bool
    chain: ChainStateOut
    node: NodeOut | None
    via: Literal["licence", "range", "producer", "custodian", "receiver"] | None
    prefix: str | None
    remote: RemoteOut
    verification: VerificationReport | None
    remote_parts: list[RemotePartOut] = Field(
        default_factory=list,
        description="GET /v1/resolve's answer: the parts of the fetched bundle's lineage "
        "held by other nodes (earlier and later), each judged by this node's verifier, as "
        "provenance's remoteParts; a part this node holds is read from its own store. "
        "Empty when the bundle did not pass (its claims lead nowhere), and in a part.",
    )


class RemotePartOut(ElsewhereOut):
    """Another node's part of a batch's history in a lineage: ``verified`` only when its
    bundle passed THIS node's verifier, its history of the batch ending at ``extends``
    (an earlier part) or starting from it and reaching the chain's head (a later part)."""

    direction: Literal["earlier", "later"] = Field(
        description="earlier: the history before the part it joins (its elsewhereAt); "
        "later: the history after it (its continuedAt)."
    )
    extends: Hex32 = Field(
        description="An earlier part: the head it must end at; a later part: the head it "
        "must start from (the last event of the part it joins)."
    )
    continued_by: Hex32 | None = Field(
        description="An earlier part: the event that extends its last head; null for a later part."
    )
    under: int | None = Field(
        description="The index in remoteParts of the part it joins; null: this node's own part."
    )
    depth: int = Field(description="1 for a part this node's own part joins.")


ElsewhereOut.model_rebuild()
