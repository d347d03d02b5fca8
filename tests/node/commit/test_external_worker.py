"""The commit worker on a real anvil: the embedded chain's scenario over JSON-RPC, and what
only an external chain does — foreign transactions from the node key, dropped and
priced-out transactions, whole-window reverts, confirmations, reorgs.

Every test ends by checking the invariant that matters (tests/anvil.py
``check_each_event_anchored_once``): every event final, anchored exactly once (contiguous
sequence numbers, the chain's RootAnchored logs matching the confirmed windows), and
every stored proof accepted by AnchorRegistry on anvil.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hexbytes import HexBytes
from web3 import Web3
from web3.middleware import Web3Middleware
from web3.types import MakeRequestFn, RPCEndpoint, RPCResponse

from node.chain.commits import TX_GAS_CAP, SignedTx
from node.chain.errors import decode_error
from node.commit.worker import CommitPolicy, CommitWorker
from node.events.hashing import keccak
from node.events.typed_data import Action, BatchStatus
from node.exceptions import (
    CommitPendingError,
    CommitRevertedError,
    ContractError,
    InsufficientFundsError,
    SignerSuspendedError,
)
from node.store.models import EventStatus, WindowStatus
from tests.anvil import Anvil, AnvilNode, mining
from tests.events import lot_id
from tests.wait import wait_until

T = TypeVar("T")


@pytest.fixture
def rig(anvil: Anvil, store_url: str) -> Iterator[AnvilNode]:
    """A node deployed on a fresh anvil, its store on SQLite and on PostgreSQL."""
    made = AnvilNode.deployed(anvil, store_url)
    yield made
    made.close()


@pytest.fixture
def sqlite_rig(anvil: Anvil, tmp_path: Path) -> Iterator[AnvilNode]:
    """The same on SQLite only, for tests about the chain rather than the store."""
    made = AnvilNode.deployed(anvil, f"sqlite:///{tmp_path / 'store.sqlite3'}")
    yield made
    made.close()


def in_thread(function: Callable[[], T]) -> Future[T]:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(function)
    pool.shutdown(wait=False)
    return future


def foreign_transfer(rig: AnvilNode, nonce: int, *, tip: int = 3 * 10**9) -> SignedTx:
    """A transaction from the node key that the worker did not make."""
    base = int(rig.w3.eth.get_block("latest")["baseFeePerGas"])
    signed = rig.key.sign_transaction(
        {
            "chainId": rig.w3.eth.chain_id,
            "nonce": nonce,
            "to": rig.admin.address,
            "value": 1,
            "gas": 21_000,
            "maxPriorityFeePerGas": tip,
            "maxFeePerGas": 4 * base + tip,
        }
    )
    return SignedTx(bytes(signed.raw_transaction), bytes(signed.hash))


def commission(rig: AnvilNode, count: int) -> list[bytes]:
    return [rig.submit("farm", Action.COMMISSION, lot_id(f"lot-{i}")) for i in range(count)]


# ----- the end-to-end scenario -----


@pytest.fixture
def initialised(anvil: Anvil, store_url: str, tmp_path: Path) -> Iterator[AnvilNode]:
    """A node made by ``init_node(chain_url=anvil)`` and opened as ``Node``."""
    made = AnvilNode.initialised(anvil, tmp_path / "node", store_url)
    yield made
    made.close()


def test_an_initialised_node_anchors_events_on_anvil_with_proofs_that_verify(
    initialised: AnvilNode,
) -> None:
    rig = initialised
    cheese, milk = lot_id("cheese-7"), lot_id("milk-3")
    rig.submit("farm", Action.COMMISSION, cheese)
    rig.submit("farm", Action.COMMISSION, milk)
    rig.submit("farm", Action.SHIP, cheese, counterparty=rig.address("carrier"))
    rig.submit("carrier", Action.RECEIVE, cheese)
    rig.submit("carrier", Action.OBSERVE, cheese, payload_hash=keccak(b"4.1 C"))
    rig.submit("carrier", Action.SHIP, cheese, counterparty=rig.address("shop"))
    rig.submit("shop", Action.RECEIVE, cheese)
    worker = rig.worker(
        CommitPolicy(max_operations=3, confirmations=2, poll_interval=0.02, receipt_timeout=20)
    )

    with mining(rig.anvil):
        results = [worker.commit_once(), worker.commit_once()]
        rig.submit("farm", Action.SHIP, milk, counterparty=rig.address("carrier"))
        # The registrar suspends the farm after the node accepted this shipment.
        rig.registry.suspend(rig.admin, rig.ids["farm"])
        results += [worker.commit_once(), worker.commit_once()]

    assert results[-1] is None  # nothing left
    done = [r for r in results if r is not None]
    assert [r.event_count for r in done] == [3, 4, 1]  # the observation rides along
    assert [r.first_seq for r in done] == [1, 4, 8]
    events = rig.check_each_event_anchored_once()
    assert [e["status"] for e in events] == [EventStatus.ANCHORED] * 7 + [EventStatus.REJECTED]
    assert isinstance(decode_error(bytes(events[-1]["reason"])), SignerSuspendedError)
    client = rig.client()
    _, custodian, _, status, head = client.batch_state(cheese)
    assert (status, head) == (BatchStatus.ACTIVE, bytes(events[6]["event_hash"]))
    assert custodian == rig.ids["shop"]
    assert client.batch_state(milk)[3] is BatchStatus.ACTIVE  # the refused shipment
    w3 = rig.w3
    for result in done:
        tx = w3.eth.get_transaction(HexBytes(result.tx_hash))
        block = w3.eth.get_block(result.block_number)
        assert tx["type"] == 2  # EIP-1559 fees, from the chain
        assert tx["maxPriorityFeePerGas"] == w3.eth.max_priority_fee
        assert tx["maxFeePerGas"] >= block["baseFeePerGas"] + tx["maxPriorityFeePerGas"]
        # The limit is the estimate plus its margin: near what the commit used, far
        # below the block gas limit and EIP-7825's cap.
        assert result.gas_used < tx["gas"] <= result.gas_used * 1.25 + 50_000 + 10_000
        assert tx["gas"] <= min(block["gasLimit"], TX_GAS_CAP)
        assert result.block_hash == bytes(block["hash"])


# ----- nonces -----


class SimulatedCrashError(Exception):
    """Stands for the process dying at that point."""


@pytest.mark.parametrize("restart", [False, True], ids=["same-run", "after-a-restart"])
def test_a_window_whose_nonce_another_transaction_took_is_rebuilt(
    rig: AnvilNode, restart: bool
) -> None:
    commission(rig, 2)
    taken: list[SignedTx] = []

    def take_the_nonce(tx: SignedTx) -> None:
        if taken:
            return  # the rebuilt window goes through
        foreign = foreign_transfer(rig, tx.nonce)
        rig.w3.eth.send_raw_transaction(foreign.raw)  # mined at once (auto-mining)
        taken.append(foreign)
        if restart:
            raise SimulatedCrashError

    # Blocks keep coming, as on a live chain: a nonce counts as taken one block deep.
    with mining(rig.anvil):
        if restart:
            with pytest.raises(SimulatedCrashError):
                rig.worker(before_send=take_the_nonce).commit_once()
            result = rig.worker().commit_once()
        else:
            result = rig.worker(before_send=take_the_nonce).commit_once()

    assert result is not None
    assert (result.event_count, result.first_seq, result.resumed) == (2, 1, False)
    first, second = rig.windows()
    assert (first["status"], second["status"]) == (WindowStatus.FAILED, WindowStatus.CONFIRMED)
    assert result.tx_hash == bytes(second["tx_hash"]) != bytes(first["tx_hash"])
    (foreign,) = taken
    assert rig.w3.eth.get_transaction_receipt(HexBytes(foreign.tx_hash))["status"] == 1
    assert SignedTx(bytes(first["raw_tx"]), b"").nonce == foreign.nonce
    assert SignedTx(bytes(second["raw_tx"]), b"").nonce == foreign.nonce + 1
    rig.check_each_event_anchored_once()


def test_a_foreign_transaction_waiting_at_the_nonce_is_not_overtaken_by_a_gap(
    sqlite_rig: AnvilNode,
) -> None:
    rig = sqlite_rig
    commission(rig, 2)
    rig.anvil.set_automine(False)
    nonce = rig.w3.eth.get_transaction_count(rig.key.address)
    foreign = foreign_transfer(rig, nonce)  # outbids the commit: it keeps its pool place
    rig.w3.eth.send_raw_transaction(foreign.raw)

    # Blocks start once the worker has signed its window at that nonce (the window is
    # stored then): mined any earlier, the foreign transaction would leave the nonce
    # free before the worker reads it, and there would be nothing to overtake.
    committed = in_thread(rig.worker().commit_once)
    wait_until(rig.windows, timeout=30)
    with mining(rig.anvil):
        result = committed.result(timeout=60)

    assert result is not None
    assert rig.w3.eth.get_transaction_receipt(HexBytes(foreign.tx_hash))["status"] == 1
    assert [w["status"] for w in rig.windows()] == [WindowStatus.FAILED, WindowStatus.CONFIRMED]
    assert rig.w3.eth.get_transaction(HexBytes(result.tx_hash))["nonce"] == nonce + 1
    rig.check_each_event_anchored_once()


# ----- gas -----


def test_a_window_too_large_for_one_transaction_is_split(sqlite_rig: AnvilNode) -> None:
    rig = sqlite_rig
    commission(rig, 210)  # ~14M gas, ~18M with the margin: over EIP-7825's cap (anvil enforces it)
    worker = rig.worker(CommitPolicy(max_operations=300, poll_interval=0.02, receipt_timeout=20))

    results = [worker.commit_once(), worker.commit_once(), worker.commit_once()]

    assert [r.event_count if r else None for r in results] == [105, 105, None]
    for result in results:
        if result is not None:
            assert rig.w3.eth.get_transaction(HexBytes(result.tx_hash))["gas"] <= TX_GAS_CAP
    rig.check_each_event_anchored_once()


def test_a_node_key_that_cannot_pay_is_reported_before_anything_is_prepared(
    sqlite_rig: AnvilNode,
) -> None:
    rig = sqlite_rig
    commission(rig, 1)
    rig.anvil.rpc("anvil_setBalance", rig.key.address, hex(10**12))

    with pytest.raises(InsufficientFundsError) as raised:
        rig.worker().commit_once()

    assert raised.value.balance == 10**12
    assert rig.windows() == []
    rig.anvil.rpc("anvil_setBalance", rig.key.address, hex(10**20))
    assert rig.worker().commit_once() is not None
    rig.check_each_event_anchored_once()


# ----- dropped, priced out, reverted -----


def test_a_dropped_transaction_is_sent_again_and_anchored(rig: AnvilNode) -> None:
    commission(rig, 3)
    rig.anvil.set_automine(False)
    running = in_thread(rig.worker().commit_once)
    window = wait_until(rig.prepared_window)
    tx_hash = window.tx_hash
    wait_until(lambda: tx_hash in rig.anvil.pending_hashes())

    rig.anvil.drop_all()
    wait_until(lambda: tx_hash in rig.anvil.pending_hashes())  # back: the worker re-sent it
    rig.anvil.mine()
    result = running.result(timeout=10)

    assert result is not None
    assert result.tx_hash == tx_hash  # the very same signed bytes
    assert len(rig.windows()) == 1
    rig.check_each_event_anchored_once()


def test_a_window_priced_out_by_a_base_fee_spike_is_replaced_and_rebuilt(
    sqlite_rig: AnvilNode,
) -> None:
    rig = sqlite_rig
    commission(rig, 2)
    rig.anvil.set_automine(False)
    worker = rig.worker(CommitPolicy(poll_interval=0.02, replace_after=0.5, receipt_timeout=20))
    running = in_thread(worker.commit_once)
    window = wait_until(rig.prepared_window)
    stale = SignedTx(window.raw_tx, window.tx_hash)
    wait_until(lambda: stale.tx_hash in rig.anvil.pending_hashes())

    # The base fee jumps above what the commit offered: anvil evicts it and refuses it again.
    rig.anvil.set_next_base_fee(4 * int(stale.fields()["maxFeePerGas"]))
    rig.anvil.mine()
    cancel = wait_until(lambda: [h for h in rig.anvil.pending_hashes() if h != stale.tx_hash])
    rig.anvil.mine()  # the replacement at the commit's nonce
    rig.anvil.mine()  # and a block on top: the commit can never be mined now
    rebuilt = wait_until(lambda: (w := rig.prepared_window()) and w.id != window.id and w)
    wait_until(lambda: rebuilt.tx_hash in rig.anvil.pending_hashes())
    rig.anvil.mine()
    result = running.result(timeout=10)

    assert result is not None
    assert result.tx_hash == rebuilt.tx_hash
    replacement = rig.w3.eth.get_transaction(HexBytes(cancel[0]))
    assert (replacement["to"], replacement["value"]) == (rig.key.address, 0)
    assert replacement["nonce"] == stale.nonce
    assert rig.client().receipt(stale.tx_hash) is None
    assert [w["status"] for w in rig.windows()] == [WindowStatus.FAILED, WindowStatus.CONFIRMED]
    assert rig.w3.eth.get_transaction(HexBytes(result.tx_hash))["nonce"] == stale.nonce + 1
    rig.check_each_event_anchored_once()


def state_root_pending(rig: AnvilNode, *, replace_after: float) -> tuple[CommitWorker, bytes]:
    """A window of two COMMISSIONs mined (anvil mining by hand); its worker, and the hash of
    its state root's transaction, sent after it and waiting in the pool."""
    commission(rig, 2)
    rig.anvil.set_automine(False)
    worker = rig.worker(
        CommitPolicy(poll_interval=0.02, replace_after=replace_after, receipt_timeout=20)
    )
    running = in_thread(worker.commit_once)
    window = wait_until(rig.prepared_window)
    wait_until(lambda: window.tx_hash in rig.anvil.pending_hashes())
    rig.anvil.mine()
    assert running.result(timeout=10) is not None  # the window; its state root sent after it
    (state_tx,) = wait_until(lambda: rig.anvil.pending_hashes())
    return worker, state_tx


def test_a_state_root_priced_out_is_sent_again_with_higher_fees_and_anchored(
    sqlite_rig: AnvilNode,
) -> None:
    """The state root's transaction holds the node key's next nonce: priced out and never
    replaced, it would hold every later window too."""
    rig = sqlite_rig
    worker, state_tx = state_root_pending(rig, replace_after=0.5)
    first = rig.w3.eth.get_transaction(HexBytes(state_tx))

    # The base fee jumps above what the state root offered: anvil evicts it, refuses it.
    rig.anvil.set_next_base_fee(4 * int(first["maxFeePerGas"]))
    rig.anvil.mine()
    assert rig.anvil.pending_hashes() == []
    stop = threading.Event()
    settling = in_thread(lambda: worker._anchor_state(stop))
    bumped = wait_until(lambda: rig.anvil.pending_hashes(), timeout=10)
    rig.anvil.mine()
    settling.result(timeout=10)

    replacement = rig.w3.eth.get_transaction(HexBytes(bumped[0]))
    assert replacement["nonce"] == first["nonce"]
    assert (replacement["to"], replacement["input"]) == (first["to"], first["input"])
    assert replacement["maxFeePerGas"] > first["maxFeePerGas"]
    (stored,) = rig.windows()
    assert stored["state_root"] is not None
    assert stored["state_block"] > 0
    assert rig.client().state_root_of(stored["root"]) == bytes(stored["state_root"])
    rig.check_each_event_anchored_once()


def test_a_state_root_whose_nonce_another_transaction_took_is_built_again(
    sqlite_rig: AnvilNode,
) -> None:
    rig = sqlite_rig
    worker, state_tx = state_root_pending(rig, replace_after=30)
    nonce = rig.w3.eth.get_transaction(HexBytes(state_tx))["nonce"]

    # A foreign transaction from the node key outbids it at its nonce and is mined.
    rig.anvil.drop_all()
    rig.client().send(foreign_transfer(rig, nonce, tip=50 * 10**9))
    rig.anvil.mine(2)  # and a block on top: the nonce is spent for good
    stop = threading.Event()
    settling = in_thread(lambda: worker._anchor_state(stop))
    rebuilt = wait_until(lambda: rig.anvil.pending_hashes(), timeout=10)
    rig.anvil.mine(2)
    settling.result(timeout=10)

    assert rig.w3.eth.get_transaction(HexBytes(rebuilt[0]))["nonce"] == nonce + 1
    (stored,) = rig.windows()
    assert rig.client().state_root_of(stored["root"]) == bytes(stored["state_root"])
    assert stored["state_block"] > 0
    rig.check_each_event_anchored_once()


def admin_send(rig: AnvilNode, call: Any, *, tip: int = 10**9) -> bytes:
    base = int(rig.w3.eth.get_block("latest")["baseFeePerGas"])
    tx = call.build_transaction(
        {
            "from": rig.admin.address,
            "nonce": rig.w3.eth.get_transaction_count(rig.admin.address, "pending"),
            "gas": 200_000,
            "maxPriorityFeePerGas": tip,
            "maxFeePerGas": 4 * base + tip,
        }
    )
    return bytes(rig.w3.eth.send_raw_transaction(rig.admin.sign_transaction(tx).raw_transaction))


def test_a_commit_that_reverts_on_chain_returns_its_events_to_the_queue(rig: AnvilNode) -> None:
    commission(rig, 2)
    anchors = rig.client().anchors.functions
    node_role = anchors.NODE_ROLE().call()
    rig.anvil.set_automine(False)
    running = in_thread(rig.worker().commit_once)
    window = wait_until(rig.prepared_window)
    wait_until(lambda: window.tx_hash in rig.anvil.pending_hashes())

    # In the same block, ahead of the commit (a higher tip), the admin revokes the node.
    admin_send(rig, anchors.revokeRole(node_role, rig.key.address), tip=50 * 10**9)
    rig.anvil.mine()

    with pytest.raises(CommitRevertedError):
        running.result(timeout=10)
    assert rig.w3.eth.get_transaction_receipt(HexBytes(window.tx_hash))["status"] == 0
    assert [w["status"] for w in rig.windows()] == [WindowStatus.FAILED]
    assert {(e["status"], e["window_id"]) for e in rig.events()} == {(EventStatus.ACCEPTED, None)}

    admin_send(rig, anchors.grantRole(node_role, rig.key.address))
    rig.anvil.set_automine(True)
    result = rig.worker().commit_once()
    assert result is not None
    assert (result.first_seq, result.anchored) == (1, 2)
    rig.check_each_event_anchored_once()


def test_a_commit_that_would_revert_is_refused_before_it_is_signed(
    sqlite_rig: AnvilNode,
) -> None:
    rig = sqlite_rig
    commission(rig, 1)
    anchors = rig.client().anchors.functions
    node_role = anchors.NODE_ROLE().call()
    rig.w3.eth.wait_for_transaction_receipt(
        HexBytes(admin_send(rig, anchors.revokeRole(node_role, rig.key.address)))
    )
    nonce = rig.w3.eth.get_transaction_count(rig.key.address)

    with pytest.raises(CommitRevertedError) as raised:
        rig.worker().commit_once()

    assert isinstance(raised.value.cause, ContractError)
    assert raised.value.cause.name == "AnchorRegistryNotNode"
    assert rig.windows() == []  # nothing prepared, nothing sent, no gas spent
    assert rig.w3.eth.get_transaction_count(rig.key.address) == nonce
    rig.w3.eth.wait_for_transaction_receipt(
        HexBytes(admin_send(rig, anchors.grantRole(node_role, rig.key.address)))
    )
    assert rig.worker().commit_once() is not None
    rig.check_each_event_anchored_once()


# ----- confirmations, timeouts, reorgs -----


class CountRequests:
    """Counts the JSON-RPC requests a web3 instance makes (a web3 middleware)."""

    def __init__(self, w3: Web3) -> None:
        self.count = 0
        counter = self

        class Middleware(Web3Middleware):
            def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
                def counted(method: RPCEndpoint, params: Any) -> RPCResponse:
                    counter.count += 1
                    return make_request(method, params)

                return counted

        w3.middleware_onion.add(Middleware, "count-requests")


def let_it_look(requests: CountRequests, running: Future[Any], looks: int = 5) -> None:
    """Wait until the worker has looked at the chain ``looks`` more times (the head and
    the receipt: two requests a look at least), or has returned."""
    until = requests.count + 2 * looks
    wait_until(lambda: running.done() or requests.count >= until)


def test_events_are_not_anchored_before_their_confirmations(rig: AnvilNode) -> None:
    commission(rig, 2)
    requests = CountRequests(rig.w3)
    worker = rig.worker(CommitPolicy(confirmations=3, poll_interval=0.02, receipt_timeout=20))
    running = in_thread(worker.commit_once)
    window = wait_until(rig.prepared_window)
    mined = wait_until(lambda: rig.client().receipt(window.tx_hash))

    for _ in range(2):
        rig.anvil.mine()
        let_it_look(requests, running)  # room for a worker that would not wait
        assert not running.done()
        assert {(e["status"], e["window_id"]) for e in rig.events()} == {
            (EventStatus.ACCEPTED, window.id)
        }
    rig.anvil.mine()
    result = running.result(timeout=10)

    assert result is not None
    assert result.block_number == mined.block_number
    assert rig.w3.eth.block_number >= mined.block_number + 3
    rig.check_each_event_anchored_once()


def test_a_wait_times_out_or_stops_without_spinning_and_is_resumed(
    sqlite_rig: AnvilNode,
) -> None:
    rig = sqlite_rig
    commission(rig, 1)
    rig.anvil.set_automine(False)
    requests = CountRequests(rig.w3)
    worker = rig.worker(CommitPolicy(poll_interval=0.1, receipt_timeout=1.0))

    with pytest.raises(CommitPendingError):
        worker.commit_once()

    # About ten looks at the chain in that second, a few requests each; a loop that
    # spun would have made thousands.
    assert requests.count < 100
    window = rig.prepared_window()
    assert window is not None
    assert {e["status"] for e in rig.events()} == {EventStatus.ACCEPTED}

    stop = threading.Event()
    runner = threading.Thread(target=rig.worker(CommitPolicy(interval=0.05)).run, args=(stop,))
    seen = requests.count
    runner.start()
    # It resumes the window: its first look at the chain (the head and the receipt).
    wait_until(lambda: not runner.is_alive() or requests.count >= seen + 2)
    assert runner.is_alive()  # waiting for the window, not failed
    stop.set()
    runner.join(timeout=5)
    assert not runner.is_alive()  # stopped in the middle of the wait

    rig.anvil.mine()
    result = rig.worker().commit_once()
    assert result is not None
    assert result.resumed
    assert result.tx_hash == window.tx_hash
    rig.check_each_event_anchored_once()


def test_a_window_reorged_out_before_its_confirmations_is_sent_again(rig: AnvilNode) -> None:
    commission(rig, 2)
    worker = rig.worker(CommitPolicy(confirmations=2, poll_interval=0.02, receipt_timeout=20))
    running = in_thread(worker.commit_once)
    window = wait_until(rig.prepared_window)
    tx_hash = window.tx_hash
    first = wait_until(lambda: rig.client().receipt(tx_hash))
    rig.anvil.set_automine(False)
    rig.anvil.mine()  # one block on top: not confirmed yet

    # The commit's block and the one above are replaced by empty blocks: same height, and
    # the transaction is in neither the chain nor the pool.
    rig.anvil.reorg(2)
    assert rig.w3.eth.block_number == first.block_number + 1
    wait_until(lambda: tx_hash in rig.anvil.pending_hashes())  # the worker sent it again
    rig.anvil.mine(3)
    result = running.result(timeout=10)

    assert result is not None
    assert result.tx_hash == tx_hash
    assert result.block_number == first.block_number + 2
    assert result.block_hash != first.block_hash
    assert len(rig.windows()) == 1
    rig.check_each_event_anchored_once()
