"""The page's one "recalled" (api/static/app.js, recalledBatches), in a browser, for the two
states a batch's current status alone misreads:

- a recalled lot its custodian destroyed since (the rules allow DESTROY on a RECALLED
  batch: its status then reads DESTROYED): still recalled, and what was made from it
  still "made from a recalled batch", in the safety banner, the lineage graph and the
  API's ``recall`` the page reads;
- a recall waiting for its commit (the node counts it at once, the chain not yet): the
  banner, the lineage graph and "Where it went" agree, and the summary does not call the
  node's status the chain's.

Its own node (two demo supply chains), not the session's site: the destroyed lot and the
pending recall would change what the other page tests read.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from node.demo import DemoReport, run_demo
from node.events.typed_data import Action, Role
from node.keys.keystore import load_keystore
from node.testing.harness import TraceNodeHarness
from tests.api.server import Server
from tests.web.conftest import Browser, open_browser


@dataclass
class Recalls:
    url: str
    destroyed: DemoReport  # its recalled milk-2 then destroyed by the dairy, which holds it
    pending: DemoReport  # its milk-1 recalled, the recall not committed


@pytest.fixture(scope="module")
def recalls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recalls]:
    data_dir = tmp_path_factory.mktemp("recalls") / "data"
    participants = {"carrier": (Role.LOGISTICS, ""), "inspector": (Role.AUDITOR, "")}
    with TraceNodeHarness.create(data_dir, participants=participants) as harness:
        destroyed = run_demo(harness.node, harness.password)
        pending = run_demo(harness.node, harness.password)
        for slug in ("dairy", "authority"):
            harness.keys[slug] = load_keystore(
                data_dir / "keystore" / "participants" / f"demo-{slug}.json", harness.password
            )
        harness.submit("dairy", Action.DESTROY, destroyed.lots["milk-2"])
        harness.commit()
        harness.submit(
            "authority", Action.RECALL, pending.lots["milk-1"], payload={"reason": "pending"}
        )
        password = harness.password
    server = Server(data_dir, password, "--no-commit")  # the pending recall stays pending
    try:
        server.wait_ready()
        yield Recalls(server.url, destroyed, pending)
    finally:
        code = server.stop()
        assert code == 0, server.output()


@pytest.fixture(scope="module")
def browser(recalls: Recalls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with open_browser(recalls.url, tmp_path_factory) as opened:
        yield opened


def _get(url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        document: dict[str, Any] = json.load(answer)
        return document


def _page(identifier: str) -> str:
    return "/?id=" + quote(identifier, safe="")


def _safety(browser: Browser) -> str:
    return str(browser.js("return document.getElementById('safety').dataset.safety"))


def _lineage(browser: Browser) -> dict[str, tuple[str, str]]:
    """Each batch box of the lineage graph: its classes and its sub-line."""
    boxes = browser.js(
        "return [...document.querySelectorAll('#lineage .batch-node')].map(e => "
        "[e.dataset.batch, e.getAttribute('class'), e.querySelector('.node-sub').textContent])"
    )
    return {batch: (cls, sub) for batch, cls, sub in boxes}


def _hex(recalls: Recalls, identifier: str) -> str:
    return str(_get(f"{recalls.url}/v1/batches/{quote(identifier, safe='')}")["batchId"])


def test_a_recalled_lot_destroyed_since_stays_recalled(recalls: Recalls, browser: Browser) -> None:
    milk = recalls.destroyed.lots["milk-2"]
    cheese = recalls.destroyed.lots["cheese"]
    milk_state = _get(f"{recalls.url}/v1/batches/{quote(milk, safe='')}")
    assert milk_state["status"] == "DESTROYED"
    assert milk_state["recall"]["state"] == "recalled"

    browser.open(_page(milk))
    assert _safety(browser) == "recalled"
    assert browser.one("#safety h2").text.startswith("⚠ RECALLED")
    titles = [e.text for e in browser.css("#timeline .event-what h3")]
    assert titles[-2:] == ["Recalled", "Destroyed"]
    assert browser.one("#downstream h2").text == "Where it went — for the recall"
    chips = browser.css("#summary .facts dd")[0].text
    assert chips.startswith("Destroyed")
    assert "Recalled" in chips

    browser.open(_page(cheese))
    browser.screenshot("recall-destroyed-cheese")
    assert _safety(browser) == "made-from-recalled"
    assert browser.one("#safety h2").text.startswith("⚠ Made from a recalled batch")
    link = browser.one("#safety .recalled-input a").get_attribute("href")
    assert link == recalls.url + _page(milk)
    graph = _lineage(browser)
    milk_cls, milk_sub = graph[_hex(recalls, milk)]
    assert "status-recalled" in milk_cls
    assert milk_sub == "⚠ RECALLED"
    cheese_cls, cheese_sub = graph[_hex(recalls, cheese)]
    assert "from-recalled" in cheese_cls
    assert cheese_sub == "⚠ From a recalled lot"


def test_a_recall_waiting_for_its_commit_reads_the_same_everywhere(
    recalls: Recalls, browser: Browser
) -> None:
    milk = recalls.pending.lots["milk-1"]
    cheese = recalls.pending.lots["cheese"]

    browser.open(_page(milk))
    assert _safety(browser) == "recalled"
    assert browser.one("#downstream h2").text == "Where it went — for the recall"
    (subject,) = [box for box in _lineage(browser).values() if " subject" in box[0]]
    assert "status-recalled" in subject[0]
    assert subject[1] == "⚠ RECALLED"
    label = browser.css("#summary .facts dt")[0].text
    chips = browser.css("#summary .facts dd")[0].text
    assert label == "Status on this node"  # not the chain's: it still says Used up
    assert chips.startswith("Recalled")
    assert "on the chain: Used up" in chips

    browser.open(_page(cheese))
    assert _safety(browser) == "made-from-recalled"
    milk_cls, milk_sub = _lineage(browser)[_hex(recalls, milk)]
    assert "status-recalled" in milk_cls
    assert milk_sub == "⚠ RECALLED"
