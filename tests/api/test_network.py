"""A network of two nodes on one chain (docs/network.md): a real anvil, node A that
deploys (SQLite) and node B that joins its deployment (``init --join``, PostgreSQL), both
real ``tracenode serve`` processes. The root (A's admin) registers both nodes with the
``tracenode node`` commands and delegates GS1 range 0614 to B's registrar; B registers
its brand owner under 0614141, which commissions a lot on B.

From A, the lot resolves to B's proof bundle verified by A's own verifier (naming B); a
hostile "node" in B's place (garbage, a tampered bundle, silence) is refused with the
reason; with B killed, A still answers what the chain proves and says B could not be
reached. Every process and every wait is bounded."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from typer.testing import CliRunner
from web3 import Web3

from node.chain.deploy import join_deployment
from node.cli import app
from node.context import Node
from node.exceptions import ConfigurationError
from tests.hostile_node import HostileNode, hostile_node
from tests.network import GTIN, PASSWORD, Network, cli, lot, postgres_network

LOT = lot("CHEESE-7")


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """Two nodes (tests/network.py), B on PostgreSQL, and a lot commissioned on B."""
    with postgres_network(tmp_path_factory.mktemp("network")) as network:
        network.commission_on_b("CHEESE-7", 1)
        yield network


def resolve(network: Network, accept: str = "application/json", **params: str) -> httpx.Response:
    return httpx.get(
        f"{network.a.url}/v1/resolve/{quote(LOT, safe='')}",
        headers={"Accept": accept},
        params=params,
        timeout=30,
        follow_redirects=False,
    )


def set_b_url(network: Network, url: str) -> None:
    """The root moves node B (its registrar could too): A reads the registry live.
    (``tracenode node set-url`` is run once, by the test of the silent node.)"""
    network.registry.set_node_url(network.root, 2, url)


def test_the_nodes_are_listed_with_their_ranges_from_either_node(network: Network) -> None:
    from_a = httpx.get(f"{network.a.url}/v1/nodes", timeout=10).json()

    assert [n["id"] for n in from_a] == ["1", "2"]
    assert from_a[1]["operator"] == network.b_admin
    assert from_a[1]["url"] == network.b.url
    assert from_a[1]["ranges"] == [{"kind": "gs1", "prefix": "0614"}]
    assert {r["prefix"] for r in from_a[0]["ranges"]} == {"", "9506"}  # handles: all
    assert [n["thisNode"] for n in from_a] == [True, False]
    listed = json.loads(cli("node", "list", "--json", "--data-dir", str(network.dir_b)))
    assert [(n["id"], n["thisNode"]) for n in listed] == [("1", False), ("2", True)]
    table = cli("node", "list", "--data-dir", str(network.dir_b))
    assert "2 (this)" in table
    assert "gs1:0614" in table


def test_a_root_command_from_another_node_is_refused_by_the_contract(network: Network) -> None:
    answer = CliRunner().invoke(
        app,
        ["node", "delegate", network.b_admin, "gs1:77", "--data-dir", str(network.dir_b)],
        env={"TRACENODE_PASSWORD": PASSWORD},
    )

    assert answer.exit_code == 1
    assert "AccessControlUnauthorizedAccount" in answer.output


def test_a_lot_of_node_b_resolves_on_node_a_verified_by_a_then_from_the_chain_when_b_dies(
    network: Network,
) -> None:
    answer = resolve(network)

    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["heldHere"] is False
    assert found["verified"] is True
    assert found["node"]["id"] == "2"
    assert found["node"]["url"] == network.b.url
    assert (found["via"], found["prefix"]) == ("licence", "0614141")
    assert found["remote"]["outcome"] == "verified"
    assert found["verification"]["outcome"] == "pass"
    assert found["chain"]["status"] == "ACTIVE"
    assert found["chain"]["custodian"]["name"] == "Alpine Dairy"
    # A's own store still holds nothing of it: the answer is B's bundle, checked by A.
    assert (
        httpx.get(f"{network.a.url}/v1/batches/{quote(LOT, safe='')}", timeout=10).status_code
        == 404
    )

    # A browser opening the label's Digital Link on A goes to B's page.
    page = httpx.get(
        f"{network.a.url}/01/{GTIN}/10/CHEESE-7",
        headers={"Accept": "text/html"},
        timeout=30,
        follow_redirects=False,
    )
    assert page.status_code == 303
    assert page.headers["location"] == f"{network.b.url}/?id={quote(LOT, safe='')}"
    # The linkset points to B's links.
    linkset = resolve(network, "application/linkset+json").json()["linkset"][0]
    assert linkset["https://gs1.org/voc/pip"][0]["href"].startswith(network.b.url + "/?id=")
    assert linkset["alternate"][0]["href"].startswith(network.b.url + "/v1/batches/0x")

    # A lot nobody holds, in B's range (0614999 is licensed to no one): A asks B, B has
    # none, the chain has none: 404. Its linkset still says where to look.
    unknown = "https://id.gs1.org/01/00614999000011/10/NOPE"
    nowhere = httpx.get(f"{network.a.url}/v1/resolve/{quote(unknown, safe='')}", timeout=30)
    assert nowhere.status_code == 404, nowhere.text
    assert nowhere.json()["code"] == "batch-not-found"
    where = httpx.get(
        f"{network.a.url}/v1/resolve/{quote(unknown, safe='')}",
        params={"linkType": "linkset"},
        timeout=30,
    ).json()["linkset"][0]
    assert where["https://gs1.org/voc/pip"][0]["href"].startswith(network.b.url + "/?id=")

    # B, while it runs, knows itself in the registry too (B is killed below, and the
    # order of this module's tests is random).
    from_b = httpx.get(f"{network.b.url}/v1/nodes", timeout=10).json()
    assert [n["thisNode"] for n in from_b] == [False, True]

    network.b.kill()
    began = time.monotonic()
    down = resolve(network)

    assert time.monotonic() - began < 10
    assert down.status_code == 200, down.text
    said = down.json()
    assert said["verified"] is False
    assert said["verification"] is None
    assert said["remote"]["outcome"] == "unreachable"
    assert said["remote"]["detail"].startswith(f"node 2 ({network.b.url}): it could not be reached")
    assert said["chain"]["status"] == "ACTIVE"
    assert said["chain"]["custodian"]["name"] == "Alpine Dairy"
    assert said["chain"]["head"] == found["chain"]["head"]
    html = resolve(network, "text/html")
    assert html.status_code == 200
    assert "could not be verified here" in html.text
    assert "ACTIVE, held by Alpine Dairy" in html.text


@pytest.fixture
def impostor(network: Network) -> Iterator[HostileNode]:
    """A hostile server where the registry says node B is, put back afterwards."""
    with hostile_node() as hostile:
        set_b_url(network, hostile.url)
        try:
            yield hostile
        finally:
            set_b_url(network, network.b.url)


def bundle_of_b(network: Network) -> dict[str, Any]:
    """B's real bundle of the lot, read from B's chain records through a fresh node handle
    when B's server is gone (or from B itself while it runs)."""
    if network.b.process.poll() is None:
        got: dict[str, Any] = httpx.get(
            f"{network.b.url}/v1/batches/{quote(LOT, safe='')}/bundle", timeout=30
        ).json()
        return got
    with Node(network.dir_b) as node:
        from node.provenance.service import ProvenanceService

        service = ProvenanceService(node.store, node.w3, node.deployment)
        exported: dict[str, Any] = service.export(service.resolve(LOT)).as_json()
        return exported


def test_a_node_answering_garbage_is_refused_with_the_reason(
    network: Network, impostor: HostileNode
) -> None:
    impostor.mode = "garbage"

    said = resolve(network).json()

    assert said["verified"] is False
    assert said["remote"]["outcome"] == "invalid-answer"
    assert "its answer is not JSON we take" in said["remote"]["detail"]
    assert said["chain"]["status"] == "ACTIVE"
    assert impostor.requests == 1


def test_a_tampered_bundle_fails_this_nodes_verifier_and_is_not_shown_as_verified(
    network: Network, impostor: HostileNode
) -> None:
    bundle = copy.deepcopy(bundle_of_b(network))
    bundle["events"][0]["event"]["quantity"] = "1000"  # the lot was commissioned as 1
    impostor.mode, impostor.body = "bundle", json.dumps(bundle).encode()

    said = resolve(network).json()
    page = resolve(network, "text/html")

    assert said["verified"] is False
    assert said["remote"]["outcome"] == "failed-verification"
    assert "event-hash" in said["remote"]["detail"]
    assert said["verification"]["outcome"] == "fail"
    assert page.status_code == 200  # shown what the chain proves, not sent to the impostor
    assert "failed this node&#x27;s verifier" in page.text


def test_a_bundle_of_another_batch_is_refused(network: Network, impostor: HostileNode) -> None:
    bundle = copy.deepcopy(bundle_of_b(network))
    bundle["subject"] = "0x" + "ab" * 32
    impostor.mode, impostor.body = "bundle", json.dumps(bundle).encode()

    said = resolve(network).json()

    assert said["verified"] is False
    assert said["remote"]["outcome"] == "invalid-answer"
    assert "answered the bundle of another batch (0xabab" in said["remote"]["detail"]


@pytest.mark.slow  # it waits out the read timeout (3 s); test_fetch.py bounds it quickly
def test_a_silent_node_is_given_up_on_within_the_bound(network: Network) -> None:
    with hostile_node() as impostor:
        impostor.mode = "slow"
        cli("node", "set-url", "2", impostor.url, "--data-dir", str(network.dir_a))
        began = time.monotonic()
        try:
            said = resolve(network).json()
        finally:
            set_b_url(network, network.b.url)
    assert time.monotonic() - began < 10
    assert said["remote"]["outcome"] == "unreachable"
    assert "no answer within" in said["remote"]["detail"]
    assert said["chain"]["custodian"]["name"] == "Alpine Dairy"


def test_joining_needs_the_batch_registry_of_a_deployment(network: Network) -> None:
    w3 = network.registry.w3
    with Node(network.dir_a) as node:
        deployment = node.deployment

    joined = join_deployment(w3, deployment.batch_registry)

    # The same registries; logs are read from the ParticipantRegistry's creation block.
    assert replace(joined, block_number=0) == replace(deployment, block_number=0)
    created = joined.block_number
    assert w3.eth.get_code(deployment.participant_registry, block_identifier=created)
    assert not w3.eth.get_code(deployment.participant_registry, block_identifier=created - 1)
    with pytest.raises(ConfigurationError, match="no contract at"):
        join_deployment(w3, Web3.to_checksum_address("0x" + "11" * 20))
    with pytest.raises(ConfigurationError, match="is not a TraceNode BatchRegistry"):
        join_deployment(w3, deployment.participant_registry)
