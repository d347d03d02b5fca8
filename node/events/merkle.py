"""Merkle trees in OpenZeppelin's StandardMerkleTree format, for event hashes (and, with
``width``, for any fixed-size ABI-encoded leaf: the state leaves of node.proofs.state).

Leaf type ``bytes32`` (the event hash): ``leaf = keccak256(keccak256(abi.encode(h)))``
(double-hashed, so a leaf can never be mistaken for an inner node); leaves sorted by
their hash; inner nodes ``keccak256(sort(a, b))``; the tree stored as an array with the
root at 0 and the children of ``i`` at ``2i+1`` and ``2i+2``. Proofs verify unchanged
with OpenZeppelin's ``MerkleProof.verify`` on-chain and ``@openzeppelin/merkle-tree``
off-chain (tests prove both).
"""

from __future__ import annotations

from collections.abc import Sequence

from node.events.hashing import keccak


def leaf_hash(event_hash: bytes) -> bytes:
    """The leaf of ``event_hash``: ``keccak256(keccak256(abi.encode(bytes32)))`` (of any
    ABI-encoded leaf value, ``keccak256(keccak256(encoded))``)."""
    return keccak(keccak(event_hash))


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b if a < b else b + a)


class MerkleTree:
    """A StandardMerkleTree over distinct 32-byte event hashes (or distinct ABI-encoded
    leaf values of ``width`` bytes)."""

    def __init__(self, event_hashes: Sequence[bytes], *, width: int = 32) -> None:
        if not event_hashes:
            raise ValueError("a Merkle tree needs at least one event")
        if any(len(h) != width for h in event_hashes):
            raise ValueError(f"leaf values are {width} bytes")
        leaves = sorted((leaf_hash(h), i) for i, h in enumerate(event_hashes))
        size = 2 * len(leaves) - 1
        tree = [b""] * size
        self._tree_index = [0] * len(leaves)
        for k, (leaf, original) in enumerate(leaves):
            tree[size - 1 - k] = leaf
            self._tree_index[original] = size - 1 - k
        for i in range(size - 1 - len(leaves), -1, -1):
            tree[i] = hash_pair(tree[2 * i + 1], tree[2 * i + 2])
        if len(set(tree[size - len(leaves) :])) != len(leaves):
            raise ValueError("event hashes in one tree must be distinct")
        self._tree = tree
        self.event_hashes = tuple(event_hashes)

    @property
    def root(self) -> bytes:
        return self._tree[0]

    def tree_index(self, position: int) -> int:
        """Where the ``position``-th event hash given to the tree sits in its array."""
        return self._tree_index[position]

    def proof(self, position: int) -> list[bytes]:
        """The sibling path of the ``position``-th event hash, leaf to root."""
        index = self._tree_index[position]
        path = []
        while index > 0:
            sibling = index + 1 if index % 2 else index - 1
            path.append(self._tree[sibling])
            index = (index - 1) // 2
        return path


def process_proof(event_hash: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``event_hash``'s leaf."""
    node = leaf_hash(event_hash)
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def verify_proof(root: bytes, event_hash: bytes, proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` proves ``event_hash`` to be in the tree with ``root``."""
    return process_proof(event_hash, proof) == root
