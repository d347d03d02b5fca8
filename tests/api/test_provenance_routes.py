"""Provenance, trace, bundle, verify and EPCIS capture over HTTP, on a harness node."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from api import create_app
from node.epcis.capture import sign_document
from node.events.typed_data import Action
from node.provenance.timing import iso_time
from node.store.apikeys import ApiKeys
from node.testing.harness import TraceNodeHarness
from tests.api.conftest import TEST_SETTINGS, AppClient
from tests.node.epcis.conftest import commissioning, document, new_lot, receiving, shipping
from tests.node.provenance.conftest import Story, run_story


@dataclass
class Served:
    story: Story
    client: AppClient


@pytest.fixture
def served(tracenode: TraceNodeHarness) -> Iterator[Served]:
    story = run_story(tracenode)
    client = AppClient(create_app(tracenode.node, settings=TEST_SETTINGS))
    yield Served(story, client)
    client.close()


def _path(identifier: str) -> str:
    return quote(identifier, safe="")


def test_provenance_of_any_spelling_verifies(served: Served) -> None:
    story = served.story
    for ref in (
        _path(story.slices),
        story.slices,
        "0x" + story.harness.batch_id(story.slices).hex(),
    ):
        response = served.client.get(f"/v1/batches/{ref}/provenance")
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["outcome"] == "pass"
        assert len(report["events"]) == 14
        assert {b["identifier"] for b in report["batches"]} == {
            story.slices,
            story.cheese,
            *story.milk,
        }


def test_trace_both_ways_and_the_bundle_round_trip(served: Served) -> None:
    story, client = served.story, served.client
    down = client.get(f"/v1/batches/{_path(story.milk[0])}/trace?direction=downstream").json()
    assert [b["identifier"] for b in down["batches"]] == [story.milk[0], story.cheese, story.slices]
    up = client.get(f"/v1/batches/{_path(story.slices)}/trace?direction=upstream").json()
    assert len(up["ancestors"]) == 4

    response = client.get(f"/v1/batches/{_path(story.slices)}/bundle")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    bundle = response.json()
    assert bundle["format"] == "tracenode-bundle/2"

    verified = client.post("/v1/verify", json=bundle)
    assert verified.status_code == 200
    assert verified.json()["outcome"] == "pass"

    tampered = copy.deepcopy(bundle)
    tampered["events"][3]["event"]["quantity"] = "123456"
    report = client.post("/v1/verify", json=tampered).json()
    assert report["outcome"] == "fail"
    assert [line.split(": ")[1] for line in report["failures"]] == ["event-hash"]


def _observation(bundle: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(e for e in bundle["events"] if e["event"]["action"] == 2)
    return found


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (lambda b: b["events"][3]["anchor"].update(blockNumber="0"), "root-on-chain"),
        (lambda b: b["events"][3]["anchor"]["proof"].reverse(), "merkle-proof"),
        (lambda b: b["events"].remove(_observation(b)), "complete"),
        (
            lambda b: b["chain"].update(
                participantRegistry=b["chain"]["anchorRegistry"],
                anchorRegistry=b["chain"]["participantRegistry"],
            ),
            "chain",
        ),
    ],
)
def test_verify_over_http_names_only_what_was_changed(
    served: Served, change: Callable[[dict[str, Any]], None], check: str
) -> None:
    client = served.client
    bundle = client.get(f"/v1/batches/{_path(served.story.slices)}/bundle").json()
    change(bundle)
    report = client.post("/v1/verify", json=bundle).json()
    assert report["outcome"] == "fail"
    assert [line.split(": ")[1] for line in report["failures"]] == [check], report["failures"]


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        (
            "/v1/batches/https%3A%2F%2Fid.gs1.org%2F01%2F09506000134352%2F10%2FNOPE/provenance",
            404,
            "batch-not-found",
        ),
        ("/v1/batches/not-an-identifier/trace", 422, "invalid-identifier"),
        ("/v1/batches/0x00/bundle", 422, "invalid-identifier"),
    ],
)
def test_unknown_or_invalid_batches_are_problems(
    served: Served, url: str, status: int, code: str
) -> None:
    response = served.client.get(url)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    "body",
    [{"format": "tracenode-bundle/1"}, [], {"format": "x", "events": "no"}],
)
def test_malformed_bundles_are_422_naming_the_field(served: Served, body: object) -> None:
    response = served.client.post("/v1/verify", json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid-bundle"


def test_epcis_capture_over_http_attributes_each_event_to_its_signer(
    served: Served,
) -> None:
    h, client = served.story.harness, served.client
    keys = ApiKeys(h.node.store)
    farm = keys.create(participant_id=h.participant_id("farm")).token
    shop = keys.create(participant_id=h.participant_id("shop")).token
    lot = new_lot()
    doc = document(commissioning(lot), shipping(lot))
    request = sign_document(
        store=h.node.store,
        domain=h.node.domain,
        private_key=bytes(h.keys["farm"].key),
        document=doc,
    )

    # The shop relays the farm's signed document (docs/epcis.md, "Multi-party
    # documents"): captured, and every event is the farm's, never the shop's.
    relayed = client.post(
        "/v1/epcis/capture", json=request, headers={"Authorization": f"Bearer {shop}"}
    )
    assert relayed.status_code == 202, relayed.text
    body = relayed.json()
    assert body["captured"] == 2
    assert all(r["eventHashId"].startswith("ni:///sha-256;") for r in body["results"])
    for result in body["results"]:
        (trace_event,) = result["traceEvents"]
        stored = client.get(f"/v1/events/{trace_event}").json()
        assert stored["participantId"] == h.participant_id("farm")

    again = client.post(
        "/v1/epcis/capture", json=request, headers={"Authorization": f"Bearer {farm}"}
    )
    assert again.status_code == 202
    assert again.json()["duplicate"] == 2

    receive = sign_document(
        store=h.node.store,
        domain=h.node.domain,
        private_key=bytes(h.keys["processor"].key),
        document=document(receiving(lot)),
    )
    bad = copy.deepcopy(receive)
    bad["document"]["epcisBody"]["eventList"][0]["eventTime"] = "2024-05-06T12:00:00+02:00"
    mismatch = client.post(
        "/v1/epcis/capture", json=bad, headers={"Authorization": f"Bearer {farm}"}
    )
    assert mismatch.status_code == 422
    problem = mismatch.json()
    assert problem["code"] == "epcis-signature-mismatch"
    assert "pointer" in problem

    h.commit()
    provenance = client.get(f"/v1/batches/{quote(lot, safe='')}/provenance").json()
    assert provenance["outcome"] == "pass"
    assert [e["action"] for e in provenance["events"]] == ["COMMISSION", "SHIP"]


def test_a_lot_holding_a_slash_resolves_from_its_label_url(served: Served) -> None:
    """GS1 lots may contain '/', percent-encoded in a Digital Link (AB%2FC)."""
    h = served.story.harness
    lot = "https://id.gs1.org/01/09506000134352/10/AB%2FC-1"
    h.submit("farm", Action.COMMISSION, lot, product="milk", quantity=1)
    response = served.client.get(
        "/01/09506000134352/10/AB%2FC-1", headers={"Accept": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["batchId"] == "0x" + h.batch_id(lot).hex()


def test_a_recall_reaches_everything_made_from_the_lot_in_json_and_linkset(
    served: Served,
) -> None:
    """Slices are made from cheese, made from two lots of milk: recalling one lot of milk
    makes the cheese and the slices "made-from-recalled", in the batch's JSON and in the
    title of its gs1:recallStatus link; the other lot stays clear."""
    story, client = served.story, served.client
    recall_status = "https://gs1.org/voc/recallStatus"

    def state(identifier: str) -> dict[str, object]:
        answer = client.get(f"/v1/batches/{_path(identifier)}")
        assert answer.status_code == 200, answer.text
        recall: dict[str, object] = answer.json()["recall"]
        return recall

    def status_title(identifier: str) -> str:
        linkset = client.get(f"/v1/resolve/{_path(identifier)}?linkType=all").json()
        (target,) = linkset["linkset"][0][recall_status]
        assert target["href"].endswith("/v1/batches/0x" + h.batch_id(identifier).hex())
        title: str = target["title"]
        return title

    h = story.harness
    assert state(story.slices) == {"state": "none", "recalledInputs": []}
    assert status_title(story.slices).startswith("none: no recall")

    h.submit("regulator", Action.RECALL, story.milk[1], payload={"reason": "residue"})

    milk2 = {"batchId": "0x" + h.batch_id(story.milk[1]).hex(), "identifier": story.milk[1]}
    for derived, status in ((story.cheese, "CONSUMED"), (story.slices, "ACTIVE")):
        assert state(derived) == {"state": "made-from-recalled", "recalledInputs": [milk2]}
        title = status_title(derived)
        assert title.startswith(f"made-from-recalled: made from a recalled batch ({story.milk[1]})")
        assert "do not sell or consume" in title
        assert title.endswith(f"(status {status})")
    assert state(story.milk[1]) == {"state": "recalled", "recalledInputs": []}
    assert status_title(story.milk[1]).startswith("recalled: ")
    assert "do not sell or consume" in status_title(story.milk[1])
    assert state(story.milk[0]) == {"state": "none", "recalledInputs": []}


def test_provenance_and_overview_say_when_each_event_was_anchored(served: Served) -> None:
    story, client = served.story, served.client
    h = story.harness
    w3 = h.node.w3
    claimed = int(time.time() * 1000) - 3 * 86_400_000  # three days before it is anchored
    late = h.submit("carrier", Action.OBSERVE, story.slices, payload={"n": 1}, event_time=claimed)
    waiting = h.submit("carrier", Action.OBSERVE, story.slices, payload={"n": 2})

    report = client.get(f"/v1/batches/{_path(story.slices)}/provenance").json()
    overview = client.get(f"/v1/batches/{_path(story.slices)}/overview").json()

    assert overview["provenance"]["events"] == report["events"]
    by_hash = {e["eventHash"]: e for e in report["events"]}
    assert by_hash["0x" + waiting.hex()]["anchoredAt"] is None  # not committed
    assert by_hash["0x" + late.hex()]["anchoredAt"] is None
    anchored = [e for e in report["events"] if e["blockNumber"] is not None]
    assert len(anchored) == 14
    for event in anchored:
        block = w3.eth.get_block(int(event["blockNumber"]))
        assert event["anchoredAt"]["timestamp"] == str(block["timestamp"])
        assert event["anchoredAt"]["time"] == iso_time(block["timestamp"])
        assert event["timeGap"] is None

    h.commit()
    flagged = client.get(f"/v1/batches/{_path(story.slices)}/provenance").json()
    gap = {e["eventHash"]: e for e in flagged["events"]}["0x" + late.hex()]["timeGap"]
    assert gap["kind"] == "anchored-long-after"
    assert abs(int(gap["seconds"]) - 3 * 86_400) < 300
    assert gap["limitSeconds"] == "86400"


def test_a_recall_stays_recorded_after_the_recalled_lot_is_destroyed(served: Served) -> None:
    """DESTROY is allowed on a recalled lot (its custodian disposes of the stock) and its
    status then reads DESTROYED: the lot stays "recalled" and everything made from it
    "made-from-recalled", in the batch's JSON and in its gs1:recallStatus title."""
    story, client = served.story, served.client
    h = story.harness
    h.submit("regulator", Action.RECALL, story.milk[1], payload={"reason": "residue"})
    h.submit("processor", Action.DESTROY, story.milk[1])
    h.commit()

    def batch(identifier: str) -> dict[str, Any]:
        answer = client.get(f"/v1/batches/{_path(identifier)}")
        assert answer.status_code == 200, answer.text
        document: dict[str, Any] = answer.json()
        return document

    def status_title(identifier: str) -> str:
        linkset = client.get(f"/v1/resolve/{_path(identifier)}?linkType=linkset").json()
        title: str = linkset["linkset"][0]["https://gs1.org/voc/recallStatus"][0]["title"]
        return title

    milk2 = {"batchId": "0x" + h.batch_id(story.milk[1]).hex(), "identifier": story.milk[1]}
    destroyed = batch(story.milk[1])
    assert destroyed["status"] == "DESTROYED"
    assert destroyed["recall"] == {"state": "recalled", "recalledInputs": []}
    assert status_title(story.milk[1]).startswith("recalled: this batch has been recalled")
    for derived in (story.cheese, story.slices):
        assert batch(derived)["recall"] == {
            "state": "made-from-recalled",
            "recalledInputs": [milk2],
        }
        assert status_title(derived).startswith(
            f"made-from-recalled: made from a recalled batch ({story.milk[1]})"
        )
    assert batch(story.milk[0])["recall"] == {"state": "none", "recalledInputs": []}
