"""The canonical form of off-chain event details, and its hash.

An event's details (an EPCIS 2.0 event, sensor readings, certificates) stay off-chain;
the signed ``payloadHash`` is ``keccak256`` of the payload's **RFC 8785 JSON
Canonicalization Scheme** (JCS) serialisation: object members sorted by their UTF-16
code units, no insignificant whitespace, numbers in ECMAScript's shortest form, strings
with minimal escaping, UTF-8. Anyone holding the original JSON can re-hash it with any
JCS implementation (Python ``rfc8785``, JavaScript ``canonicalize``, Java
``erdtman/java-json-canonicalization``) and keccak-256.
"""

from __future__ import annotations

import json
from typing import Any, Final

import rfc8785

from node.events.hashing import keccak
from node.exceptions import InvalidPayloadError

MAX_PAYLOAD_BYTES: Final = 256 * 1024
MAX_PAYLOAD_DEPTH: Final = 64
_SAFE_INTEGER: Final = 2**53 - 1


def _check_shape(payload: Any) -> None:
    """Refuse what JCS would serialise but not read back the same, without recursion.

    A whole-number float from 2^53 up to 1e21 is written as digits (``1e16`` becomes
    ``10000000000000000``), which parses back as an integer JCS refuses: the stored form
    could not be re-hashed. Nesting deeper than MAX_PAYLOAD_DEPTH is refused too.
    """
    pending: list[tuple[Any, int]] = [(payload, 0)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_PAYLOAD_DEPTH:
            raise InvalidPayloadError(f"payload is nested deeper than {MAX_PAYLOAD_DEPTH} levels")
        if isinstance(value, float) and value.is_integer() and _SAFE_INTEGER < abs(value) < 1e21:
            raise InvalidPayloadError(
                f"{value!r} is a whole number beyond 2^53 - 1, which JSON cannot carry exactly"
            )
        if isinstance(value, dict):
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list | tuple):
            pending.extend((item, depth + 1) for item in value)


def canonical_json(payload: Any) -> bytes:
    """The RFC 8785 canonical serialisation of a JSON value."""
    _check_shape(payload)
    try:
        data = rfc8785.dumps(payload)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, RecursionError) as exc:
        raise InvalidPayloadError(f"payload has no canonical JSON form: {exc}") from exc
    if len(data) > MAX_PAYLOAD_BYTES:
        raise InvalidPayloadError(f"payload is {len(data)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    return data


def payload_hash(payload: Any) -> bytes:
    """``keccak256(JCS(payload))``: the value an event's ``payloadHash`` commits to."""
    return keccak(canonical_json(payload))


def load_canonical(data: bytes) -> Any:
    """Parse stored canonical JSON back into a value."""
    return json.loads(data)
