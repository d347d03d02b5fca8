"""Cross-node custody through two real ``tracenode serve`` processes on one anvil chain,
each with its own data directory, node key and store (node A on SQLite, node B on
PostgreSQL): a lot commissioned and shipped on A is received and shipped on through B,
every event anchored by the node that took it; a forged and a stale reception are refused
by B with the contract's reasons; both stores end as the chain says, and B's proof
bundle verifies, saying that the lot's history before B lies on another node.

Slow (two serve processes, scrypt keystores): run by scripts/crossnode.sh. The same
rules in-process, in the default suite: tests/node/ingest/test_crossnode.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.types import Wei

from node.chain.deploy import contract
from node.chain.reader import ChainReader, Contracts
from node.chain.transact import send_transaction
from node.context import Node, NodeConfig
from node.events.identifiers import parse_identifier
from node.events.typed_data import Role
from node.keys.keystore import create_keystore
from node.proofs.bundle import loads
from node.proofs.verify import ELSEWHERE, Check, Outcome, verify_bundle
from node.store.apikeys import ApiKeys
from node.store.store import Store
from node.testing.serving import producer_node
from tests.anvil import Anvil, start_anvil, stop_anvil
from tests.api.server import Server, full_document, message_from_info
from tests.api.test_server import wait_anchored
from tests.environment import postgres_database
from tests.network import Party

pytestmark = pytest.mark.slow

PASSWORD = "crossnode test"
LOT = "88.123.45/crossnode-1"


@dataclass
class Network:
    anvil: Anvil
    a: Path
    b: Path
    farm: Party  # node A's
    shop: Party  # node B's
    carrier: Party  # node B's


def join(data_dir: Path, first: Node, anvil: Anvil, database_url: str) -> None:
    """A second node's data directory on ``first``'s deployment: its own node and admin
    keys, its node key granted the node role by the deployment's admin, its own store.
    (What ``tracenode init --join`` will do; here for the test only.)"""
    node_key = create_keystore(data_dir / "keystore" / "node.json", PASSWORD)
    admin_key = create_keystore(data_dir / "keystore" / "admin.json", PASSWORD)
    w3 = first.w3
    for address in (node_key.address, admin_key.address):
        tx = w3.eth.send_transaction(
            {"from": w3.eth.accounts[0], "to": address, "value": Wei(10**21)}
        )
        w3.eth.wait_for_transaction_receipt(tx, timeout=30)
    root = first.admin(PASSWORD)
    d = first.deployment
    batches = contract(w3, "BatchRegistry", d.batch_registry)
    anchors = contract(w3, "AnchorRegistry", d.anchor_registry)
    for registry in (batches, anchors):
        role = registry.functions.NODE_ROLE().call()
        send_transaction(w3, registry.functions.grantRole(role, node_key.address), root)
    NodeConfig(
        chain_id=first.config.chain_id,
        chain_url=anvil.url,
        database_url=database_url,
        node_address=node_key.address,
        admin_address=admin_key.address,
        deployment=first.config.deployment,
    ).save(data_dir)
    Store.open(database_url).close()


def participant(first: Node, second: Path, name: str, roles: Role) -> Party:
    """A participant registered on the deployment, with an API key of node ``second``."""
    key: LocalAccount = Account.create()
    pid = first.registry.register(
        first.admin(PASSWORD), key=key.address, name=name, roles=roles, prefix=""
    )
    with Node(second) as node:
        node.sync_participants()
        token = ApiKeys(node.store).create(participant_id=pid).token
    return Party(key, token)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    anvil = start_anvil()
    tmp = tmp_path_factory.mktemp("crossnode")
    try:
        with postgres_database() as url:
            a, b = tmp / "a" / "data", tmp / "b" / "data"
            farm_key, farm_token = producer_node(a, PASSWORD, chain_url=anvil.url)
            b.mkdir(parents=True)
            with Node(a) as first:
                join(b, first, anvil, url)
                shop = participant(first, b, "shop", Role.RETAILER)
                carrier = participant(first, b, "carrier", Role.LOGISTICS)
            yield Network(anvil, a, b, Party(farm_key, farm_token), shop, carrier)
    finally:
        stop_anvil(anvil.process)


def post(
    server: Server, party: Party, action: str, identifiers: tuple[str, ...] = (), **fields: Any
) -> httpx.Response:
    info: dict[str, Any] = httpx.get(f"{server.url}/v1/info", timeout=10).json()
    party.nonce += 1
    message = message_from_info(
        info,
        action=info["actions"][action],
        batchId=parse_identifier(LOT).batch_id_hex,
        nonce=party.nonce,
        eventTime=int(time.time() * 1000),
        **fields,
    )
    signed = Account.sign_typed_data(party.key.key, full_message=full_document(info, message))
    return httpx.post(
        f"{server.url}/v1/events",
        json={
            "event": message,
            "signature": "0x" + signed.signature.hex(),
            "identifiers": list(identifiers),
        },
        headers={"Authorization": f"Bearer {party.token}"},
        timeout=30,
    )


def accepted(answer: httpx.Response) -> str:
    assert answer.status_code == 202, answer.text
    event_hash: str = answer.json()["eventHash"]
    return event_hash


def batch(server: Server) -> dict[str, Any]:
    answer = httpx.get(f"{server.url}/v1/batches/{parse_identifier(LOT).batch_id_hex}", timeout=10)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def test_a_lot_crosses_from_one_serving_node_to_another(network: Network) -> None:
    servers = [
        Server(network.a, PASSWORD, "--commit-interval", "0.2"),
        Server(network.b, PASSWORD, "--commit-interval", "0.2"),
    ]
    a, b = servers
    try:
        for server in servers:
            server.wait_ready()
        farm, shop, carrier = network.farm, network.shop, network.carrier
        made = accepted(post(a, farm, "COMMISSION", (LOT,), quantity=5))
        shipped = accepted(post(a, farm, "SHIP", prevEventHash=made, counterparty=shop.address))
        assert wait_anchored(a.url, shipped)["status"] == "anchored"

        forged = post(b, carrier, "RECEIVE", prevEventHash=shipped)
        assert forged.status_code == 409, forged.text
        assert forged.json()["code"] == "not-receiver"
        stale = post(b, shop, "RECEIVE", prevEventHash=made)
        assert stale.status_code == 409, stale.text
        assert stale.json()["code"] == "head-mismatch"

        received = accepted(post(b, shop, "RECEIVE", prevEventHash=shipped))
        onward = accepted(
            post(b, shop, "SHIP", prevEventHash=received, counterparty=carrier.address)
        )
        last = accepted(post(b, carrier, "RECEIVE", prevEventHash=onward))
        for event_hash in (received, onward, last):
            assert wait_anchored(b.url, event_hash)["status"] == "anchored"

        on_b = batch(b)
        assert (on_b["status"], on_b["head"]) == ("ACTIVE", last)
        bundle = httpx.get(f"{b.url}/v1/batches/{LOT}/bundle", timeout=30)
        assert bundle.status_code == 200, bundle.text
    finally:
        for server in servers:
            server.stop()

    with Node(network.a) as node:
        d = node.deployment
        reader = ChainReader(
            node.w3, Contracts(d.participant_registry, d.batch_registry, d.anchor_registry)
        )
        chain = reader.batch(parse_identifier(LOT).batch_id)
        assert "0x" + chain.head.hex() == last
        report = verify_bundle(loads(bundle.text), reader)
    assert report.outcome is Outcome.PASS, report.failures()
    first = {c.check: c for c in report.events[0].checks}
    assert first[Check.HASH_CHAIN].outcome is Outcome.SKIPPED
    assert first[Check.HASH_CHAIN].detail.startswith(ELSEWHERE)
    with Node(network.b) as node, node.store.read() as conn:
        state = node.store.batches.get(conn, parse_identifier(LOT).batch_id)
    assert state is not None
    assert (state.custodian_id, state.status, state.head) == (
        chain.custodian_id,
        chain.status,
        chain.head,
    )
