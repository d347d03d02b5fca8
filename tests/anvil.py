"""A real anvil process for integration tests: started on a free loopback port, killed after.

anvil comes from npm (@foundry-rs/anvil, in package.json) and is looked for in the
project's node_modules/.bin first, then on PATH. It runs with a fixed chain id and the
per-transaction gas cap of EIP-7825 enforced, like a post-Osaka public chain; tests switch
auto-mining off, mine, drop, reorg and move the base fee through the helpers here
(anvil's own JSON-RPC methods, nothing simulated).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from web3 import Web3
from web3.types import Wei

from node.chain.anvil import ANVIL_CHAIN_ID as ANVIL_CHAIN_ID
from node.chain.anvil import AnvilUnavailableError as AnvilUnavailableError
from node.chain.anvil import anvil_binary as anvil_binary
from node.chain.anvil import launch_anvil
from node.chain.anvil import stop_anvil as stop_anvil
from node.chain.commits import CommitClient
from node.chain.deploy import Deployment, deploy_contracts
from node.chain.registry import ParticipantRegistryClient
from node.commit.worker import CommitPolicy, CommitWorker
from node.context import Node, init_node
from node.events.merkle import verify_proof
from node.events.signatures import sign_digest
from node.events.typed_data import Action, Domain, Role
from node.ingest.service import IngestService
from node.participants.sync import sync_participants
from node.store.models import EventStatus, WindowStatus
from node.store.records import WindowRecord
from node.store.store import Store
from node.store.tables import EVENTS, WINDOWS, split32
from node.testing.harness import DEFAULT_LICENCES
from tests.events import next_event, signed


@dataclass
class Anvil:
    """A running anvil: its URL, a web3 on it, and its test-only JSON-RPC methods."""

    url: str
    process: subprocess.Popen[bytes]
    w3: Web3

    def rpc(self, method: str, *params: Any) -> Any:
        response = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in response:
            raise RuntimeError(f"{method}: {response['error']}")
        return response.get("result")

    def set_automine(self, on: bool) -> None:
        self.rpc("evm_setAutomine", on)

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))

    def drop_all(self) -> None:
        self.rpc("anvil_dropAllTransactions")

    def pending_hashes(self) -> list[bytes]:
        """The hashes of transactions waiting in anvil's pool."""
        content = self.rpc("txpool_content")
        return [
            bytes.fromhex(tx["hash"][2:])
            for by_nonce in content["pending"].values()
            for tx in by_nonce.values()
        ]

    def reorg(self, depth: int) -> None:
        """Replace the last ``depth`` blocks by empty ones (their transactions vanish)."""
        self.rpc("anvil_reorg", depth, [])

    def set_next_base_fee(self, wei: int) -> None:
        self.rpc("anvil_setNextBlockBaseFeePerGas", hex(wei))


def start_anvil(extra: Sequence[str] = (), *, attempts: int = 3) -> Anvil:
    """Start anvil on a free loopback port and wait until it answers JSON-RPC."""
    url, process = launch_anvil(extra, attempts=attempts)
    return Anvil(
        url=url, process=process, w3=Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10}))
    )


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, parents first. npm's ``anvil`` is a Node.js launcher
    whose child is the anvil binary: a test that stops or kills "anvil" signals them all."""
    found = [pid]
    for parent in found:
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = task / "children"
            if children.exists():
                found.extend(int(child) for child in children.read_text().split())
    return found


@contextmanager
def mining(anvil: Anvil, every: float = 0.05) -> Iterator[None]:
    """A block every ``every`` seconds (on top of auto-mining, if it is on), from a thread
    with its own connection."""
    w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 10}))
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# ----- a whole TraceNode on anvil -----

PASSWORD = "anvil test"
PARTICIPANTS = {
    "farm": (Role.PRODUCER, "0614141"),
    "carrier": (Role.LOGISTICS, ""),
    "shop": (Role.RETAILER, "88.123.45"),
}


@dataclass
class AnvilNode:
    """A TraceNode on anvil: contracts deployed from its admin key, node and admin keys
    funded from anvil's development account, participants registered and synced."""

    anvil: Anvil
    w3: Web3
    deployment: Deployment
    domain: Domain
    store: Store
    registry: ParticipantRegistryClient
    ingest: IngestService
    key: LocalAccount
    admin: LocalAccount
    node: Node | None = None
    keys: dict[str, LocalAccount] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    nonces: dict[str, int] = field(default_factory=dict)

    @classmethod
    def initialised(cls, anvil: Anvil, data_dir: Path, database_url: str) -> AnvilNode:
        """Through ``init_node`` and ``Node``, as an operator would (encrypted keystores:
        about three seconds of scrypt)."""
        init_node(data_dir, PASSWORD, chain_url=anvil.url, database_url=database_url)
        node = Node(data_dir)
        made = cls(
            anvil=anvil,
            w3=node.w3,
            deployment=node.deployment,
            domain=node.domain,
            store=node.store,
            registry=node.registry,
            ingest=node.ingest,
            key=node.node_key(PASSWORD),
            admin=node.admin(PASSWORD),
            node=node,
        )
        made._register()
        return made

    @classmethod
    def deployed(cls, anvil: Anvil, database_url: str) -> AnvilNode:
        """The same parts without a data directory or keystores, for tests about the chain."""
        w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 30}))
        key: LocalAccount = Account.create()
        admin: LocalAccount = Account.create()
        for address in (key.address, admin.address):
            tx = w3.eth.send_transaction(
                {"from": w3.eth.accounts[0], "to": address, "value": Wei(10**21)}
            )
            w3.eth.wait_for_transaction_receipt(tx)
        deployment = deploy_contracts(w3, admin=admin, node=key.address)
        domain = Domain(deployment.chain_id, bytes.fromhex(deployment.batch_registry[2:]))
        store = Store.open(database_url)
        made = cls(
            anvil=anvil,
            w3=w3,
            deployment=deployment,
            domain=domain,
            store=store,
            registry=ParticipantRegistryClient(w3, deployment),
            ingest=IngestService(store=store, domain=domain),
            key=key,
            admin=admin,
        )
        made._register()
        return made

    def _register(self) -> None:
        for name, (roles, prefix) in PARTICIPANTS.items():
            account: LocalAccount = Account.create()
            self.keys[name] = account
            self.ids[name] = self.registry.register(
                self.admin,
                key=account.address,
                name=name,
                roles=roles,
                prefix=prefix,
                licences=DEFAULT_LICENCES.get(name, ()),
            )
        sync_participants(store=self.store, source=self.registry, head=self.w3.eth.block_number)

    def client(self, **kwargs: Any) -> CommitClient:
        return CommitClient(self.w3, self.deployment, **kwargs)

    def worker(self, policy: CommitPolicy | None = None, **kwargs: Any) -> CommitWorker:
        return CommitWorker(
            store=self.store,
            client=self.client(),
            node=self.key,
            policy=policy or CommitPolicy(poll_interval=0.02, receipt_timeout=20),
            **kwargs,
        )

    def submit(self, who: str, action: Action, batch_id: bytes, **fields: Any) -> bytes:
        """Sign ``action`` on ``batch_id`` as participant ``who`` and ingest it."""
        self.nonces[who] = self.nonces.get(who, 0) + 1
        event = next_event(self.store, action, batch_id, self.nonces[who], **fields)
        signature = sign_digest(event.digest(self.domain), self.keys[who].key)
        return self.ingest.submit(signed(event, signature)).event_hash

    def address(self, who: str) -> bytes:
        return bytes.fromhex(self.keys[who].address[2:])

    def events(self) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            rows = conn.execute(select(EVENTS).order_by(EVENTS.c.id))
            return [dict(r._mapping) for r in rows]

    def prepared_window(self) -> WindowRecord | None:
        """The window prepared and not yet confirmed, if any (the store's view)."""
        with self.store.read() as conn:
            return self.store.windows.prepared(conn)

    def windows(self) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            rows = conn.execute(select(WINDOWS).order_by(WINDOWS.c.id))
            return [dict(r._mapping) for r in rows]

    def check_each_event_anchored_once(self) -> list[dict[str, Any]]:
        """Assert that every event is final, anchored exactly once, with a proof that
        AnchorRegistry on the chain accepts; returns the events."""
        client = self.client()
        events = self.events()
        windows = {w["id"]: w for w in self.windows()}
        assert {e["status"] for e in events} <= {EventStatus.ANCHORED, EventStatus.REJECTED}
        assert sorted(e["anchor_seq"] for e in events) == list(range(1, len(events) + 1))
        assert client.next_sequence(self.key.address) == len(events) + 1
        logs = client.anchors.events.RootAnchored().get_logs(
            from_block=self.deployment.block_number
        )
        confirmed = [w for w in windows.values() if w["status"] == WindowStatus.CONFIRMED]
        assert sorted(bytes(log.args.root) for log in logs) == sorted(
            bytes(w["root"]) for w in confirmed
        )
        assert sum(int(log.args.eventCount) for log in logs) == len(events)
        for window in confirmed:
            block = self.w3.eth.get_block(window["block_number"])
            assert bytes(block["hash"]) == bytes(window["block_hash"])  # still canonical
        for event in events:
            window = windows[event["window_id"]]
            assert window["status"] == WindowStatus.CONFIRMED
            proof = list(split32(bytes(event["proof"])))
            assert verify_proof(bytes(window["root"]), bytes(event["event_hash"]), proof)
            assert client.anchors.functions.verifyEvent(
                bytes(window["root"]), proof, bytes(event["event_hash"])
            ).call()
        return events

    def close(self) -> None:
        if self.node is not None:
            self.node.close()
        else:
            self.store.close()
