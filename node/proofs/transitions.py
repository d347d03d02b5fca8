"""The transitions an anchor-only window commits to: one leaf per (event, batch).

In the anchor-only custody mode (docs/design.md, "Custody modes") lifecycle events are
not executed on-chain one by one: each window is anchored by one
``AnchorRegistry.anchorWindow(root, stateRoot, transitionRoot, firstSeq, eventCount)``.
``transitionRoot`` is an OpenZeppelin StandardMerkleTree (node.events.merkle: leaf
``keccak256(keccak256(abi.encode(...)))``, sorted pairs) of one transition leaf per event
of the window and batch it names, in window order, and for one event its batches in
ascending batch id order::

    (bytes32 eventHash, uint64 seq, uint32 signerId, bytes32 batchId,
     bytes32 preHead,  uint256 preCustodian,  uint8 preStatus,  uint256 preCount,
     bytes32 postHead, uint256 postCustodian, uint8 postStatus, uint256 postCount)

``seq``: the event's place in the node's anchored sequence; ``signerId``: the participant
that signed it; pre and post: the batch's state leaf (node.proofs.state) just before and
just after it. CustodyChallenge (contracts/) decodes the same tuple as its ``Transition``
and re-executes one transition with the enforced mode's rules, or two of one batch to
prove a forged pre-state, a fork or a double creation.

Pure, and built from :func:`node.proofs.state.advance`, the one replay the state tree
uses too: a window's transitions end in exactly its state leaves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from eth_abi.abi import decode

from node.events.merkle import MerkleTree, leaf_hash, process_proof
from node.events.typed_data import BatchStatus, TraceEvent
from node.proofs.state import StateLeaf, advance, encode_static

#: The transition leaf's ABI types, as ``@openzeppelin/merkle-tree`` and ``cast`` take them.
TRANSITION_LEAF_TYPES: Final = (
    "bytes32",
    "uint64",
    "uint32",
    "bytes32",
    "bytes32",
    "uint256",
    "uint8",
    "uint256",
    "bytes32",
    "uint256",
    "uint8",
    "uint256",
)
#: Bytes of one ABI-encoded leaf value.
TRANSITION_LEAF_WIDTH: Final = 32 * len(TRANSITION_LEAF_TYPES)


@dataclass(frozen=True, slots=True)
class Transition:
    """What one event did to one batch: the state leaf before and after it."""

    event_hash: bytes
    seq: int
    signer_id: int
    pre: StateLeaf
    post: StateLeaf

    @property
    def batch_id(self) -> bytes:
        return self.pre.batch_id

    def as_tuple(self) -> tuple[bytes, int, int, bytes, bytes, int, int, int, bytes, int, int, int]:
        """The ABI tuple (CustodyChallenge's ``Transition``)."""
        pre, post = self.pre, self.post
        return (
            self.event_hash,
            self.seq,
            self.signer_id,
            pre.batch_id,
            pre.head,
            pre.custodian,
            int(pre.status),
            pre.count,
            post.head,
            post.custodian,
            int(post.status),
            post.count,
        )

    def encoded(self) -> bytes:
        """``abi.encode(eventHash, seq, signerId, batchId, pre..., post...)``."""
        return encode_static(TRANSITION_LEAF_TYPES, self.as_tuple())

    @property
    def leaf(self) -> bytes:
        return leaf_hash(self.encoded())

    @classmethod
    def decoded(cls, data: bytes) -> Transition:
        """The transition of an ABI-encoded leaf value (ValueError when it is none)."""
        if len(data) != TRANSITION_LEAF_WIDTH:
            raise ValueError(f"a transition leaf is {TRANSITION_LEAF_WIDTH} bytes")
        (h, seq, signer, batch, ph, pc, ps, pn, qh, qc, qs, qn) = decode(
            list(TRANSITION_LEAF_TYPES), data, strict=True
        )
        return cls(
            bytes(h),
            int(seq),
            int(signer),
            StateLeaf(bytes(batch), bytes(ph), int(pc), BatchStatus(ps), int(pn)),
            StateLeaf(bytes(batch), bytes(qh), int(qc), BatchStatus(qs), int(qn)),
        )


def transitions(
    events: Iterable[tuple[bytes, TraceEvent, int]],
    *,
    first_seq: int,
    start: Mapping[bytes, StateLeaf] | None = None,
) -> tuple[list[Transition], dict[bytes, StateLeaf]]:
    """The transitions of a window's ``events`` (digest, event, signer's participant id,
    in window order; the first at sequence number ``first_seq``) from the states
    ``start``, and the states they end in (those of node.proofs.state.replay)."""
    states = dict(start or {})
    found = []
    for index, (digest, event, signer_id) in enumerate(events):
        for pre, post in advance(states, digest, event, signer_id):
            found.append(Transition(digest, first_seq + index, signer_id, pre, post))
    return found, states


def transition_tree(found: Sequence[Transition]) -> MerkleTree:
    """The StandardMerkleTree of ``found`` (in window order: position i is found[i])."""
    return MerkleTree([t.encoded() for t in found], width=TRANSITION_LEAF_WIDTH)


def process_transition_proof(found: Transition, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``found``'s leaf."""
    return process_proof(found.encoded(), proof)
