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


def canonical_json(payload: Any) -> bytes:
    """The RFC 8785 canonical serialisation of a JSON value."""
    try:
        data = rfc8785.dumps(payload)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
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
