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

from api.routes.resolve import GS1_VOC
from node.chain.deploy import join_deployment
from node.cli import app
from node.context import Node
from node.events.identifiers import PrefixKind
from node.exceptions import ConfigurationError
from node.keys.keystore import load_keystore
from tests.api.server import Server, commission
from tests.api.test_resolver import gs1_linkset
from tests.api.test_server import wait_anchored
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


# ----- GS1-Conformant resolver behaviour across nodes, and screened URLs -----


@pytest.fixture(scope="module")
def restarted(network: Network) -> Iterator[list[Server]]:
    """B's servers started again by :func:`b_running`, stopped before the network is."""
    servers: list[Server] = []
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def b_running(network: Network, restarted: list[Server]) -> Network:
    """The network with B serving: the test of B killed may have run first (then B is
    started again, on its port, as the harness started it)."""
    if network.b.process.poll() is not None:
        server = Server(
            network.dir_b,
            PASSWORD,
            *("--commit-interval", "0.2", "--monitor-interval", "0"),
            *("--public-url", network.b.url),
            port=network.b.port,
        )
        restarted.append(server)
        server.wait_ready()
        network.b = server
    return network


PIP, TRACEABILITY, RECALL = (GS1_VOC + t for t in ("pip", "traceability", "recallStatus"))


def link_type(network: Network, rel: str, identifier: str = LOT) -> httpx.Response:
    return httpx.get(
        f"{network.a.url}/v1/resolve/{quote(identifier, safe='')}",
        params={"linkType": rel},
        timeout=30,
        follow_redirects=False,
    )


def test_the_linkset_of_a_lot_of_node_b_points_to_b_and_is_gs1s_and_link_types_go_there(
    b_running: Network,
) -> None:
    network = b_running
    by_accept = resolve(network, "application/linkset+json")
    by_query = link_type(network, "all")

    for answer in (by_accept, by_query):
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/linkset+json")
        gs1_linkset(answer.json())
        links = answer.json()["linkset"][0]
        assert links["anchor"] == LOT
        for rel in (PIP, TRACEABILITY, RECALL, "alternate"):
            assert links[rel][0]["href"].startswith(network.b.url + "/"), rel
    # Verified by A: each link type is a 307 to B's link, the query string passed on.
    for rel, path in (("gs1:pip", "/?id="), ("gs1:traceability", "/v1/batches/0x")):
        moved = link_type(network, rel)
        assert moved.status_code == 307, moved.text
        assert moved.headers["location"].startswith(network.b.url + path)
        assert moved.headers["location"].endswith("linkType=" + quote(rel, safe=""))


def test_a_link_type_goes_to_another_node_only_once_its_bundle_passed_here(
    network: Network, impostor: HostileNode
) -> None:
    impostor.mode = "garbage"

    moved = link_type(network, "gs1:pip")

    # Not to the impostor: to A's own answer of what the chain proves, without the
    # linkType (it would ask again).
    assert moved.status_code == 307, moved.text
    here = f"{network.a.url}/v1/resolve/{quote(LOT, safe='')}"
    assert moved.headers["location"] == here
    assert impostor.requests == 1  # asked, judged, not sent there
    page = httpx.get(here, headers={"Accept": "text/html"}, timeout=30)
    assert "could not be verified here" in page.text
    # No bundle link where the bundle did not pass.
    assert link_type(network, "alternate").json()["code"] == "link-type-not-found"
    # The linkset still names where the lot is kept (its URL screened, nothing fetched).
    links = resolve(network, "application/linkset+json").json()["linkset"][0]
    assert links[PIP][0]["href"].startswith(impostor.url + "/?id=")
    assert impostor.requests == 3


def test_a_node_url_naming_a_metadata_address_is_never_fetched(network: Network) -> None:
    """Link-local is refused even on a development network: the root (or B's registrar)
    writes 169.254.169.254 to the chain; A answers what the chain proves, refusing it."""
    set_b_url(network, "http://169.254.169.254/latest/meta-data")
    try:
        began = time.monotonic()
        said = resolve(network).json()
        linkset = resolve(network, "application/linkset+json").json()
        html = resolve(network, "text/html")
        moved = link_type(network, "gs1:traceability")
    finally:
        set_b_url(network, network.b.url)

    assert time.monotonic() - began < 5
    assert said["verified"] is False
    assert said["remote"]["outcome"] == "refused-address"
    assert "resolves to 169.254.169.254" in said["remote"]["detail"]
    assert said["chain"]["custodian"]["name"] == "Alpine Dairy"
    gs1_linkset(linkset)
    here = f"{network.a.url}/v1/resolve/{quote(LOT, safe='')}"
    assert linkset["linkset"][0][PIP][0]["href"] == here
    assert "alternate" not in linkset["linkset"][0]
    assert html.status_code == 200
    assert 'data-outcome="refused-address"' in html.text
    assert moved.headers["location"] == here
    # The CLI refuses to write such a URL (the chain is the truth: the fetch screens it).
    refused = CliRunner().invoke(
        app,
        ["node", "set-url", "2", "http://169.254.169.254/", "--data-dir", str(network.dir_a)],
        env={"TRACENODE_PASSWORD": PASSWORD},
    )
    assert refused.exit_code == 1
    assert "node-url-refused" in refused.output


def test_a_handle_delegated_to_node_b_resolves_on_a_through_the_same_registry(
    b_running: Network,
) -> None:
    network = b_running
    registry, root, handle = network.registry, network.root, "88.777/LOT-1"
    b_admin = load_keystore(network.dir_b / "keystore" / "admin.json", PASSWORD)
    brand_id = registry.key_participant(network.brand.address)
    registry.withdraw(root, kind=PrefixKind.HANDLE, prefix="")  # A held every handle
    try:
        registry.delegate(root, registrar=b_admin.address, kind=PrefixKind.HANDLE, prefix="88.777")
        registry.license(b_admin, brand_id, kind=PrefixKind.HANDLE, prefix="88.777")
        deadline = time.monotonic() + 20
        while True:  # until B's mirror of the chain holds the licence
            answer = httpx.post(
                f"{network.b.url}/v1/events",
                json=commission(network.b.url, network.brand, handle, 2),
                headers={"Authorization": f"Bearer {network.token_b}"},
                timeout=30,
            )
            if answer.status_code == 202 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert answer.status_code == 202, answer.text
        assert wait_anchored(network.b.url, answer.json()["eventHash"])["status"] == "anchored"

        said = httpx.get(f"{network.a.url}/v1/resolve/{handle}", timeout=30).json()
        linkset = link_type(network, "linkset", handle).json()
        moved = link_type(network, "gs1:pip", handle)
    finally:
        registry.withdraw(root, kind=PrefixKind.HANDLE, prefix="88.777")
        registry.delegate(root, registrar=root.address, kind=PrefixKind.HANDLE, prefix="")

    assert said["verified"] is True, said["remote"]
    assert (said["node"]["id"], said["via"], said["prefix"]) == ("2", "licence", "88.777")
    gs1_linkset(linkset)
    assert linkset["linkset"][0][TRACEABILITY][0]["href"].startswith(network.b.url + "/")
    assert moved.status_code == 307
    assert moved.headers["location"].startswith(f"{network.b.url}/?id=")


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
