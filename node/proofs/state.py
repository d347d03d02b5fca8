"""The state a window anchors for each batch it touched, and how events lead to it.

A state leaf is ``(bytes32 batchId, bytes32 head, uint256 custodian, uint8 status,
uint256 count)``: the batch's last lifecycle event (zero for a pallet, which has none),
its custodian's participant id and BatchRegistry status after it, and how many events
name the batch (as subject, input or output: observations and packings included) up to
and including the window. The leaves of one window form an OpenZeppelin
StandardMerkleTree (``leaf = keccak256(keccak256(abi.encode(...)))``, sorted pairs),
whose root the node anchors with ``AnchorRegistry.anchorState`` (docs/proofs.md,
"Completeness").

Pure: the commit worker builds the leaves with it, and the verifier
(``node.proofs.verify``) replays a bundle's events with it before comparing them with an
anchored leaf. Where each event leads a batch is :func:`node.events.lifecycle.transition`,
the one definition ingest's rules apply too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Final

from node.events.digits import is_decimal
from node.events.lifecycle import transition
from node.events.merkle import MerkleTree, leaf_hash, process_proof
from node.events.typed_data import ZERO32, BatchStatus, TraceEvent

#: The state leaf's ABI types, as ``@openzeppelin/merkle-tree`` and ``cast`` take them.
STATE_LEAF_TYPES: Final = ("bytes32", "bytes32", "uint256", "uint8", "uint256")
#: Bytes of one ABI-encoded leaf value.
STATE_LEAF_WIDTH: Final = 32 * len(STATE_LEAF_TYPES)


@dataclass(frozen=True, slots=True)
class StateLeaf:
    batch_id: bytes
    head: bytes = ZERO32
    custodian: int = 0
    status: BatchStatus = BatchStatus.NONE
    count: int = 0

    def encoded(self) -> bytes:
        """``abi.encode(batchId, head, custodian, status, count)``."""
        return encode_static(
            STATE_LEAF_TYPES,
            (self.batch_id, self.head, self.custodian, int(self.status), self.count),
        )

    @property
    def leaf(self) -> bytes:
        return leaf_hash(self.encoded())


def encode_static(types: Sequence[str], values: Sequence[bytes | int]) -> bytes:
    """``abi.encode`` of ``bytes32`` and ``uintN`` values, the only types of the state and
    transition leaves: one 32-byte word each. The bytes eth_abi's ``encode`` gives (tests
    compare them), at a fraction of its cost per call (a window's commit encodes a leaf
    per batch and per transition, the verifier one per leaf it checks); a value that does
    not fit its type is a ValueError, as there."""
    limits = _limits(tuple(types))
    if len(values) != len(limits):
        raise ValueError(f"{len(values)} values for {len(limits)} types")
    words = []
    for kind, limit, value in zip(types, limits, values, strict=True):
        if not limit:
            if not isinstance(value, bytes) or len(value) != 32:
                raise ValueError(f"not a bytes32: {value!r:.80}")
            words.append(value)
        elif isinstance(value, int) and 0 <= value < limit:
            words.append(value.to_bytes(32, "big"))
        elif isinstance(value, int):
            raise ValueError(f"{value} does not fit a {kind}")
        else:
            raise ValueError(f"not a {kind}: {value!r:.80}")
    return b"".join(words)


@lru_cache(maxsize=16)
def _limits(types: tuple[str, ...]) -> tuple[int, ...]:
    """Each type's bound: 2**N for a uintN, 0 for a bytes32."""
    limits = []
    for kind in types:
        if kind == "bytes32":
            limits.append(0)
        elif kind.startswith("uint") and is_decimal(kind[4:]) and 0 < int(kind[4:]) <= 256:
            limits.append(1 << int(kind[4:]))
        else:
            raise ValueError(f"not a bytes32 or uintN type: {kind!r:.80}")
    return tuple(limits)


def advance(
    states: dict[bytes, StateLeaf], digest: bytes, event: TraceEvent, signer_id: int
) -> list[tuple[StateLeaf, StateLeaf]]:
    """Apply one event (its EIP-712 digest, its signer's participant id) to ``states``;
    the (pre, post) state of each batch it names, in ascending batch id order (the
    transition leaves of node.proofs.transitions)."""
    moves = []
    for batch_id in sorted(event.batch_ids()):
        state = states.get(batch_id) or StateLeaf(batch_id)
        moved = transition(event, batch_id, state.custodian, signer_id)
        if moved is None:
            after = replace(state, count=state.count + 1)
        else:
            status, custodian = moved
            after = StateLeaf(batch_id, digest, custodian, status, state.count + 1)
        states[batch_id] = after
        moves.append((state, after))
    return moves


def replay(
    events: Iterable[tuple[bytes, TraceEvent, int]],
    start: Mapping[bytes, StateLeaf] | None = None,
) -> dict[bytes, StateLeaf]:
    """The state of every batch ``events`` (digest, event, signer's participant id, in
    the order accepted) name, from ``start`` (default: nothing before them)."""
    states = dict(start or {})
    for digest, event, signer_id in events:
        advance(states, digest, event, signer_id)
    return states


def state_tree(leaves: Iterable[StateLeaf]) -> tuple[list[StateLeaf], MerkleTree]:
    """The leaves (by batch id) and their StandardMerkleTree."""
    ordered = sorted(leaves, key=lambda leaf: leaf.batch_id)
    return ordered, MerkleTree([s.encoded() for s in ordered], width=STATE_LEAF_WIDTH)


def process_state_proof(leaf: StateLeaf, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf``."""
    return process_proof(leaf.encoded(), proof)
