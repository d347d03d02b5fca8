"""SIGKILL the committing node at random moments, many times: no event is lost, none is
anchored twice, and every stored proof verifies against the chain (docs/design.md §5).

The node runs as a real child process on a real data directory (persistent embedded chain
and SQLite store, both fsynced). The fast variant here kills it a few times; the long one
(`-m slow`, run by scripts/) kills it many times.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_utils.address import to_checksum_address

from node.chain.commits import CommitClient
from node.commit.worker import CommitPolicy, CommitWorker
from node.context import Node, init_node
from node.events.typed_data import Role
from node.store.models import EventStatus
from node.store.tables import EVENTS

PASSWORD = "crash test"
CHILD = """
import sys
from pathlib import Path
from node.chain.commits import CommitClient
from node.commit.worker import CommitPolicy, CommitWorker
from node.context import Node
with Node(Path(sys.argv[1])) as node:
    worker = CommitWorker(
        store=node.store, client=CommitClient(node.w3, node.deployment),
        node=node.node_key(sys.argv[2]), policy=CommitPolicy(max_operations=10),
    )
    print("ready", flush=True)
    while worker.commit_once() is not None:
        print("window", flush=True)
"""


def prepare(data_dir: Path, events: int) -> None:
    from node.bench.ingest import EventFactory

    init_node(data_dir, PASSWORD)
    with Node(data_dir) as node:
        factory = EventFactory(producers=2, domain=node.domain)
        admin = node.admin(PASSWORD)
        for index, key in enumerate(factory.keys):
            address = to_checksum_address(factory_address(key))
            node.registry.register(
                admin,
                key=address,
                name=f"p{index}",
                roles=Role.PRODUCER,
                prefix=factory.prefixes[index],
            )
        node.sync_participants()
        node.ingest.submit_many(factory.make(events))


def factory_address(key: bytes) -> str:
    from node.events.signatures import address_of

    return "0x" + address_of(key).hex()


def kill_at_random(data_dir: Path, rng: random.Random) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data_dir), PASSWORD],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    time.sleep(rng.uniform(0.0, 1.0))
    child.kill()
    child.wait()
    child.stdout.close()


def check(data_dir: Path, events: int) -> None:
    from sqlalchemy import select

    with Node(data_dir) as node:
        worker = CommitWorker(
            store=node.store,
            client=CommitClient(node.w3, node.deployment),
            node=node.node_key(PASSWORD),
            policy=CommitPolicy(max_operations=10),
        )
        while worker.commit_once() is not None:
            pass
        client = CommitClient(node.w3, node.deployment)
        with node.store.read() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(EVENTS))]
            windows = {r["window_id"]: node.store.windows.get(conn, r["window_id"]) for r in rows}
        assert len(rows) == events
        assert {r["status"] for r in rows} == {EventStatus.ANCHORED}
        assert sorted(r["anchor_seq"] for r in rows) == list(range(1, events + 1))
        assert client.next_sequence(node.config.node_address) == events + 1  # each once
        for row in rows:
            window = windows[row["window_id"]]
            assert window is not None
            packed = bytes(row["proof"])
            proof = [packed[i : i + 32] for i in range(0, len(packed), 32)]
            assert client.anchors.functions.verifyEvent(
                window.root, proof, bytes(row["event_hash"])
            ).call()


def run(tmp_path: Path, *, kills: int, events: int, seed: int) -> None:
    data_dir = tmp_path / "node"
    prepare(data_dir, events)
    rng = random.Random(seed)
    for _ in range(kills):
        kill_at_random(data_dir, rng)
    check(data_dir, events)


def test_sigkill_while_committing_loses_and_doubles_nothing(tmp_path: Path) -> None:
    run(tmp_path, kills=4, events=300, seed=1)


@pytest.mark.slow
def test_sigkill_many_times(tmp_path: Path) -> None:
    run(tmp_path, kills=40, events=3000, seed=2)
