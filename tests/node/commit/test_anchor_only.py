"""The commit worker in the anchor-only custody mode (node.commit.custody): a window is
one anchorWindow carrying its event, state and transition roots; nothing is relayed."""

from __future__ import annotations

import pytest

from node.chain.commits import CommitClient, anchor_window_calldata
from node.commit.custody import CustodyMode
from node.commit.worker import WindowResult
from node.events.hashing import keccak
from node.events.typed_data import ZERO32, Action, BatchStatus
from node.exceptions import ConfigurationError
from node.ingest.service import IngestService
from node.proofs.state import StateLeaf
from node.proofs.transitions import Transition, process_transition_proof
from node.store.models import EventStatus
from node.store.store import Store
from tests.conftest import Chain
from tests.events import lot_id
from tests.node.commit.test_worker import Rig


@pytest.fixture
def rig(chain: Chain, store: Store) -> Rig:
    return Rig(
        chain=chain,
        store=store,
        ingest=IngestService(store=store, domain=chain.domain),
        client=CommitClient(chain.w3, chain.deployment, custody=CustodyMode.ANCHOR_ONLY),
        node=chain.commit_key(store),
        nonces={},
    )


def committed(rig: Rig) -> WindowResult:
    result = rig.worker().commit_once()
    assert result is not None
    return result


def test_a_window_is_anchored_with_its_state_and_transitions_and_nothing_relayed(
    rig: Rig,
) -> None:
    lot = lot_id("anchor-only-1")
    carrier = rig.chain.keys["carrier"].address
    made = rig.submit("farm", Action.COMMISSION, lot)
    shipped = rig.submit("farm", Action.SHIP, lot, counterparty=bytes.fromhex(carrier[2:]))
    first = committed(rig)
    received = rig.submit("carrier", Action.RECEIVE, lot)
    rig.submit("carrier", Action.OBSERVE, lot, payload_hash=keccak(b"4.1 C"))

    second = committed(rig)

    assert (first.first_seq, second.first_seq, second.anchored, second.rejected) == (1, 3, 2, 0)
    anchors = rig.chain.anchors.functions
    with rig.store.read() as conn:
        windows = [rig.store.windows.get(conn, r.window_id) for r in (first, second)]
        events = rig.store.windows.events(conn, second.window_id)
        moves = rig.store.windows.transitions_of(conn, [(second.window_id, received)])
    assert {e.status for e in events} == {EventStatus.ANCHORED}
    for window in windows:
        assert window is not None
        assert window.transition_root is not None
        assert window.state_block  # anchored with the window, in its block
        assert bytes(anchors.stateRootOf(window.root).call()) == window.state_root
        assert rig.client.transition_root_of(window.root) == window.transition_root
    # Nothing executed on BatchRegistry: the chain holds no record of the lot.
    assert rig.client.batch_state(lot)[3] is BatchStatus.NONE
    # The RECEIVE's transition starts where the first window's SHIP left the lot.
    [(leaf, proof)] = moves[received]
    move = Transition.decoded(leaf)
    farm, carrier_id = 1, 3
    assert move.pre == StateLeaf(lot, shipped, farm, BatchStatus.IN_TRANSIT, 2)
    assert move.post == StateLeaf(lot, received, carrier_id, BatchStatus.ACTIVE, 3)
    assert (move.seq, move.signer_id) == (3, carrier_id)
    assert process_transition_proof(move, proof) == rig.client.transition_root_of(second.root)
    assert made != ZERO32
    # One transaction each, at tens of thousands of gas, not one relay per event.
    assert second.gas_used < 200_000


def test_anchor_window_calldata_is_what_the_abi_encodes(rig: Rig) -> None:
    roots = {"root": keccak(b"a"), "state_root": keccak(b"b"), "transition_root": keccak(b"c")}

    ours = anchor_window_calldata(**roots, first_seq=2**64 - 1, event_count=2**32 - 1)

    theirs = rig.chain.anchors.encode_abi("anchorWindow", [*roots.values(), 2**64 - 1, 2**32 - 1])
    assert "0x" + ours.hex() == theirs


def test_an_unknown_custody_mode_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="one of: enforced, anchor-only"):
        CustodyMode.parse("optimistic")
