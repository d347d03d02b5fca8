"""Submissions parse strictly: a valid document round-trips, anything else is refused with
a typed rejection naming the field, never a stray KeyError or TypeError."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.events.hashing import keccak
from node.events.payload import canonical_json
from node.events.signatures import sign_digest
from node.events.submission import (
    MAX_IDENTIFIERS,
    MAX_LIST_ITEMS,
    SignedEvent,
    parse_event,
    parse_hex,
    parse_submission,
    parse_uint,
    submission_document,
)
from node.events.typed_data import TRACE_EVENT_FIELDS, Action, Domain, TraceEvent
from node.exceptions import (
    InvalidEventError,
    InvalidPayloadError,
    InvalidSignatureError,
    PayloadMismatchError,
    UnsupportedActionError,
)

FIELDS = [name for name, _ in TRACE_EVENT_FIELDS]
INTEGER_FIELDS = {"action": 8, "quantity": 256, "eventTime": 63, "nonce": 256}
HEX32_FIELDS = ["batchId", "prevEventHash", "product", "location", "payloadHash"]
LIST_FIELDS = ["inputs", "inputPrevHashes", "outputs"]
DOMAIN = Domain(chain_id=31337, verifying_contract=keccak(b"registry")[:20])
KEY = keccak(b"submitter")
PAYLOAD = {"temperature": {"value": 4.5, "unit": "CEL"}, "sensor": "T-100", "ok": True}
IDENTIFIERS = ("https://id.gs1.org/01/09506000134352/10/ABC1", "88.123.45/lot-1")
REJECTIONS = (InvalidEventError, InvalidSignatureError)


def h(label: str) -> bytes:
    return keccak(label.encode())


def event(**changes: Any) -> TraceEvent:
    fields: dict[str, Any] = {
        "action": Action.TRANSFORM,
        "batch_id": h("batch"),
        "prev_event_hash": h("prev"),
        "inputs": (h("in 1"), h("in 2")),
        "input_prev_hashes": (h("in 1 head"), h("in 2 head")),
        "outputs": (h("out"),),
        "counterparty": h("counterparty")[:20],
        "product": h("product"),
        "quantity": 2**256 - 1,
        "event_time": 2**63 - 1,
        "location": h("location"),
        "payload_hash": keccak(canonical_json(PAYLOAD)),
        "nonce": 2**255 + 17,
    }
    fields.update(changes)
    return TraceEvent(**fields)


def signed(
    trace_event: TraceEvent | None = None,
    payload: bytes | None = None,
    identifiers: tuple[str, ...] = (),
) -> SignedEvent:
    trace_event = trace_event if trace_event is not None else event()
    signature = sign_digest(trace_event.digest(DOMAIN), KEY)
    return SignedEvent(trace_event, signature, payload, identifiers)


def document() -> dict[str, Any]:
    """A valid submission with every optional part present."""
    return submission_document(signed(payload=canonical_json(PAYLOAD), identifiers=IDENTIFIERS))


# --- Round trips -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "original",
    [
        pytest.param(signed(), id="bare"),
        pytest.param(signed(payload=canonical_json(PAYLOAD)), id="payload"),
        pytest.param(signed(identifiers=IDENTIFIERS), id="identifiers"),
        pytest.param(
            signed(payload=canonical_json(PAYLOAD), identifiers=IDENTIFIERS), id="everything"
        ),
        pytest.param(
            signed(event(payload_hash=keccak(b"null")), payload=b"null"), id="null payload"
        ),
        pytest.param(signed(TraceEvent(Action.COMMISSION)), id="defaults"),
    ],
)
def test_submission_document_parses_back_to_the_same_signed_event(original: SignedEvent) -> None:
    doc = submission_document(original)

    assert parse_submission(doc) == original
    # ... and so does the document after a trip through JSON text.
    assert parse_submission(json.loads(json.dumps(doc))) == original
    assert ("payload" in doc) == (original.payload is not None)
    assert ("identifiers" in doc) == bool(original.identifiers)


def test_the_payload_is_kept_in_canonical_form() -> None:
    doc = document()
    doc["payload"] = json.loads(json.dumps(PAYLOAD, indent=2, sort_keys=False))

    parsed = parse_submission(doc)

    assert (
        parsed.payload == b'{"ok":true,"sensor":"T-100","temperature":{"unit":"CEL","value":4.5}}'
    )
    assert parsed.payload is not None
    assert keccak(parsed.payload) == parsed.event.payload_hash


def test_integers_as_decimal_strings_parse_like_numbers() -> None:
    doc = document()
    as_strings = copy.deepcopy(doc)
    for name in INTEGER_FIELDS:
        as_strings["event"][name] = str(doc["event"][name])

    assert parse_submission(as_strings) == parse_submission(doc)
    assert parse_uint("007", 8, "action") == 7
    assert parse_uint(str(2**256 - 1), 256, "nonce") == 2**256 - 1


def test_hex_may_be_any_case() -> None:
    doc = document()
    upper = copy.deepcopy(doc)
    upper["event"]["batchId"] = "0X" + doc["event"]["batchId"][2:].upper()
    upper["event"]["counterparty"] = doc["event"]["counterparty"].lower()
    upper["signature"] = "0x" + doc["signature"][2:].upper()

    assert parse_submission(upper) == parse_submission(doc)
    assert parse_hex("0xABcd", 2, "f") == b"\xab\xcd"


def test_lists_of_the_maximum_length_are_accepted() -> None:
    doc = document()
    doc["event"]["outputs"] = ["0x" + h(str(i)).hex() for i in range(MAX_LIST_ITEMS)]
    doc["identifiers"] = [f"88.1/lot-{i}" for i in range(MAX_IDENTIFIERS)]

    parsed = parse_submission(doc)

    assert len(parsed.event.outputs) == MAX_LIST_ITEMS
    assert len(parsed.identifiers) == MAX_IDENTIFIERS


bytes32 = st.binary(min_size=32, max_size=32)
hashes = st.lists(bytes32, max_size=4).map(tuple)
uint256 = st.integers(min_value=0, max_value=2**256 - 1)
trace_events = st.builds(
    TraceEvent,
    action=st.sampled_from(Action),
    batch_id=bytes32,
    prev_event_hash=bytes32,
    inputs=hashes,
    input_prev_hashes=hashes,
    outputs=hashes,
    counterparty=st.binary(min_size=20, max_size=20),
    product=bytes32,
    quantity=uint256,
    event_time=st.integers(min_value=0, max_value=2**63 - 1),
    location=bytes32,
    payload_hash=bytes32,
    nonce=uint256,
)
# Payloads the node can canonicalise; integral floats of 2**53 and more are left to
# tests/node/events/test_payload.py.
payloads = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(min_value=-1e15, max_value=1e15)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=15,
)


@settings(max_examples=150, deadline=None)
@given(
    trace_events,
    st.binary(min_size=65, max_size=65),
    st.none() | st.tuples(payloads),
    st.lists(st.text(), max_size=4).map(tuple),
    st.booleans(),
)
def test_random_signed_events_round_trip(
    trace_event: TraceEvent,
    signature: bytes,
    payload: tuple[Any] | None,
    identifiers: tuple[str, ...],
    integers_as_strings: bool,
) -> None:
    canonical = None
    if payload is not None:
        canonical = canonical_json(payload[0])
        trace_event = dataclasses.replace(trace_event, payload_hash=keccak(canonical))
    original = SignedEvent(trace_event, signature, canonical, identifiers)
    doc = json.loads(json.dumps(submission_document(original)))
    if integers_as_strings:
        for name in INTEGER_FIELDS:
            doc["event"][name] = str(doc["event"][name])

    assert parse_submission(doc) == original


# --- Refusals --------------------------------------------------------------------------


def with_event(name: str, value: Any) -> dict[str, Any]:
    doc = document()
    doc["event"][name] = value
    return doc


def without_event(name: str) -> dict[str, Any]:
    doc = document()
    del doc["event"][name]
    return doc


def with_top(name: str, value: Any) -> dict[str, Any]:
    doc = document()
    doc[name] = value
    return doc


def without_top(name: str) -> dict[str, Any]:
    doc = document()
    del doc[name]
    return doc


HEX32 = "0x" + "ab" * 32
MALFORMED: list[Any] = [
    *(pytest.param(without_event(name), "event", id=f"missing {name}") for name in FIELDS),
    pytest.param(with_event("extra", 1), "event", id="unknown event field"),
    pytest.param(without_top("event"), "event", id="no event"),
    pytest.param(with_top("event", [1, 2]), "event", id="event a list"),
    pytest.param(with_top("event", "0x00"), "event", id="event a string"),
    pytest.param(with_top("event", None), "event", id="event null"),
    pytest.param(with_top("event", 1), "event", id="event a number"),
    # hex fields
    *(
        pytest.param(with_event(name, value), name, id=f"{name} {label}")
        for name in HEX32_FIELDS
        for label, value in [
            ("31 bytes", "0x" + "ab" * 31),
            ("33 bytes", "0x" + "ab" * 33),
            ("odd length", "0x" + "a" * 63),
            ("no 0x", "ab" * 32),
            ("non-hex", "0x" + "zz" * 32),
            ("whitespace", "0x" + "ab" * 31 + " a"),
            ("non-ASCII digits", "0x" + "\u0661" * 64),
            ("0x only", "0x"),
            ("a number", 0),
            ("null", None),
            ("bytes list", [0xAB] * 32),
        ]
    ),
    pytest.param(with_event("counterparty", HEX32), "counterparty", id="counterparty 32 bytes"),
    pytest.param(with_event("counterparty", "0x" + "ab" * 19), "counterparty", id="address 19"),
    # bytes32[] fields
    *(
        pytest.param(with_event(name, value), field, id=f"{name} {label}")
        for name in LIST_FIELDS
        for label, value, field in [
            ("a string", HEX32, name),
            ("an object", {"0": HEX32}, name),
            ("null", None, name),
            ("65 items", [HEX32] * (MAX_LIST_ITEMS + 1), name),
            ("a short item", [HEX32, "0x" + "ab" * 31], f"{name}[1]"),
            ("a number item", [7], f"{name}[0]"),
            ("a nested list", [[HEX32]], f"{name}[0]"),
        ]
    ),
    # integer fields
    *(
        pytest.param(with_event(name, value), name, id=f"{name} {label}")
        for name, bits in INTEGER_FIELDS.items()
        for label, value in [
            ("true", True),
            ("false", False),
            ("-1", -1),
            ("'-1'", "-1"),
            ("float", 1.0),
            ("fraction", 1.5),
            ("'1.0'", "1.0"),
            ("'1e3'", "1e3"),
            ("'+1'", "+1"),
            ("' 1'", " 1"),
            ("'0x10'", "0x10"),
            ("'1_0'", "1_0"),
            ("''", ""),
            ("non-ASCII digits", "\u0661\u0662"),
            ("79 digits", "1" * 79),
            ("5000 digits", "1" * 5000),  # beyond int()'s default digit limit
            ("2**bits", 2**bits),
            ("'2**bits'", str(2**bits)),
            ("null", None),
            ("a list", [1]),
        ]
    ),
    pytest.param(with_event("action", 0), "action", id="action 0"),
    pytest.param(with_event("action", 10), "action", id="action 10"),
    pytest.param(with_event("action", 255), "action", id="action 255"),
    pytest.param(with_event("eventTime", 2**63), "eventTime", id="eventTime 2**63"),
    pytest.param(with_event("eventTime", 2**64 - 1), "eventTime", id="eventTime uint64 max"),
    # identifiers
    *(
        pytest.param(with_top("identifiers", value), "identifiers", id=f"identifiers {label}")
        for label, value in [
            ("a string", IDENTIFIERS[0]),
            ("an object", {"a": IDENTIFIERS[0]}),
            ("null", None),
            ("a number", 3),
            ("numbers", [1, 2]),
            ("a null item", [IDENTIFIERS[0], None]),
            ("a nested list", [[IDENTIFIERS[0]]]),
            ("65 strings", [IDENTIFIERS[0]] * (MAX_IDENTIFIERS + 1)),
        ]
    ),
]


@pytest.mark.parametrize(("doc", "field"), MALFORMED)
def test_malformed_events_are_refused_naming_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidEventError) as raised:
        parse_submission(doc)

    assert raised.value.details["field"] == field
    assert not isinstance(raised.value, PayloadMismatchError | InvalidPayloadError)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="null"),
        pytest.param("ab" * 65, id="no 0x"),
        pytest.param("0x" + "ab" * 64, id="64 bytes"),
        pytest.param("0x" + "ab" * 66, id="66 bytes"),
        pytest.param("0x" + "zz" * 65, id="non-hex"),
        pytest.param(1, id="a number"),
        pytest.param(["0x" + "ab" * 65], id="a list"),
    ],
)
def test_a_malformed_signature_is_an_invalid_signature(value: Any) -> None:
    doc = with_top("signature", value) if value is not None else without_top("signature")

    with pytest.raises(InvalidSignatureError) as raised:
        parse_submission(doc)

    assert raised.value.details["field"] == "signature"
    assert not isinstance(raised.value, InvalidEventError)


def test_a_payload_not_matching_payload_hash_is_a_mismatch() -> None:
    doc = document()
    doc["payload"] = {**PAYLOAD, "sensor": "T-101"}

    with pytest.raises(PayloadMismatchError) as raised:
        parse_submission(doc)

    assert raised.value.details["field"] == "payload"


def test_a_null_payload_is_a_payload_not_an_absent_one() -> None:
    doc = document()
    doc["payload"] = None

    with pytest.raises(PayloadMismatchError):
        parse_submission(doc)


@pytest.mark.parametrize(
    "payload",
    [float("nan"), float("inf"), {"n": 2**53}, {"s": {1, 2}}, "x" * (256 * 1024)],
)
def test_a_payload_with_no_canonical_form_is_an_invalid_payload(payload: Any) -> None:
    with pytest.raises(InvalidPayloadError):
        parse_submission(with_top("payload", payload))


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param([], id="a list"),
        pytest.param("{}", id="a string"),
        pytest.param(None, id="null"),
        pytest.param(with_top("extra", 1), id="unknown top-level field"),
        pytest.param(with_top("Event", {}), id="field names are case-sensitive"),
    ],
)
def test_a_malformed_submission_is_refused(doc: Any) -> None:
    with pytest.raises(InvalidEventError):
        parse_submission(doc)


@pytest.mark.parametrize("action", [0, 10, 255, "10"], ids=["0", "10", "255", "'10'"])
def test_an_action_tracenode_does_not_know_is_an_unsupported_action(action: Any) -> None:
    # The contract answers BatchRegistryUnsupportedAction for a uint8 action it does not
    # know; node/exceptions.py promises the local rejection is the same class.
    with pytest.raises(UnsupportedActionError) as raised:
        parse_submission(with_event("action", action))

    assert raised.value.details["field"] == "action"


def test_parse_event_refuses_a_non_object() -> None:
    values: list[Any] = [None, [], "event", 1]
    for value in values:
        with pytest.raises(InvalidEventError) as raised:
            parse_event(value)
        assert raised.value.details["field"] == "event"


def test_parse_hex_and_parse_uint_name_the_field_they_were_given() -> None:
    with pytest.raises(InvalidEventError) as hex_error:
        parse_hex("0x12", 2, "location")
    with pytest.raises(InvalidEventError) as uint_error:
        parse_uint(256, 8, "action")

    assert hex_error.value.details == {"field": "location"}
    assert uint_error.value.details == {"field": "action"}
    assert parse_uint(255, 8, "action") == 255
    assert parse_uint(2**63 - 1, 63, "eventTime") == 2**63 - 1


# --- Fuzz ------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**260), max_value=2**260)
    | st.floats()  # json.loads accepts NaN and Infinity
    | st.text(max_size=80)
    | st.sampled_from([HEX32, "0x" + "ab" * 20, "0x" + "ab" * 65, "17", "-1"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from([*FIELDS, "event", "payload"]) | st.text(), children)
    ),
    max_leaves=20,
)


def parses_or_is_rejected(doc: Any) -> None:
    try:
        result = parse_submission(doc)
    except REJECTIONS:
        return
    assert isinstance(result, SignedEvent)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_arbitrary_json_parses_or_is_rejected(doc: Any) -> None:
    parses_or_is_rejected(doc)
    parses_or_is_rejected({"event": doc, "signature": document()["signature"]})


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "event": st.dictionaries(st.sampled_from(FIELDS), json_values),
            "signature": json_values,
            "payload": json_values,
            "identifiers": json_values,
        },
    )
)
def test_documents_with_the_right_keys_and_random_values_parse_or_are_rejected(
    doc: dict[str, Any],
) -> None:
    parses_or_is_rejected(doc)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_valid_documents_parse_or_are_rejected(data: st.DataObject) -> None:
    doc = document()
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        where = data.draw(st.sampled_from(["top", "event", "list item"]))
        target: Any
        if where == "top":
            target = doc
        elif where == "event" and isinstance(doc.get("event"), dict):
            target = doc["event"]
        else:
            event_doc = doc.get("event")
            if not isinstance(event_doc, dict):
                continue
            name = data.draw(st.sampled_from(LIST_FIELDS))
            if not isinstance(event_doc.get(name), list) or not event_doc[name]:
                continue
            target = event_doc[name]
            index = data.draw(st.integers(min_value=0, max_value=len(target) - 1))
            target[index] = data.draw(json_values)
            continue
        keys = sorted(target)
        key = data.draw(st.sampled_from([*keys, "extra"]))
        if data.draw(st.booleans()) and key in target:
            del target[key]
        else:
            target[key] = data.draw(json_values)

    parses_or_is_rejected(doc)
