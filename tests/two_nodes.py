"""Two real nodes on one real anvil, for the tests of provenance across nodes
(tests/api/test_provenance_network.py; the network's own tests run three nodes:
tests/network.py): node A deploys (SQLite) and is the root; node B joins A's deployment
(``tracenode init --join``; its store at ``database_url_b``, else SQLite). The root
registers both nodes with the ``tracenode node`` commands, keeps GS1 range 9506 and the
handles for A and delegates GS1 range 0614 to B's registrar; B registers its brand owner
"Alpine Dairy" under 0614141. Keys are encrypted with cheap PBKDF2 (test nodes only).
Both run as ``tracenode serve`` processes; every process is stopped (killed at worst) on
the way out."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
from node.events.typed_data import Role
from node.store.apikeys import ApiKeys
from node.testing.serving import free_port
from tests.anvil import Anvil, AnvilUnavailableError, anvil_binary, start_anvil, stop_anvil
from tests.api.server import Server, commission, full_document, message_from_info
from tests.api.test_server import wait_anchored
from tests.environment import postgres_database, unavailable

PASSWORD = "network test"
#: A GTIN under B's brand owner's company prefix 0614141.
GTIN = "0061414100001" + str(gtin_check_digit("0061414100001"))


#: A GTIN under A's farm's company prefix 9506000 (:meth:`Network.farm_on_a`).
FARM_GTIN = "0950600013435" + str(gtin_check_digit("0950600013435"))


def lot(code: str, gtin: str = GTIN) -> str:
    return f"https://id.gs1.org/01/{gtin}/10/{code}"


#: How the nodes serve: commit windows every 0.2 s, no monitor.
SERVE_ARGS = ("--commit-interval", "0.2", "--monitor-interval", "0")


@dataclass
class Party:
    """A participant's key and its API key on its node; its next nonce."""

    key: LocalAccount
    token: str
    nonce: int = 0

    def post(
        self, server: Server, action: str, identifiers: tuple[str, ...] = (), **fields: Any
    ) -> str:
        """Sign ``action`` (fields of the TraceEvent, hex or decimal), submit it through
        ``server`` and wait until it is anchored; its event hash."""
        info: dict[str, Any] = httpx.get(f"{server.url}/v1/info", timeout=10).json()
        self.nonce += 1
        message = message_from_info(
            info,
            action=info["actions"][action],
            nonce=self.nonce,
            eventTime=int(time.time() * 1000),
            **fields,
        )
        signed = Account.sign_typed_data(self.key.key, full_message=full_document(info, message))
        answer = httpx.post(
            f"{server.url}/v1/events",
            json={
                "event": message,
                "signature": "0x" + signed.signature.hex(),
                "identifiers": list(identifiers),
            },
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        event_hash: str = answer.json()["eventHash"]
        assert wait_anchored(server.url, event_hash)["status"] == "anchored"
        return event_hash


@dataclass
class Network:
    anvil: Anvil
    a: Server
    b: Server
    dir_a: Path
    dir_b: Path
    b_admin: str
    brand: LocalAccount  # B's brand owner, holding 0614141
    token_b: str  # its API key on B
    registry: ParticipantRegistryClient  # on the chain, from this process
    root: LocalAccount  # A's admin key: the root authority

    def commission_on_b(self, code: str, nonce: int) -> str:
        """Commission ``lot(code)`` on B, wait until B anchored it; the lot."""
        identifier = lot(code)
        answer = httpx.post(
            f"{self.b.url}/v1/events",
            json=commission(self.b.url, self.brand, identifier, nonce),
            headers={"Authorization": f"Bearer {self.token_b}"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        assert wait_anchored(self.b.url, answer.json()["eventHash"])["status"] == "anchored"
        return identifier

    def farm_on_a(self) -> Party:
        """Node A's brand owner "Green Valley Farm" (a producer holding 9506000, in A's
        range), registered by A's registrar while both nodes serve, with an API key of A;
        B's participant mirror learns of it by its own sync."""
        return Party(*brand_owner(self.dir_a, "Green Valley Farm", "9506000"))

    def restart_a(self) -> None:
        """Node A serving again on its port (the registry names that URL), after a test
        killed it."""
        self.a = serve(self.dir_a, self.a.port)
        self.a.wait_ready()

    def restart_b(self) -> None:
        """Node B serving again on its port, after a test killed it."""
        self.b = serve(self.dir_b, self.b.port)
        self.b.wait_ready()

    def brand_on_b(self) -> Party:
        """B's brand owner (Alpine Dairy) as a :class:`Party`; its nonces start after
        :meth:`commission_on_b`'s (pass those below 1000)."""
        return Party(self.brand, self.token_b, 1000)

    def milk_to_cheese(self, farm: Party, dairy: Party, code: str) -> tuple[str, str]:
        """Milk commissioned and shipped by A's farm, received and made into cheese by
        B's dairy, every event anchored by its own node; (milk, cheese) lots."""
        milk, cheese = lot(f"MILK-{code}", FARM_GTIN), lot(f"CHEESE-{code}")
        milk_id = parse_identifier(milk).batch_id_hex
        made = farm.post(self.a, "COMMISSION", (milk,), batchId=milk_id, quantity=100)
        shipped = farm.post(
            self.a, "SHIP", batchId=milk_id, prevEventHash=made, counterparty=dairy.key.address
        )
        received = dairy.post(self.b, "RECEIVE", batchId=milk_id, prevEventHash=shipped)
        dairy.post(
            self.b,
            "TRANSFORM",
            (cheese,),
            inputs=[milk_id],
            inputPrevHashes=[received],
            outputs=[parse_identifier(cheese).batch_id_hex],
            quantity=10,
        )
        return milk, cheese


def cli(*args: str) -> str:
    """A ``tracenode`` command in this process (its keys' password given); its output."""
    answer = CliRunner().invoke(
        app, list(args), env={"TRACENODE_PASSWORD": PASSWORD, "COLUMNS": "200"}
    )
    assert answer.exit_code == 0, answer.output
    return answer.output


def brand_owner(data_dir: Path, name: str, prefix: str) -> tuple[LocalAccount, str]:
    """A producer of the node at ``data_dir`` holding ``prefix`` (in its range), registered
    by its registrar, and an API key of that node; the node's participant mirror is
    synced (every participant of the chain, the other node's too)."""
    key: LocalAccount = Account.create()
    with Node(data_dir) as node:
        pid = node.registry.register(
            node.admin(PASSWORD), key=key.address, name=name, roles=Role.PRODUCER, prefix=prefix
        )
        node.sync_participants()
        token = ApiKeys(node.store).create(participant_id=pid).token
    return key, token


def serve(data_dir: Path, port: int) -> Server:
    """``tracenode serve`` of a network's node, its public URL on loopback at ``port``."""
    url = f"http://127.0.0.1:{port}"
    return Server(data_dir, PASSWORD, *SERVE_ARGS, "--public-url", url, port=port)


@contextmanager
def postgres_network(root: Path) -> Iterator[Network]:
    """:func:`two_nodes` with B on PostgreSQL; skipped here (failing in CI) without anvil
    or PostgreSQL, as every test of them is."""
    try:
        anvil_binary()
    except AnvilUnavailableError as exc:
        unavailable(str(exc))
    with postgres_database() as postgres_url, two_nodes(root, database_url_b=postgres_url) as net:
        yield net


@contextmanager
def two_nodes(root: Path, *, database_url_b: str | None = None) -> Iterator[Network]:
    chain = start_anvil()
    servers: list[Server] = []
    try:
        dir_a, dir_b = root / "a", root / "b"
        # Both nodes serve on 127.0.0.1: a development network (docs/network.md).
        init_node(
            dir_a,
            PASSWORD,
            chain_url=chain.url,
            pbkdf2_iterations=1000,
            allow_private_peers=True,
        )
        with Node(dir_a) as node_a:
            root_key = node_a.admin(PASSWORD)
            registry = ParticipantRegistryClient(
                Web3(Web3.HTTPProvider(chain.url, request_kwargs={"timeout": 30})),
                node_a.deployment,
            )
            batch_registry = node_a.deployment.batch_registry
        b = init_node(
            dir_b,
            PASSWORD,
            chain_url=chain.url,
            database_url=database_url_b,
            join=batch_registry,
            pbkdf2_iterations=1000,
            allow_private_peers=True,
        )
        a_admin = json.loads((dir_a / "node.json").read_text())["admin_address"]
        port_a, port_b = free_port(), free_port()
        url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
        where_a = ("--data-dir", str(dir_a))
        cli("node", "register", "--registrar", a_admin, "--url", url_a, *where_a)
        cli("node", "withdraw", "gs1:", *where_a)  # A gives up the whole GS1 space ...
        cli("node", "delegate", a_admin, "gs1:9506", *where_a)  # ... but its farm's
        cli(
            "node",
            "register",
            "--registrar",
            b.admin_address,
            "--relayer",
            b.node_address,
            "--url",
            url_b,
            "--range",
            "gs1:0614",
            *where_a,
        )
        brand, token_b = brand_owner(dir_b, "Alpine Dairy", "0614141")
        a = serve(dir_a, port_a)
        servers.append(a)
        b_server = serve(dir_b, port_b)
        servers.append(b_server)
        a.wait_ready()
        b_server.wait_ready()
        network = Network(
            chain, a, b_server, dir_a, dir_b, b.admin_address, brand, token_b, registry, root_key
        )
        try:
            yield network
        finally:
            servers += [network.a, network.b]  # a test may have restarted one
        for server in servers:
            if server.process.poll() is None:
                server.stop()
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.kill()
        stop_anvil(chain.process)
