"""Payload canonicalisation is RFC 8785 (JCS), and the payload hash is keccak-256 of it."""

from __future__ import annotations

import json
import math
import random
import struct
import sys
from typing import Any

import pytest
import rfc8785
from hypothesis import example, given, reject, settings
from hypothesis import strategies as st

from node.events.hashing import keccak
from node.events.payload import MAX_PAYLOAD_BYTES, canonical_json, load_canonical, payload_hash
from node.exceptions import InvalidPayloadError

SAFE_INT = 2**53 - 1

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE_INT, max_value=SAFE_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


def reorder(value: Any, rnd: random.Random) -> Any:
    """The same JSON value with every object rebuilt in a shuffled member order."""
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {key: reorder(item, rnd) for key, item in items}
    if isinstance(value, list):
        return [reorder(item, rnd) for item in value]
    return value


def outcome(value: Any) -> bytes | None:
    """The canonical form of ``value``, or None when the node refuses it."""
    try:
        return canonical_json(value)
    except InvalidPayloadError:
        return None


def from_bits(bits: int) -> float:
    """The IEEE 754 double with the given bit pattern."""
    value: float = struct.unpack(">d", bits.to_bytes(8, "big"))[0]
    return value


# --- RFC 8785 test vectors -------------------------------------------------------------


def test_rfc8785_sorting_example_orders_members_by_utf16_code_units() -> None:
    # RFC 8785 section 3.2.3: U+1F600 (surrogates D83D DE00) sorts before U+FB33.
    payload = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }

    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert canonical_json(payload) == expected.encode("utf-8")


def test_rfc8785_serialization_example() -> None:
    # RFC 8785 section 3.2.2: the input as a JSON text, the output byte for byte.
    text = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )

    expected = (
        '{"literals":[null,true,false],'
        '"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(text)) == expected.encode("utf-8")


@pytest.mark.parametrize(
    ("bits", "expected"),
    [
        # RFC 8785 appendix B (IEEE 754 bit pattern -> ECMAScript number serialisation).
        (0x0000000000000000, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7FEFFFFFFFFFFFFF, "1.7976931348623157e+308"),
        (0xFFEFFFFFFFFFFFFF, "-1.7976931348623157e+308"),
        (0x44B52D02C7E14AF5, "9.999999999999997e+22"),
        (0x44B52D02C7E14AF6, "1e+23"),
        (0x44B52D02C7E14AF7, "1.0000000000000001e+23"),
        (0x444B1AE4D6E2EF50, "1e+21"),
        (0x3EB0C6F7A0B5ED8C, "9.999999999999997e-7"),
        (0x3EB0C6F7A0B5ED8D, "0.000001"),
        (0x41B3DE4355555553, "333333333.3333332"),
        (0x41B3DE4355555554, "333333333.33333325"),
        (0x41B3DE4355555555, "333333333.3333333"),
        (0x41B3DE4355555556, "333333333.3333334"),
        (0x41B3DE4355555557, "333333333.33333343"),
        (0xBECBF647612F3696, "-0.0000033333333333333333"),
        (0x43143FF3C1CB0959, "1424953923781206.2"),
    ],
)
def test_rfc8785_number_vectors(bits: int, expected: str) -> None:
    assert canonical_json(from_bits(bits)) == expected.encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (4.50, "4.5"),
        (2.0, "2"),
        (-0.0, "0"),
        (100, "100"),
        (-SAFE_INT, "-9007199254740991"),
        (SAFE_INT, "9007199254740991"),
    ],
)
def test_numbers_take_their_ecmascript_shortest_form(value: float, expected: str) -> None:
    assert canonical_json(value) == expected.encode()


# --- Simple cases ----------------------------------------------------------------------


def test_whitespace_is_removed_and_members_sorted_at_every_level() -> None:
    text = '{ "b" : [ 1 , { "z" : null , "a" : true } ] ,\n\t"a" : "x" }'

    assert canonical_json(json.loads(text)) == b'{"a":"x","b":[1,{"a":true,"z":null}]}'


def test_non_ascii_is_written_as_utf8_not_escaped() -> None:
    assert canonical_json({"caf\u00e9": "\u00e9"}) == b'{"caf\xc3\xa9":"\xc3\xa9"}'


def test_only_control_characters_quotes_and_backslashes_are_escaped() -> None:
    value = '"\\/\b\f\n\r\t\x00\x1f\x7f<>&'

    assert canonical_json(value) == b'"\\"\\\\/\\b\\f\\n\\r\\t\\u0000\\u001f\x7f<>&"'


def test_payload_hash_is_keccak_of_the_canonical_form() -> None:
    payload: Any = {"temperature": {"value": 4.5, "unit": "CEL"}, "sensor": "T-100"}
    canonical = b'{"sensor":"T-100","temperature":{"unit":"CEL","value":4.5}}'

    assert canonical_json(payload) == canonical
    assert payload_hash(payload) == keccak(canonical)
    assert payload_hash(payload) == keccak(rfc8785.dumps(payload))  # the documented recipe
    assert payload_hash({**payload, "sensor": "T-101"}) != payload_hash(payload)


def test_load_canonical_reads_back_the_value() -> None:
    payload = {"a": [1, 2.5, None, True, "\u00e9"], "b": {}}

    assert load_canonical(canonical_json(payload)) == payload


# --- Properties ------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(json_values, st.randoms(use_true_random=False))
def test_hash_does_not_depend_on_member_order(value: Any, rnd: random.Random) -> None:
    shuffled = reorder(value, rnd)
    canonical = outcome(value)
    if canonical is None:  # see test_canonical_form_is_a_fixed_point
        reject()

    assert outcome(shuffled) == canonical
    assert payload_hash(shuffled) == payload_hash(value) == keccak(canonical_json(value))


# Integral doubles from 2**53 up to 1e21 are written as bare integers ("10000000000000000"),
# which parse back as integers beyond the safe range.
@example(2.0**53)
@example({"reading": 1e16})
@settings(max_examples=150, deadline=None)
@given(json_values)
def test_canonical_form_is_a_fixed_point(value: Any) -> None:
    canonical = outcome(value)
    # The node may refuse those doubles, as it refuses integers beyond 2**53 - 1; what it
    # accepts must read back to the same bytes.
    if canonical is None:
        reject()

    assert canonical_json(json.loads(canonical)) == canonical


@pytest.mark.parametrize("value", [2.0**53, 1e16, -1e20, 999999999999999700000.0])
def test_stored_canonical_bytes_rehash_with_the_documented_recipe(value: float) -> None:
    # docs/events.md: anyone holding the JSON can re-hash it with
    # keccak(rfc8785.dumps(payload)); that must hold for every payload the node stores.
    # The node may refuse such a number, but must not store bytes that cannot be re-hashed.
    payload = {"reading": value}
    try:
        stored = canonical_json(payload)
    except InvalidPayloadError:
        return

    assert keccak(rfc8785.dumps(json.loads(stored))) == payload_hash(payload)
    assert canonical_json(load_canonical(stored)) == stored


# --- Refusals --------------------------------------------------------------------------


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "payload",
    [
        math.nan,
        math.inf,
        -math.inf,
        {"reading": [1, math.nan]},
        2**53,
        -(2**53),
        2**64,
        -(2**200),
        {"n": [2**53]},
        {1, 2},
        b"bytes",
        bytearray(b"x"),
        object(),
        {"nested": object()},
        {1: "non-string key"},
        "\ud800",  # a lone surrogate has no UTF-8 form
    ],
)
def test_values_without_a_canonical_form_are_refused(payload: Any) -> None:
    with pytest.raises(InvalidPayloadError):
        canonical_json(payload)
    with pytest.raises(InvalidPayloadError):
        payload_hash(payload)


def refusal(payload: Any) -> type[BaseException] | None:
    # A RecursionError is caught here, not left to pytest: rendering its traceback crashes.
    try:
        canonical_json(payload)
    except (InvalidPayloadError, RecursionError) as exc:
        return type(exc)
    return None


def test_a_payload_nested_deeper_than_the_stack_is_refused_as_invalid() -> None:
    assert refusal(nested(sys.getrecursionlimit() + 100)) is InvalidPayloadError


def test_payload_size_limit_is_on_the_canonical_bytes() -> None:
    overhead = len(b'{"a":""}')
    at_limit = {"a": "x" * (MAX_PAYLOAD_BYTES - overhead)}
    # Whitespace in the input does not count; two-byte characters count twice.
    assert len(canonical_json(at_limit)) == MAX_PAYLOAD_BYTES

    with pytest.raises(InvalidPayloadError):
        canonical_json({"a": "x" * (MAX_PAYLOAD_BYTES - overhead + 1)})
    with pytest.raises(InvalidPayloadError):
        payload_hash({"a": "\u00e9" * (MAX_PAYLOAD_BYTES // 2)})
    with pytest.raises(InvalidPayloadError):
        canonical_json([0] * (MAX_PAYLOAD_BYTES // 2 + 1))
