"""``POST /v1/epcis/capture`` per event: 202 with an outcome for each event, the refused
ones with their problem; the first refusal's problem (with every outcome) when nothing
is held; ``GS1-Capture-Error-Behaviour: rollback`` for all or nothing; records found by
their identifier and shown by ``GET /v1/events/{hash}``; hostile input never a 500."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from api import create_app
from node.epcis.capture import sign_document
from node.events.identifiers import parse_identifier
from node.store.apikeys import ApiKeys
from node.testing.harness import TraceNodeHarness
from tests.api.conftest import TEST_SETTINGS, AppClient
from tests.node.epcis.conftest import (
    commissioning,
    document,
    event,
    new_lot,
    receiving,
    shipping,
)

SSCC = "urn:epc:id:sscc:0614141.1234567890"


@dataclass
class Gateway:
    client: AppClient
    harness: TraceNodeHarness
    token: str

    def post(self, doc: dict[str, Any], **headers: str) -> Any:
        request = sign_document(
            store=self.harness.node.store,
            domain=self.harness.node.domain,
            private_key=bytes(self.harness.keys["farm"].key),
            document=doc,
        )
        return self.client.post(
            "/v1/epcis/capture",
            json=request,
            headers={"Authorization": f"Bearer {self.token}", **headers},
        )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    harness = TraceNodeHarness.create(tmp_path_factory.mktemp("epcis-capture") / "node")
    client = AppClient(create_app(harness.node, settings=TEST_SETTINGS))
    key = ApiKeys(harness.node.store).create(participant_id=harness.participant_id("farm"))
    try:
        yield Gateway(client, harness, key.token)
    finally:
        client.close()
        harness.close()


def mixed() -> dict[str, Any]:
    # ``unknown``: a lot under the processor's prefix, never held, received by the farm:
    # refused (licensed-elsewhere: only its brand owner may bring it into the network).
    lot, unknown = new_lot(), new_lot("0614142")
    return document(
        commissioning(lot),
        event(
            action="OBSERVE",
            bizStep="shipping",
            epcList=[SSCC],
            readPoint={"id": f"urn:epc:id:sgln:0614141.00001.{secrets.randbelow(10**6)}"},
        ),
        receiving(unknown),
    )


def test_some_refused_is_202_with_each_outcome_and_the_problem_of_the_refused(
    gateway: Gateway,
) -> None:
    answer = gateway.post(mixed())

    assert answer.status_code == 202, answer.text
    assert answer.headers["GS1-Capture-Error-Behaviour"] == "proceed"
    body = answer.json()
    assert (body["success"], body["captured"], body["anchoredOnly"], body["refused"]) == (
        False,
        1,
        1,
        1,
    )
    outcomes = [r["outcome"] for r in body["results"]]
    assert outcomes == ["captured", "anchored-only", "refused"]
    problem = body["results"][2]["problem"]
    assert problem["type"] == "urn:tracenode:problem:epcis-event-rejected"
    assert problem["status"] == 409
    assert problem["cause"]["code"] == "licensed-elsewhere"
    assert problem["pointer"] == "/document/epcisBody/eventList/2"
    # The pallet's record: found by its identifier, shown as an anchored OBSERVE.
    (record,) = body["results"][1]["traceEvents"]
    shown = gateway.client.get(f"/v1/events/{record}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["action"] == "OBSERVE"
    assert shown.json()["payload"]["epcList"] == [SSCC]
    query = gateway.client.get("/v1/epcis/events", params={"MATCH_epc": SSCC})
    assert query.status_code == 200, query.text
    found = query.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert [e["epcList"] for e in found if e["bizStep"] == "shipping"] == [[SSCC]]


def test_rollback_answers_the_first_refusal_with_every_outcome(gateway: Gateway) -> None:
    answer = gateway.post(mixed(), **{"GS1-Capture-Error-Behaviour": "rollback"})

    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.headers["GS1-Capture-Error-Behaviour"] == "rollback"
    body = answer.json()
    assert body["code"] == "epcis-event-rejected"
    assert body["eventIndex"] == 2
    assert [e["outcome"] for e in body["events"]] == ["refused"] * 3
    assert [e["problem"]["code"] for e in body["events"]] == [
        "epcis-capture-rolled-back",
        "epcis-capture-rolled-back",
        "epcis-event-rejected",
    ]
    assert body["events"][0]["problem"]["status"] == 424


def test_nothing_held_answers_the_first_refusal(gateway: Gateway) -> None:
    answer = gateway.post(document(receiving(new_lot("0614142"))))

    assert answer.status_code == 409, answer.text
    body = answer.json()
    assert body["cause"]["code"] == "licensed-elsewhere"
    assert [e["outcome"] for e in body["events"]] == ["refused"]


@pytest.mark.parametrize("value", ["all-or-nothing", "", "x" * 200])
def test_an_unknown_behaviour_is_refused_by_name(gateway: Gateway, value: str) -> None:
    answer = gateway.post(mixed(), **{"GS1-Capture-Error-Behaviour": value})

    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "validation-error"
    assert "GS1-Capture-Error-Behaviour" in answer.json()["detail"]


@pytest.mark.parametrize(
    "fields",
    [
        {"epcList": ["urn:" + "x" * 600]},
        {"epcList": ["urn:epc:id:sgtin:0614141.012345.A~B"]},
        {"epcList": ["not a uri at all"]},
        {"quantityList": [{"epcClass": "urn:epc:class:lgtin:0614141.012345.", "quantity": 1}]},
        {"parentID": "urn:epc:id:sscc:0614141.1", "childEPCs": []},
    ],
)
def test_hostile_identifiers_are_refused_per_event_never_a_500(
    gateway: Gateway, fields: dict[str, Any]
) -> None:
    doc = document(event(action="OBSERVE", bizStep="inspecting", **fields))
    request = {"document": doc, "traceEvents": []}

    answer = gateway.client.post(
        "/v1/epcis/capture", json=request, headers={"Authorization": f"Bearer {gateway.token}"}
    )

    assert answer.status_code < 500, answer.text
    if answer.status_code == 202:  # recorded as anchored-only: then it was signed for
        raise AssertionError(f"an unsigned event was captured: {answer.text}")


def test_a_participant_relays_a_document_another_signed_attributed_to_its_signer(
    gateway: Gateway,
) -> None:
    """The farm's key submits the processor's own commissioning (docs/epcis.md,
    "Multi-party documents"): captured, and the event is the processor's, not the farm's."""
    node = gateway.harness.node
    lot = new_lot("0614142", "000001")  # under the processor's prefix
    request = sign_document(
        store=node.store,
        domain=node.domain,
        private_key=bytes(gateway.harness.keys["processor"].key),
        document=document(commissioning(lot)),
    )

    answer = gateway.client.post(
        "/v1/epcis/capture", json=request, headers={"Authorization": f"Bearer {gateway.token}"}
    )

    assert answer.status_code == 202, answer.text
    (result,) = answer.json()["results"]
    assert result["outcome"] == "captured"
    (trace_event,) = result["traceEvents"]
    stored = gateway.client.get(f"/v1/events/{trace_event}").json()
    assert stored["signer"].lower() == gateway.harness.keys["processor"].address.lower()
    assert stored["participantId"] == gateway.harness.participant_id("processor")


def test_provenance_shows_an_event_declared_in_error_and_what_corrects_it(
    gateway: Gateway,
) -> None:
    lot = new_lot()
    ship_id, fix_id = (f"urn:uuid:{uuid.uuid4()}" for _ in range(2))
    shipped = shipping(lot) | {"eventID": ship_id}
    fix = event(action="OBSERVE", bizStep="inspecting", quantityList=[{"epcClass": lot}])
    declared = shipped | {
        "errorDeclaration": {
            "declarationTime": "2024-05-07T08:00:00Z",
            "reason": "incorrect_data",
            "correctiveEventIDs": [fix_id],
        }
    }
    first = gateway.post(document(commissioning(lot), shipped))
    second = gateway.post(document(declared, fix | {"eventID": fix_id}))
    gateway.harness.commit()

    assert [r["outcome"] for r in first.json()["results"] + second.json()["results"]] == [
        "captured"
    ] * 4
    ship_hash = first.json()["results"][1]["traceEvents"][0]
    report = gateway.client.get(f"/v1/batches/{parse_identifier(lot).batch_id_hex}/provenance")
    assert report.status_code == 200, report.text
    events = {e["eventHash"]: e for e in report.json()["events"]}
    correction = events[ship_hash]["correction"]
    assert correction["reason"] == "incorrect_data"
    assert correction["declaredBy"] == second.json()["results"][0]["traceEvents"]
    assert correction["correctiveEvents"] == {fix_id: second.json()["results"][1]["traceEvents"]}
    assert all(
        e["correction"] is None for h, e in events.items() if h != ship_hash
    )  # the others stand
    # EPCIS queries answer the event with its declaration, as a repository does
    answer = gateway.client.get(f"/v1/epcis/events/{ship_id}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["errorDeclaration"]["reason"] == "incorrect_data"
    found = gateway.client.get("/v1/epcis/events", params={"EXISTS_errorDeclaration": ""})
    assert found.status_code == 200, found.text
    ids = [
        e.get("eventID")
        for e in found.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    ]
    assert ship_id in ids
