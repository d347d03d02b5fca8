"""Master data (node/epcis/masterdata.py): the one parser of a vocabulary element, the key
every spelling of a code maps to, header elements with their pointers, and the rule of
which assertion a reader is shown."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.epcis.masterdata import (
    ELEMENT_TYPE,
    MAX_ATTRIBUTE_BYTES,
    Assertion,
    build_element,
    cbv_attribute,
    choose,
    company_prefixes,
    element_key,
    header_elements,
    parse_element,
)
from node.exceptions import InvalidIdentifierError, InvalidMasterDataError

SGLN = "urn:epc:id:sgln:0614141.00042.0"
PLANT = "Alpine Dairy, Plant 2"


def payload(**changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "type": ELEMENT_TYPE,
        "vocabularyType": "urn:epcglobal:epcis:vtype:BusinessLocation",
        "id": SGLN,
        "attributes": [
            {"id": "urn:epcglobal:cbv:mda#name", "attribute": PLANT},
            {"id": "urn:epcglobal:cbv:mda#streetAddressOne", "attribute": "Bahnhofstrasse 1"},
            {"id": "cbvmda:city", "attribute": "Thun"},
            {"id": "urn:epcglobal:cbv:mda#countryCode", "attribute": "CH"},
        ],
        "children": [],
    }
    return found | changes


def test_an_element_reads_its_name_and_address_in_any_cbv_spelling() -> None:
    element = parse_element(payload())

    assert element.name == PLANT
    assert element.address == "Bahnhofstrasse 1, Thun, CH"
    assert element.key.canonical == "https://id.gs1.org/414/0614141000425"
    assert parse_element(element.payload()) == element


@pytest.mark.parametrize(
    "spelling",
    [
        SGLN,
        "https://id.gs1.org/414/0614141000425",
        "https://example.com/gln/414/0614141000425?x=1",
        " urn:epc:id:sgln:0614141.00042.0 ",
    ],
)
def test_every_spelling_of_a_gln_is_one_key(spelling: str) -> None:
    assert element_key(spelling) == element_key(SGLN)


def test_a_gtin_class_in_any_spelling_is_one_key_and_its_prefix_is_found() -> None:
    key = element_key("urn:epc:idpat:sgtin:9506000.013435.*")

    assert key == element_key("https://id.gs1.org/01/09506000134352")
    assert "9506000" in company_prefixes(key)
    assert company_prefixes(element_key(SGLN))[-1] == "0614"
    assert "0614141" in company_prefixes(element_key(SGLN))
    assert company_prefixes(element_key("urn:example:site:7")) == ()


@pytest.mark.parametrize(
    "lot",
    [
        "urn:epc:class:lgtin:0614141.012345.LOT1",
        "https://id.gs1.org/01/09506000134352/10/LOT-1",
        "88.456/lot-1",
    ],
)
def test_a_batch_has_no_master_data_its_lot_data_is_ilmd(lot: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        element_key(lot)
    with pytest.raises(InvalidMasterDataError) as caught:
        parse_element(payload(id=lot))
    assert caught.value.details["field"] == "id"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"type": "ObjectEvent"}, "type"),
        ({"vocabularyType": "not a uri"}, "vocabularyType"),
        ({"id": 7}, "id"),
        ({"extra": 1}, "extra"),
        ({"attributes": [{"id": "urn:x:a", "attribute": True}]}, "attributes/0/attribute"),
        ({"attributes": [{"id": "urn:x:a", "attribute": None}]}, "attributes/0/attribute"),
        ({"attributes": [{"id": "a b", "attribute": "x"}]}, "attributes/0/id"),
        ({"attributes": [{"id": "urn:x:a", "attribute": "x", "lang": "en"}]}, "attributes/0"),
        (
            {"attributes": [{"id": "urn:x:a", "attribute": "x" * (MAX_ATTRIBUTE_BYTES + 1)}]},
            "attributes/0/attribute",
        ),
        (
            {"attributes": [{"id": "urn:x:a", "attribute": {"a": {"b": {"c": {"d": {}}}}}}]},
            "attributes/0/attribute",
        ),
        ({"attributes": [{"id": "urn:x:a", "attribute": 1}] * 65}, "attributes"),
        ({"children": ["urn:x:1", "no uri"]}, "children/1"),
    ],
)
def test_a_malformed_element_is_refused_naming_the_member(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidMasterDataError) as caught:
        parse_element(payload(**changes))

    assert caught.value.details["field"] == field


def test_any_vocabulary_type_uri_is_taken() -> None:
    element = parse_element(payload(vocabularyType="https://example.com/vtype/Dock"))

    assert element.vocabulary == "https://example.com/vtype/Dock"


@given(st.text(max_size=40))
def test_the_parser_refuses_with_its_typed_error_or_takes_any_name(name: str) -> None:
    attributes = [{"id": cbv_attribute("name"), "attribute": name}]
    element = parse_element(payload(attributes=attributes))

    assert element.name == name


def test_header_elements_are_parsed_one_by_one_with_their_pointers() -> None:
    document = {
        "epcisHeader": {
            "epcisMasterData": {
                "vocabularyList": [
                    {
                        "type": "urn:epcglobal:epcis:vtype:BusinessLocation",
                        "vocabularyElementList": [
                            {"id": SGLN, "attributes": payload()["attributes"]},
                            {"id": "urn:epc:class:lgtin:0614141.012345.LOT1"},
                        ],
                    }
                ]
            }
        }
    }

    first, second = header_elements(document)

    assert first.element is not None
    assert first.element.name == PLANT
    assert second.element is None
    assert second.error is not None
    assert second.pointer == (
        "/epcisHeader/epcisMasterData/vocabularyList/0/vocabularyElementList/1/id"
    )


def test_build_element_names_the_default_type_of_a_gln_pgln_and_gtin() -> None:
    assert build_element(SGLN).vocabulary.endswith("BusinessLocation")
    assert build_element("urn:epc:id:pgln:0614141.00000").vocabulary.endswith("Party")
    assert build_element("https://id.gs1.org/01/09506000134352").vocabulary.endswith("EPCClass")
    with pytest.raises(InvalidMasterDataError):
        build_element("urn:example:dock:1")


def _said(who: int, at: int, *, anchored: bool = True, rejected: bool = False) -> Assertion:
    element = build_element(SGLN, attributes=[(cbv_attribute("name"), f"by {who} at {at}")])
    return Assertion(bytes([who, at]) * 16, who, element, anchored, rejected, at)


def test_the_brand_owner_is_shown_over_a_later_contradicting_assertion() -> None:
    owner, other = _said(1, 1), _said(2, 5)

    assert choose([owner, other], holder=1) == (owner, True)


def test_without_the_brand_owner_the_latest_anchored_assertion_is_shown() -> None:
    early, late, pending = _said(2, 1), _said(3, 2), _said(4, 9, anchored=False)

    assert choose([early, late, pending], holder=1) == (late, False)
    assert choose([early, late], holder=None) == (late, False)


def test_nothing_unanchored_or_rejected_is_ever_shown() -> None:
    assert choose([_said(1, 1, anchored=False), _said(2, 2, rejected=True)], holder=1) is None
    assert choose([], holder=1) is None


def test_an_xml_header_reads_as_the_json_forms_master_data() -> None:
    from node.epcis.document import parse_document
    from tests.node.epcis.conftest import FIXTURES, fixture

    for name in ("commissioning.xml", "commissioning-1.2.xml"):
        parsed = parse_document((FIXTURES / "xml" / name).read_text())

        (item,) = header_elements(parsed.data)

        assert item.element is not None
        assert item.element.name == "Green Valley Farm, milking parlour"
        (json_item,) = header_elements(fixture("commissioning.jsonld"))
        assert json_item.element is not None
        assert item.element.key == json_item.element.key
        assert item.element.name == json_item.element.name


def test_a_structured_xml_attribute_value_holds_its_structure_not_the_attributes_id() -> None:
    """Regression: the ``id`` of an ``<attribute>`` with element content (which names the
    attribute, beside its value) was copied into the value as a member ``id``."""
    from node.epcis.document import parse_document
    from tests.node.epcis.conftest import xml_document

    header = (
        "<EPCISHeader><extension><EPCISMasterData><VocabularyList>"
        '<Vocabulary type="urn:epcglobal:epcis:vtype:BusinessLocation"><VocabularyElementList>'
        '<VocabularyElement id="urn:epc:id:sgln:0037000.00729.0">'
        '<attribute id="http://example.com/ext1#object1"><ext1:object2><inner1>val1</inner1>'
        "</ext1:object2><ext1:string>string</ext1:string></attribute>"
        "</VocabularyElement></VocabularyElementList></Vocabulary>"
        "</VocabularyList></EPCISMasterData></extension></EPCISHeader>"
    )
    text = xml_document("", extra='xmlns:ext1="http://example.com/ext1/"').replace(
        "<EPCISBody>", header + "<EPCISBody>"
    )

    parsed = parse_document(text)

    vocabulary = parsed.data["epcisHeader"]["epcisMasterData"]["vocabularyList"][0]
    (attribute,) = vocabulary["vocabularyElementList"][0]["attributes"]
    assert attribute == {
        "id": "http://example.com/ext1#object1",
        "attribute": {"ext1:object2": {"inner1": "val1"}, "ext1:string": "string"},
    }
