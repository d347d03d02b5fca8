"""A node's data directory and the running parts it opens: chain, store, services.

    DATA_DIR/
      node.json            what this node is: chain, contract addresses, node and admin keys
      keystore/node.json   the node key (relays, anchors) — encrypted
      keystore/admin.json  the registrar key (participants) — encrypted
      keystore/participants/*.json  participant keys made by `participant add --create-key`
      chain/               the embedded chain (when no chain URL is configured)
      tracenode.sqlite3    the store (when no database URL is configured)

The chain and database defaults can be overridden per run by TRACENODE_CHAIN_URL and
TRACENODE_DATABASE_URL (or the CLI options that set them).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.types import Wei

from node.chain.commits import CommitClient
from node.chain.deploy import Deployment, deploy_contracts, join_deployment
from node.chain.embedded import EmbeddedChain, FollowedChain, open_embedded_chain
from node.chain.reader import Contracts
from node.chain.registry import ParticipantRegistryClient
from node.commit.custody import CustodyMode
from node.events.signatures import SignatureVerifier
from node.events.typed_data import Domain
from node.exceptions import ConfigurationError
from node.ingest.chain_view import ChainView
from node.ingest.event_time import EventTimeWindow
from node.ingest.service import IngestService
from node.keys.keystore import create_keystore, load_keystore
from node.network.addresses import AddressPolicy
from node.participants.sync import sync_participants
from node.runtime import Progress, quiet
from node.store.engine import sqlite_url
from node.store.store import Store

CONFIG_VERSION: Final = 1
CHAIN_URL_ENV: Final = "TRACENODE_CHAIN_URL"
DATABASE_URL_ENV: Final = "TRACENODE_DATABASE_URL"
FUNDING_WEI: Final = 1000 * 10**18
#: Processes recovering signers in a node (``tracenode serve``'s, and so ``tracenode
#: bench``'s): one a core, the ingesting process taking the first share itself
#: (node.events.signatures); a batch of fewer than 256 signatures stays in that process.
RECOVERY_WORKERS: Final = os.cpu_count() or 1


@dataclass(frozen=True)
class NodeConfig:
    """The contents of ``node.json``."""

    chain_id: int
    chain_url: str | None
    database_url: str | None
    node_address: str
    admin_address: str
    deployment: dict[str, Any]
    version: int = CONFIG_VERSION
    #: Whether other nodes of the network may be at private and loopback addresses (a
    #: development network, the tests); link-local and reserved ones are refused anyway
    #: (docs/network.md, "What is screened").
    allow_private_peers: bool = False
    #: How lifecycle events are held to the custody rules on-chain (node.commit.custody):
    #: executed one by one ("enforced"), or anchored per window, challengeable
    #: ("anchor-only"). Chosen at init, never changed: windows of both kinds would mix.
    custody: str = CustodyMode.ENFORCED.value

    @classmethod
    def load(cls, data_dir: Path) -> NodeConfig:
        path = data_dir / "node.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigurationError(
                f"{data_dir} is not a TraceNode data directory (run `tracenode init`)"
            ) from None
        if data.get("version") != CONFIG_VERSION:
            raise ConfigurationError(f"{path} has unsupported version {data.get('version')}")
        config = cls(**data)
        CustodyMode.parse(config.custody)  # a bad setting fails before anything opens
        return config

    @property
    def custody_mode(self) -> CustodyMode:
        return CustodyMode.parse(self.custody)

    def save(self, data_dir: Path) -> None:
        data = asdict(self)
        if data["custody"] == CustodyMode.ENFORCED:
            del data["custody"]  # the default: node.json stays as it was before the modes
        (data_dir / "node.json").write_text(json.dumps(data, indent=2) + "\n")


def init_node(
    data_dir: Path,
    password: str,
    *,
    chain_url: str | None = None,
    database_url: str | None = None,
    pbkdf2_iterations: int | None = None,
    progress: Progress = quiet,
    join: str | None = None,
    allow_private_peers: bool = False,
    custody: CustodyMode = CustodyMode.ENFORCED,
) -> NodeConfig:
    """Create a data directory: keys, the contracts deployed, the store migrated.

    ``join``: the address of another node's BatchRegistry on ``chain_url``: this node joins
    that deployment instead of deploying (docs/network.md); the root authority then
    registers it (``tracenode node register``) before its registrar and key may act.

    ``allow_private_peers``: other nodes may be at private and loopback addresses (a
    development network); ``tracenode serve`` may override it per run.

    ``custody``: the custody mode (node.commit.custody), kept for the node's life.

    ``pbkdf2_iterations`` trades the key files' scrypt for cheap PBKDF2: test nodes only.

    On the embedded chain (and on any chain with unlocked development accounts, such as
    anvil) the node and admin keys are funded from the first development account.
    """
    if (data_dir / "node.json").exists():
        raise ConfigurationError(f"{data_dir} is already initialised")
    if join is not None and chain_url is None:
        raise ConfigurationError(
            "--join needs --chain-url: the embedded chain is one node's own, nobody can join it"
        )
    if join is not None and custody is CustodyMode.ANCHOR_ONLY:
        raise ConfigurationError(
            "--custody anchor-only is one node's deployment: a node that joins judges lots "
            "shipped across nodes on BatchRegistry's record, which anchor-only windows leave "
            "empty (docs/operations.md, 'Choosing the custody mode')"
        )
    joined = None if join is None else _join_address(join)
    data_dir.mkdir(parents=True, exist_ok=True)
    progress("creating the node and admin keys (encrypted)")
    node_key = create_keystore(
        data_dir / "keystore" / "node.json", password, pbkdf2_iterations=pbkdf2_iterations
    )
    admin_key = create_keystore(
        data_dir / "keystore" / "admin.json", password, pbkdf2_iterations=pbkdf2_iterations
    )
    progress("deploying the contracts" if joined is None else f"joining the deployment {joined}")
    chain = _open_chain(data_dir, chain_url)
    try:
        w3 = chain if isinstance(chain, Web3) else chain.w3
        _fund(w3, [node_key.address, admin_key.address])
        if joined is None:
            deployment = deploy_contracts(
                w3,
                admin=admin_key,
                node=node_key.address,
                challenge=custody is CustodyMode.ANCHOR_ONLY,
            )
        else:
            deployment = join_deployment(w3, joined)
        config = NodeConfig(
            chain_id=deployment.chain_id,
            chain_url=chain_url,
            database_url=database_url,
            node_address=node_key.address,
            admin_address=admin_key.address,
            deployment=deployment.as_json(),
            allow_private_peers=allow_private_peers,
            custody=custody.value,
        )
    finally:
        if isinstance(chain, EmbeddedChain):
            chain.close()
    progress("preparing the store")
    Store.open(database_url or sqlite_url(data_dir)).close()
    config.save(data_dir)
    return config


class Node:
    """The parts of a node, opened from its data directory."""

    def __init__(
        self,
        data_dir: Path,
        *,
        chain_url: str | None = None,
        database_url: str | None = None,
        workers: int = RECOVERY_WORKERS,
        allow_private_peers: bool | None = None,
        follow_chain: bool = False,
        chain_in_memory: bool = False,
    ) -> None:
        """``follow_chain``: on the embedded chain, read it as another process (its owner:
        ``tracenode serve``'s commit process) writes it, instead of opening it
        (``FollowedChain``: the owner sends this node's transactions, see
        :attr:`followed_chain`). ``chain_in_memory``: copy the embedded chain into memory
        and run there, never writing the file (the bench's comparison). No effect on an
        external chain."""
        self.data_dir = data_dir
        self.config = NodeConfig.load(data_dir)
        allow = (
            self.config.allow_private_peers if allow_private_peers is None else allow_private_peers
        )
        #: What other nodes' URLs may resolve to (node/network/addresses.py): the data
        #: directory's setting, or this run's (``serve --allow-private-peers``).
        self.peer_addresses = AddressPolicy(allow_private=allow)
        event_times = EventTimeWindow.from_env()  # a bad setting fails before anything opens
        chain_url = chain_url or os.environ.get(CHAIN_URL_ENV) or self.config.chain_url
        database_url = database_url or os.environ.get(DATABASE_URL_ENV) or self.config.database_url
        #: Where the chain and the store are, as resolved for this run (None: the
        #: embedded chain; the SQLite file in the data directory).
        self.chain_url = chain_url
        self.database_url = database_url
        self._chain = _open_chain(
            data_dir, chain_url, follow=follow_chain, in_memory=chain_in_memory
        )
        self.w3: Web3 = self._chain if isinstance(self._chain, Web3) else self._chain.w3
        if self.w3.eth.chain_id != self.config.chain_id:
            self.close()
            raise ConfigurationError(
                f"the chain has id {self.w3.eth.chain_id}, this node was made for "
                f"{self.config.chain_id}"
            )
        self.deployment = Deployment(**self.config.deployment)
        self.domain = Domain(
            self.deployment.chain_id, bytes.fromhex(self.deployment.batch_registry[2:])
        )
        self.store = Store.open(database_url or sqlite_url(data_dir))
        self.registry = ParticipantRegistryClient(self.w3, self.deployment)
        self.verifier = SignatureVerifier(workers=workers)
        #: The custody mode chosen at init (node.commit.custody).
        self.custody = self.config.custody_mode
        d = self.deployment
        # Batches another node's participants moved are judged on the chain's record
        # (docs/events.md, "Cross-node custody"); an anchor-only node's batches have none
        # in BatchRegistry, so there the store's view is the whole truth.
        chain = ChainView(
            self.w3, Contracts(d.participant_registry, d.batch_registry, d.anchor_registry)
        )
        self.ingest = IngestService(
            store=self.store,
            domain=self.domain,
            verifier=self.verifier,
            event_times=event_times,
            chain=chain if self.custody is CustodyMode.ENFORCED else None,
            open_policy=chain.open_identifiers,
        )

    def commit_client(self) -> CommitClient:
        """The commit worker's chain client, in this node's custody mode."""
        return CommitClient(self.w3, self.deployment, custody=self.custody)

    def sync_participants(self) -> int:
        """Bring the participant mirror up to the chain's head."""
        return sync_participants(
            store=self.store,
            source=self.registry,
            head=self.w3.eth.block_number,
            first_block=self.deployment.block_number,
        )

    @property
    def chain_path(self) -> Path | None:
        """Where the embedded chain is stored; None on an external chain."""
        return None if isinstance(self._chain, Web3) else self._chain.path

    @property
    def followed_chain(self) -> FollowedChain | None:
        """The embedded chain this node follows (``follow_chain``), else None."""
        return self._chain if isinstance(self._chain, FollowedChain) else None

    def admin(self, password: str) -> LocalAccount:
        return load_keystore(self.data_dir / "keystore" / "admin.json", password)

    def node_key(self, password: str) -> LocalAccount:
        return load_keystore(self.data_dir / "keystore" / "node.json", password)

    def close(self) -> None:
        if hasattr(self, "verifier"):
            self.verifier.close()
        if hasattr(self, "store"):
            self.store.close()
        if hasattr(self, "_chain") and not isinstance(self._chain, Web3):
            self._chain.close()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_chain(
    data_dir: Path, chain_url: str | None, *, follow: bool = False, in_memory: bool = False
) -> EmbeddedChain | FollowedChain | Web3:
    if chain_url is None:
        if follow:
            return FollowedChain(data_dir / "chain")
        return open_embedded_chain(data_dir / "chain", in_memory=in_memory)
    w3 = Web3(Web3.HTTPProvider(chain_url, request_kwargs={"timeout": 30}))
    if not w3.is_connected():
        raise ConfigurationError(f"no EVM JSON-RPC node answers at {chain_url}")
    return w3


def _join_address(text: str) -> ChecksumAddress:
    if not Web3.is_address(text):
        raise ConfigurationError(
            f"--join wants a BatchRegistry address (0x + 40 hex), not {text[:60]!r}"
        )
    return Web3.to_checksum_address(text)


def _fund(w3: Web3, addresses: list[ChecksumAddress]) -> None:
    accounts = list(w3.eth.accounts)
    if not accounts:
        return  # a production chain: the operator funds the keys
    for address in addresses:
        if w3.eth.get_balance(address) < FUNDING_WEI // 10:
            tx = w3.eth.send_transaction(
                {"from": accounts[0], "to": address, "value": Wei(FUNDING_WEI)}
            )
            w3.eth.wait_for_transaction_receipt(tx)
