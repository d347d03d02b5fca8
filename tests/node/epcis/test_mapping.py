"""The EPCIS → TraceNode mapping table (docs/epcis.md)."""

from __future__ import annotations

from typing import Any

import pytest

from node.epcis.document import parse_document
from node.epcis.mapping import MappedEvent, map_document
from node.events.hashing import keccak
from node.events.identifiers import parse_identifier
from node.events.payload import canonical_json
from node.events.typed_data import Action
from node.exceptions import EpcisMappingError
from tests.node.epcis.conftest import document, event, fixture, lgtin

RECEIVER = bytes.fromhex("11" * 20)
LOT = lgtin("MILK-0506")


def parties(identifier: str) -> bytes | None:
    return RECEIVER if "0614142" in identifier else None


def mapped(doc: dict[str, Any]) -> list[list[MappedEvent]]:
    parsed = parse_document(doc)
    return [list(t) for t in map_document(parsed.events, parties).trace_events]


def actions(doc: dict[str, Any]) -> list[list[str]]:
    return [[m.action.name for m in t] for t in mapped(doc)]


QUANTITY = [{"epcClass": LOT, "quantity": 10, "uom": "KGM"}]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"action": "ADD", "bizStep": "commissioning"}, "COMMISSION"),
        ({"action": "ADD", "bizStep": "creating_class_instance"}, "COMMISSION"),
        ({"action": "ADD"}, "COMMISSION"),
        ({"action": "ADD", "bizStep": "urn:epcglobal:cbv:bizstep:commissioning"}, "COMMISSION"),
        (
            {
                "action": "OBSERVE",
                "bizStep": "shipping",
                "destinationList": [
                    {"type": "owning_party", "destination": "urn:epc:id:pgln:0614142.00000"}
                ],
            },
            "SHIP",
        ),
        ({"action": "OBSERVE", "bizStep": "https://ref.gs1.org/cbv/BizStep-receiving"}, "RECEIVE"),
        ({"action": "OBSERVE", "bizStep": "cbv:BizStep-receiving"}, "RECEIVE"),
        ({"action": "DELETE", "bizStep": "destroying", "disposition": "destroyed"}, "DESTROY"),
        ({"action": "OBSERVE", "disposition": "disposed"}, "DESTROY"),
        ({"action": "OBSERVE", "bizStep": "holding", "disposition": "recalled"}, "RECALL"),
        ({"action": "OBSERVE", "bizStep": "inspecting"}, "OBSERVE"),
        ({"action": "OBSERVE", "bizStep": "sensor_reporting"}, "OBSERVE"),
        ({"action": "OBSERVE", "bizStep": "arriving"}, "OBSERVE"),
        ({"action": "OBSERVE", "bizStep": "departing"}, "OBSERVE"),
        ({"action": "OBSERVE", "bizStep": "void_shipping"}, "OBSERVE"),
        ({"action": "OBSERVE", "bizStep": "urn:example:bizstep:weighing"}, "OBSERVE"),
        ({"action": "ADD", "bizStep": "packing"}, "OBSERVE"),
    ],
)
def test_object_events(fields: dict[str, Any], expected: str) -> None:
    doc = document(event(quantityList=QUANTITY, **fields))

    assert actions(doc) == [[expected]]


def test_each_event_type_fixture_maps_as_the_table_says() -> None:
    assert actions(fixture("commissioning.jsonld")) == [["COMMISSION"]]
    assert actions(fixture("shipping.jsonld")) == [["SHIP", "SHIP", "SHIP"]]
    assert actions(fixture("sensor.jsonld")) == [["OBSERVE"]]
    assert actions(fixture("aggregation.jsonld")) == [["AGGREGATE"]]
    assert actions(fixture("transformation.jsonld")) == [["TRANSFORM"]]
    assert actions(fixture("transaction.jsonld")) == [["OBSERVE"]]
    assert actions(fixture("association.jsonld")) == [["OBSERVE"]]
    assert actions(fixture("error_declaration.jsonld")) == [["OBSERVE"]]
    assert actions(fixture("query.jsonld")) == [["OBSERVE"], ["RECALL"]]
    assert actions(fixture("bare_event.jsonld")) == [["OBSERVE"]]


def test_mixed_identifier_forms_name_each_batch_once() -> None:
    doc = fixture("shipping.jsonld")
    doc["epcisBody"]["eventList"][0]["epcList"].append(
        "https://id.gs1.org/01/00614141123452/21/CAN-001"  # the first item, as a Digital Link
    )
    doc["epcisBody"]["eventList"][0]["epcList"].append("urn:epc:id:sscc:0614141.1234567890")

    ships = mapped(doc)[0]

    assert [m.batch.canonical for m in ships if m.batch] == [
        "https://id.gs1.org/01/00614141123452/21/CAN-001",
        "https://id.gs1.org/01/00614141123452/21/CAN-002",
        "https://id.gs1.org/01/00614141123452/10/MILK-0506",
    ]
    assert {m.counterparty for m in ships} == {RECEIVER}


def test_a_commission_carries_product_quantity_time_location_and_the_original_json() -> None:
    """The payload is the event as given, with the document's ``@context`` as its own."""
    doc = fixture("commissioning.jsonld")

    (commission,) = mapped(doc)[0]

    original = doc["epcisBody"]["eventList"][0]
    assert commission.batch == parse_identifier("urn:epc:class:lgtin:0614141.012345.MILK-0506")
    assert commission.product == keccak(b"https://id.gs1.org/01/00614141123452")
    assert commission.quantity == 1200
    assert commission.event_time == 1_714_969_800_000  # 2024-05-06T06:30:00+02:00
    assert commission.location == keccak(b"https://id.gs1.org/414/0614141000012")
    assert commission.payload == canonical_json({"@context": doc["@context"]} | original)
    assert commission.created() == ("https://id.gs1.org/01/00614141123452/10/MILK-0506",)


def test_transformation_and_packing_link_their_batches() -> None:
    (transform,) = mapped(fixture("transformation.jsonld"))[0]
    (pack,) = mapped(fixture("aggregation.jsonld"))[0]

    assert transform.action is Action.TRANSFORM
    assert [i.lot for i in transform.inputs] == ["MILK-0506"]
    assert [o.lot for o in transform.outputs] == ["CHEESE-0507"]
    assert transform.quantity == 59  # 58.5 kg rounded up; the exact amount is in the payload
    assert pack.batch is not None
    assert pack.batch.canonical == "https://id.gs1.org/00/106141412345678908"
    assert {i.serial or i.lot for i in pack.inputs} == {"CAN-001", "MILK-0506"}


def test_a_recalled_transformation_is_recorded_as_the_transformation() -> None:
    # docs/epcis.md: the TransformationEvent row comes before the recalled one, and the
    # disposition stays in the payload (an aggregation's recall, below, is a RECALL).
    doc = fixture("transformation.jsonld")
    for item in doc["epcisBody"]["eventList"]:
        item["disposition"] = "recalled"
    (transform,) = mapped(doc)[0]

    assert transform.action is Action.TRANSFORM
    assert [o.lot for o in transform.outputs] == ["CHEESE-0507"]
    assert b'"disposition":"recalled"' in (transform.payload or b"")


def test_a_transformation_split_by_transformation_id_maps_each_side_alone() -> None:
    """EPCIS lets one transformation be reported in parts sharing a transformationID:
    the outputs' part creates them, the inputs' part observes them (docs/epcis.md)."""
    cheese = lgtin("CHEESE-0507")
    tank = "urn:epc:id:giai:0614141.TANK-3"  # bulk milk by its tank: no lot
    inputs_only = event(
        "TransformationEvent",
        transformationID="urn:uuid:7f6a8a1e-41d5-4d5c-9a1b-0c2a7c1e2b3d",
        inputQuantityList=QUANTITY,
        bizStep="commissioning",
    )
    outputs_only = event(
        "TransformationEvent",
        transformationID="urn:uuid:7f6a8a1e-41d5-4d5c-9a1b-0c2a7c1e2b3d",
        inputEPCList=[tank],
        outputQuantityList=[{"epcClass": cheese, "quantity": 12.5, "uom": "KGM"}],
    )

    (observe,), (commission,) = mapped(document(inputs_only, outputs_only))

    assert observe.action is Action.OBSERVE
    assert observe.batch == parse_identifier(LOT)
    assert observe.created() == ()
    assert observe.heads_needed() == [bytes(parse_identifier(LOT).batch_id)]
    assert commission.action is Action.COMMISSION
    assert commission.batch == parse_identifier(cheese)
    assert commission.quantity == 13
    assert commission.created() == (parse_identifier(cheese).canonical,)
    assert tank.encode() in commission.payload  # the unnamed input stays in the payload


@pytest.mark.parametrize(
    "destinations",
    [
        [{"type": "owning_party", "destination": "urn:epc:id:pgln:0999999.00000"}],
        [{"type": "location", "destination": "urn:epc:id:sgln:0614142.00001.0"}],
        None,  # none named (EPCIS 2.0 example 9.6.1)
    ],
)
def test_shipping_to_nobody_registered_leaves_the_network(
    destinations: list[dict[str, str]] | None,
) -> None:
    fields: dict[str, Any] = {"action": "OBSERVE", "bizStep": "shipping", "quantityList": QUANTITY}
    if destinations is not None:
        fields["destinationList"] = destinations

    (ship,) = mapped(document(event(**fields)))[0]

    assert (ship.action, ship.counterparty) == (Action.SHIP, bytes(20))


def test_a_receipt_names_its_lot_so_a_lot_from_outside_can_be_adopted() -> None:
    fields: dict[str, Any] = {
        "action": "OBSERVE",
        "bizStep": "receiving",
        "quantityList": QUANTITY,
    }

    (receive,) = mapped(document(event(**fields)))[0]

    assert receive.action is Action.RECEIVE
    assert receive.batch is not None
    assert receive.identifiers() == (receive.batch.canonical,)


@pytest.mark.parametrize(
    ("fields", "pointer", "message"),
    [
        (
            {"action": "OBSERVE", "epcList": ["urn:epc:id:sgtin:0614141.012345.A~B"]},
            "/epcList/0",
            "CSET 82",
        ),
        (
            {
                "action": "OBSERVE",
                "quantityList": [{"epcClass": "https://id.gs1.org/01/00614141123453/10/L"}],
            },
            "/quantityList/0/epcClass",
            "check digit",
        ),
    ],
)
def test_what_cannot_be_mapped_is_refused_alone_with_its_field(
    fields: dict[str, Any], pointer: str, message: str
) -> None:
    doc = document(event(quantityList=QUANTITY, action="ADD"), event(**fields))

    result = map_document(parse_document(doc).events, parties)

    assert [m.action for m in result.trace_events[0]] == [Action.COMMISSION]
    assert result.trace_events[1] == ()
    assert list(result.refused) == [1]
    refusal = result.refused[1]
    assert isinstance(refusal, EpcisMappingError)
    assert message in str(refusal)
    assert refusal.event_index == 1
    assert refusal.pointer == "/epcisBody/eventList/1" + pointer


SSCC = "urn:epc:id:sscc:0614141.1234567890"
GRAI = "urn:epc:id:grai:0614141.12345.400"


@pytest.mark.parametrize(
    ("fields", "keys"),
    [
        # A shipping of a pallet alone: recorded, never a SHIP (no custody moves).
        (
            {
                "action": "OBSERVE",
                "bizStep": "shipping",
                "epcList": [SSCC, "https://example.com/00/106141412345678908"],
            },
            ["https://id.gs1.org/00/106141412345678908"],
        ),
        ({"action": "OBSERVE", "epcList": [GRAI]}, ["https://id.gs1.org/8003/00614141123452400"]),
        (
            {
                "action": "ADD",
                "bizStep": "commissioning",
                "epcList": ["urn:epc:id:giai:0614141.A1"],
            },
            ["https://id.gs1.org/8004/0614141A1"],
        ),
        (
            {"action": "OBSERVE", "epcList": ["urn:epc:id:gsrn:0614141.1234567890"]},
            ["https://id.gs1.org/8018/061414112345678902"],
        ),
        (
            {
                "action": "OBSERVE",
                "quantityList": [{"epcClass": "urn:example:lot:42", "quantity": 3}],
            },
            ["urn:example:lot:42"],
        ),
        (
            {
                "type": "AggregationEvent",
                "action": "ADD",
                "parentID": SSCC,
                "childEPCs": [GRAI],
            },
            [
                "https://id.gs1.org/00/106141412345678908",
                "https://id.gs1.org/8003/00614141123452400",
            ],
        ),
    ],
)
def test_what_names_no_batch_is_an_anchored_only_record_of_each_identifier(
    fields: dict[str, Any], keys: list[str]
) -> None:
    kind = fields.pop("type", "ObjectEvent")
    doc = document(event(kind, **fields))

    result = map_document(parse_document(doc).events, parties)

    assert result.refused == {}
    assert result.anchored_only(0)
    assert [m.batch.canonical for m in result.trace_events[0] if m.batch] == keys
    for item in result.trace_events[0]:
        assert (item.action, item.record, item.counterparty) == (Action.OBSERVE, True, bytes(20))
        assert item.batch is not None
        assert item.batch.batch_id == keccak(item.batch.canonical.encode())
        assert item.identifiers() == (item.batch.canonical,)
        assert item.heads_needed() == []


def test_an_event_that_names_nothing_is_recorded_under_its_own_hash_id() -> None:
    doc = document(event(action="OBSERVE", epcList=[], bizStep="inspecting"))

    result = map_document(parse_document(doc).events, parties)

    (record,) = result.trace_events[0]
    assert record.batch is not None
    assert record.batch.canonical == result.hash_ids[0]
    assert record.record
