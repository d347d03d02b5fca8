"""The gateway's JSON documents (camelCase on the wire). Table models never leave the
store as they are: routes build these from store rows."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from api.problems import Problem

Hex32 = str
Address = str


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
    chain_head: int | None = None
    detail: str | None = None


# ----- info -----


class TypedField(Schema):
    name: str
    type: str


class Eip712Domain(Schema):
    name: str
    version: str
    chain_id: int
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
    deployment_block: int


class CommitPolicyOut(Schema):
    interval_seconds: float
    max_events: int
    max_operations: int
    confirmations: int


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
    chain_id: int
    node_version: str
    node_address: Address = Field(description="The node key: relays and anchors.")
    contracts: Contracts
    commit_policy: CommitPolicyOut
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


class WindowRef(Schema):
    id: int
    root: Hex32
    status: Literal["prepared", "confirmed", "failed"]
    tx_hash: Hex32
    block_number: int | None
    block_hash: Hex32 | None


class ProofOut(Schema):
    """A Merkle proof in OpenZeppelin StandardMerkleTree form (leaf type bytes32)."""

    event_hash: Hex32
    leaf: Hex32 = Field(description="keccak256(keccak256(abi.encode(eventHash)))")
    root: Hex32
    proof: list[Hex32]
    tree_index: int
    anchor_seq: int
    window_id: int
    tx_hash: Hex32
    block_number: int
    block_hash: Hex32
    chain_id: int
    anchor_registry: Address
    verify_with: str = Field(
        description="The on-chain check: AnchorRegistry.verifyEvent(root, proof, eventHash)"
    )


class EventOut(Schema):
    event_hash: Hex32
    status: Literal["accepted", "anchored", "rejected"]
    action: str
    event: dict[str, Any] = Field(description="The signed EIP-712 message.")
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
    address: Address = Field(pattern=r"^0[xX][0-9a-fA-F]{40}$")
    roles: list[RoleName] = Field(min_length=1, max_length=6)
    prefix: Text = Field(default="", max_length=64)


class KeyHistory(Schema):
    address: Address
    valid_from_block: int
    valid_until_block: int | None


class ParticipantOut(Schema):
    id: int
    name: str
    address: Address
    roles: list[str]
    prefix: str
    active: bool
    updated_block: int
    keys: list[KeyHistory]


class ApiKeyIn(StrictSchema):
    participant: Text = Field(
        description="The participant's address or id; omit with admin=true.",
        default="",
        max_length=64,
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


class BatchOut(Schema):
    batch_id: Hex32
    identifier: str | None
    status: str
    producer: ParticipantRef
    custodian: ParticipantRef
    receiver: ParticipantRef | None
    head: Hex32
    created_by: Hex32 = Field(description="The hash of the event that created the batch.")
    parents: list[Hex32]
    children: list[Hex32]
    links: dict[str, str]


# ----- anchors and alerts -----


class AnchorOut(Schema):
    window_id: int
    root: Hex32
    first_seq: int
    last_seq: int
    event_count: int
    tx_hash: Hex32
    block_number: int | None
    block_hash: Hex32 | None
    created_at: int


class AnchorPage(Schema):
    items: list[AnchorOut]
    next: str | None = Field(description="The next (older) page, when there is one.")


class AlertOut(Schema):
    id: int
    kind: str
    severity: Literal["low", "medium", "high", "critical"]
    batch_id: Hex32 | None
    event_hash: Hex32 | None
    detail: str
    detected_at: int
    block_number: int | None


class AlertPage(Schema):
    items: list[AlertOut]
    next: str | None
