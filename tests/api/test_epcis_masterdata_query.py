"""EPCIS queries over master data (EPCIS 2.0 §8.2.7.1: ``EQATTR_``, ``HASATTR_``, ``WD_``
for read points and business locations; docs/epcis.md "Queries"): each filter tests the
element a reader is shown (the licence holder's anchored assertion first), never another
participant's contradicting one; what the node does not answer is refused by name."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from api import create_app
from node.epcis.capture import sign_document
from node.epcis.hashid import event_hash_id
from node.epcis.masterdata import build_element, cbv_attribute
from node.epcis.names import sign_on_node
from node.events.submission import submission_document
from node.store.apikeys import ApiKeys
from node.testing.harness import TraceNodeHarness
from tests.api.conftest import TEST_SETTINGS, AppClient
from tests.node.epcis.conftest import commissioning, document, named, new_lot, with_master_data

PLANT = "urn:epc:id:sgln:0614141.00042.0"
PLANT_LINK = "https://id.gs1.org/414/0614141000425"
DOCK = "urn:epc:id:sgln:0614141.00077.0"  # a child of the plant
DEPOT = "urn:epc:id:sgln:0614142.00001.0"  # the processor's
CITY = cbv_attribute("city")


@dataclass
class Captured:
    client: AppClient
    hash_ids: dict[str, str]  # event name -> hash ID
    token: str  # the farm's API key


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    harness = TraceNodeHarness.create(tmp_path_factory.mktemp("epcis-mdq") / "node")
    client = AppClient(create_app(harness.node, settings=TEST_SETTINGS))
    keys = ApiKeys(harness.node.store)
    tokens = {
        who: keys.create(participant_id=harness.participant_id(who)).token
        for who in ("farm", "processor")
    }

    def say(who: str, code: str, *attributes: tuple[str, str]) -> None:
        element = build_element(code, attributes=attributes)
        node = harness.node
        signed = sign_on_node(node.store, node.domain, bytes(harness.keys[who].key), element)
        answer = client.post(
            "/v1/masterdata",
            json=submission_document(signed),
            headers={"Authorization": f"Bearer {tokens[who]}"},
        )
        assert answer.status_code == 202, answer.text

    try:
        plant = named(PLANT, name="Alpine Dairy, Plant 2", city="Thun") | {"children": [DOCK]}
        events = {
            "plant": commissioning(new_lot()) | {"bizLocation": {"id": PLANT}},
            "dock": commissioning(new_lot()) | {"readPoint": {"id": DOCK}},
            "depot": commissioning(new_lot()) | {"readPoint": {"id": DEPOT}},
            "nowhere": commissioning(new_lot()),
        }
        events["plant"]["readPoint"] = {"id": PLANT_LINK}  # another spelling of the plant
        doc = with_master_data(document(*events.values()), plant, named(DOCK, name="Dock 7"))
        request = sign_document(
            store=harness.node.store,
            domain=harness.node.domain,
            private_key=bytes(harness.keys["farm"].key),
            document=doc,
        )
        answer = client.post(
            "/v1/epcis/capture",
            json=request,
            headers={"Authorization": f"Bearer {tokens['farm']}"},
        )
        assert answer.status_code == 202, answer.text
        assert {m["outcome"] for m in answer.json()["masterData"]} == {"asserted"}
        results = [r["eventHashId"] for r in answer.json()["results"]]
        hash_ids = dict(zip(events, results, strict=True))
        # The processor contradicts the farm about the farm's plant (never counted), and
        # says where its own depot is.
        say("processor", PLANT, (CITY, "Zurich"))
        say("processor", DEPOT, (CITY, "Zurich"))
        harness.commit()
        yield Captured(client, hash_ids, tokens["farm"])
    finally:
        client.close()
        harness.close()


def found(captured: Captured, **query: str) -> list[str]:
    answer = captured.client.get(
        "/v1/epcis/events?"
        + "&".join(f"{quote(k, safe='_:')}={quote(v, safe='')}" for k, v in query.items())
    )
    assert answer.status_code == 200, answer.text
    names = {h: n for n, h in captured.hash_ids.items()}
    events: list[dict[str, Any]] = answer.json()["epcisBody"]["queryResults"]["resultsBody"][
        "eventList"
    ]
    return sorted(names[event_hash_id(e, e["@context"])] for e in events)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({f"EQATTR_readPoint_{CITY}": "Thun"}, ["plant"]),
        ({"EQATTR_readPoint_city": "Thun|Bern"}, ["plant"]),  # CBV's attribute by its name
        ({"EQATTR_bizLocation_cbvmda:city": "Thun"}, ["plant"]),
        # The processor's word about the farm's plant is not the one shown: only its depot.
        ({"EQATTR_readPoint_city": "Zurich"}, ["depot"]),
        ({"EQATTR_readPoint_name": "Dock 7"}, ["dock"]),
        ({"HASATTR_readPoint": cbv_attribute("name")}, ["dock", "plant"]),
        ({"HASATTR_readPoint": "city"}, ["depot", "plant"]),
        ({"HASATTR_bizLocation": "name"}, ["plant"]),
        ({"WD_readPoint": PLANT_LINK}, ["dock", "plant"]),
        ({"WD_readPoint": DOCK}, ["dock"]),
        ({"WD_bizLocation": PLANT}, ["plant"]),
        ({"EQATTR_readPoint_city": "Thun", "EQ_bizStep": "shipping"}, []),
        ({"EQATTR_readPoint_city": "Geneva"}, []),
    ],
)
def test_master_data_filters_test_the_shown_element(
    captured: Captured, query: dict[str, str], expected: list[str]
) -> None:
    assert found(captured, **query) == expected


@pytest.mark.parametrize(
    "parameter", ["EQATTR_epcClass_city", "EQATTR_readPoint_", "HASATTR_bizStep", "WD_epc"]
)
def test_what_is_not_answered_is_refused_by_name(captured: Captured, parameter: str) -> None:
    answer = captured.client.get(f"/v1/epcis/events?{parameter}=x")
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "epcis-query-invalid"
    assert answer.json()["parameter"] == parameter


def test_a_named_query_keeps_a_master_data_filter(captured: Captured) -> None:
    client = captured.client
    auth = {"Authorization": f"Bearer {captured.token}"}
    made = client.post(
        "/v1/epcis/queries",
        json={"name": "in-thun", "query": {"EQATTR_readPoint_city": ["Thun"]}},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    answer = client.get("/v1/epcis/queries/in-thun/events", headers=auth)
    assert answer.status_code == 200, answer.text
    events = answer.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert [event_hash_id(e, e["@context"]) for e in events] == [captured.hash_ids["plant"]]
