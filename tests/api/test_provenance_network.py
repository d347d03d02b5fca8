"""Provenance across nodes (docs/network.md) on the three-node network of tests/network.py
(a real anvil; the root R; node A, id 2, SQLite; node B, id 3, PostgreSQL; all real
``tracenode serve`` processes), the one tests/api/test_network.py uses too
(tests/api/conftest.py). Milk is commissioned on A by its farm (licensed 9506000) and
shipped to B's dairy, which receives it through B and makes cheese of it on B.

B's provenance of the cheese holds B's events only; the milk's earlier part is fetched
from A (found on-chain), verified by B's own verifier and shown beside B's own part, with
its brand owner, on the JSON and on B's page in headless Chromium. A hostile "A" (a
tampered bundle, a bundle that stops short) is never shown as verified; with A killed, B
still answers its own part verified and what the chain proves of the milk, saying that A
could not be reached, within the bound. A killed node is started again, a moved URL set
back, before its test ends. Every process and every wait is bounded."""

from __future__ import annotations

import copy
import json
import socket
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
from node.network.addresses import AddressPolicy
from node.network.lineage import remote_parts
from node.network.resolution import RemoteOutcome
from node.provenance.service import ProvenanceService
from tests.hostile_node import HostileNode
from tests.network import Network, Party, batch_id, cli, milk_lot
from tests.web.conftest import Browser, open_browser
from tests.web.test_verify_core import both_reports_at


@dataclass
class Lineage:
    network: Network
    milk: str
    cheese: str
    shipped: str  # the farm's SHIP on A: where A's part of the milk ends
    received: str  # the dairy's RECEIVE on B: where B's part of it starts
    transformed: str  # the dairy's TRANSFORM on B: the milk's head on the chain


@pytest.fixture(scope="module")
def lineage(three_node_network: Network) -> Lineage:
    network = three_node_network
    lots = network.cheese_across_nodes("LINEAGE")
    milk = lots["milk"]
    on_a, on_b = (
        httpx.get(f"{server.url}/v1/batches/{quote(milk, safe='')}/bundle", timeout=10).json()
        for server in (network.a, network.b)
    )
    shipped, received = on_a["events"][-1], on_b["events"][0]
    assert (shipped["event"]["action"], received["event"]["action"]) == (3, 4)
    assert (shipped["eventHash"], received["eventHash"]) == (lots["shipped"], lots["received"])
    assert on_b["events"][-1]["eventHash"] == lots["transformed"]
    return Lineage(
        network, milk, lots["cheese"], lots["shipped"], lots["received"], lots["transformed"]
    )


def provenance(lineage: Lineage) -> dict[str, Any]:
    """B's provenance of the cheese."""
    return provenance_at(lineage.network.b.url, lineage.cheese)


def provenance_at(url: str, lot: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/v1/batches/{quote(lot, safe='')}/provenance", timeout=30)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def checks(report: dict[str, Any], batch_id: str) -> dict[str, dict[str, str]]:
    (batch,) = [b for b in report["batches"] if b["batchId"] == batch_id]
    return {c["check"]: c for c in batch["checks"]}


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
    assert (part["node"]["id"], part["node"]["url"]) == ("2", network.a.url)
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


@pytest.fixture
def impostor(lineage: Lineage) -> Iterator[HostileNode]:
    """A hostile server where the registry says node A is, put back afterwards. (Each
    move is a transaction: a new block, so B's cache of verified parts is not used.)"""
    with lineage.network.impostor("a") as hostile:
        yield hostile


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
    tampered["events"][0]["event"]["quantity"] = "100000"  # the milk was 1200
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
        f"node 2 ({impostor.url}) was not asked: this answer already asked 0 nodes"
    )
    assert took < 2  # the slow node's fetch ends in the background, within its own bound
    assert late.found.outcome is RemoteOutcome.UNREACHABLE
    assert late.found.detail == f"node 2 ({impostor.url}): no answer within the answer's 0.5 s"
    assert late.found.chain.status is BatchStatus.CONSUMED
    assert impostor.requests == 1


def test_parts_not_asked_or_late_are_answered_without_looking_up_their_node_again(
    lineage: Lineage, impostor: HostileNode
) -> None:
    """A node whose name resolves slowly (its operator's DNS, within the lookup's bound)
    must not stretch the answer: a part not asked is answered from the chain alone, and a
    part late at the deadline from what its worker read of the chain, neither looking the
    name up again (each did, once per part, after the deadline: 16 parts of one node took
    19 s of a 6 s bound)."""
    port = impostor.url.rsplit(":", 1)[1]
    url = f"http://a-behind-slow-dns.invalid:{port}"
    lineage.network.set_url("a", url)

    def slow_dns(host: str, port: object, *args: object) -> list[Any]:
        time.sleep(6.0)  # past the lookup's bound: given up on at 4 s
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    peers = AddressPolicy(allow_private=True, resolve_timeout=4.0, resolver=slow_dns)
    operator = to_checksum_address(lineage.network.b_admin)
    with Node(lineage.network.dir_b) as node:
        service = ProvenanceService(node.store, node.w3, node.deployment)
        report = service.provenance(service.resolve(lineage.cheese)).report
        reader = service.reader()
        began = time.monotonic()
        (unasked,) = remote_parts(
            reader, report, this_operator=operator, addresses=peers, max_fetches=0
        )
        took_unasked = time.monotonic() - began
        began = time.monotonic()
        (late,) = remote_parts(
            reader, report, this_operator=operator, addresses=peers, deadline=1.0
        )
        took_late = time.monotonic() - began

    assert took_unasked < 2.5  # no lookup: it took 4 s
    assert unasked.found.outcome is RemoteOutcome.UNREACHABLE
    assert (
        unasked.found.detail == f"node 2 ({url}) was not asked: this answer already asked 0 nodes"
    )
    assert took_late < 3.0  # the deadline, and no second lookup: it took 5 s
    assert late.found.outcome is RemoteOutcome.UNREACHABLE
    assert late.found.detail == f"node 2 ({url}): no answer within the answer's 1 s"
    assert late.found.chain.status is BatchStatus.CONSUMED
    assert impostor.requests == 0  # the name never resolved in time


def test_with_a_killed_b_answers_its_own_part_and_what_the_chain_proves(
    lineage: Lineage, browser: Browser
) -> None:
    network = lineage.network
    milk_id = parse_identifier(lineage.milk).batch_id_hex
    network.a.kill()
    try:
        # A new block: the part B verified at this one is kept for the same question of
        # the same chain (docs/network.md, "Cache"), whatever A does later; without it
        # this test passed only after one that moved a node's URL.
        network.set_url("a")
        began = time.monotonic()
        said = provenance(lineage)
        took = time.monotonic() - began
        browser.open(f"/?id={quote(lineage.cheese, safe='')}")
        shown = browser.one(f'#elsewhere [data-part="{milk_id}"]')
        assert shown.get_attribute("data-verified") == "false"
        assert shown.get_attribute("data-outcome") == "unreachable"
        assert f"from node 2 ({network.a.url}): not verified here" in shown.text
        assert "What the chain proves: CONSUMED, produced by Green Valley Farm" in shown.text
        assert "it could not be reached" in shown.text
        assert "Produced" not in shown.text  # nothing of A's is shown
        assert browser.one(".verdict").get_attribute("data-outcome") == "pass"  # B's own part
        assert browser.console_errors() == []
    finally:
        network.restart("a")
    assert took < 10
    assert said["outcome"] == "pass"
    (part,) = said["remoteParts"]
    assert part["verified"] is False
    assert part["verification"] is None
    assert part["remote"]["outcome"] == "unreachable"
    assert part["remote"]["detail"].startswith(f"node 2 ({network.a.url}): it could not be reached")
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
    assert f"from node 2 ({network.a.url}), verified by this node" in text
    assert "prefix 9506000, licensed to Green Valley Farm since block" in text
    assert "Produced" in text
    assert "Shipped" in text
    browser.element_screenshot("lineage-across-nodes", part)
    assert browser.console_errors() == []


# ----- A's own view of the milk: its later history is B's (docs/network.md) -----


def provenance_on_a(lineage: Lineage) -> dict[str, Any]:
    """A's provenance of the milk."""
    return provenance_at(lineage.network.a.url, lineage.milk)


def test_as_milk_is_whole_its_later_part_from_b_verified_by_a(lineage: Lineage) -> None:
    network = lineage.network
    milk_id = parse_identifier(lineage.milk).batch_id_hex

    said = provenance_on_a(lineage)

    # A's own part: everything A holds verified; custody neither passed nor failed.
    assert said["outcome"] == "pass", said["failures"]
    (milk,) = said["batches"]
    custody = checks(said, milk_id)["custody"]
    assert custody["outcome"] == "skipped"
    assert custody["detail"] == (
        f"continued on another node: the chain's head is {lineage.transformed}, after this "
        f"bundle's last event {lineage.shipped}, a SHIP to Alpine Dairy, another node's "
        "participant; the chain records it CONSUMED, held by Alpine Dairy"
    )
    assert (milk["continuedAt"], milk["chainHead"]) == (1, lineage.transformed)
    assert milk["continuedTo"] is not None
    # B's part, found through the SHIP's receiver, verified by A: from A's SHIP to the head.
    (part,) = said["remoteParts"]
    assert (part["direction"], part["verified"], part["remote"]["outcome"]) == (
        "later",
        True,
        "verified",
    )
    assert (part["node"]["id"], part["node"]["url"], part["via"]) == (
        "3",
        network.b.url,
        "receiver",
    )
    assert (part["extends"], part["continuedBy"], part["under"], part["depth"]) == (
        lineage.shipped,
        None,
        None,
        1,
    )
    report = part["verification"]
    assert report["outcome"] == "pass", report["failures"]
    assert [e["action"] for e in report["events"]] == ["RECEIVE", "TRANSFORM"]
    assert checks(report, milk_id)["custody"]["detail"] == "CONSUMED, held by Alpine Dairy"
    # The CLI shows the same part, from the same verifier.
    shown = cli("provenance", lineage.milk, "--data-dir", str(network.dir_a))
    assert "Later history of " in shown
    assert f"verified by this node, starting from {lineage.shipped}" in shown


def test_both_verifiers_say_alike_that_the_milk_went_on_on_b(lineage: Lineage) -> None:
    """The browser's verifier (api/static/verify-core.js) and A's agree on every check of
    A's bundle of the milk, continued on B, and of the same bundle cut before its SHIP."""
    real = bundle_of_a(lineage)
    cut = copy.deepcopy(real)
    cut["events"] = cut["events"][:1]
    for bundle, outcome in ((real, "pass"), (cut, "fail")):
        js, ours = both_reports_at(f"{lineage.network.a.url}/rpc", bundle)
        assert js["outcome"] == ours["outcome"] == outcome, ours["failures"]
        assert _flat(js) == _flat(ours)
        assert [_batch(b) for b in js["batches"]] == [_batch(b) for b in ours["batches"]]
    (batch,) = js["batches"]  # the cut one: no continuation claimed
    assert (batch["continuedAt"], batch["chainHead"]) == (None, None)


def _flat(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    flat = {f"bundle {c['check']}": (c["outcome"], c["detail"]) for c in report["checks"]}
    for item in [*report["events"], *report["batches"]]:
        for c in item["checks"]:
            flat[f"{item.get('index', item.get('batchId'))} {c['check']}"] = (
                c["outcome"],
                c["detail"],
            )
    return flat


def _batch(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in batch.items() if k != "checks"}


@pytest.fixture
def impostor_b(lineage: Lineage) -> Iterator[HostileNode]:
    """A hostile server where the registry says node B is, put back afterwards."""
    with lineage.network.impostor("b") as hostile:
        yield hostile


def test_a_later_part_that_does_not_start_from_as_ship_is_refused(
    lineage: Lineage, impostor_b: HostileNode
) -> None:
    """An impostor at B's URL answering A's own bundle of the milk (which starts at its
    COMMISSION), or B's bundle cut before the head: never verified, saying why."""
    impostor_b.mode, impostor_b.body = "bundle", json.dumps(bundle_of_a(lineage)).encode()

    (part,) = provenance_on_a(lineage)["remoteParts"]

    assert part["verified"] is False
    assert part["remote"]["outcome"] == "failed-verification"
    assert f"this part must start from {lineage.shipped}" in part["remote"]["detail"]

    of_b = httpx.get(
        f"{lineage.network.b.url}/v1/batches/{quote(lineage.milk, safe='')}/bundle", timeout=30
    ).json()
    of_b["events"] = of_b["events"][:1]  # its RECEIVE only: the TRANSFORM left out
    impostor_b.body = json.dumps(of_b).encode()

    (cut,) = provenance_on_a(lineage)["remoteParts"]

    assert cut["verified"] is False
    assert (
        "is not in the bundle: the bundle is older than the chain or leaves events out"
        in (cut["remote"]["detail"])
    )


def test_a_cut_bundle_of_a_lot_that_never_left_a_still_fails(
    lineage: Lineage, impostor: HostileNode
) -> None:
    """A lot shipped by A's farm to another of A's participants and received on A: a bundle
    that stops at the SHIP claims no continuation (the receiver is A's own participant), so
    B, resolving the lot from the impostor at A's URL, fails it."""
    network = lineage.network
    hill = network.party("a", "Hill Farm", "producer", "9506001")
    kept = milk_lot("MILK-KEPT")
    kept_id = batch_id(kept)

    def on_a(party: Party, action: str, **fields: Any) -> str:
        return network.anchored(network.a, network.post(network.a, party, action, **fields))

    made = on_a(network.farm, "COMMISSION", identifiers=[kept], batchId=kept_id, quantity=5)
    shipped = on_a(
        network.farm, "SHIP", batchId=kept_id, prevEventHash=made, counterparty=hill.address
    )
    on_a(hill, "RECEIVE", batchId=kept_id, prevEventHash=shipped)
    real = httpx.get(f"{network.a.url}/v1/batches/{kept_id}/bundle", timeout=30)
    cut = real.json()
    cut["events"] = cut["events"][:2]  # up to the SHIP: the RECEIVE on A left out
    impostor.mode, impostor.body = "bundle", json.dumps(cut).encode()

    said = httpx.get(
        f"{network.b.url}/v1/resolve/{quote(kept, safe='')}",
        headers={"Accept": "application/json"},
        timeout=30,
    ).json()

    assert said["verified"] is False
    assert said["remote"]["outcome"] == "failed-verification"
    custody = checks(said["verification"], kept_id)["custody"]
    assert custody["outcome"] == "fail"
    assert "leaves events out" in custody["detail"]
    assert said["remoteParts"] == []  # a failed bundle's claims lead nowhere
    # The browser's verifier fails it alike (its receiver's registrar is the shipper's).
    js, ours = both_reports_at(f"{network.a.url}/rpc", cut)
    assert js["outcome"] == ours["outcome"] == "fail"
    assert _flat(js) == _flat(ours)
    assert [_batch(b) for b in js["batches"]] == [_batch(b) for b in ours["batches"]]


def test_resolving_the_cheese_on_a_reads_as_own_part_of_the_milk_from_its_store(
    lineage: Lineage,
) -> None:
    """A resolves the cheese (B's): B's bundle verified, and the milk's earlier part, which
    the registry says A holds, read from A's own store and verified, not reported missing."""
    network = lineage.network
    milk_id = parse_identifier(lineage.milk).batch_id_hex

    said = httpx.get(
        f"{network.a.url}/v1/resolve/{quote(lineage.cheese, safe='')}",
        headers={"Accept": "application/json"},
        timeout=30,
    ).json()

    assert said["verified"] is True, said["remote"]
    (part,) = said["remoteParts"]
    assert (part["batchId"], part["direction"], part["verified"]) == (milk_id, "earlier", True)
    assert part["node"]["thisNode"] is True
    assert part["remote"]["detail"].startswith("this node's own store (node 2 ")
    assert part["remote"]["bundle"] is None
    assert [e["action"] for e in part["verification"]["events"]] == ["COMMISSION", "SHIP"]


def open_on_a(browser: Browser, lineage: Lineage) -> None:
    """A's page of the milk, in the module's browser (opened on B)."""
    browser.driver.get(f"{lineage.network.a.url}/?id={quote(lineage.milk, safe='')}")
    browser.wait_rendered()


def test_as_page_of_the_milk_shows_its_later_history_and_with_b_killed_says_so(
    lineage: Lineage, browser: Browser
) -> None:
    network = lineage.network
    milk_id = parse_identifier(lineage.milk).batch_id_hex

    open_on_a(browser, lineage)
    part = browser.one(f'#elsewhere [data-part="{milk_id}"]')
    assert (part.get_attribute("data-direction"), part.get_attribute("data-verified")) == (
        "later",
        "true",
    )
    assert "Later history of" in part.text
    assert f"from node 3 ({network.b.url}), verified by this node" in part.text
    assert "Received" in part.text
    assert browser.one('[data-group="later"]').get_attribute("data-batch") == milk_id
    custody = browser.one('[data-group="custody"]').text
    assert "except for a lot whose later history another node recorded" in custody
    assert browser.console_errors() == []

    network.b.kill()
    try:
        # A new block: the part A verified at this one is kept for the same question of
        # the same chain (docs/network.md, "Cache"), whatever B does later.
        network.set_url("b")
        began = time.monotonic()
        said = provenance_on_a(lineage)
        took = time.monotonic() - began
        open_on_a(browser, lineage)
        shown = browser.one(f'#elsewhere [data-part="{milk_id}"]')
        assert shown.get_attribute("data-outcome") == "unreachable"
        assert "What the chain proves: CONSUMED, produced by Green Valley Farm" in shown.text
        later = browser.one('[data-not-checked="later"]').text
        assert "The chain records it CONSUMED, held by Alpine Dairy" in later
        assert "it could not be reached" in later
        assert browser.one(".verdict").get_attribute("data-outcome") == "pass"  # A's own part
        assert browser.console_errors() == []
    finally:
        network.restart("b")
    assert took < 10
    assert said["outcome"] == "pass", said["failures"]
    (part_json,) = said["remoteParts"]
    assert (part_json["direction"], part_json["verified"]) == ("later", False)
    assert part_json["verification"] is None
    assert part_json["remote"]["outcome"] == "unreachable"
    assert part_json["remote"]["detail"].startswith(
        f"node 3 ({network.b.url}): it could not be reached"
    )
    assert part_json["chain"]["status"] == "CONSUMED"
