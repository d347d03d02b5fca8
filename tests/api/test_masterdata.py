"""Master data over HTTP (docs/epcis.md, "Master data"): a participant asserts what its
code is called (``POST /v1/masterdata``) or sends it in an EPCIS document's header; ``GET
/v1/masterdata/{code}`` answers every assertion, each attributed, and shows the brand
owner's over another participant's contradicting one; provenance names the places its
events name. Bad input is a problem, and nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from api import create_app
from node.epcis.capture import sign_document
from node.epcis.masterdata import build_element, cbv_attribute
from node.epcis.names import sign_on_node
from node.events.submission import submission_document
from node.store.apikeys import ApiKeys
from node.testing.harness import TraceNodeHarness
from tests.api.conftest import TEST_SETTINGS, AppClient
from tests.node.epcis.conftest import commissioning, document, named, new_lot, with_master_data

SGLN = "urn:epc:id:sgln:0614141.00042.0"
DIGITAL_LINK = "https://id.gs1.org/414/0614141000425"
PLANT = "Alpine Dairy, Plant 2"
DOCK = "urn:epc:id:sgln:0614141.00077.0"


@dataclass
class Gateway:
    client: AppClient
    harness: TraceNodeHarness
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def submission(self, who: str, code: str, name: str, **more: Any) -> dict[str, Any]:
        element = build_element(code, attributes=[(cbv_attribute("name"), name)])
        node = self.harness.node
        signed = sign_on_node(node.store, node.domain, bytes(self.harness.keys[who].key), element)
        return submission_document(signed) | more

    def say(self, who: str, code: str, name: str) -> Any:
        return self.client.post(
            "/v1/masterdata", json=self.submission(who, code, name), headers=self.auth(who)
        )

    def about(self, code: str) -> Any:
        return self.client.get(f"/v1/masterdata/{quote(code, safe='')}")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    harness = TraceNodeHarness.create(tmp_path_factory.mktemp("masterdata") / "node")
    client = AppClient(create_app(harness.node, settings=TEST_SETTINGS))
    keys = ApiKeys(harness.node.store)
    tokens = {
        who: keys.create(participant_id=harness.participant_id(who)).token
        for who in ("farm", "processor")
    }
    try:
        yield Gateway(client, harness, tokens)
    finally:
        client.close()
        harness.close()


def test_the_brand_owner_is_shown_and_a_contradiction_is_attributed_to_its_asserter(
    gateway: Gateway,
) -> None:
    own = gateway.say("farm", SGLN, PLANT)
    other = gateway.say("processor", DIGITAL_LINK, "Processor's Warehouse")
    assert own.status_code == 202, own.text
    assert other.status_code == 202, other.text
    assert own.json()["outcome"] == "asserted"

    pending = gateway.about(SGLN).json()
    assert pending["shown"] is None  # nothing anchored is shown as verified
    assert [a["status"] for a in pending["assertions"]] == ["accepted", "accepted"]
    gateway.harness.commit()
    answer = gateway.about(DIGITAL_LINK)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["canonical"] == DIGITAL_LINK
    assert body["brandOwner"]["participant"] == "farm"
    assert body["brandOwner"]["prefix"] == "0614141"
    shown = body["shown"]
    assert (shown["name"], shown["saidBy"]["participant"]) == (PLANT, "farm")
    assert shown["saidBy"]["brandOwner"] is True
    assert shown["saidBy"]["holderOf"] == "0614141"
    assert shown["others"] == 1
    said = {a["saidBy"]["participant"]: a for a in body["assertions"]}
    assert said["processor"]["name"] == "Processor's Warehouse"
    assert said["processor"]["saidBy"]["brandOwner"] is False
    assert {a["status"] for a in body["assertions"]} == {"anchored"}
    proof = gateway.client.get(said["farm"]["proof"])
    assert proof.status_code == 200, proof.text
    assert gateway.about(SGLN).json()["shown"]["eventHash"] == shown["eventHash"]


def test_an_epcis_header_asserts_the_submitters_master_data_and_provenance_names_it(
    gateway: Gateway,
) -> None:
    lot = new_lot()
    event = commissioning(lot)
    event["readPoint"] = {"id": DOCK}
    # the lot's element is refused: a lot's data is its ILMD
    doc = with_master_data(
        document(event), named(DOCK, name="Loading Dock", city="Thun"), {"id": lot}
    )
    request = sign_document(
        store=gateway.harness.node.store,
        domain=gateway.harness.node.domain,
        private_key=bytes(gateway.harness.keys["farm"].key),
        document=doc,
    )

    answer = gateway.client.post("/v1/epcis/capture", json=request, headers=gateway.auth("farm"))

    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["captured"] == 1
    assert body["success"] is False  # an element was refused
    dock, bad = body["masterData"]
    assert (dock["code"], dock["outcome"]) == (DOCK, "asserted")
    assert bad["outcome"] == "refused"
    assert bad["problem"]["code"] == "epcis-invalid-master-data"
    assert bad["pointer"].endswith("/vocabularyElementList/1/id")
    # The capture job says what the capture answered: failed, and why.
    job = gateway.client.get(answer.headers["location"], headers=gateway.auth("farm")).json()
    assert job["success"] is False
    assert [(m["code"], m["outcome"]) for m in job["masterData"]] == [
        (dock["code"], "asserted"),
        (bad["code"], "refused"),
    ]
    assert [e["code"] for e in job["errors"]] == ["epcis-invalid-master-data"]
    assert job["results"] == body["results"]
    gateway.harness.commit()
    about = gateway.about(DOCK).json()
    assert about["shown"]["name"] == "Loading Dock"
    assert about["shown"]["address"] == "Thun"
    assert about["shown"]["saidBy"]["participant"] == "farm"
    provenance = gateway.client.get(f"/v1/batches/{quote(lot, safe='')}/provenance")
    assert provenance.status_code == 200, provenance.text
    shown = provenance.json()["masterData"][DOCK]
    assert (shown["name"], shown["saidBy"]["participant"]) == ("Loading Dock", "farm")
    # Sent again: the element is held already, a duplicate, nothing written twice.
    again = gateway.client.post(
        "/v1/epcis/capture",
        json=sign_document(
            store=gateway.harness.node.store,
            domain=gateway.harness.node.domain,
            private_key=bytes(gateway.harness.keys["farm"].key),
            document=doc,
        ),
        headers=gateway.auth("farm"),
    )
    assert again.status_code == 202, again.text
    assert [m["outcome"] for m in again.json()["masterData"]] == ["duplicate", "refused"]


def test_rollback_keeps_all_or_nothing_with_a_refused_element(gateway: Gateway) -> None:
    lot = new_lot()
    doc = with_master_data(document(commissioning(lot)), {"id": lot})  # a batch: refused
    request = sign_document(
        store=gateway.harness.node.store,
        domain=gateway.harness.node.domain,
        private_key=bytes(gateway.harness.keys["farm"].key),
        document=doc,
    )

    answer = gateway.client.post(
        "/v1/epcis/capture",
        json=request,
        headers={**gateway.auth("farm"), "GS1-Capture-Error-Behaviour": "rollback"},
    )

    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["code"] == "epcis-invalid-master-data"
    assert [e["outcome"] for e in body["events"]] == ["refused"]
    assert body["events"][0]["problem"]["code"] == "epcis-capture-rolled-back"
    assert [m["outcome"] for m in body["masterData"]] == ["refused"]
    assert gateway.client.get(f"/v1/batches/{quote(lot, safe='')}").status_code == 404


@pytest.mark.parametrize(
    ("code", "name", "status", "problem"),
    [
        ("urn:epc:class:lgtin:0614141.012345.LOT1", "a lot", 422, "invalid-master-data"),
        (SGLN, "x" * 5000, 422, "invalid-master-data"),
    ],
)
def test_bad_master_data_is_a_problem_and_nothing_is_stored(
    gateway: Gateway, code: str, name: str, status: int, problem: str
) -> None:
    document_ = {
        "event": {},
        "signature": "0x" + "00" * 65,
        "payload": {
            "type": "VocabularyElement",
            "vocabularyType": "urn:epcglobal:epcis:vtype:BusinessLocation",
            "id": code,
            "attributes": [{"id": "urn:epcglobal:cbv:mda#name", "attribute": name}],
        },
    }

    answer = gateway.client.post("/v1/masterdata", json=document_, headers=gateway.auth("farm"))

    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == problem


def test_an_assertion_signed_by_another_participant_is_refused(gateway: Gateway) -> None:
    before = gateway.about("urn:epc:id:sgln:0614141.00099.0").json()["assertions"]
    document_ = gateway.submission("processor", "urn:epc:id:sgln:0614141.00099.0", "Mine")

    answer = gateway.client.post("/v1/masterdata", json=document_, headers=gateway.auth("farm"))

    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "signer-mismatch"
    assert gateway.about("urn:epc:id:sgln:0614141.00099.0").json()["assertions"] == before == []


def test_a_payload_that_is_no_element_or_an_event_of_another_code_is_refused(
    gateway: Gateway,
) -> None:
    other = gateway.submission("farm", "urn:epc:id:sgln:0614141.00098.0", "Elsewhere")
    wrong = gateway.submission("farm", "urn:epc:id:sgln:0614141.00097.0", "Here")
    wrong["payload"] = other["payload"]  # the payload hash no longer matches either

    for body in ({"event": {}, "signature": "0x"}, wrong, [other]):
        answer = gateway.client.post("/v1/masterdata", json=body, headers=gateway.auth("farm"))
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "code", ["urn:epc:class:lgtin:0614141.012345.LOT1", "not a uri", "88.456/lot-1"]
)
def test_get_of_a_batch_or_no_uri_is_a_problem(gateway: Gateway, code: str) -> None:
    answer = gateway.about(code)

    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid-identifier"


def test_an_unsigned_header_asserts_nothing_and_a_new_name_alone_is_asserted(
    gateway: Gateway,
) -> None:
    lot = new_lot()
    gate = "urn:epc:id:sgln:0614141.00055.0"
    made = document(commissioning(lot))

    def request(name: str) -> dict[str, Any]:
        return sign_document(
            store=gateway.harness.node.store,
            domain=gateway.harness.node.domain,
            private_key=bytes(gateway.harness.keys["farm"].key),
            document=with_master_data(made, named(gate, name=name)),
        )

    unsigned = request("Gate 5")
    del unsigned["masterData"]  # a client that does not assert master data
    first = gateway.client.post("/v1/epcis/capture", json=unsigned, headers=gateway.auth("farm"))
    renamed = gateway.client.post(
        "/v1/epcis/capture", json=request("Gate Five"), headers=gateway.auth("farm")
    )

    assert first.status_code == 202, first.text
    assert first.json()["success"] is True
    assert [m["outcome"] for m in first.json()["masterData"]] == ["unsigned"]
    assert renamed.status_code == 202, renamed.text
    assert [r["outcome"] for r in renamed.json()["results"]] == ["duplicate"]
    assert [m["outcome"] for m in renamed.json()["masterData"]] == ["asserted"]
    (said,) = gateway.about(gate).json()["assertions"]
    assert said["name"] == "Gate Five"
