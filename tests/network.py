"""Three real nodes on one real anvil, for the network's tests and its benchmark
(docs/network.md, "The three-node test"):

- **R**, the root: deploys (SQLite), its admin key is the deployment's admin. It keeps
  the handle space and holds no brand owner.
- **A** joins (``tracenode init --join``, SQLite): range ``gs1:9506``; the farm "Green
  Valley Farm" licensed ``9506000`` (its milk).
- **B** joins (its store at ``database_url_b``, else SQLite): range ``gs1:0614``; the
  dairy "Alpine Dairy" licensed ``0614141`` (producer and processor: its cheese) and the
  retailer "Corner Grocer".

The split is the issue's "cheese made on node B from milk commissioned on node A": the
milk is commissioned on A and shipped by A's farm to B's dairy, received through B, and
transformed into cheese on B (:meth:`Network.cheese_across_nodes`), so a lot crosses
nodes and a lineage spans two of them, resolvable from all three.

The root registers the nodes and delegates their ranges with ``tracenode node``; each
node's registrar registers its participants (``tracenode participant add``) and
licenses their prefixes (``tracenode prefix license``). Keys are encrypted with cheap
PBKDF2 (test nodes only). All three run as ``tracenode serve`` processes; a node killed
by a test is started again by :meth:`Network.restart`, a node's URL a test moved (to a
:meth:`Network.impostor`, say) is set back by :meth:`Network.set_url`; every process is
stopped (killed at worst) on the way out.

The tests run one such network, B on PostgreSQL (:func:`postgres_three_nodes`), for every
module that uses it (tests/api/conftest.py, ``three_node_network``): each test leaves
it as it found it, but for what it adds."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner
from web3 import Web3

from node.chain.registry import ParticipantRegistryClient
from node.cli import app
from node.context import Node, init_node
from node.events.identifiers import gtin_check_digit, parse_identifier
from node.store.apikeys import ApiKeys
from node.testing.serving import free_port
from tests.anvil import Anvil, AnvilUnavailableError, anvil_binary, start_anvil, stop_anvil
from tests.api.server import Server, signed_event
from tests.api.test_server import wait_anchored
from tests.environment import postgres_database, unavailable
from tests.hostile_node import HostileNode, hostile_node

PASSWORD = "network test"


def _gtin(stem: str) -> str:
    return stem + str(gtin_check_digit(stem))


#: A GTIN under B's dairy's company prefix 0614141 (its cheese).
GTIN = _gtin("0061414100001")
#: A GTIN under A's farm's company prefix 9506000 (its milk).
MILK_GTIN = _gtin("0950600013435")


def lot(code: str) -> str:
    """A lot of B's dairy's GTIN."""
    return f"https://id.gs1.org/01/{GTIN}/10/{code}"


def milk_lot(code: str) -> str:
    """A lot of A's farm's GTIN."""
    return f"https://id.gs1.org/01/{MILK_GTIN}/10/{code}"


def batch_id(identifier: str) -> str:
    return parse_identifier(identifier).batch_id_hex


#: The nodes' ids in the node registry (the order the root registers them in).
NODE_IDS = {"root": 1, "a": 2, "b": 3}


@dataclass
class Party:
    """A participant of one node: its key, its API key on that node, its last nonce."""

    key: LocalAccount
    token: str
    nonce: int = 0

    @property
    def address(self) -> str:
        return str(self.key.address)


@dataclass
class Network:
    anvil: Anvil
    root_node: Server  # R
    a: Server
    b: Server
    dir_root: Path
    dir_a: Path
    dir_b: Path
    a_admin: str
    b_admin: str
    farm: Party  # A's, licensed 9506000
    dairy: Party  # B's, licensed 0614141
    shop: Party  # B's retailer
    registry: ParticipantRegistryClient  # on the chain, from this process
    root: LocalAccount  # R's admin key: the root authority
    _serve_args: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def brand(self) -> LocalAccount:
        """B's brand owner (the dairy), holding 0614141."""
        return self.dairy.key

    @property
    def servers(self) -> dict[str, Server]:
        return {"root": self.root_node, "a": self.a, "b": self.b}

    @property
    def dirs(self) -> dict[str, Path]:
        return {"root": self.dir_root, "a": self.dir_a, "b": self.dir_b}

    def post(self, server: Server, party: Party, action: str, **fields: Any) -> str:
        """``party`` signs ``action`` and submits it to ``server``; its event hash (202)."""
        party.nonce += 1
        answer = httpx.post(
            f"{server.url}/v1/events",
            json=signed_event(server.url, party.key, action, nonce=party.nonce, **fields),
            headers={"Authorization": f"Bearer {party.token}"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        event_hash: str = answer.json()["eventHash"]
        return event_hash

    def anchored(self, server: Server, event_hash: str) -> str:
        """Wait (bounded) until ``server`` anchored the event; the hash."""
        assert wait_anchored(server.url, event_hash)["status"] == "anchored"
        return event_hash

    def commission_on_b(self, code: str) -> str:
        """B's dairy commissions ``lot(code)`` on B; the lot once B anchored it."""
        identifier = lot(code)
        self.anchored(
            self.b,
            self.post(
                self.b,
                self.dairy,
                "COMMISSION",
                batchId=batch_id(identifier),
                quantity=1,
                identifiers=[identifier],
            ),
        )
        return identifier

    def milk_shipped_to_b(self, code: str) -> tuple[str, str]:
        """A's farm commissions ``milk_lot(code)`` on A and ships it to B's dairy; the lot
        and the SHIP's hash once A anchored both."""
        identifier = milk_lot(code)
        made = self.post(
            self.a,
            self.farm,
            "COMMISSION",
            batchId=batch_id(identifier),
            quantity=1200,
            identifiers=[identifier],
        )
        shipped = self.post(
            self.a,
            self.farm,
            "SHIP",
            batchId=batch_id(identifier),
            prevEventHash=made,
            counterparty=self.dairy.address,
        )
        self.anchored(self.a, shipped)
        return identifier, shipped

    def receive_on_b(self, identifier: str, shipped: str) -> str:
        """B's dairy receives the lot A shipped to it, through B; the RECEIVE once B
        anchored it."""
        received = self.post(
            self.b, self.dairy, "RECEIVE", batchId=batch_id(identifier), prevEventHash=shipped
        )
        return self.anchored(self.b, received)

    def cheese_on_b(self, milk: dict[str, str], code: str) -> tuple[str, str]:
        """B's dairy turns the milk it holds (lot -> its head on B) into ``lot(code)``;
        the cheese and the TRANSFORM once B anchored it."""
        cheese = lot(code)
        transformed = self.post(
            self.b,
            self.dairy,
            "TRANSFORM",
            inputs=[batch_id(m) for m in milk],
            inputPrevHashes=list(milk.values()),
            outputs=[batch_id(cheese)],
            quantity=240,
            identifiers=[cheese],
        )
        return cheese, self.anchored(self.b, transformed)

    def cheese_across_nodes(self, code: str) -> dict[str, str]:
        """Milk commissioned on A → shipped to B → received through B → TRANSFORMed to
        cheese on B, each step anchored by the node that took it: the lots and hashes."""
        milk, shipped = self.milk_shipped_to_b(f"MILK-{code}")
        received = self.receive_on_b(milk, shipped)
        cheese, transformed = self.cheese_on_b({milk: received}, f"CHEESE-{code}")
        return {
            "milk": milk,
            "shipped": shipped,
            "received": received,
            "cheese": cheese,
            "transformed": transformed,
        }

    def set_url(self, which: str, url: str | None = None) -> None:
        """The root moves node ``which`` to ``url`` in the registry (its registrar could
        too; every node reads the registry live), or back to where it serves. Each move is
        a transaction: a new block, so no node's cache of verified parts is used after it."""
        url = self.servers[which].url if url is None else url
        self.registry.set_node_url(self.root, NODE_IDS[which], url)

    @contextmanager
    def impostor(self, which: str) -> Iterator[HostileNode]:
        """A hostile server where the registry says node ``which`` is, put back afterwards."""
        with hostile_node() as hostile:
            self.set_url(which, hostile.url)
            try:
                yield hostile
            finally:
                self.set_url(which)

    def party(self, which: str, name: str, roles: str, prefix: str) -> Party:
        """A new participant of node ``which`` (``tracenode participant add``, licensed
        ``prefix`` if given) with an API key of that node, while it serves."""
        key, pid = participant(self.dirs[which], name, roles, prefix)
        return Party(key, _token(self.dirs[which], pid))

    def restart(self, which: str) -> Server:
        """Start node ``which`` ("root", "a", "b") again after a test killed it, on the
        same port and data directory."""
        old = self.servers[which]
        assert old.process.poll() is not None, f"node {which} is still running"
        server = Server(self.dirs[which], PASSWORD, *self._serve_args[which], port=old.port)
        setattr(self, {"root": "root_node"}.get(which, which), server)
        server.wait_ready()
        return server


def cli(*args: str) -> str:
    """A ``tracenode`` command in this process (its keys' password given); its output."""
    answer = CliRunner().invoke(
        app, list(args), env={"TRACENODE_PASSWORD": PASSWORD, "COLUMNS": "200"}
    )
    assert answer.exit_code == 0, answer.output
    return answer.output


def participant(data_dir: Path, name: str, roles: str, prefix: str) -> tuple[LocalAccount, int]:
    """A participant registered by ``data_dir``'s registrar and licensed ``prefix`` with
    the ``tracenode`` commands: its key and id."""
    key: LocalAccount = Account.create()
    where = ("--data-dir", str(data_dir))
    said = cli("participant", "add", name, "--roles", roles, "--key", key.address, *where)
    found = re.search(r"registered participant (\d+)", said)
    assert found, said
    pid = int(found.group(1))
    if prefix:
        cli("prefix", "license", str(pid), prefix, *where)
    return key, pid


def _token(data_dir: Path, pid: int | None) -> str:
    """The node's mirror synced with every participant of the chain (the other nodes'
    too); an API key of participant ``pid`` on it, if given."""
    with Node(data_dir) as node:
        node.sync_participants()
        return "" if pid is None else ApiKeys(node.store).create(participant_id=pid).token


@contextmanager
def postgres_three_nodes(root: Path) -> Iterator[Network]:
    """:func:`three_nodes` with B on PostgreSQL, as the tests run it; skipped here (failing
    in CI) without anvil or PostgreSQL, as every test of them is."""
    try:
        anvil_binary()
    except AnvilUnavailableError as exc:
        unavailable(str(exc))
    with postgres_database() as postgres_url, three_nodes(root, database_url_b=postgres_url) as net:
        yield net


@contextmanager
def three_nodes(root: Path, *, database_url_b: str | None = None) -> Iterator[Network]:
    chain = start_anvil()
    servers: list[Server] = []
    network: Network | None = None
    try:
        dir_r, dir_a, dir_b = root / "root", root / "a", root / "b"
        init_node(
            dir_r,
            PASSWORD,
            chain_url=chain.url,
            pbkdf2_iterations=1000,
            allow_private_peers=True,  # the nodes serve on 127.0.0.1 (docs/network.md)
        )
        with Node(dir_r) as node_r:
            root_key = node_r.admin(PASSWORD)
            registry = ParticipantRegistryClient(
                Web3(Web3.HTTPProvider(chain.url, request_kwargs={"timeout": 30})),
                node_r.deployment,
            )
            batch_registry = node_r.deployment.batch_registry
        joined = {
            name: init_node(
                where,
                PASSWORD,
                chain_url=chain.url,
                database_url=url,
                join=batch_registry,
                pbkdf2_iterations=1000,
                allow_private_peers=True,
            )
            for name, where, url in (("a", dir_a, None), ("b", dir_b, database_url_b))
        }
        r_admin = json.loads((dir_r / "node.json").read_text())["admin_address"]
        ports = {name: free_port() for name in ("root", "a", "b")}
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        at_root = ("--data-dir", str(dir_r))
        cli("node", "register", "--registrar", r_admin, "--url", urls["root"], *at_root)
        cli("node", "withdraw", "gs1:", *at_root)  # the root keeps the handles only
        for name, gs1 in (("a", "gs1:9506"), ("b", "gs1:0614")):
            config = joined[name]
            cli(
                "node",
                "register",
                "--registrar",
                config.admin_address,
                "--relayer",
                config.node_address,
                "--url",
                urls[name],
                "--range",
                gs1,
                *at_root,
            )
        farm, farm_id = participant(dir_a, "Green Valley Farm", "producer", "9506000")
        dairy, dairy_id = participant(dir_b, "Alpine Dairy", "producer,processor", "0614141")
        shop, shop_id = participant(dir_b, "Corner Grocer", "retailer", "")
        parties = (
            Party(farm, _token(dir_a, farm_id)),
            Party(dairy, _token(dir_b, dairy_id)),
            Party(shop, _token(dir_b, shop_id)),
        )
        _token(dir_r, None)
        common = ("--commit-interval", "0.2", "--monitor-interval", "0")
        serve_args: dict[str, tuple[str, ...]] = {
            name: (*common, "--public-url", urls[name]) for name in ports
        }
        dirs = {"root": dir_r, "a": dir_a, "b": dir_b}
        for name in ("root", "a", "b"):
            servers.append(Server(dirs[name], PASSWORD, *serve_args[name], port=ports[name]))
        for server in servers:
            server.wait_ready()
        root_server, a_server, b_server = servers
        network = Network(
            chain,
            root_server,
            a_server,
            b_server,
            dir_r,
            dir_a,
            dir_b,
            joined["a"].admin_address,
            joined["b"].admin_address,
            *parties,
            registry,
            root_key,
            serve_args,
        )
        yield network
    finally:
        live = list(network.servers.values()) if network is not None else servers
        for server in live:  # all told at once, then each waited for
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
        for server in live:
            server.stop()
        for server in {*servers, *live}:
            if server.process.poll() is None:
                server.kill()
        stop_anvil(chain.process)
