"""The one definition of TraceNode's EIP-712 typed data.

The contracts (``BatchRegistry.TRACE_EVENT_TYPEHASH``), the node, the SDK and outside
signers (eth-account, ethers, cast, MetaMask's ``eth_signTypedData_v4``) all use the
domain and the ``TraceEvent`` type defined here. Tests prove that the contract and this
module produce the same struct hash and digest for the same event.

Hashing here is the fast path: the type hash is precomputed and the struct is encoded
directly (every field is a static 32-byte word or a ``bytes32[]``), with no round trip
through a generic EIP-712 encoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from functools import lru_cache
from typing import Any, Final, NewType

from node.events.hashing import keccak
from node.exceptions import InvalidEventError

Hash32 = NewType("Hash32", bytes)
BatchId = NewType("BatchId", bytes)

DOMAIN_NAME: Final = "TraceNode"
DOMAIN_VERSION: Final = "1"


class Action(IntEnum):
    """What an event does; the values are signed: never renumber."""

    COMMISSION = 1
    OBSERVE = 2
    SHIP = 3
    RECEIVE = 4
    TRANSFORM = 5
    AGGREGATE = 6
    DISAGGREGATE = 7
    RECALL = 8
    DESTROY = 9

    @property
    def on_chain(self) -> bool:
        """Whether BatchRegistry executes this action (the others are anchored only)."""
        return self not in (Action.OBSERVE, Action.AGGREGATE, Action.DISAGGREGATE)


class Role(IntFlag):
    """Participant roles, as the bits of the contracts' ``uint8`` role set."""

    PRODUCER = 1
    PROCESSOR = 2
    LOGISTICS = 4
    RETAILER = 8
    AUDITOR = 16
    REGULATOR = 32


CUSTODY_ROLES: Final = Role.PRODUCER | Role.PROCESSOR | Role.LOGISTICS | Role.RETAILER
ALL_ROLES: Final = Role(63)

REQUIRED_ROLES: Final[dict[Action, Role]] = {
    Action.COMMISSION: Role.PRODUCER,
    Action.SHIP: CUSTODY_ROLES,
    Action.RECEIVE: CUSTODY_ROLES,
    Action.DESTROY: CUSTODY_ROLES,
    Action.TRANSFORM: Role.PRODUCER | Role.PROCESSOR,
    Action.RECALL: ALL_ROLES,
    Action.OBSERVE: ALL_ROLES,
    Action.AGGREGATE: CUSTODY_ROLES,
    Action.DISAGGREGATE: CUSTODY_ROLES,
}
"""The roles that may sign each action: holding any one of them is enough (the contract's
rule for executed actions, the node's for anchored-only ones)."""


class BatchStatus(IntEnum):
    """Where a batch stands, as BatchRegistry stores it."""

    NONE = 0
    ACTIVE = 1
    IN_TRANSIT = 2
    CONSUMED = 3
    RECALLED = 4
    DESTROYED = 5
    EXPORTED = 6  # shipped to a party outside the network


TRACE_EVENT_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("action", "uint8"),
    ("batchId", "bytes32"),
    ("prevEventHash", "bytes32"),
    ("inputs", "bytes32[]"),
    ("inputPrevHashes", "bytes32[]"),
    ("outputs", "bytes32[]"),
    ("counterparty", "address"),
    ("product", "bytes32"),
    ("quantity", "uint256"),
    ("eventTime", "uint64"),
    ("location", "bytes32"),
    ("payloadHash", "bytes32"),
    ("nonce", "uint256"),
)
EIP712_DOMAIN_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
)


def _encode_type(name: str, fields: tuple[tuple[str, str], ...]) -> str:
    return f"{name}({','.join(f'{kind} {key}' for key, kind in fields)})"


TRACE_EVENT_TYPE: Final = _encode_type("TraceEvent", TRACE_EVENT_FIELDS)
TRACE_EVENT_TYPEHASH: Final = keccak(TRACE_EVENT_TYPE.encode())
EIP712_DOMAIN_TYPEHASH: Final = keccak(_encode_type("EIP712Domain", EIP712_DOMAIN_FIELDS).encode())
_NAME_HASH: Final = keccak(DOMAIN_NAME.encode())
_VERSION_HASH: Final = keccak(DOMAIN_VERSION.encode())
_EMPTY_LIST_HASH: Final = keccak(b"")
#: The zero hash and the zero address: "none" in the event's fields.
ZERO32: Final = bytes(32)
ZERO20: Final = bytes(20)
#: BatchRegistry.MAX_TRANSFORM_BATCHES: the batches one TRANSFORM (inputs and outputs
#: together), or one packing event, may name.
MAX_LINKED_BATCHES: Final = 64
_UINT64_MAX: Final = 2**64 - 1
_UINT256_MAX: Final = 2**256 - 1


@dataclass(frozen=True, slots=True)
class Domain:
    """The EIP-712 domain: TraceNode v1 on one chain, verified by one BatchRegistry."""

    chain_id: int
    verifying_contract: bytes  # 20 bytes
    separator: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.verifying_contract) != 20:
            raise InvalidEventError("verifying contract must be a 20-byte address")
        object.__setattr__(self, "separator", self._separator())

    def _separator(self) -> bytes:
        return keccak(
            EIP712_DOMAIN_TYPEHASH
            + _NAME_HASH
            + _VERSION_HASH
            + self.chain_id.to_bytes(32, "big")
            + bytes(12)
            + self.verifying_contract
        )

    def as_json(self) -> dict[str, Any]:
        """The domain as wallets and eth-account expect it (``chainId`` a decimal string:
        JSON numbers past 2**53 lose precision in JavaScript; signers accept both forms)."""
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": str(self.chain_id),
            "verifyingContract": checksum_address(self.verifying_contract),
        }


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One signed fact about one or more batches; field meanings as in IBatchRegistry."""

    action: Action
    batch_id: bytes = ZERO32
    prev_event_hash: bytes = ZERO32
    inputs: tuple[bytes, ...] = ()
    input_prev_hashes: tuple[bytes, ...] = ()
    outputs: tuple[bytes, ...] = ()
    counterparty: bytes = bytes(20)
    product: bytes = ZERO32
    quantity: int = 0
    event_time: int = 0
    location: bytes = ZERO32
    payload_hash: bytes = ZERO32
    nonce: int = 0

    def __post_init__(self) -> None:
        # Every event read from the store is built here: one comparison chain for the
        # common case, the field-by-field checks (and their messages) only on a failure.
        if (
            len(self.batch_id)
            == len(self.prev_event_hash)
            == len(self.product)
            == len(self.location)
            == len(self.payload_hash)
            == 32
            and len(self.counterparty) == 20
            and 0 <= self.quantity <= _UINT256_MAX
            and 0 <= self.event_time <= _UINT64_MAX
            and 0 <= self.nonce <= _UINT256_MAX
            and (not self.inputs or all(len(item) == 32 for item in self.inputs))
            and (
                not self.input_prev_hashes
                or all(len(item) == 32 for item in self.input_prev_hashes)
            )
            and (not self.outputs or all(len(item) == 32 for item in self.outputs))
        ):
            return
        for name in ("batch_id", "prev_event_hash", "product", "location", "payload_hash"):
            if len(getattr(self, name)) != 32:
                raise InvalidEventError(f"{name} must be 32 bytes")
        for name in ("inputs", "input_prev_hashes", "outputs"):
            if any(len(item) != 32 for item in getattr(self, name)):
                raise InvalidEventError(f"every item of {name} must be 32 bytes")
        if len(self.counterparty) != 20:
            raise InvalidEventError("counterparty must be a 20-byte address")
        if not 0 <= self.quantity <= _UINT256_MAX:
            raise InvalidEventError("quantity must fit in uint256")
        if not 0 <= self.event_time <= _UINT64_MAX:
            raise InvalidEventError("eventTime must fit in uint64")
        if not 0 <= self.nonce <= _UINT256_MAX:
            raise InvalidEventError("nonce must fit in uint256")

    def batch_ids(self) -> frozenset[bytes]:
        """Every batch the event names: subject, inputs and outputs (never the zero id)."""
        return frozenset(self.named_batches())

    def named_batches(self) -> list[bytes]:
        """:meth:`batch_ids` in the order the event names them (a repeat kept)."""
        return [b for b in (self.batch_id, *self.inputs, *self.outputs) if b != ZERO32]

    def created_batch_ids(self) -> tuple[bytes, ...]:
        """The batches the event brings into the network, in order: a COMMISSION's batch,
        a TRANSFORM's outputs, and the batch a RECEIVE with no previous event adopts from
        outside (docs/contracts.md, "Parties outside the network"). Each needs its
        identifier: a created batch under a prefix its signer holds, an adopted one under
        a prefix nobody else holds."""
        if self.action is Action.COMMISSION or self.adopts():
            return (self.batch_id,)
        if self.action is Action.TRANSFORM:
            return tuple(self.outputs)
        return ()

    def adopts(self) -> bool:
        """Whether the event is a RECEIVE of a lot never seen in the network (it names no
        previous event): an adoption from outside, which carries the lot's identifier."""
        return self.action is Action.RECEIVE and self.prev_event_hash == ZERO32

    def struct_hash(self) -> bytes:
        """``hashStruct(TraceEvent)`` as EIP-712 defines it."""
        return keccak(
            b"".join(
                (
                    TRACE_EVENT_TYPEHASH,
                    int(self.action).to_bytes(32, "big"),
                    self.batch_id,
                    self.prev_event_hash,
                    _list_hash(self.inputs),
                    _list_hash(self.input_prev_hashes),
                    _list_hash(self.outputs),
                    bytes(12) + self.counterparty,
                    self.product,
                    self.quantity.to_bytes(32, "big"),
                    self.event_time.to_bytes(32, "big"),
                    self.location,
                    self.payload_hash,
                    self.nonce.to_bytes(32, "big"),
                )
            )
        )

    def digest(self, domain: Domain) -> bytes:
        """The event hash: the EIP-712 digest that the signer signs."""
        return eip712_digest(domain.separator, self.struct_hash())

    def message(self) -> dict[str, Any]:
        """The event as an EIP-712 message in JSON: bytes as 0x hex, the uint256 and uint64
        fields as decimal strings (a 128-bit nonce is no JSON number JavaScript can hold;
        eth_signTypedData_v4 signers, eth-account and cast accept the strings)."""
        return {
            "action": int(self.action),
            "batchId": _hex(self.batch_id),
            "prevEventHash": _hex(self.prev_event_hash),
            "inputs": [_hex(item) for item in self.inputs],
            "inputPrevHashes": [_hex(item) for item in self.input_prev_hashes],
            "outputs": [_hex(item) for item in self.outputs],
            "counterparty": checksum_address(self.counterparty),
            "product": _hex(self.product),
            "quantity": str(self.quantity),
            "eventTime": str(self.event_time),
            "location": _hex(self.location),
            "payloadHash": _hex(self.payload_hash),
            "nonce": str(self.nonce),
        }

    def as_abi_tuple(self) -> tuple[Any, ...]:
        """The event as the contracts' ABI tuple, in field order."""
        return (
            int(self.action),
            self.batch_id,
            self.prev_event_hash,
            list(self.inputs),
            list(self.input_prev_hashes),
            list(self.outputs),
            checksum_address(self.counterparty),
            self.product,
            self.quantity,
            self.event_time,
            self.location,
            self.payload_hash,
            self.nonce,
        )


def eip712_digest(domain_separator: bytes, struct_hash: bytes) -> bytes:
    """``keccak256("\\x19\\x01" ‖ domainSeparator ‖ hashStruct(message))``."""
    return keccak(b"\x19\x01" + domain_separator + struct_hash)


def typed_data(event: TraceEvent, domain: Domain) -> dict[str, Any]:
    """The full EIP-712 document, as ``eth_signTypedData_v4`` and eth-account take it."""
    return _document("TraceEvent", TRACE_EVENT_FIELDS, event.message(), domain)


def _document(
    primary: str, fields: tuple[tuple[str, str], ...], message: dict[str, Any], domain: Domain
) -> dict[str, Any]:
    return {
        "types": {
            "EIP712Domain": [{"name": k, "type": t} for k, t in EIP712_DOMAIN_FIELDS],
            primary: [{"name": k, "type": t} for k, t in fields],
        },
        "primaryType": primary,
        "domain": domain.as_json(),
        "message": message,
    }


def _list_hash(items: tuple[bytes, ...]) -> bytes:
    return keccak(b"".join(items)) if items else _EMPTY_LIST_HASH


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


@lru_cache(maxsize=4096)
def checksum_address(address: bytes) -> str:
    """EIP-55 checksummed address (kept here so the event model imports no chain library;
    remembered, since a verifier writes the same few signers' addresses per event)."""
    lower = address.hex()
    hashed = keccak(lower.encode()).hex()
    return "0x" + "".join(c.upper() if int(hashed[i], 16) >= 8 else c for i, c in enumerate(lower))


# ----- the alert log (docs/monitor.md, "The alert log") -----

ALERT_REVISION_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("seq", "uint64"),
    ("prev", "bytes32"),
    ("alertId", "uint64"),
    ("revision", "uint32"),
    ("content", "bytes32"),
)
ALERT_REVISION_TYPE: Final = _encode_type("AlertRevision", ALERT_REVISION_FIELDS)
ALERT_REVISION_TYPEHASH: Final = keccak(ALERT_REVISION_TYPE.encode())
_UINT32_MAX: Final = 2**32 - 1


@dataclass(frozen=True, slots=True)
class AlertRevision:
    """One entry of a node's alert log: revision ``revision`` of alert ``alert_id``, whose
    signed content hashes to ``content``, at position ``seq`` after the entry whose struct
    hash is ``prev`` (zero for the first). The struct hash chains the log; the digest, in
    the domain of the node's AnchorRegistry, is what the node key signs."""

    seq: int
    prev: bytes
    alert_id: int
    revision: int
    content: bytes

    def __post_init__(self) -> None:
        if len(self.prev) != 32 or len(self.content) != 32:
            raise InvalidEventError("prev and content must be 32 bytes")
        if not (0 < self.seq <= _UINT64_MAX and 0 < self.alert_id <= _UINT64_MAX):
            raise InvalidEventError("seq and alertId must fit in uint64 and be positive")
        if not 0 < self.revision <= _UINT32_MAX:
            raise InvalidEventError("revision must fit in uint32 and be positive")

    def struct_hash(self) -> bytes:
        """``hashStruct(AlertRevision)``: the log entry's hash, which the next one names."""
        return keccak(
            ALERT_REVISION_TYPEHASH
            + self.seq.to_bytes(32, "big")
            + self.prev
            + self.alert_id.to_bytes(32, "big")
            + self.revision.to_bytes(32, "big")
            + self.content
        )

    def digest(self, domain: Domain) -> bytes:
        """What the node key signs; ``domain`` names the node's AnchorRegistry."""
        return eip712_digest(domain.separator, self.struct_hash())

    def message(self) -> dict[str, Any]:
        return {
            "seq": str(self.seq),
            "prev": _hex(self.prev),
            "alertId": str(self.alert_id),
            "revision": self.revision,
            "content": _hex(self.content),
        }


def alert_revision_typed_data(revision: AlertRevision, domain: Domain) -> dict[str, Any]:
    """The full EIP-712 document of an alert log entry (any EIP-712 library recovers the
    node's address from it and the entry's signature)."""
    return _document("AlertRevision", ALERT_REVISION_FIELDS, revision.message(), domain)
