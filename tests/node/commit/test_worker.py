"""The commit worker on the embedded chain: windows, proofs, rejections, crash recovery."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from node.chain.commits import CommitClient, SignedTx
from node.chain.errors import decode_error
from node.chain.registry import ParticipantRegistryClient
from node.commit.worker import CommitPolicy, CommitWorker
from node.events.hashing import keccak
from node.events.merkle import verify_proof
from node.events.signatures import sign_digest
from node.events.typed_data import Action, BatchStatus, TraceEvent
from node.exceptions import ChainError, SignerSuspendedError
from node.ingest.service import IngestService
from node.proofs.state import StateLeaf, process_state_proof
from node.runtime import Precedence
from node.store.models import EventStatus, WindowStatus
from node.store.records import WindowStateRecord
from node.store.store import Store
from node.store.tables import EVENTS, WINDOW_STATES
from tests.conftest import Chain
from tests.events import lot_id, next_event, signed


class SimulatedCrashError(Exception):
    """Stands for the process dying at that point."""


@dataclass
class Rig:
    chain: Chain
    store: Store
    ingest: IngestService
    client: CommitClient
    node: LocalAccount
    nonces: dict[str, int]

    def worker(self, **kwargs: object) -> CommitWorker:
        return CommitWorker(store=self.store, client=self.client, node=self.node, **kwargs)  # type: ignore[arg-type]

    def submit(self, who: str, action: Action, batch_id: bytes, **fields: object) -> bytes:
        self.nonces[who] = self.nonces.get(who, 0) + 1
        event = next_event(self.store, action, batch_id, self.nonces[who], **fields)
        signature = sign_digest(event.digest(self.chain.domain), self.chain.keys[who].key)
        return self.ingest.submit(signed(event, signature)).event_hash


@pytest.fixture
def rig(chain: Chain, store: Store) -> Rig:
    node = chain.commit_key(store)
    return Rig(
        chain=chain,
        store=store,
        ingest=IngestService(store=store, domain=chain.domain),
        client=CommitClient(chain.w3, chain.deployment),
        node=node,
        nonces={},
    )


def all_events(rig: Rig) -> list[dict[str, Any]]:
    with rig.store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(EVENTS).order_by(EVENTS.c.id))]


def test_a_window_is_relayed_anchored_and_proven(rig: Rig) -> None:
    lot = lot_id("lot-1")
    rig.submit("farm", Action.COMMISSION, lot)
    rig.submit(
        "farm", Action.SHIP, lot, counterparty=bytes.fromhex(rig.chain.keys["carrier"].address[2:])
    )
    rig.submit("carrier", Action.OBSERVE, lot, payload_hash=keccak(b"4.1 C"))

    result = rig.worker().commit_once()

    assert result is not None
    assert (result.event_count, result.anchored, result.rejected, result.first_seq) == (3, 3, 0, 1)
    events = all_events(rig)
    assert {e["status"] for e in events} == {EventStatus.ANCHORED}
    assert [e["anchor_seq"] for e in events] == [1, 2, 3]
    anchors = rig.chain.anchors.functions
    for event in events:
        packed = bytes(event["proof"])
        proof = [packed[i : i + 32] for i in range(0, len(packed), 32)]
        assert verify_proof(result.root, bytes(event["event_hash"]), proof)
        assert anchors.verifyEvent(result.root, proof, event["event_hash"]).call()
    assert rig.client.batch_state(lot)[3] is BatchStatus.IN_TRANSIT
    assert rig.worker().commit_once() is None  # nothing left


def test_a_rejection_on_chain_is_recorded_and_the_local_view_corrected(rig: Rig) -> None:
    lot = lot_id("lot-2")
    rig.submit("farm", Action.COMMISSION, lot)
    rig.worker().commit_once()
    rig.submit(
        "farm", Action.SHIP, lot, counterparty=bytes.fromhex(rig.chain.keys["carrier"].address[2:])
    )
    # The registry suspends the farm after the node accepted its shipment, before the commit.
    ParticipantRegistryClient(rig.chain.w3, rig.chain.deployment).suspend(rig.chain.admin, 1)

    result = rig.worker().commit_once()

    assert result is not None
    assert (result.anchored, result.rejected) == (0, 1)
    shipped = all_events(rig)[-1]
    assert shipped["status"] == EventStatus.REJECTED
    assert isinstance(decode_error(bytes(shipped["reason"])), SignerSuspendedError)
    with rig.store.read() as conn:
        batch = rig.store.batches.get(conn, lot)
    assert batch is not None
    assert batch.status is BatchStatus.ACTIVE  # the chain's view, not the optimistic one


class ProbingClient(CommitClient):
    """The real client, which writes to the store from another thread each time the worker
    asks the chain for a batch's state, and records whether that write went through."""

    def __init__(self, rig: Rig) -> None:
        super().__init__(rig.chain.w3, rig.chain.deployment)
        self.store = rig.store
        self.writes: list[bool] = []

    def batch_state(self, batch_id: bytes) -> Any:
        def write() -> None:
            with self.store.write() as conn:
                self.store.participants.set_cursor(conn, "probe", len(self.writes))

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join(timeout=3)  # the store's busy timeout is longer: a held lock shows
        self.writes.append(not writer.is_alive())
        return super().batch_state(batch_id)


def test_the_chain_is_never_asked_inside_a_write_transaction(rig: Rig) -> None:
    lot = lot_id("lot-probe")
    rig.submit("farm", Action.COMMISSION, lot)
    rig.worker().commit_once()
    rig.submit(
        "farm", Action.SHIP, lot, counterparty=bytes.fromhex(rig.chain.keys["carrier"].address[2:])
    )
    ParticipantRegistryClient(rig.chain.w3, rig.chain.deployment).suspend(rig.chain.admin, 1)
    probing = ProbingClient(rig)

    result = CommitWorker(store=rig.store, client=probing, node=rig.node).commit_once()

    assert result is not None
    assert result.rejected == 1
    assert probing.writes == [True]  # ingest could write while the chain was asked


@pytest.mark.parametrize("sent", [False, True], ids=["killed-before-send", "killed-after-send"])
def test_a_crash_around_sending_neither_loses_nor_doubles_a_window(rig: Rig, sent: bool) -> None:
    lot = lot_id("lot-3")
    rig.submit("farm", Action.COMMISSION, lot)

    def die(tx: SignedTx) -> None:
        if sent:
            rig.client.send(tx)
        raise SimulatedCrashError

    with pytest.raises(SimulatedCrashError):
        rig.worker(before_send=die).commit_once()
    with rig.store.read() as conn:
        prepared = rig.store.windows.prepared(conn)
    assert prepared is not None
    assert prepared.status == WindowStatus.PREPARED

    resumed = rig.worker().commit_once()

    assert resumed is not None
    assert resumed.resumed
    assert resumed.tx_hash == prepared.tx_hash
    assert rig.client.next_sequence(rig.node.address) == 2  # anchored exactly once
    assert [e["status"] for e in all_events(rig)] == [EventStatus.ANCHORED]


def test_windows_follow_each_other_and_respect_the_operation_cap(rig: Rig) -> None:
    for i in range(7):
        rig.submit("farm", Action.COMMISSION, lot_id(f"lot-cap-{i}"))
    worker = rig.worker(policy=CommitPolicy(max_events=1000, max_operations=3))

    results = [worker.commit_once() for _ in range(4)]

    assert [r.event_count if r else None for r in results] == [3, 3, 1, None]
    assert [r.first_seq for r in results if r] == [1, 4, 7]
    assert rig.client.next_sequence(rig.node.address) == 8
    assert sorted(e["anchor_seq"] for e in all_events(rig)) == list(range(1, 8))


def _anchored_within(rig: Rig, event_hash: bytes, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with rig.store.read() as conn:
            record = rig.store.events.get(conn, event_hash)
        if record is not None and record.status is EventStatus.ANCHORED:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize(("min_interval", "anchored"), [(0.05, True), (60.0, False)])
def test_a_pause_in_the_stream_is_anchored_before_the_interval(
    rig: Rig, min_interval: float, anchored: bool
) -> None:
    worker = rig.worker(policy=CommitPolicy(interval=60.0, min_interval=min_interval))
    stop = threading.Event()
    running = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    first = rig.submit("farm", Action.COMMISSION, lot_id("lot-pause-1"))
    running.start()
    try:
        assert _anchored_within(rig, first, 30)  # the first window is due at once
        lone = rig.submit("farm", Action.COMMISSION, lot_id("lot-pause-2"))
        # A minute's interval: only the pause (nothing more arrived) commits it sooner.
        assert _anchored_within(rig, lone, 3 if anchored else 1) is anchored
    finally:
        stop.set()
        running.join(timeout=30)
    assert not running.is_alive()


def test_run_commits_a_window_first_of_the_work_that_defers_to_it(rig: Rig) -> None:
    """Serve's commit process: while run commits a window, the monitor's watch (which
    defers to it) waits; between windows it does not."""
    precedence = Precedence()
    during: list[bool] = []

    def look(tx: SignedTx) -> None:  # as the monitor's thread would, mid-window
        step = threading.Thread(target=lambda: during.append(precedence.defer(0.0)))
        step.start()
        step.join(10)

    worker = rig.worker(policy=CommitPolicy(interval=0.05), precedence=precedence, before_send=look)
    stop = threading.Event()
    running = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    lot = rig.submit("farm", Action.COMMISSION, lot_id("lot-first"))
    running.start()
    try:
        assert _anchored_within(rig, lot, 30)
    finally:
        stop.set()
        running.join(timeout=30)
    assert during == [False]  # mid-window: a deferring step would have waited
    assert precedence.defer(0.0) is True


def test_a_commit_that_reverts_as_a_whole_returns_its_events_to_the_queue(rig: Rig) -> None:
    rig.submit("farm", Action.COMMISSION, lot_id("lot-revert"))
    anchors = rig.chain.anchors.functions
    node_role = anchors.NODE_ROLE().call()
    anchors.revokeRole(node_role, rig.node.address).transact({"from": rig.chain.admin})

    with pytest.raises(ChainError):
        rig.worker().commit_once()

    assert [e["window_id"] for e in all_events(rig)] == [None]
    anchors.grantRole(node_role, rig.node.address).transact({"from": rig.chain.admin})
    result = rig.worker().commit_once()
    assert result is not None
    assert result.anchored == 1
    assert [e["status"] for e in all_events(rig)] == [EventStatus.ANCHORED]


def test_commit_calldata_is_what_the_abi_encodes(chain: Chain) -> None:
    """The direct encoder (node.chain.commits.commit_calldata) matches web3's, byte for byte."""
    from node.chain.commits import commit_calldata

    events = []
    for nonce in range(3):
        event = TraceEvent(
            Action.TRANSFORM,
            inputs=(keccak(b"in%d" % nonce),),
            input_prev_hashes=(keccak(b"head%d" % nonce),),
            outputs=(keccak(b"out%d" % nonce), keccak(b"out2%d" % nonce)),
            product=keccak(b"p"),
            quantity=2**200 + nonce,
            event_time=2**63 - 1,
            nonce=nonce,
        )
        signature = sign_digest(event.digest(chain.domain), chain.keys["processor"].key)
        proofs = [(b"https://id.gs1.org/01/09506000134352/10/L%d" % i, 7) for i in range(2)]
        events.append((event, signature, proofs))
    root = keccak(b"root")
    expected = chain.batches.encode_abi(
        "commit",
        args=[
            [(e.as_abi_tuple(), s[64], s[:32], s[32:64], p) for e, s, p in events],
            root,
            7,
            3,
        ],
    )
    assert commit_calldata(events, root=root, first_seq=7, event_count=3) == bytes.fromhex(
        expected[2:]
    )


# ----- the state commitment of each window (node/proofs/state.py) -----


def leaf_of(rig: Rig, batch_id: bytes) -> WindowStateRecord:
    with rig.store.read() as conn:
        return rig.store.windows.latest_states(conn, [batch_id]).anchored[batch_id]


def anchored_state(rig: Rig, record: WindowStateRecord) -> bytes:
    return bytes(rig.chain.anchors.functions.stateRootOf(record.root).call())


def test_each_window_anchors_the_state_of_every_batch_it_touched(rig: Rig) -> None:
    lot = lot_id("lot-state")
    shipped = bytes.fromhex(rig.chain.keys["carrier"].address[2:])
    rig.submit("farm", Action.COMMISSION, lot)
    rig.submit("farm", Action.OBSERVE, lot, payload_hash=keccak(b"4.1 C"))
    first = rig.worker().commit_once()
    ship = rig.submit("farm", Action.SHIP, lot, counterparty=shipped)

    second = rig.worker().commit_once()

    assert first is not None
    assert second is not None
    record = leaf_of(rig, lot)
    assert (record.window_id, record.root) == (second.window_id, second.root)
    leaf = StateLeaf(lot, record.head, record.custodian, BatchStatus(record.status), record.count)
    # The observation counts (it moves no head); the chain's view: IN_TRANSIT, the farm holds it.
    producer, custodian, _, status, _ = rig.client.batch_state(lot)
    assert (leaf.head, leaf.status, leaf.custodian, leaf.count) == (ship, status, custodian, 3)
    assert producer == custodian
    assert process_state_proof(leaf, record.proof) == record.state_root
    assert anchored_state(rig, record) == record.state_root
    with rig.store.read() as conn:
        windows = [rig.store.windows.get(conn, r.window_id) for r in (first, second)]
    assert all(w is not None and w.state_block for w in windows)


def test_a_batch_from_before_state_roots_starts_from_its_anchored_history(rig: Rig) -> None:
    old, new = lot_id("lot-pre-states"), lot_id("lot-made-here")
    rig.submit("farm", Action.COMMISSION, old)
    rig.submit("farm", Action.OBSERVE, old, payload_hash=keccak(b"3.9 C"))
    assert rig.worker().commit_once() is not None
    with rig.store.write() as conn:  # a store from before window states were kept
        conn.execute(WINDOW_STATES.delete())
    ship = rig.submit(
        "farm", Action.SHIP, old, counterparty=bytes.fromhex(rig.chain.keys["carrier"].address[2:])
    )
    commission = rig.submit("farm", Action.COMMISSION, new)

    result = rig.worker().commit_once()

    assert result is not None
    earlier, made = leaf_of(rig, old), leaf_of(rig, new)
    assert earlier.window_id == made.window_id == result.window_id
    # The anchored COMMISSION and OBSERVE replayed, then this window's SHIP.
    assert (earlier.head, BatchStatus(earlier.status), earlier.count) == (
        ship,
        BatchStatus.IN_TRANSIT,
        3,
    )
    # Made in this window: no history (its own events are not anchored before it).
    assert (made.head, BatchStatus(made.status), made.count) == (commission, BatchStatus.ACTIVE, 1)
    assert anchored_state(rig, earlier) == earlier.state_root


def test_an_event_the_chain_rejected_is_not_counted_in_the_state(rig: Rig) -> None:
    lot = lot_id("lot-state-rejected")
    commission = rig.submit("farm", Action.COMMISSION, lot)
    rig.worker().commit_once()
    rig.submit(
        "farm", Action.SHIP, lot, counterparty=bytes.fromhex(rig.chain.keys["carrier"].address[2:])
    )
    rig.submit("farm", Action.OBSERVE, lot, payload_hash=keccak(b"5.0 C"))
    ParticipantRegistryClient(rig.chain.w3, rig.chain.deployment).suspend(rig.chain.admin, 1)

    result = rig.worker().commit_once()

    assert result is not None
    assert result.rejected == 1
    record = leaf_of(rig, lot)
    assert record.window_id == result.window_id  # the observation touched it
    assert (record.head, BatchStatus(record.status), record.count) == (
        commission,
        BatchStatus.ACTIVE,
        2,  # the COMMISSION and the observation, not the refused SHIP
    )
    assert anchored_state(rig, record) == record.state_root


class StateDownClient(CommitClient):
    """The real client, whose first anchorState cannot reach the chain (a crash or an
    outage between a window's confirmation and its state root)."""

    def __init__(self, rig: Rig) -> None:
        super().__init__(rig.chain.w3, rig.chain.deployment)
        self.failed = False

    def build_anchor_state(self, node: LocalAccount, root: bytes, state_root: bytes) -> SignedTx:
        if not self.failed:
            self.failed = True
            raise ChainError("the chain is unreachable")
        return super().build_anchor_state(node, root, state_root)


def test_a_state_root_not_anchored_is_anchored_before_the_next_window(rig: Rig) -> None:
    lot = lot_id("lot-state-late")
    client = StateDownClient(rig)
    worker = CommitWorker(store=rig.store, client=client, node=rig.node)
    rig.submit("farm", Action.COMMISSION, lot)
    first = worker.commit_once()  # the window is final; its state root is not on-chain
    assert first is not None
    assert not any(rig.chain.anchors.functions.stateRootOf(first.root).call())
    rig.submit("farm", Action.OBSERVE, lot, payload_hash=keccak(b"3.9 C"))

    second = worker.commit_once()

    assert second is not None
    with rig.store.read() as conn:
        late = rig.store.windows.get(conn, first.window_id)
    assert late is not None
    assert late.state_root is not None
    assert late.state_block
    assert bytes(rig.chain.anchors.functions.stateRootOf(first.root).call()) == late.state_root
    record = leaf_of(rig, lot)
    assert (record.window_id, record.count) == (second.window_id, 2)
    assert anchored_state(rig, record) == record.state_root
