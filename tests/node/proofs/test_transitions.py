"""The transition leaves an anchor-only window commits to (node.proofs.transitions): what
each event did to each batch, ending in the window's state leaves; encoded and hashed as
``@openzeppelin/merkle-tree`` does for the same ABI types (CustodyChallenge reads them)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import astuple
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from hypothesis import given, settings
from hypothesis import strategies as st

from node.events.hashing import keccak
from node.events.typed_data import ZERO32, Action, BatchStatus, TraceEvent
from node.proofs.state import STATE_LEAF_TYPES, StateLeaf, encode_static, replay
from node.proofs.transitions import (
    TRANSITION_LEAF_TYPES,
    Transition,
    process_transition_proof,
    transition_tree,
    transitions,
)

ROOT = Path(__file__).resolve().parents[3]
FARM, SHOP, FACTORY = 3, 5, 7
A, B, C = (keccak(name) for name in (b"lot a", b"lot b", b"lot c"))
SHOP_KEY = bytes.fromhex("5a" * 20)


def window() -> list[tuple[bytes, TraceEvent, int]]:
    """COMMISSION a and b, SHIP a, RECEIVE a, OBSERVE b, TRANSFORM a+b into c."""
    made_a = TraceEvent(Action.COMMISSION, A, product=keccak(b"gtin"), quantity=5, nonce=1)
    made_b = TraceEvent(Action.COMMISSION, B, product=keccak(b"gtin"), quantity=5, nonce=2)
    h_a, h_b = keccak(b"commission a"), keccak(b"commission b")
    ship = TraceEvent(Action.SHIP, A, h_a, counterparty=SHOP_KEY, nonce=3)
    h_ship = keccak(b"ship a")
    receive = TraceEvent(Action.RECEIVE, A, h_ship, nonce=1)
    h_receive = keccak(b"receive a")
    observe = TraceEvent(Action.OBSERVE, B, nonce=4)
    transform = TraceEvent(
        Action.TRANSFORM, inputs=(B, A), input_prev_hashes=(h_b, h_receive), outputs=(C,)
    )
    return [
        (h_a, made_a, FARM),
        (h_b, made_b, FARM),
        (h_ship, ship, FARM),
        (h_receive, receive, SHOP),
        (keccak(b"observe b"), observe, FACTORY),
        (keccak(b"transform"), transform, SHOP),
    ]


def test_each_event_and_batch_is_one_transition_from_its_pre_state_to_its_post_state() -> None:
    events = window()

    found, after = transitions(events, first_seq=40)

    assert after == replay(events)
    assert [(t.seq, t.batch_id) for t in found] == [
        (40, A),
        (41, B),
        (42, A),
        (43, A),
        (44, B),
        *((45, b) for b in sorted((A, B, C))),
    ]
    made, ship, receive = found[0], found[2], found[3]
    assert made.pre == StateLeaf(A)
    assert made.post == StateLeaf(A, events[0][0], FARM, BatchStatus.ACTIVE, 1)
    assert ship.pre == made.post
    assert ship.post == StateLeaf(A, events[2][0], FARM, BatchStatus.IN_TRANSIT, 2)
    assert receive.post == StateLeaf(A, events[3][0], SHOP, BatchStatus.ACTIVE, 3)
    assert receive.signer_id == SHOP
    observed = found[4]
    assert observed.post == StateLeaf(B, events[1][0], FARM, BatchStatus.ACTIVE, 2)
    # Every batch's last transition ends in its state leaf; a transition starts where the
    # previous one of its batch ended.
    last: dict[bytes, StateLeaf] = {}
    for t in found:
        assert t.pre == last.get(t.batch_id, StateLeaf(t.batch_id))
        last[t.batch_id] = t.post
    assert last == after
    assert after[C] == StateLeaf(C, events[5][0], SHOP, BatchStatus.ACTIVE, 1)
    assert after[B].status is BatchStatus.CONSUMED


def test_a_window_continues_from_the_states_before_it() -> None:
    events = window()
    before, _ = transitions(events[:3], first_seq=0)
    _, start = transitions(events[:3], first_seq=0)

    rest, after = transitions(events[3:], first_seq=3, start=start)

    assert [t.seq for t in rest] == [3, 4, 5, 5, 5]
    assert rest[0].pre == before[-1].post
    assert after == replay(events)


def test_a_leaf_decodes_to_itself_and_a_bad_one_is_refused() -> None:
    found, _ = transitions(window(), first_seq=2**64 - 10)

    for t in found:
        assert Transition.decoded(t.encoded()) == t
    with pytest.raises(ValueError, match="384 bytes"):
        Transition.decoded(found[0].encoded()[:-1])


JS = """
const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");
const { types, values } = JSON.parse(require("fs").readFileSync(0, "utf8"));
const tree = StandardMerkleTree.of(values, types);
const proofs = values.map((_, i) => tree.getProof(i));
console.log(JSON.stringify({ root: tree.root, proofs }));
"""


def openzeppelin(found: list[Transition]) -> dict[str, Any]:
    values = [
        [("0x" + v.hex()) if isinstance(v, bytes) else str(v) for v in t.as_tuple()] for t in found
    ]
    result = subprocess.run(
        ["node", "-e", JS],
        input=json.dumps({"types": list(TRANSITION_LEAF_TYPES), "values": values}),
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=60,
    )
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_the_tree_is_openzeppelins_standard_merkle_tree_of_the_leaf_types() -> None:
    found, _ = transitions(window(), first_seq=123_456_789_012)

    tree = transition_tree(found)
    theirs = openzeppelin(found)

    assert "0x" + tree.root.hex() == theirs["root"]
    for i, t in enumerate(found):
        assert ["0x" + p.hex() for p in tree.proof(i)] == theirs["proofs"][i]
        assert process_transition_proof(t, tree.proof(i)) == tree.root
    forged = Transition(found[0].event_hash, found[0].seq, SHOP, found[0].pre, found[0].post)
    assert process_transition_proof(forged, tree.proof(0)) != tree.root
    assert found[0].pre.head == ZERO32


@settings(max_examples=200, deadline=None)
@given(
    head=st.binary(min_size=32, max_size=32),
    seq=st.integers(0, 2**64 - 1),
    signer=st.integers(0, 2**32 - 1),
    custodian=st.integers(0, 2**256 - 1),
    status=st.sampled_from(list(BatchStatus)),
    count=st.integers(0, 2**256 - 1),
)
def test_leaves_encode_as_eth_abi_does(
    head: bytes, seq: int, signer: int, custodian: int, status: BatchStatus, count: int
) -> None:
    pre = StateLeaf(keccak(head), head, custodian, status, count)
    moved = Transition(head, seq, signer, pre, StateLeaf(pre.batch_id, ZERO32, 1, status, 0))

    assert pre.encoded() == encode(list(STATE_LEAF_TYPES), list(astuple(pre)))
    assert moved.encoded() == encode(list(TRANSITION_LEAF_TYPES), list(moved.as_tuple()))


@pytest.mark.parametrize(
    ("types", "values", "why"),
    [
        (("uint64",), (2**64,), "does not fit a uint64"),
        (("uint8",), (-1,), "does not fit a uint8"),
        (("bytes32",), (b"\x01" * 31,), "not a bytes32"),
        (("uint256",), (b"\x01" * 32,), "not a uint256"),
        (("address",), (b"\x01" * 20,), "not a bytes32 or uintN type"),
        (("uint0",), (0,), "not a bytes32 or uintN type"),
        (("uint8", "uint8"), (1,), "1 values for 2 types"),
    ],
)
def test_a_value_that_does_not_fit_its_type_is_refused(
    types: tuple[str, ...], values: tuple[bytes | int, ...], why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        encode_static(types, values)
