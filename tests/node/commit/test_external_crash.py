"""A committing node killed with SIGKILL mid-window on a real anvil, then restarted on the
same store and chain: every event anchored exactly once (docs/design.md §5).

The node runs as a real child process. It is killed at three moments of one window, each
time by a fresh child that resumes the window the previous one left: after preparing it
and before sending it; after sending it (and the transaction is then dropped from anvil's
pool); after it was mined and before its receipt was stored (the child waits for a
confirmation that does not come). A last worker in this process finishes the job.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hexbytes import HexBytes

from node.commit.worker import CommitPolicy
from node.events.typed_data import Action
from node.store.models import WindowStatus
from tests.anvil import Anvil, AnvilNode, mining
from tests.events import lot_id
from tests.wait import wait_until

CHILD = """
import json, sys, time
from eth_account import Account
from web3 import Web3
from node.chain.commits import CommitClient
from node.chain.deploy import Deployment
from node.commit.worker import CommitPolicy, CommitWorker
from node.store.store import Store

config = json.loads(sys.stdin.readline())

def before_send(tx):
    print("sending", flush=True)
    if config["hang_before_send"]:
        time.sleep(3600)

worker = CommitWorker(
    store=Store.open(config["database_url"]),
    client=CommitClient(
        Web3(Web3.HTTPProvider(config["chain_url"])), Deployment(**config["deployment"])
    ),
    node=Account.from_key(config["key"]),
    policy=CommitPolicy(max_operations=3, confirmations=1, poll_interval=0.02),
    before_send=before_send,
)
print("ready", flush=True)
worker.commit_once()
print("finished", flush=True)
"""


@pytest.fixture
def rig(anvil: Anvil, store_url: str) -> Iterator[AnvilNode]:
    made = AnvilNode.deployed(anvil, store_url)
    yield made
    made.close()


def start_child(rig: AnvilNode, database_url: str, *, hang_before_send: bool) -> Any:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    config = {
        "chain_url": rig.anvil.url,
        "database_url": database_url,
        "deployment": rig.deployment.as_json(),
        "key": rig.key.key.hex(),  # a throwaway test key, through a pipe
        "hang_before_send": hang_before_send,
    }
    child.stdin.write(json.dumps(config) + "\n")
    child.stdin.close()
    assert child.stdout.readline().strip() == "ready"
    return child


def kill(child: Any) -> None:
    child.kill()
    child.wait()
    child.stdout.close()


def test_a_node_killed_at_each_moment_of_a_window_resumes_it_exactly_once(
    rig: AnvilNode, store_url: str
) -> None:
    for i in range(5):
        rig.submit("farm", Action.COMMISSION, lot_id(f"lot-{i}"))
    rig.anvil.set_automine(False)

    # 1. Killed after preparing the window, before sending it.
    child = start_child(rig, store_url, hang_before_send=True)
    assert child.stdout.readline().strip() == "sending"
    kill(child)
    window = rig.prepared_window()
    assert window is not None
    tx_hash = window.tx_hash
    assert not rig.client().known(tx_hash)

    # 2. Killed after re-sending it; then anvil drops it.
    child = start_child(rig, store_url, hang_before_send=False)
    wait_until(lambda: tx_hash in rig.anvil.pending_hashes(), timeout=20)
    kill(child)
    rig.anvil.rpc("anvil_dropTransaction", "0x" + tx_hash.hex())
    assert not rig.client().known(tx_hash)

    # 3. Killed after it was mined, before storing its receipt.
    child = start_child(rig, store_url, hang_before_send=False)
    wait_until(lambda: tx_hash in rig.anvil.pending_hashes(), timeout=20)
    rig.anvil.mine()
    receipt = rig.w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash))
    kill(child)  # it was waiting for one confirmation
    window = rig.prepared_window()
    assert window is not None
    assert window.tx_hash == tx_hash  # the receipt is not stored

    worker = rig.worker(CommitPolicy(max_operations=3, confirmations=1, poll_interval=0.02))
    with mining(rig.anvil):
        first = worker.commit_once()
        second = worker.commit_once()
        assert worker.commit_once() is None

    assert first is not None
    assert second is not None
    assert (first.resumed, first.tx_hash, first.block_number) == (
        True,
        tx_hash,
        receipt["blockNumber"],
    )
    assert (second.first_seq, second.event_count) == (4, 2)
    assert [w["status"] for w in rig.windows()] == [WindowStatus.CONFIRMED] * 2
    rig.check_each_event_anchored_once()
