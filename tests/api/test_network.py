"""A network of three nodes on one chain (tests/network.py, docs/network.md): a real
anvil; the root R that deploys (SQLite); node A (SQLite, the farm, range gs1:9506) and
node B (PostgreSQL, the dairy and the retailer, range gs1:0614) that join it
(``init --join``); all three real ``tracenode serve`` processes, registered, delegated
and licensed with the ``tracenode node|participant|prefix`` commands.

A lot of milk commissioned on A is shipped to B's dairy and received through B; it is
resolved from each of the three nodes, each naming the node that holds it and verifying
its bundle with its own verifier; A is killed part-way: R and B answer what the chain
proves and say A could not be reached, while B keeps accepting and anchoring events.
From A, a lot of B resolves to B's proof bundle verified by A's own verifier; a hostile
"node" in B's place (garbage, a tampered bundle, silence) is refused with the reason;
with B killed, A still answers what the chain proves and says B could not be reached.
The network is the one tests/api/test_provenance_network.py uses too
(tests/api/conftest.py): a killed node is started again, a moved URL set back, before
its test ends, whether it passes or not. Every process and every wait is bounded."""

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
from api.routes.web import PAGE_HEADERS
from node.chain.deploy import join_deployment
from node.cli import app
from node.context import Node
from node.events.identifiers import PrefixKind
from node.exceptions import ConfigurationError
from node.keys.keystore import load_keystore
from tests.api.server import Server, signed_event
from tests.api.test_resolver import gs1_linkset
from tests.api.test_server import wait_anchored
from tests.hostile_node import HostileNode, hostile_node
from tests.network import GTIN, MILK_GTIN, PASSWORD, Network, batch_id, cli, lot, milk_lot

LOT = lot("CHEESE-7")


@pytest.fixture(scope="module")
def network(three_node_network: Network) -> Network:
    """The three nodes (tests/network.py; B on PostgreSQL), and a lot commissioned on B."""
    three_node_network.commission_on_b("CHEESE-7")
    return three_node_network


def resolve(network: Network, accept: str = "application/json", **params: str) -> httpx.Response:
    """``LOT`` (B's) resolved on A."""
    return resolve_at(network.a, LOT, accept, **params)


def resolve_at(
    server: Server, identifier: str, accept: str = "application/json", **params: str
) -> httpx.Response:
    return httpx.get(
        f"{server.url}/v1/resolve/{quote(identifier, safe='')}",
        headers={"Accept": accept},
        params=params,
        timeout=30,
        follow_redirects=False,
    )


def opened(server: Server, gtin: str, code: str) -> str:
    """Where a browser opening a label's Digital Link on ``server`` is sent (a 303)."""
    page = httpx.get(
        f"{server.url}/01/{gtin}/10/{code}",
        headers={"Accept": "text/html"},
        timeout=30,
        follow_redirects=False,
    )
    assert page.status_code == 303, page.text
    return page.headers["location"]


def test_the_nodes_are_listed_with_their_ranges_from_any_node(network: Network) -> None:
    from_a = httpx.get(f"{network.a.url}/v1/nodes", timeout=10).json()

    assert [n["id"] for n in from_a] == ["1", "2", "3"]
    assert [n["url"] for n in from_a] == [s.url for s in network.servers.values()]
    assert [n["operator"] for n in from_a][1:] == [network.a_admin, network.b_admin]
    assert from_a[0]["ranges"] == [{"kind": "handle", "prefix": ""}]  # the root: handles
    assert from_a[1]["ranges"] == [{"kind": "gs1", "prefix": "9506"}]
    assert from_a[2]["ranges"] == [{"kind": "gs1", "prefix": "0614"}]
    assert [n["thisNode"] for n in from_a] == [False, True, False]
    from_root = httpx.get(f"{network.root_node.url}/v1/nodes", timeout=10).json()
    assert [n["thisNode"] for n in from_root] == [True, False, False]
    listed = json.loads(cli("node", "list", "--json", "--data-dir", str(network.dir_b)))
    assert [(n["id"], n["thisNode"]) for n in listed] == [("1", False), ("2", False), ("3", True)]
    table = cli("node", "list", "--data-dir", str(network.dir_b))
    assert "3 (this)" in table
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
    assert found["node"]["id"] == "3"
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
    assert opened(network.a, GTIN, "CHEESE-7") == f"{network.b.url}/?id={quote(LOT, safe='')}"
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
    assert [n["thisNode"] for n in from_b] == [False, False, True]

    network.b.kill()
    try:
        began = time.monotonic()
        down = resolve(network)
        took = time.monotonic() - began
        html = resolve(network, "text/html")
    finally:
        network.restart("b")

    assert took < 10
    assert down.status_code == 200, down.text
    said = down.json()
    assert said["verified"] is False
    assert said["verification"] is None
    assert said["remote"]["outcome"] == "unreachable"
    assert said["remote"]["detail"].startswith(f"node 3 ({network.b.url}): it could not be reached")
    assert said["chain"]["status"] == "ACTIVE"
    assert said["chain"]["custodian"]["name"] == "Alpine Dairy"
    assert said["chain"]["head"] == found["chain"]["head"]
    assert html.status_code == 200
    assert "could not be verified here" in html.text
    assert "ACTIVE, held by Alpine Dairy" in html.text

    assert resolve(network).json()["verified"] is True


def test_a_lot_moves_across_the_nodes_is_resolved_from_each_and_survives_a_killed_node(
    network: Network,
) -> None:
    milk, shipped = network.milk_shipped_to_b("MOVES-1")

    # In transit: A holds the milk's history. R and B follow the farm's licence to A,
    # fetch A's bundle and verify it with their own verifier; A answers from its store.
    for asking in (network.root_node, network.b):
        found = resolve_at(asking, milk).json()
        assert (found["heldHere"], found["verified"]) == (False, True), found
        assert (found["node"]["id"], found["node"]["url"]) == ("2", network.a.url)
        assert (found["via"], found["prefix"]) == ("licence", "9506000")
        assert found["chain"]["head"] == shipped
        assert found["verification"]["outcome"] == "pass"
        linkset = resolve_at(asking, milk, "application/linkset+json").json()["linkset"][0]
        assert linkset["https://gs1.org/voc/pip"][0]["href"].startswith(network.a.url + "/?id=")
    held = resolve_at(network.a, milk).json()
    assert (held["batchId"], held["head"]) == (batch_id(milk), shipped)
    assert "heldHere" not in held
    link = opened(network.root_node, MILK_GTIN, "MOVES-1")
    assert link == f"{network.a.url}/?id={quote(milk, safe='')}"

    # Received through B: B's store and the chain agree, and R now follows the custodian
    # to B, whose bundle (its history before B on another node) R verifies.
    received = network.receive_on_b(milk, shipped)
    on_b = httpx.get(f"{network.b.url}/v1/batches/{quote(milk, safe='')}", timeout=10).json()
    moved = resolve_at(network.root_node, milk).json()
    assert moved["chain"]["head"] == on_b["head"] == received
    assert moved["chain"]["custodian"]["name"] == on_b["custodian"]["name"] == "Alpine Dairy"
    assert (moved["verified"], moved["node"]["id"], moved["via"]) == (True, "3", "custodian")

    # A is killed part-way, holding a lot of its own.
    kept = network.post(
        network.a,
        network.farm,
        "COMMISSION",
        batchId=batch_id(milk_lot("MOVES-2")),
        quantity=1,
        identifiers=[milk_lot("MOVES-2")],
    )
    network.anchored(network.a, kept)
    network.a.kill()
    try:
        # B keeps accepting and anchoring: it turns the milk it holds into cheese.
        cheese, transformed = network.cheese_on_b({milk: received}, "MOVES-CHEESE-1")
        for asking in (network.root_node, network.b):
            began = time.monotonic()
            said = resolve_at(asking, milk_lot("MOVES-2")).json()
            assert time.monotonic() - began < 10
            assert (said["verified"], said["verification"]) == (False, None)
            assert said["remote"]["outcome"] == "unreachable"
            assert said["remote"]["detail"].startswith(f"node 2 ({network.a.url}): it could not")
            assert said["chain"]["head"] == kept
            assert said["chain"]["custodian"]["name"] == "Green Valley Farm"
            page = resolve_at(asking, milk_lot("MOVES-2"), "text/html")
            assert page.status_code == 200
            assert "could not be verified here" in page.text
        for asking in (network.root_node,):
            used = resolve_at(asking, milk).json()
            assert (used["verified"], used["node"]["id"]) == (True, "3")
            assert used["chain"]["status"] == "CONSUMED"
            made = resolve_at(asking, cheese).json()
            assert (made["verified"], made["node"]["id"]) == (True, "3")
            assert made["chain"]["head"] == transformed
    finally:
        network.restart("a")
    back = resolve_at(network.root_node, milk_lot("MOVES-2")).json()
    assert (back["verified"], back["node"]["id"]) == (True, "2")


def test_a_cheese_made_on_b_from_milk_of_a_is_traced_whole_from_each_of_the_three_nodes(
    network: Network,
) -> None:
    """The issue's "done when": milk commissioned on A, made into cheese on B; B's
    provenance, and R's and A's resolution of the cheese, each show the whole lineage,
    every part judged by the asking node's own verifier; A's provenance of the milk shows
    its later history on B."""
    lots = network.cheese_across_nodes("WHOLE")
    cheese, milk = lots["cheese"], lots["milk"]

    def parts(answer: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(p["batchId"], p["direction"]): p for p in answer["remoteParts"]}

    on_b = httpx.get(
        f"{network.b.url}/v1/batches/{quote(cheese, safe='')}/provenance", timeout=30
    ).json()
    assert on_b["outcome"] == "pass", on_b["failures"]
    from_a = parts(on_b)[(batch_id(milk), "earlier")]
    assert (from_a["verified"], from_a["node"]["id"]) == (True, "2")
    assert from_a["extends"] == lots["shipped"]

    for asker, this_node in ((network.root_node, False), (network.a, True)):
        said = resolve_at(asker, cheese).json()
        assert (said["verified"], said["node"]["id"]) == (True, "3"), said["remote"]
        milk_part = parts(said)[(batch_id(milk), "earlier")]
        assert milk_part["verified"] is True, milk_part["remote"]
        # A's own part: read from A's own store, never fetched from itself
        assert (milk_part["node"]["id"], milk_part["node"]["thisNode"]) == ("2", this_node)

    on_a = httpx.get(
        f"{network.a.url}/v1/batches/{quote(milk, safe='')}/provenance", timeout=30
    ).json()
    assert on_a["outcome"] != "fail", on_a["failures"]
    later = parts(on_a)[(batch_id(milk), "later")]
    assert (later["verified"], later["node"]["id"]) == (True, "3")


@pytest.fixture
def impostor(network: Network) -> Iterator[HostileNode]:
    """A hostile server where the registry says node B is, put back afterwards."""
    with network.impostor("b") as hostile:
        yield hostile


# ----- GS1-Conformant resolver behaviour across nodes, and screened URLs -----


PIP, TRACEABILITY, RECALL = (GS1_VOC + t for t in ("pip", "traceability", "recallStatus"))


def link_type(network: Network, rel: str, identifier: str = LOT) -> httpx.Response:
    return httpx.get(
        f"{network.a.url}/v1/resolve/{quote(identifier, safe='')}",
        params={"linkType": rel},
        timeout=30,
        follow_redirects=False,
    )


def test_the_linkset_of_a_lot_of_node_b_points_to_b_and_is_gs1s_and_link_types_go_there(
    network: Network,
) -> None:
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
    network.set_url("b", "http://169.254.169.254/latest/meta-data")
    try:
        began = time.monotonic()
        said = resolve(network).json()
        linkset = resolve(network, "application/linkset+json").json()
        html = resolve(network, "text/html")
        moved = link_type(network, "gs1:traceability")
    finally:
        network.set_url("b")

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
    # Another node's words in a page: the buyer page's headers (it had none).
    assert {k: html.headers.get(k) for k in PAGE_HEADERS} == PAGE_HEADERS
    assert moved.headers["location"] == here
    # The CLI refuses to write such a URL (the chain is the truth: the fetch screens it).
    refused = CliRunner().invoke(
        app,
        ["node", "set-url", "3", "http://169.254.169.254/", "--data-dir", str(network.dir_root)],
        env={"TRACENODE_PASSWORD": PASSWORD},
    )
    assert refused.exit_code == 1
    assert "node-url-refused" in refused.output


def test_a_handle_delegated_to_node_b_resolves_on_a_through_the_same_registry(
    network: Network,
) -> None:
    registry, root, handle = network.registry, network.root, "88.777/LOT-1"
    b_admin = load_keystore(network.dir_b / "keystore" / "admin.json", PASSWORD)
    brand_id = registry.key_participant(network.brand.address)
    registry.withdraw(root, kind=PrefixKind.HANDLE, prefix="")  # the root held every handle
    try:
        registry.delegate(root, registrar=b_admin.address, kind=PrefixKind.HANDLE, prefix="88.777")
        registry.license(b_admin, brand_id, kind=PrefixKind.HANDLE, prefix="88.777")
        deadline = time.monotonic() + 20
        while True:  # until B's mirror of the chain holds the licence
            network.dairy.nonce += 1
            answer = httpx.post(
                f"{network.b.url}/v1/events",
                json=signed_event(
                    network.b.url,
                    network.brand,
                    "COMMISSION",
                    nonce=network.dairy.nonce,
                    batchId=batch_id(handle),
                    quantity=1,
                    identifiers=[handle],
                ),
                headers={"Authorization": f"Bearer {network.dairy.token}"},
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
    assert (said["node"]["id"], said["via"], said["prefix"]) == ("3", "licence", "88.777")
    gs1_linkset(linkset)
    assert linkset["linkset"][0][TRACEABILITY][0]["href"].startswith(network.b.url + "/")
    assert moved.status_code == 307
    assert moved.headers["location"].startswith(f"{network.b.url}/?id=")


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
        cli("node", "set-url", "3", impostor.url, "--data-dir", str(network.dir_root))
        began = time.monotonic()
        try:
            said = resolve(network).json()
        finally:
            network.set_url("b")
    assert time.monotonic() - began < 10
    assert said["remote"]["outcome"] == "unreachable"
    assert "no answer within" in said["remote"]["detail"]
    assert said["chain"]["custodian"]["name"] == "Alpine Dairy"


def test_joining_needs_the_batch_registry_of_a_deployment(network: Network) -> None:
    w3 = network.registry.w3
    with Node(network.dir_root) as node:
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
