"""The CBV 2.0 event hash ID against GS1's published vectors and its reference implementation."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.epcis.digital_link import normalise_gs1_uri
from node.epcis.hashid import (
    as_hash_id,
    epoch_millis,
    event_hash_id,
    normalise_timestamp,
    pre_hash_string,
)
from tests.node.epcis.conftest import FIXTURES, fixture

VECTORS = Path(__file__).parent / "vectors"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text())
    return data


@pytest.mark.parametrize("name", ["gs1_reference_sensor.json", "gs1_reference_shipping.json"])
def test_published_pre_hash_strings_and_hashes(name: str) -> None:
    vector = load(name)

    prehashes = [pre_hash_string(e, vector["context"]) for e in vector["events"]]
    hashes = [event_hash_id(e, vector["context"]) for e in vector["events"]]

    assert prehashes == vector["prehashes"]
    for prehash, hash_id in zip(vector["prehashes"], hashes, strict=True):
        digest = hashlib.sha256(prehash.encode()).hexdigest()
        assert hash_id == f"ni:///sha-256;{digest}?ver=CBV2.0"
    assert hashes[: len(vector.get("hashes", []))] == vector.get("hashes", [])


#: The JSON fixtures' vectors (the XML ones, ``xml/NAME``, are test_xml.py's).
REFERENCE = {
    k: v
    for k, v in load("reference_1_9_3.json")["fixtures"].items()
    if not k.startswith(("xml/", "gs1/"))  # XML: test_xml.py, test_gs1_examples.py
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_fixtures_hash_as_gs1s_reference_implementation_does(name: str) -> None:
    document = fixture(name)
    expected = REFERENCE[name]

    events = document["epcisBody"]["eventList"]
    prehashes = [pre_hash_string(e, document["@context"]) for e in events]

    # One deliberate difference: booleans in their XML form (the reference's JSON reader
    # writes Python's True), so that JSON and XML serialisations hash alike.
    assert prehashes == [p.replace("=True", "=true") for p in expected["prehashes"]]
    if not any("=True" in p for p in expected["prehashes"]):
        assert [event_hash_id(e, document["@context"]) for e in events] == expected["hashes"]


def test_every_fixture_document_is_covered() -> None:
    names = {p.name for p in FIXTURES.glob("*.jsonld")}

    assert set(REFERENCE) <= names
    # The reference cannot read these three (a query document, a bare event, a typed list
    # item without a type); they are covered by the tests below and test_capture.py.
    assert names - set(REFERENCE) == {"query.jsonld", "bare_event.jsonld", "transaction.jsonld"}


def shipping_event() -> dict[str, Any]:
    event: dict[str, Any] = fixture("shipping.jsonld")["epcisBody"]["eventList"][0]
    return event


CONTEXT = fixture("shipping.jsonld")["@context"]


def test_the_same_event_in_other_spellings_has_the_same_hash_id() -> None:
    event = shipping_event()
    respelled = copy.deepcopy(event)
    respelled["epcList"] = [
        "https://id.gs1.org/01/00614141123452/21/CAN-002",  # was a Digital Link elsewhere
        "urn:epc:id:sgtin:0614141.012345.CAN-001",
    ][::-1]
    respelled["bizStep"] = "shipping"  # was the CBV 1.x URN
    respelled["disposition"] = "in_transit"  # was a cbv: CURIE
    respelled["eventTime"] = "2024-05-06T09:45:12.1234+02:00"  # same instant, other zone
    respelled["readPoint"] = {"id": "https://id.gs1.org/414/0614141000012"}
    respelled["sourceList"] = list(reversed(event["sourceList"]))
    respelled["quantityList"][0]["quantity"] = 600.50
    reordered = dict(reversed(list(respelled.items())))
    other_context = [
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        {"ex": "https://ns.example.com/epcis/", "cbv": "https://ref.gs1.org/cbv/"},
    ]

    assert event_hash_id(reordered, other_context) == event_hash_id(event, CONTEXT)


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("eventTime", "2024-05-06T07:45:12.124Z"),
        ("eventTimeZoneOffset", "+01:00"),
        ("action", "ADD"),
        ("bizStep", "receiving"),
        ("ex:truck", {"ex:plate": "ZH 12346", "ex:reefer": True}),
        ("ex:extra", "1"),
        ("ilmd", {"ex:lot": "x"}),
    ],
)
def test_any_change_changes_the_hash_id(change: str, value: Any) -> None:
    event = shipping_event()
    changed = {**event, change: value}

    assert event_hash_id(changed, CONTEXT) != event_hash_id(event, CONTEXT)


@pytest.mark.parametrize(
    ("same", "other"),
    [("1.5", "1.50"), ("1000", "1e3"), ("-0.5", "-.5")],
)
def test_a_number_written_as_text_hashes_as_the_number(same: str, other: str) -> None:
    event = shipping_event()

    assert event_hash_id({**event, "ex:reading": other}, CONTEXT) == event_hash_id(
        {**event, "ex:reading": same}, CONTEXT
    )


@pytest.mark.parametrize(
    ("number", "text"),
    [("1000", "1_000"), ("12", "\u0661\u0662"), ("12", "1\uff12")],
)
def test_text_only_float_reads_as_a_number_stays_text(number: str, text: str) -> None:
    # Python's float() reads "1_000" as 1000 and other scripts' digits as ours: to the
    # hash they are text, not the number.
    event = shipping_event()

    assert event_hash_id({**event, "ex:reading": text}, CONTEXT) != event_hash_id(
        {**event, "ex:reading": number}, CONTEXT
    )


def test_event_id_record_time_and_error_declaration_take_no_part() -> None:
    event = shipping_event()
    other = {
        **event,
        "eventID": "urn:uuid:00000000-0000-4000-8000-000000000000",
        "recordTime": "2030-01-01T00:00:00Z",
        "errorDeclaration": {"declarationTime": "2024-05-07T00:00:00Z"},
    }

    assert event_hash_id(other, CONTEXT) == event_hash_id(event, CONTEXT)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2024-05-06T07:45:12Z", "2024-05-06T07:45:12.000Z"),
        ("2024-05-06T07:45:12.1Z", "2024-05-06T07:45:12.100Z"),
        ("2024-05-06T07:45:12.1234Z", "2024-05-06T07:45:12.123Z"),
        ("2024-05-06T07:45:12.1235Z", "2024-05-06T07:45:12.124Z"),
        ("2024-05-06T07:45:12.1234567+02:00", "2024-05-06T05:45:12.123Z"),
        ("2023-12-31T23:59:59.9995Z", "2024-01-01T00:00:00.000Z"),
        ("2024-05-06T00:30:00-14:00", "2024-05-06T14:30:00.000Z"),
    ],
)
def test_timestamps_are_utc_milliseconds_rounded_half_up(given: str, expected: str) -> None:
    assert normalise_timestamp(given) == expected


def test_epoch_millis_uses_the_same_rounding() -> None:
    assert epoch_millis("1970-01-01T00:00:01.0005Z") == 1001
    assert epoch_millis("1970-01-01T01:00:00+01:00") == 0
    with pytest.raises(ValueError, match="dateTimeStamp"):
        epoch_millis("yesterday")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("urn:epc:id:sgtin:0614141.112345.400", "https://id.gs1.org/01/10614141123459/21/400"),
        (
            "urn:epc:class:lgtin:4012345.012345.998877",
            "https://id.gs1.org/01/04012345123456/10/998877",
        ),
        ("urn:epc:idpat:sgtin:4012345.012345.*", "https://id.gs1.org/01/04012345123456"),
        ("urn:epc:id:sscc:0614141.1234567890", "https://id.gs1.org/00/106141412345678908"),
        ("urn:epc:id:sgln:0614141.12345.0", "https://id.gs1.org/414/0614141123452"),
        ("urn:epc:id:sgln:0614141.12345.5678", "https://id.gs1.org/414/0614141123452/254/5678"),
        ("urn:epc:id:pgln:0614141.00000", "https://id.gs1.org/417/0614141000005"),
        ("urn:epc:id:grai:0614141.12345.400", "https://id.gs1.org/8003/00614141123452400"),
        ("urn:epc:id:giai:0614141.12345400", "https://id.gs1.org/8004/061414112345400"),
        ("urn:epc:id:gdti:0614141.12345.400", "https://id.gs1.org/253/0614141123452400"),
        ("urn:epc:id:gsrn:0614141.1234567890", "https://id.gs1.org/8018/061414112345678902"),
        (
            "https://example.com/gtin/9506000134352/lot/ABC?x=1#f",
            "https://id.gs1.org/01/09506000134352/10/ABC",
        ),
        (
            "https://id.gs1.org/01/09506000134352/10/L1/21/S1",
            "https://id.gs1.org/01/09506000134352/21/S1",
        ),
        (
            "https://example.org/8004/401234599999/raw/42",
            "https://example.org/8004/401234599999/raw/42",
        ),
        (
            "urn:uuid:1c1bd6a4-4d26-4a8e-8d3f-5b1d4e0a6c01",
            "urn:uuid:1c1bd6a4-4d26-4a8e-8d3f-5b1d4e0a6c01",
        ),
        ("geo:47.506694,11.104301", "geo:47.506694,11.104301"),
    ],
)
def test_gs1_keys_become_constrained_canonical_digital_links(given: str, expected: str) -> None:
    assert normalise_gs1_uri(given) == expected


@given(
    st.dictionaries(
        st.sampled_from(["ex:a", "ex:b", "ex:c", "other:d", "ex:e"]),
        st.one_of(
            st.text(max_size=8),
            st.integers(-10, 10),
            st.booleans(),
            st.lists(st.text(max_size=4), max_size=3),
        ),
        max_size=5,
    )
)
def test_extensions_hash_the_same_in_any_member_order(extensions: dict[str, Any]) -> None:
    event = {**shipping_event(), **extensions}
    reordered = dict(reversed(list(event.items())))

    assert pre_hash_string(reordered, CONTEXT) == pre_hash_string(event, CONTEXT)


def test_an_events_own_context_expands_its_extension_keys_as_the_documents_would() -> None:
    """A deliberate difference from the reference 1.9.3, which writes an event's own
    ``@context`` into the pre-hash as if it were an extension and leaves its prefixes
    unexpanded: the prefixes of the context in force expand, wherever they are declared."""
    base = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
    prefix = {"evctx": "http://evctx.example.org/"}
    fields = {
        "type": "ObjectEvent",
        "eventTime": "2024-01-01T10:00:00.000Z",
        "eventTimeZoneOffset": "+01:00",
        "epcList": ["urn:epc:id:sgtin:9506000.134352.1"],
        "action": "OBSERVE",
        "readPoint": {"id": "urn:epc:id:sgln:9506000.00001.0", "evctx:y": "yy"},
        "evctx:top": {"inner": "i"},
    }
    own = {"@context": prefix} | fields

    in_force = [base, prefix]
    prehash = pre_hash_string(own, in_force)

    assert "{http://evctx.example.org/}y=yy" in prehash
    assert "{http://evctx.example.org/}topinner=i" in prehash
    assert "@context" not in prehash
    assert event_hash_id(own, in_force) == event_hash_id(fields, [base, prefix])


@pytest.mark.parametrize(
    "given",
    [
        "9999-12-31T23:59:59.9999Z",  # rounds past year 9999
        "9999-12-31T23:00:00-14:00",  # in UTC, after year 9999
        "0001-01-01T00:00:00+01:00",  # in UTC, before year 1
        "2024-05-06T00:00:00+99:99",  # no such zone offset
        "2024-02-30T00:00:00Z",
    ],
)
def test_a_time_outside_the_calendar_in_utc_is_no_timestamp(given: str) -> None:
    # Each once raised OverflowError (or was read as +99 h 99 min) where callers catch
    # ValueError: capture and queries answered 500.
    assert normalise_timestamp(given) is None
    with pytest.raises(ValueError, match="not an xsd:dateTimeStamp"):
        epoch_millis(given)
    assert as_hash_id(event_hash_id({**shipping_event(), "eventTime": given}, CONTEXT))
