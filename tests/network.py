"""Two real nodes on one real anvil, for the network's tests and its benchmark
(docs/network.md): node A deploys (SQLite) and is the root; node B joins A's deployment
(``tracenode init --join``; its store at ``database_url_b``, else SQLite). The root
registers both nodes with the ``tracenode node`` commands, keeps GS1 range 9506 and the
handles for A and delegates GS1 range 0614 to B's registrar; B registers its brand owner
"Alpine Dairy" under 0614141. Keys are encrypted with cheap PBKDF2 (test nodes only).
Both run as ``tracenode serve`` processes; every process is stopped (killed at worst) on
the way out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner
from web3 import Web3

from node.chain.registry import ParticipantRegistryClient
from node.cli import app
from node.context import Node, init_node
from node.events.identifiers import gtin_check_digit
from node.events.typed_data import Role
from node.store.apikeys import ApiKeys
from node.testing.serving import free_port
from tests.anvil import Anvil, start_anvil, stop_anvil
from tests.api.server import Server, commission
from tests.api.test_server import wait_anchored

PASSWORD = "network test"
#: A GTIN under B's brand owner's company prefix 0614141.
GTIN = "0061414100001" + str(gtin_check_digit("0061414100001"))


def lot(code: str) -> str:
    return f"https://id.gs1.org/01/{GTIN}/10/{code}"


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


def cli(*args: str) -> str:
    """A ``tracenode`` command in this process (its keys' password given); its output."""
    answer = CliRunner().invoke(
        app, list(args), env={"TRACENODE_PASSWORD": PASSWORD, "COLUMNS": "200"}
    )
    assert answer.exit_code == 0, answer.output
    return answer.output


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
        brand: LocalAccount = Account.create()
        with Node(dir_b) as node_b:
            pid = node_b.registry.register(
                node_b.admin(PASSWORD),
                key=brand.address,
                name="Alpine Dairy",
                roles=Role.PRODUCER,
                prefix="0614141",
            )
            node_b.sync_participants()  # every participant of the chain, A's too
            token_b = ApiKeys(node_b.store).create(participant_id=pid).token
        common = ("--commit-interval", "0.2", "--monitor-interval", "0")
        a = Server(dir_a, PASSWORD, *common, "--public-url", url_a, port=port_a)
        servers.append(a)
        b_server = Server(dir_b, PASSWORD, *common, "--public-url", url_b, port=port_b)
        servers.append(b_server)
        a.wait_ready()
        b_server.wait_ready()
        yield Network(
            chain, a, b_server, dir_a, dir_b, b.admin_address, brand, token_b, registry, root_key
        )
        for server in servers:
            server.stop()
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.kill()
        stop_anvil(chain.process)
