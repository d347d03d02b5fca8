"""Documents as published: three shapes, GS1's schema with formats on, bounded input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from node.epcis.document import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    MAX_EVENTS,
    load_json,
    parse_document,
)
from node.exceptions import EpcisDocumentError, EpcisError, EpcisLimitError
from tests.node.epcis.conftest import FIXTURES, fixture

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "standards" / "epcis"
PACKAGE = Path(__file__).resolve().parents[3] / "node" / "epcis" / "schema"


@pytest.mark.parametrize("name", ["EPCIS-JSON-Schema.json", "epcis-context-2.0.0.jsonld"])
def test_the_vendored_gs1_files_equal_the_shared_originals(name: str) -> None:
    if not SHARED.is_dir():
        pytest.skip("the shared standards folder is not beside this checkout")

    assert (PACKAGE / name).read_bytes() == (SHARED / name).read_bytes()


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.jsonld")))
def test_every_fixture_is_valid_epcis(name: str) -> None:
    document = parse_document(fixture(name))

    assert document.events
    assert all(
        e.data["type"]
        in {
            "ObjectEvent",
            "AggregationEvent",
            "TransactionEvent",
            "TransformationEvent",
            "AssociationEvent",
        }
        for e in document.events
    )


def test_query_documents_and_bare_events_are_read_where_gs1_puts_their_events() -> None:
    query = parse_document(fixture("query.jsonld"))
    bare = parse_document(fixture("bare_event.jsonld"))

    assert query.kind == "EPCISQueryDocument"
    assert [e.pointer for e in query.events] == [
        "/epcisBody/queryResults/resultsBody/eventList/0",
        "/epcisBody/queryResults/resultsBody/eventList/1",
    ]
    assert bare.kind == "event"
    assert bare.events[0].pointer == ""


def test_an_event_context_extends_the_document_context() -> None:
    document = fixture("commissioning.jsonld")
    document["epcisBody"]["eventList"][0]["@context"] = {"lab": "https://lab.example/"}

    event = parse_document(document).events[0]

    assert event.context == [*document["@context"], {"lab": "https://lab.example/"}]


def broken(change: Any) -> dict[str, Any]:
    document = fixture("sensor.jsonld")
    second = copy.deepcopy(document["epcisBody"]["eventList"][0])
    document["epcisBody"]["eventList"].append(second)
    change(second)
    return document


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e.update(eventTime="2024-02-30T10:00:00Z"), "/eventTime"),
        (lambda e: e.update(eventTime="2024-05-06 10:00:00"), "/eventTime"),
        (lambda e: e.update(eventTimeZoneOffset="+2:00"), "/eventTimeZoneOffset"),
        (lambda e: e.pop("action"), "/action"),
        (lambda e: e.update(action="MOVE"), "/action"),
        (lambda e: e.update(bizStep="shiping"), "/bizStep"),
        (lambda e: e.update(disposition="urn:epcglobal:cbv:disp:nonsense"), "/disposition"),
        (lambda e: e["quantityList"][0].update(uom="litres"), "/quantityList/0/uom"),
        (lambda e: e["quantityList"][0].update(quantity="600"), "/quantityList/0/quantity"),
        (lambda e: e.update(epcList=["not a uri"]), "/epcList/0"),
        (lambda e: e["readPoint"].update(id="two words"), "/readPoint/id"),
        (
            lambda e: e["sensorElementList"][0]["sensorReport"][0].update(type="Temprature"),
            "/sensorElementList/0/sensorReport/0/type",
        ),
        (
            lambda e: e["sensorElementList"][0]["sensorReport"][1].update(value="high"),
            "/sensorElementList/0/sensorReport/1/value",
        ),
    ],
)
def test_an_invalid_event_is_named_with_the_field(change: Any, field: str) -> None:
    with pytest.raises(EpcisDocumentError) as caught:
        parse_document(broken(change))

    assert caught.value.event_index == 1
    assert caught.value.pointer == "/epcisBody/eventList/1" + field
    assert caught.value.code == "epcis-invalid-document"
    assert "event 1" in str(caught.value)


def test_cbv_1_urns_are_read_as_the_bare_words_they_stand_for() -> None:
    document = fixture("sensor.jsonld")
    event = document["epcisBody"]["eventList"][0]
    event["bizStep"] = "urn:epcglobal:cbv:bizstep:sensor_reporting"
    event["disposition"] = "urn:epcglobal:cbv:disp:in_progress"

    parsed = parse_document(document)

    assert parsed.events[0].data["bizStep"] == "urn:epcglobal:cbv:bizstep:sensor_reporting"


@pytest.mark.parametrize(
    ("document", "pointer"),
    [
        ({"type": "EPCISDocument"}, "/epcisBody/eventList"),
        ({"type": 7}, "/type"),
        # Regressions: a list for the type raised a TypeError; a type GS1's schema does not
        # constrain was read as a bare event and refused for a missing eventTime (GS1's
        # CBV-11.4 example, of EPCIS 1.x's type).
        ({"type": ["EPCISDocument"]}, "/type"),
        (fixture("gs1/cbv_11_4.jsonld"), "/type"),
        ({**fixture("bare_event.jsonld"), "type": "SensorEvent"}, "/type"),
        ({**fixture("bare_event.jsonld"), "@context": None}, "/@context"),
    ],
)
def test_what_is_not_an_epcis_document_says_so(document: dict[str, Any], pointer: str) -> None:
    with pytest.raises(EpcisDocumentError) as caught:
        parse_document(document)

    assert caught.value.pointer == pointer


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    "data",
    [
        b"x" * (MAX_DOCUMENT_BYTES + 1),
        nested(100_000).encode(),
        b'{"type": NaN}',
        b"\xff\xfe not utf-8",
        b'{"type": "EPCISDocument"',
    ],
)
def test_hostile_bytes_get_a_typed_error(data: bytes) -> None:
    with pytest.raises(EpcisError):
        load_json(data)


def test_deep_nesting_in_an_extension_is_refused_before_validation() -> None:
    document = fixture("commissioning.jsonld")
    document["epcisBody"]["eventList"][0]["ex:deep"] = json.loads(nested(MAX_DEPTH + 5))

    with pytest.raises(EpcisLimitError) as caught:
        parse_document(document)

    assert caught.value.pointer.startswith("/epcisBody/eventList/0/ex:deep/a/a")


def test_too_many_events_and_huge_strings_are_refused() -> None:
    many = fixture("commissioning.jsonld")
    many["epcisBody"]["eventList"] *= MAX_EVENTS + 1
    long = fixture("commissioning.jsonld")
    long["epcisBody"]["eventList"][0]["ex:note"] = "x" * 100_000

    with pytest.raises(EpcisLimitError, match="events"):
        parse_document(many)
    with pytest.raises(EpcisLimitError) as caught:
        parse_document(long)
    assert caught.value.pointer == "/epcisBody/eventList/0/ex:note"
