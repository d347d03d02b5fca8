"""Provenance across nodes (docs/network.md): a real anvil, node A (SQLite, the root) and
node B (PostgreSQL), both real ``tracenode serve`` processes (tests/network.py). Milk is
commissioned on A by its farm (brand owner of 9506000) and shipped to B's dairy, which
receives it through B and makes cheese of it on B.

B's provenance of the cheese holds B's events only; the milk's earlier part is fetched
from A (found on-chain), verified by B's own verifier and shown beside B's own part, with
its brand owner, on the JSON and on B's page in headless Chromium. A hostile "A" (a
tampered bundle, a bundle that stops short) is never shown as verified; with A killed, B
still answers its own part verified and what the chain proves of the milk, saying that A
could not be reached, within the bound. Every process and every wait is bounded."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from eth_utils.address import to_checksum_address

from node.context import Node
from node.events.identifiers import parse_identifier
from node.events.typed_data import BatchStatus
from node.network.lineage import remote_parts
from node.network.resolution import RemoteOutcome
from node.provenance.service import ProvenanceService
from tests.hostile_node import HostileNode, hostile_node
from tests.two_nodes import Network, cli, postgres_network
from tests.web.conftest import Browser, open_browser


@dataclass
class Lineage:
    network: Network
    milk: str
    cheese: str
    shipped: str  # the farm's SHIP on A: where A's part of the milk ends
    received: str  # the dairy's RECEIVE on B: where B's part of it starts


@pytest.fixture(scope="module")
def lineage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lineage]:
    with postgres_network(tmp_path_factory.mktemp("lineage")) as network:
        farm, dairy = network.farm_on_a(), network.brand_on_b()
        milk, cheese = network.milk_to_cheese(farm, dairy, "1")
        on_a, on_b = (
            httpx.get(f"{server.url}/v1/batches/{quote(milk, safe='')}/bundle", timeout=10).json()
            for server in (network.a, network.b)
        )
        shipped, received = on_a["events"][-1], on_b["events"][0]
        assert (shipped["event"]["action"], received["event"]["action"]) == (3, 4)
        yield Lineage(network, milk, cheese, shipped["eventHash"], received["eventHash"])


def provenance(lineage: Lineage) -> dict[str, Any]:
    answer = httpx.get(
        f"{lineage.network.b.url}/v1/batches/{quote(lineage.cheese, safe='')}/provenance",
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def checks(report: dict[str, Any], batch_id: str) -> dict[str, dict[str, str]]:
    (batch,) = [b for b in report["batches"] if b["batchId"] == batch_id]
    return {c["check"]: c for c in batch["checks"]}


def set_a_url(network: Network, url: str) -> None:
    network.registry.set_node_url(network.root, 1, url)


def test_the_cheese_on_b_shows_the_milk_from_a_verified_by_b(lineage: Lineage) -> None:
    network = lineage.network
    milk_id = parse_identifier(lineage.milk).batch_id_hex

    said = provenance(lineage)

    assert said["outcome"] == "pass", said["failures"]  # B's own part, as before
    own = {b["batchId"]: b for b in said["batches"]}
    assert own[milk_id]["elsewhereAt"] is not None
    (part,) = said["remoteParts"]
    assert part["batchId"] == milk_id
    assert part["identifier"] == lineage.milk
    assert part["verified"] is True
    assert part["remote"]["outcome"] == "verified"
    assert (part["node"]["id"], part["node"]["url"]) == ("1", network.a.url)
    assert part["node"]["thisNode"] is False
    # B's store never saw the milk's identifier: A is found through the milk's producer
    # on-chain; the identifier is A's bundle's, which names the batch (checked on reading).
    assert (part["via"], part["prefix"]) == ("producer", None)
    assert (part["extends"], part["continuedBy"]) == (lineage.shipped, lineage.received)
    assert (part["under"], part["depth"]) == (None, 1)
    report = part["verification"]
    assert report["outcome"] == "pass", report["failures"]
    assert [e["action"] for e in report["events"]] == ["COMMISSION", "SHIP"]
    judged = checks(report, milk_id)
    assert judged["licence"]["detail"].startswith(
        f"GTIN {lineage.milk.split('/')[4]}: prefix 9506000, licensed to Green Valley Farm "
        "since block "
    )
    assert judged["custody"]["detail"].startswith(f"ends at {lineage.shipped}")
    # What the chain proves of the milk now: consumed into the cheese, by B's dairy.
    assert part["chain"]["status"] == "CONSUMED"
    assert part["chain"]["custodian"]["name"] == "Alpine Dairy"

    # The page's overview carries the same parts.
    overview = httpx.get(
        f"{network.b.url}/v1/batches/{quote(lineage.cheese, safe='')}/overview", timeout=30
    ).json()
    assert [p["verified"] for p in overview["provenance"]["remoteParts"]] == [True]
    # The CLI shows the same part, from the same verifier.
    shown = cli("provenance", lineage.cheese, "--data-dir", str(network.dir_b))
    assert "Earlier history of " in shown  # the table's title (wrapped to the width)
    assert f"verified by this node, ending at {lineage.shipped}" in shown
    # A lot with no earlier history elsewhere asks no other node. (A's own report of the
    # milk says its chain moved on past A's bundle: its later history is B's.)
    on_a = httpx.get(
        f"{network.a.url}/v1/batches/{quote(lineage.milk, safe='')}/provenance", timeout=30
    ).json()
    assert on_a["remoteParts"] == []


@pytest.fixture
def impostor(lineage: Lineage) -> Iterator[HostileNode]:
    """A hostile server where the registry says node A is, put back afterwards. (Each
    move is a transaction: a new block, so B's cache of verified parts is not used.)"""
    with hostile_node() as hostile:
        set_a_url(lineage.network, hostile.url)
        try:
            yield hostile
        finally:
            set_a_url(lineage.network, lineage.network.a.url)


def bundle_of_a(lineage: Lineage) -> dict[str, Any]:
    got: dict[str, Any] = httpx.get(
        f"{lineage.network.a.url}/v1/batches/{quote(lineage.milk, safe='')}/bundle", timeout=30
    ).json()
    return got


def test_a_tampered_or_short_part_from_a_is_never_shown_as_verified(
    lineage: Lineage, impostor: HostileNode
) -> None:
    real = bundle_of_a(lineage)
    tampered = copy.deepcopy(real)
    tampered["events"][0]["event"]["quantity"] = "100000"  # the milk was 100
    impostor.mode, impostor.body = "bundle", json.dumps(tampered).encode()

    said = provenance(lineage)

    assert said["outcome"] == "pass"  # B's own part stays verified
    (part,) = said["remoteParts"]
    assert part["verified"] is False
    assert part["remote"]["outcome"] == "failed-verification"
    assert "event-hash" in part["remote"]["detail"]
    assert part["verification"]["outcome"] == "fail"
    assert part["chain"]["status"] == "CONSUMED"

    # A's real bundle cut before its SHIP: it does not end where B's part starts.
    short = copy.deepcopy(real)
    short["events"] = short["events"][:1]
    impostor.body = json.dumps(short).encode()

    cut = provenance(lineage)["remoteParts"][0]

    assert cut["verified"] is False
    assert cut["remote"]["outcome"] == "failed-verification"
    assert f"this part must end at {lineage.shipped}" in cut["remote"]["detail"]


def test_the_parts_are_bounded_in_fetches_and_in_time(
    lineage: Lineage, impostor: HostileNode
) -> None:
    impostor.mode = "slow"  # answers after 10 s
    operator = to_checksum_address(lineage.network.b_admin)
    with Node(lineage.network.dir_b) as node:
        service = ProvenanceService(node.store, node.w3, node.deployment)
        report = service.provenance(service.resolve(lineage.cheese)).report
        reader = service.reader()

        peers = node.peer_addresses  # loopback allowed, as B's serve has it
        (unasked,) = remote_parts(
            reader, report, this_operator=operator, addresses=peers, max_fetches=0
        )
        began = time.monotonic()
        (late,) = remote_parts(
            reader, report, this_operator=operator, addresses=peers, deadline=0.5
        )
        took = time.monotonic() - began

    assert unasked.found.outcome is RemoteOutcome.UNREACHABLE
    assert unasked.found.detail == (
        f"node 1 ({impostor.url}) was not asked: this answer already asked 0 nodes"
    )
    assert took < 2  # the slow node's fetch ends in the background, within its own bound
    assert late.found.outcome is RemoteOutcome.UNREACHABLE
    assert late.found.detail == f"node 1 ({impostor.url}): no answer within the answer's 0.5 s"
    assert late.found.chain.status is BatchStatus.CONSUMED
    assert impostor.requests == 1


def test_with_a_killed_b_answers_its_own_part_and_what_the_chain_proves(
    lineage: Lineage, browser: Browser
) -> None:
    network = lineage.network
    milk_id = parse_identifier(lineage.milk).batch_id_hex
    network.a.kill()
    try:
        began = time.monotonic()
        said = provenance(lineage)
        took = time.monotonic() - began
        browser.open(f"/?id={quote(lineage.cheese, safe='')}")
        shown = browser.one(f'#elsewhere [data-part="{milk_id}"]')
        assert shown.get_attribute("data-verified") == "false"
        assert shown.get_attribute("data-outcome") == "unreachable"
        assert f"from node 1 ({network.a.url}): not verified here" in shown.text
        assert "What the chain proves: CONSUMED, produced by Green Valley Farm" in shown.text
        assert "it could not be reached" in shown.text
        assert "Produced" not in shown.text  # nothing of A's is shown
        assert browser.one(".verdict").get_attribute("data-outcome") == "pass"  # B's own part
        assert browser.console_errors() == []
    finally:
        network.restart_a()
    assert took < 10
    assert said["outcome"] == "pass"
    (part,) = said["remoteParts"]
    assert part["verified"] is False
    assert part["verification"] is None
    assert part["remote"]["outcome"] == "unreachable"
    assert part["remote"]["detail"].startswith(f"node 1 ({network.a.url}): it could not be reached")
    assert part["chain"]["status"] == "CONSUMED"
    assert part["chain"]["producer"]["name"] == "Green Valley Farm"
    assert part["extends"] == lineage.shipped


@pytest.fixture(scope="module")
def browser(lineage: Lineage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with open_browser(lineage.network.b.url, tmp_path_factory) as opened:
        yield opened


def test_bs_page_of_the_cheese_shows_the_milk_from_a_with_its_brand_owner(
    lineage: Lineage, browser: Browser
) -> None:
    network = lineage.network
    milk_id = parse_identifier(lineage.milk).batch_id_hex

    browser.open(f"/?id={quote(lineage.cheese, safe='')}")

    part = browser.one(f'#elsewhere [data-part="{milk_id}"]')
    assert part.get_attribute("data-verified") == "true"
    text = part.text
    assert f"from node 1 ({network.a.url}), verified by this node" in text
    assert "prefix 9506000, licensed to Green Valley Farm since block" in text
    assert "Produced" in text
    assert "Shipped" in text
    browser.element_screenshot("lineage-across-nodes", part)
    assert browser.console_errors() == []
