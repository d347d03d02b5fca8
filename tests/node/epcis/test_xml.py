"""EPCIS 2.0 and 1.2 XML documents: validated, read as their JSON form, one hash ID with it."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from node.epcis.capture import Outcome, capture
from node.epcis.document import MAX_DOCUMENT_BYTES, load_document, parse_document
from node.epcis.hashid import event_hash_id, pre_hash_string
from node.epcis.mapping import MappedEvent, map_document
from node.epcis.xmldoc import MAX_XML_DEPTH, parse_xml
from node.exceptions import (
    EpcisDocumentError,
    EpcisError,
    EpcisLimitError,
    EpcisMappingError,
    EpcisXmlError,
)
from tests.node.epcis.conftest import (
    FIXTURES,
    XML_HEAD,
    Rig,
    commissioning_xml,
    fixture,
    new_lot,
    xml_document,
)

XML = FIXTURES / "xml"
RECEIVER = bytes.fromhex("22" * 20)

#: XML fixture → its JSON form (composed for this project after GS1's examples).
PAIRS = {
    "shipping.xml": "shipping.jsonld",
    "sensor.xml": "sensor.jsonld",
    "aggregation.xml": "aggregation.jsonld",
    "transformation.xml": "transformation.jsonld",
    "association.xml": "association.jsonld",
    "transaction.xml": "transaction.jsonld",
    "error_declaration.xml": "error_declaration.jsonld",
    "commissioning.xml": "commissioning.jsonld",
    "gs1_9_6_1.xml": "xml/gs1_9_6_1.jsonld",
    "gs1_9_6_1-query.xml": "xml/gs1_9_6_1.jsonld",
    "certification_sensor.xml": "xml/certification_sensor.jsonld",
    "future_extension.xml": "xml/future_extension.jsonld",
    # EPCIS 1.2 XML: extension wrappers, baseExtension, CBV 1.x URNs
    "shipping-1.2.xml": "shipping.jsonld",
    "sensor-1.2.xml": "sensor.jsonld",
    "association-1.2.xml": "association.jsonld",
    "commissioning-1.2.xml": "commissioning.jsonld",
    "aggregation-1.2.xml": "aggregation.jsonld",
    "transformation-1.2.xml": "transformation.jsonld",
    "error_declaration-1.2.xml": "error_declaration.jsonld",
    "gs1_9_6_1-1.2.xml": "xml/gs1_9_6_1.jsonld",
}


def parties(identifier: str) -> bytes | None:
    return RECEIVER if "0614142" in identifier else None


def xml(name: str) -> str:
    return (XML / name).read_text()


def json_form(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def _fields(item: MappedEvent) -> tuple[Any, ...]:
    """What a TraceEvent says, but its payload (each form's own JSON text)."""
    return (
        item.action,
        item.batch.batch_id if item.batch else None,
        tuple(i.batch_id for i in item.inputs),
        tuple(o.batch_id for o in item.outputs),
        item.counterparty,
        item.product,
        item.quantity,
        item.event_time,
        item.location,
    )


@pytest.mark.parametrize(("xml_name", "json_name"), sorted(PAIRS.items()))
def test_an_events_xml_and_json_forms_have_one_hash_id_and_one_mapping(
    xml_name: str, json_name: str
) -> None:
    from_xml = parse_document(xml(xml_name))
    from_json = parse_document(json_form(json_name))

    assert [e.type for e in from_xml.events] == [e.type for e in from_json.events]
    assert [event_hash_id(e.data, e.context) for e in from_xml.events] == [
        event_hash_id(e.data, e.context) for e in from_json.events
    ]
    refused = _refusal(from_json.events)
    if refused is not None:  # GS1's 9.6.1 ships to no one: both forms are refused alike
        assert _refusal(from_xml.events) == refused
        return
    mapped_json = map_document(from_json.events, parties)
    mapped_xml = map_document(from_xml.events, parties)
    assert mapped_xml.hash_ids == mapped_json.hash_ids
    assert [[_fields(m) for m in t] for t in mapped_xml.trace_events] == [
        [_fields(m) for m in t] for t in mapped_json.trace_events
    ]
    # each TraceEvent's payload is the event's JSON form, which re-derives the hash ID
    for index, items in enumerate(mapped_xml.trace_events):
        for item in items:
            payload = json.loads(item.payload)
            assert event_hash_id(payload, payload["@context"]) == mapped_xml.hash_ids[index]


def _refusal(events: Any) -> str | None:
    try:
        map_document(events, parties)
    except EpcisMappingError as exc:
        return str(exc)
    return None


REFERENCE: dict[str, Any] = {
    k.removeprefix("xml/"): v
    for k, v in json.loads((FIXTURES.parent / "vectors" / "reference_1_9_3.json").read_text())[
        "fixtures"
    ].items()
    if k.startswith("xml/")
}
#: The reference's XML reader writes GS1's cbvmda namespace expanded
#: (``{urn:epcglobal:cbv:mda}lotNumber``) where its JSON reader, whose vectors the hash ID
#: follows, keeps ``cbvmda:lotNumber``: the XML form follows the JSON form here, so that
#: both give one hash ID (docs/epcis.md).
CBVMDA_DIFFERENCE = {"commissioning.xml", "commissioning-1.2.xml"}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_xml_fixtures_hash_as_the_reference_reads_them_from_xml(name: str) -> None:
    events = parse_document(xml(name)).events
    ours = [event_hash_id(e.data, e.context) for e in events]

    if name in CBVMDA_DIFFERENCE:
        assert ours != REFERENCE[name]["hashes"]
        assert any("{urn:epcglobal:cbv:mda}" in p for p in REFERENCE[name]["prehashes"])
    else:
        assert ours == REFERENCE[name]["hashes"]


def test_every_xml_fixture_is_paired_and_checked_against_the_reference() -> None:
    names = {p.name for p in XML.glob("*.xml")}

    assert names == set(PAIRS)
    # the reference reads no query document and no typed list item without a type
    assert names - set(REFERENCE) == {"gs1_9_6_1-query.xml", "transaction.xml"}


def test_the_json_form_follows_the_epcis_2_0_binding() -> None:
    document = parse_document(xml("commissioning.xml"))
    event = document.events[0].data

    assert document.kind == "EPCISDocument"
    assert document.data["@context"] == [
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        {"ex": "https://ns.example.com/epcis/"},
    ]
    assert event["type"] == "ObjectEvent"
    assert event["epcList"] == []
    assert event["quantityList"] == [
        {"epcClass": "urn:epc:class:lgtin:0614141.012345.MILK-0506", "quantity": 1200, "uom": "LTR"}
    ]
    assert event["certificationInfo"] == "https://id.gs1.org/253/4000001000005Cert-7"
    # GS1's cbvmda namespace keeps GS1's prefix; another namespace its document's prefix
    assert event["ilmd"] == {
        "cbvmda:bestBeforeDate": "2024-05-20",
        "cbvmda:countryOfOrigin": "CH",
        "ex:herd": {"ex:cows": "48", "ex:breed": "Simmental"},
    }
    assert event["ex:milkingShift"] == "morning"
    # the header's master data, as the JSON form carries it (the SBDH is not read)
    assert document.data["epcisHeader"] == {
        "epcisMasterData": {
            "vocabularyList": [
                {
                    "type": "urn:epcglobal:epcis:vtype:BusinessLocation",
                    "vocabularyElementList": [
                        {
                            "id": "urn:epc:id:sgln:0614141.00001.0",
                            "attributes": [
                                {
                                    "id": "urn:epcglobal:cbv:mda#name",
                                    "attribute": "Green Valley Farm, milking parlour",
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    }

    sensor = parse_document(xml("sensor.xml")).events[0].data["sensorElementList"][0]
    assert sensor["sensorReport"][0] == {
        "type": "gs1:Temperature",
        "value": 4.2,
        "minValue": 3,
        "maxValue": 5.5,
        "meanValue": 4.1,
        "uom": "CEL",
    }
    assert sensor["sensorReport"][2]["acme:alarmId"] == "A-17"
    assert sensor["acme:calibrated"] == "2024-01-01"


FUTURE_PLACES = (
    "<errorDeclaration><declarationTime>2024-05-07T08:00:00Z</declarationTime>"
    "<extension><reviewed>yes</reviewed></extension></errorDeclaration>"
    "<epcList><epc>urn:epc:id:sgtin:0614141.107346.2017</epc></epcList><action>ADD</action>"
    "<readPoint><id>urn:epc:id:sgln:0614141.00001.0</id><extension><floor>2</floor></extension>"
    "</readPoint>"
    "<bizLocation><id>urn:epc:id:sgln:0614141.00002.0</id><extension><zone><row>B</row></zone>"
    "</extension></bizLocation>"
    '<sensorElementList><sensorElement><sensorReport type="gs1:Temperature" value="4"/>'
    "<extension><calibrated>true</calibrated></extension></sensorElement></sensorElementList>"
    "<ilmd><extension><grade>A</grade></extension></ilmd>"
    "<extension><futureExtension/><futureExtension>again</futureExtension></extension>"
    "<ex:user><extension><own>x</own></extension></ex:user>"
    '<g:same xmlns:g="https://ref.gs1.org/epcis/">IRI</g:same>'
)


def test_a_field_of_a_future_epcis_version_is_kept_as_epcis_name_everywhere() -> None:
    """An element of no namespace inside an ``<extension>`` (EPCIS reserves it for its
    future versions) is the member ``epcis:name`` wherever EPCIS has an ``<extension>``;
    inside a user's own extension element, names stay the user's."""
    text = xml_document(
        f"<ObjectEvent>{XML_HEAD}{FUTURE_PLACES}</ObjectEvent>",
        extra='xmlns:ex="https://ns.example.com/epcis/"',
    )
    (event,) = parse_document(text).events

    assert event.data["epcis:futureExtension"] == ["", "again"]
    assert event.data["errorDeclaration"]["epcis:reviewed"] == "yes"
    assert event.data["readPoint"] == {"id": "urn:epc:id:sgln:0614141.00001.0", "epcis:floor": "2"}
    assert event.data["bizLocation"]["epcis:zone"] == {"row": "B"}
    assert event.data["sensorElementList"][0]["epcis:calibrated"] == "true"
    assert event.data["ilmd"] == {"epcis:grade": "A"}
    assert event.data["ex:user"] == {"own": "x"}
    assert event.data["epcis:same"] == "IRI"  # GS1's EPCIS namespace: the same key
    # its JSON form, written by hand, is one event with the XML form: one hash ID
    as_json = json.loads(json.dumps(parse_document(text).data))
    (again,) = parse_document(as_json).events
    assert event_hash_id(again.data, again.context) == event_hash_id(event.data, event.context)
    # hashed by the bare name, as a standard field and as the reference reads the XML
    pre = pre_hash_string(event.data, event.context)
    assert "futureExtensionfutureExtension=again" in pre
    assert "epcis:" not in pre


def test_an_epcis_prefix_a_document_redeclares_is_its_own_namespace() -> None:
    doc = json_form("xml/future_extension.jsonld")
    (first, _second) = parse_document(json_form("xml/future_extension.jsonld")).events
    doc["@context"][1]["epcis"] = "https://ns.example.com/other/"
    (mine, _) = parse_document(doc).events

    assert "{https://ns.example.com/other/}futureField=42" in pre_hash_string(
        mine.data, mine.context
    )
    assert event_hash_id(mine.data, mine.context) != event_hash_id(first.data, first.context)


def test_repeated_extension_elements_and_attributes_become_lists_and_members() -> None:
    text = xml_document(
        "<ObjectEvent>"
        f"{XML_HEAD}<epcList/><action>OBSERVE</action>"
        '<ex:reading unit="CEL" ex:probe="p1">4.5</ex:reading>'
        "<ex:tag>a</ex:tag><ex:tag>b</ex:tag><ex:tag>c</ex:tag>"
        "</ObjectEvent>",
        extra='xmlns:ex="https://ns.example.com/epcis/"',
    )
    event = parse_xml(text, max_bytes=MAX_DOCUMENT_BYTES).data["epcisBody"]["eventList"][0]

    assert event["ex:tag"] == ["a", "b", "c"]
    assert event["ex:reading"] == {"unit": "CEL", "ex:probe": "p1", "#text": "4.5"}


def test_two_namespaces_sharing_a_prefix_get_two_prefixes() -> None:
    text = xml_document(
        "<ObjectEvent>"
        f"{XML_HEAD}<epcList/><action>OBSERVE</action>"
        '<ex:a xmlns:ex="https://one.example/">1</ex:a>'
        '<ex:b xmlns:ex="https://two.example/">2</ex:b>'
        "</ObjectEvent>"
    )
    data = parse_xml(text, max_bytes=MAX_DOCUMENT_BYTES).data

    event = data["epcisBody"]["eventList"][0]

    assert data["@context"][1] == {"ex": "https://one.example/", "ex2": "https://two.example/"}
    assert (event["ex:a"], event["ex2:b"]) == ("1", "2")


def test_a_cbv_1_error_reason_urn_is_valid_in_json_too() -> None:
    doc = fixture("error_declaration.jsonld")
    doc["epcisBody"]["eventList"][0]["errorDeclaration"]["reason"] = (
        "urn:epcglobal:cbv:er:incorrect_data"
    )
    parsed = parse_document(doc)

    assert event_hash_id(parsed.events[0].data, parsed.events[0].context) == event_hash_id(
        *_first(fixture("error_declaration.jsonld"))
    )


def _first(doc: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    event = parse_document(doc).events[0]
    return event.data, event.context


# ----- bad input: a typed error naming the line, never anything else -----


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>\n'
    '<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0" '
    'creationDate="2024-05-06T08:00:00Z"><EPCISBody><EventList><ObjectEvent>'
    "<eventTime>&lol4;</eventTime></ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    '<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0" '
    'creationDate="2024-05-06T08:00:00Z"><EPCISBody><EventList><ObjectEvent>'
    "<eventTime>&xxe;</eventTime></ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>"
)
EXTERNAL_DTD = (
    '<?xml version="1.0"?>\n<!DOCTYPE d SYSTEM "http://127.0.0.1:9/evil.dtd">\n'
    + xml_document("")[len('<?xml version="1.0" encoding="UTF-8"?>\n') :]
)


def _deep(levels: int) -> str:
    open_tags = "".join(f"<ex:n{i}>" for i in range(levels))
    close_tags = "".join(f"</ex:n{i}>" for i in reversed(range(levels)))
    return xml_document(
        f"<ObjectEvent>{XML_HEAD}<epcList/><action>OBSERVE</action>{open_tags}x{close_tags}"
        "</ObjectEvent>",
        extra='xmlns:ex="https://ns.example.com/epcis/"',
    )


@pytest.mark.parametrize(
    ("text", "error", "needle"),
    [
        (xml("shipping.xml")[:700], EpcisXmlError, "not well-formed XML"),
        ("<", EpcisXmlError, "not well-formed XML"),
        ("<?xml version='1.0'?><a><b></a>", EpcisXmlError, "not well-formed XML"),
        (BILLION_LAUGHS, EpcisXmlError, "DOCTYPE"),
        (EXTERNAL_ENTITY, EpcisXmlError, "DOCTYPE"),
        (EXTERNAL_DTD, EpcisXmlError, "DOCTYPE"),
        (xml_document("").replace("?>\n", "?>\n<!DOCTYPE project>\n", 1), EpcisXmlError, "DOCTYPE"),
        (
            xml_document("", namespace="urn:epcglobal:epcis:xsd:3"),
            EpcisXmlError,
            "is not an EPCISDocument of EPCIS 2.0",
        ),
        ("<EPCISDocument/>", EpcisXmlError, "is not an EPCISDocument"),
        (
            xml_document(f"<ObjectEvent>{XML_HEAD}<action>MOVE</action></ObjectEvent>"),
            EpcisXmlError,
            "line 4",
        ),
        (
            xml_document(f"<ObjectEvent><action>ADD</action>{XML_HEAD}</ObjectEvent>"),
            EpcisXmlError,
            "not valid EPCIS 2.0 XML",
        ),
        (  # an element of no namespace outside <extension>: no EPCIS field, refused
            xml_document(
                f"<ObjectEvent>{XML_HEAD}<action>ADD</action><colour>red</colour></ObjectEvent>"
            ),
            EpcisXmlError,
            "line 4, /epcis:EPCISDocument/EPCISBody/EventList/ObjectEvent/colour",
        ),
        (
            xml_document(
                f"<ObjectEvent>{XML_HEAD}<action>ADD</action><readPoint><id>urn:epc:id:sgln:"
                "0614141.00001.0</id><colour>red</colour></readPoint></ObjectEvent>"
            ),
            EpcisXmlError,
            "/ObjectEvent/readPoint/colour",
        ),
        (
            xml_document(
                "<QuantityEvent><eventTime>2024-05-06T08:00:00Z</eventTime></QuantityEvent>",
                namespace="urn:epcglobal:epcis:xsd:1",
            ),
            EpcisXmlError,
            "QuantityEvent is not an EPCIS event type (deprecated",
        ),
        (
            xml_document(
                '<ex:CustomEvent xmlns:ex="https://ns.example.com/epcis/"/>',
                namespace="urn:epcglobal:epcis:xsd:1",
            ),
            EpcisXmlError,
            "CustomEvent is not an EPCIS event type",
        ),
        (_deep(MAX_XML_DEPTH), EpcisLimitError, "nested deeper"),
        (_deep(300), EpcisXmlError, "not well-formed"),
        (
            xml_document(
                f"<ObjectEvent>{XML_HEAD}<epcList><epc>not a uri at all</epc></epcList>"
                "<action>ADD</action></ObjectEvent>"
            ),
            EpcisDocumentError,
            "XML line 4",
        ),
        ("not xml", EpcisDocumentError, "must be an EPCIS XML document"),
        (  # valid as xsd:decimal; printing it in the schema's message once answered 500
            xml_document(
                f"<ObjectEvent>{XML_HEAD}<action>ADD</action><quantityList><quantityElement>"
                "<epcClass>urn:epc:class:lgtin:0614141.012345.L1</epcClass>"
                f"<quantity>1{'0' * 5000}</quantity></quantityElement></quantityList>"
                "</ObjectEvent>"
            ),
            EpcisXmlError,
            "a number of 5001 characters (at most 400)",
        ),
    ],
)
def test_bad_xml_is_a_typed_error(text: str, error: type[EpcisError], needle: str) -> None:
    with pytest.raises(error) as raised:
        parse_document(text)

    assert needle in str(raised.value)


def test_mangled_xml_is_read_or_refused_with_a_typed_error_and_nothing_else() -> None:
    text = xml("shipping-1.2.xml")
    chances = random.Random(11)
    outcomes = {"read": 0, "refused": 0}
    for _ in range(300):
        mangled = list(text)
        for _ in range(chances.randint(1, 4)):
            at = chances.randrange(len(mangled))
            choice = chances.random()
            if choice < 0.4:
                del mangled[at]
            elif choice < 0.8:
                mangled.insert(at, chances.choice('<>&/"=:;x1 \n\x00\u00e9'))
            else:
                mangled[at : at + 8] = []
        try:
            parse_document("".join(mangled))
            outcomes["read"] += 1
        except EpcisError:
            outcomes["refused"] += 1

    assert outcomes["refused"] > 100
    assert outcomes["read"] > 0


def test_a_schema_error_names_the_line_the_path_and_the_event() -> None:
    events = (
        f"<ObjectEvent>{XML_HEAD}<epcList/><action>ADD</action></ObjectEvent>\n"
        f"<ObjectEvent>{XML_HEAD}<epcList/><action>MOVE</action></ObjectEvent>"
    )
    with pytest.raises(EpcisXmlError) as raised:
        parse_document(xml_document(events))

    assert raised.value.line == 5
    assert raised.value.path == "/epcis:EPCISDocument/EPCISBody/EventList/ObjectEvent[2]/action"
    assert raised.value.event_index == 1
    assert raised.value.code == "epcis-invalid-document"


def test_size_bounds_hold_before_parsing() -> None:
    padding = "<!--" + "x" * MAX_DOCUMENT_BYTES + "-->"
    with pytest.raises(EpcisLimitError):
        parse_document(xml_document("") + padding)
    with pytest.raises(EpcisLimitError):
        load_document((xml_document("") + padding).encode())


def test_an_xml_file_is_read_as_text_and_json_as_json() -> None:
    assert load_document(xml("shipping.xml").encode()) == xml("shipping.xml")
    bom = b'\xef\xbb\xbf  <?xml version="1.0"?><a/>'
    assert load_document(bom) == '  <?xml version="1.0"?><a/>'
    assert load_document(b'{"a": 1}') == {"a": 1}
    with pytest.raises(EpcisDocumentError, match="not UTF-8"):
        load_document('<?xml version="1.0" encoding="latin-1"?><a>é</a>'.encode("latin-1"))


# ----- capture: XML in, the JSON form stored, one hash ID with the JSON form -----


def test_an_xml_document_is_captured_and_its_json_form_is_a_duplicate(rig: Rig) -> None:
    lot = new_lot()
    request = rig.sign("farm", commissioning_xml(lot))
    results = capture(ingest=rig.ingest, request=json.loads(json.dumps(request)))
    with rig.store.read() as conn:
        payload = rig.store.events.payloads(conn, list(results[0].trace_events))[
            results[0].trace_events[0]
        ]

    json_form = parse_document(request["document"]).data
    again = rig.capture("farm", json_form)
    as_1_2 = rig.capture("farm", commissioning_xml(lot, version="1"))

    assert request["document"].startswith("<?xml")
    assert [r.outcome for r in results] == [Outcome.CAPTURED]
    event = json.loads(payload)
    assert event["type"] == "ObjectEvent"
    assert event_hash_id(event, event["@context"]) == results[0].hash_id
    assert [(r.outcome, r.hash_id) for r in again] == [(Outcome.DUPLICATE, results[0].hash_id)]
    assert [(r.outcome, r.hash_id) for r in as_1_2] == [(Outcome.DUPLICATE, results[0].hash_id)]


@pytest.mark.parametrize(
    "document",
    [
        EXTERNAL_ENTITY,
        # a good event, then one with an element of no namespace outside <extension>
        commissioning_xml(new_lot()).replace(
            "</ObjectEvent>",
            f"</ObjectEvent><ObjectEvent>{XML_HEAD}<epcList/><action>OBSERVE</action>"
            "<futureExtension/></ObjectEvent>",
        ),
    ],
    ids=["external-entity", "unprefixed-element"],
)
def test_bad_xml_in_a_capture_request_names_the_document_and_stores_nothing(
    rig: Rig, document: str
) -> None:
    with rig.store.read() as conn:
        before = rig.store.events.count(conn)
    with pytest.raises(EpcisXmlError) as raised:
        capture(ingest=rig.ingest, request={"document": document, "traceEvents": []})

    assert raised.value.pointer == "/document"
    if "futureExtension" in document:
        assert raised.value.line == 4  # xml_document writes the events on line 4
        assert "/ObjectEvent[2]/futureExtension" in str(raised.value)
    with rig.store.read() as conn:
        assert rig.store.events.count(conn) == before


def test_a_master_data_document_is_an_epcis_document_with_header_master_data() -> None:
    """An XML EPCISMasterDataDocument (2.0 and 1.2) is read as the EPCISDocument the JSON
    binding writes for master data: its body's vocabulary list in the header, after any
    its header carries (nothing dropped), and no event."""

    def element(code: str) -> str:
        return (
            '<Vocabulary type="urn:epcglobal:epcis:vtype:BusinessLocation"><VocabularyElementList>'
            f'<VocabularyElement id="urn:epc:id:sgln:0614141.00042.{code}">'
            f'<attribute id="urn:epcglobal:cbv:mda#name">Plant {code}</attribute>'
            "</VocabularyElement></VocabularyElementList></Vocabulary>"
        )

    for version in ("2", "1"):
        text = (
            f'<md:EPCISMasterDataDocument xmlns:md="urn:epcglobal:epcis-masterdata:xsd:{version}" '
            'schemaVersion="2.0" creationDate="2024-01-01T00:00:00Z">'
            "<EPCISHeader><extension><EPCISMasterData><VocabularyList>"
            f"{element('1')}</VocabularyList></EPCISMasterData></extension></EPCISHeader>"
            f"<EPCISBody><VocabularyList>{element('2')}</VocabularyList></EPCISBody>"
            "</md:EPCISMasterDataDocument>"
        )
        document = parse_document(text)
        assert (document.kind, document.events) == ("EPCISDocument", ())
        assert document.data["epcisBody"] == {"eventList": []}
        vocabularies = document.data["epcisHeader"]["epcisMasterData"]["vocabularyList"]
        ids = [e["id"] for v in vocabularies for e in v["vocabularyElementList"]]
        assert ids == ["urn:epc:id:sgln:0614141.00042.1", "urn:epc:id:sgln:0614141.00042.2"]
        # a document of another kind in the master-data namespace is refused by name
        with pytest.raises(EpcisXmlError, match="is not an EPCISDocument"):
            parse_document(text.replace("md:EPCISMasterDataDocument", "md:EPCISDocument"))
