"""What a commit transaction did to each event it relayed, read straight from its logs.

BatchRegistry emits ``EventAccepted(bytes32 indexed eventHash, address indexed signer,
uint32 indexed participant, uint256 nonce)`` or ``EventRejected(uint256 indexed index,
bytes32 indexed eventHash, bytes reason)`` for every relayed event. The event hash is a
topic in both, so a thousand-event receipt is read by comparing topics, with no ABI
decoding but for the rejections' reasons (web3's generic log processing took a tenth of
the commit path's time).

AnchorRegistry emits ``RootAnchored(bytes32 indexed root, address indexed node, uint64
firstSeq, uint32 eventCount)`` when a root is anchored (a root is anchored once, so the
transaction with that log is *the* root's transaction), and for an anchor-only window
``WindowAnchored(bytes32 indexed root, address indexed node, bytes32 stateRoot, bytes32
transitionRoot)``: the chain keeps only the two roots' commitment
(:func:`window_commitment`, ``windowCommitmentOf(root)``), this log carries them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from eth_abi.abi import decode

from node.events.hashing import keccak

EVENT_ACCEPTED: Final = keccak(b"EventAccepted(bytes32,address,uint32,uint256)")
EVENT_REJECTED: Final = keccak(b"EventRejected(uint256,bytes32,bytes)")
ROOT_ANCHORED: Final = keccak(b"RootAnchored(bytes32,address,uint64,uint32)")
WINDOW_ANCHORED: Final = keccak(b"WindowAnchored(bytes32,address,bytes32,bytes32)")


def window_commitment(state_root: bytes, transition_root: bytes) -> bytes:
    """An anchor-only window's commitment to its two roots, as AnchorRegistry's
    ``windowCommitment`` computes it: ``keccak256(abi.encode(stateRoot, transitionRoot))``
    (api/static/verify-core.js ``windowCommitment`` is its twin; tests/web hold the three
    to each other)."""
    if len(state_root) != 32 or len(transition_root) != 32:
        raise ValueError("a window's roots are 32 bytes each")
    return keccak(state_root + transition_root)


def committed_roots(
    logs: Iterable[Mapping[str, Any]], anchor_registry: str, root: bytes, commitment: bytes
) -> tuple[bytes, bytes] | None:
    """The (state root, transition root) of the anchor-only window ``root`` from
    AnchorRegistry's ``WindowAnchored`` among ``logs``, when they hash to ``commitment``
    (what ``windowCommitmentOf(root)`` answers); None when no log does."""
    registry = anchor_registry.lower()
    for log in logs:
        if str(log["address"]).lower() != registry:
            continue
        topics = [bytes(t) for t in log["topics"]]
        data = bytes(log["data"])
        if len(topics) != 3 or topics[0] != WINDOW_ANCHORED or topics[1] != root:
            continue
        if len(data) != 64:
            continue
        roots = (data[:32], data[32:])
        if window_commitment(*roots) == commitment:
            return roots
    return None


def relayed_outcomes(
    logs: Iterable[Mapping[str, Any]], batch_registry: str
) -> tuple[frozenset[bytes], dict[bytes, bytes]]:
    """The event hashes BatchRegistry (at ``batch_registry``) accepted, and those it
    rejected with the ABI-encoded custom error, from a receipt's ``logs``."""
    accepted: set[bytes] = set()
    rejected: dict[bytes, bytes] = {}
    registry = batch_registry.lower()
    for log in logs:
        if str(log["address"]).lower() != registry:
            continue
        topics = [bytes(t) for t in log["topics"]]
        if not topics:
            continue
        if topics[0] == EVENT_ACCEPTED and len(topics) == 4:
            accepted.add(topics[1])
        elif topics[0] == EVENT_REJECTED and len(topics) == 3:
            (reason,) = decode(["bytes"], bytes(log["data"]))
            rejected[topics[2]] = bytes(reason)
    return frozenset(accepted), rejected


def anchored_roots(logs: Iterable[Mapping[str, Any]], anchor_registry: str) -> frozenset[bytes]:
    """The roots AnchorRegistry (at ``anchor_registry``) anchored, from a receipt's ``logs``."""
    registry = anchor_registry.lower()
    roots: set[bytes] = set()
    for log in logs:
        if str(log["address"]).lower() != registry:
            continue
        topics = [bytes(t) for t in log["topics"]]
        if len(topics) == 3 and topics[0] == ROOT_ANCHORED:
            roots.add(topics[1])
    return frozenset(roots)
