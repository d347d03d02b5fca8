"""Our Merkle trees are OpenZeppelin's: the JS library and the contract agree with them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.events.merkle import MerkleTree, verify_proof
from tests.conftest import Chain

ROOT = Path(__file__).resolve().parents[3]
JS = """
const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");
const values = JSON.parse(require("fs").readFileSync(0, "utf8"));
const tree = StandardMerkleTree.of(values.map((v) => [v]), ["bytes32"]);
const proofs = values.map((_, i) => tree.getProof(i));
const verified = values.map(
  (v, i) => StandardMerkleTree.verify(tree.root, ["bytes32"], [v], proofs[i]),
);
console.log(JSON.stringify({ root: tree.root, proofs, verified }));
"""


def openzeppelin(values: list[bytes]) -> dict[str, Any]:
    result = subprocess.run(
        ["node", "-e", JS],
        input=json.dumps(["0x" + v.hex() for v in values]),
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 33, 1000])
def test_root_and_proofs_match_openzeppelin_merkle_tree(count: int) -> None:
    values = [os.urandom(32) for _ in range(count)]

    tree = MerkleTree(values)
    theirs = openzeppelin(values)

    assert "0x" + tree.root.hex() == theirs["root"]
    ours = [["0x" + p.hex() for p in tree.proof(i)] for i in range(count)]
    assert ours == theirs["proofs"]
    assert all(theirs["verified"])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40, unique=True))
def test_every_proof_verifies_and_a_changed_one_does_not(values: list[bytes]) -> None:
    tree = MerkleTree(values)

    for i, value in enumerate(values):
        proof = tree.proof(i)
        assert verify_proof(tree.root, value, proof)
        assert not verify_proof(tree.root, bytes(32) if value != bytes(32) else b"\x01" * 32, proof)
        if proof:
            forged = [bytes(a ^ 1 if j == 0 else a for j, a in enumerate(proof[0])), *proof[1:]]
            assert not verify_proof(tree.root, value, forged)


def test_duplicates_and_empty_trees_are_refused() -> None:
    value = os.urandom(32)
    with pytest.raises(ValueError, match="distinct"):
        MerkleTree([value, value])
    with pytest.raises(ValueError, match="at least one"):
        MerkleTree([])


def test_proofs_verify_on_chain_against_an_anchored_root(chain: Chain) -> None:
    values = [os.urandom(32) for _ in range(9)]
    tree = MerkleTree(values)
    chain.batches.functions.commit([], tree.root, 1, len(values)).transact({"from": chain.node})

    verify = chain.anchors.functions.verifyEvent
    assert all(verify(tree.root, tree.proof(i), v).call() for i, v in enumerate(values))
    assert not verify(tree.root, tree.proof(0), values[1]).call()
