"""A signed event as partners submit it, parsed strictly from JSON.

{
  "event":     { EIP-712 message of a TraceEvent: fields as in typed_data.py,
                 bytes as 0x-hex, integers as JSON numbers or decimal strings },
  "signature": "0x" + 65 bytes (r ‖ s ‖ v), as eth_signTypedData_v4 returns it,
  "payload":   optional JSON value whose RFC 8785 form hashes to payloadHash,
  "identifiers": optional list of batch identifiers (GS1 Digital Link, EPC URN,
                 handle) naming batches of the event, so the node can resolve them
}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from node.events.digits import is_decimal
from node.events.hashing import keccak
from node.events.payload import canonical_json, load_canonical
from node.events.typed_data import TRACE_EVENT_FIELDS, Action, TraceEvent
from node.exceptions import (
    InvalidEventError,
    InvalidSignatureError,
    PayloadMismatchError,
    UnsupportedActionError,
)

MAX_LIST_ITEMS: Final = 64
MAX_IDENTIFIERS: Final = 64
_FIELD_NAMES: Final = frozenset(name for name, _ in TRACE_EVENT_FIELDS)
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class SignedEvent:
    """A parsed submission: the event, its signature, and optional details."""

    event: TraceEvent
    signature: bytes
    payload: bytes | None = None  # canonical JSON (RFC 8785)
    identifiers: tuple[str, ...] = ()


def parse_hex(value: object, length: int, field: str) -> bytes:
    """``0x``-prefixed hex of exactly ``length`` bytes."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise InvalidEventError(f"{field} must be a 0x-prefixed hex string", field=field)
    digits = value[2:]
    if len(digits) != 2 * length or not _HEX_DIGITS.issuperset(digits):
        raise InvalidEventError(f"{field} must be {length} bytes of hex", field=field)
    return bytes.fromhex(digits)


def parse_uint(value: object, bits: int, field: str) -> int:
    """A JSON integer or a decimal string (digits only: no sign, point or exponent)
    holding an unsigned integer of ``bits`` bits."""
    if isinstance(value, bool):
        raise InvalidEventError(f"{field} must be an integer, not a boolean", field=field)
    if isinstance(value, str):
        if not is_decimal(value) or len(value) > 78:
            raise InvalidEventError(f"{field} must be a decimal integer", field=field)
        value = int(value)
    if not isinstance(value, int):
        raise InvalidEventError(f"{field} must be an integer", field=field)
    if not 0 <= value < 2**bits:
        raise InvalidEventError(f"{field} must fit in uint{bits}", field=field)
    return value


def _parse_list(value: object, field: str) -> tuple[bytes, ...]:
    if not isinstance(value, list):
        raise InvalidEventError(f"{field} must be a list", field=field)
    if len(value) > MAX_LIST_ITEMS:
        raise InvalidEventError(f"{field} has more than {MAX_LIST_ITEMS} items", field=field)
    return tuple(parse_hex(item, 32, f"{field}[{i}]") for i, item in enumerate(value))


def parse_event(message: Mapping[str, Any]) -> TraceEvent:
    """A TraceEvent from its EIP-712 message; every field required, no others allowed."""
    if not isinstance(message, Mapping):
        raise InvalidEventError("event must be an object", field="event")
    if not all(isinstance(key, str) for key in message):
        raise InvalidEventError("event keys must be strings", field="event")
    missing = _FIELD_NAMES - message.keys()
    if missing:
        raise InvalidEventError(f"event lacks {', '.join(sorted(missing))}", field="event")
    extra = message.keys() - _FIELD_NAMES
    if extra:
        raise InvalidEventError(
            f"event has unknown fields {', '.join(sorted(extra))}", field="event"
        )
    action = parse_uint(message["action"], 8, "action")
    try:
        parsed_action = Action(action)
    except ValueError:
        raise UnsupportedActionError(
            f"action {action} is not a TraceNode action", field="action"
        ) from None
    return TraceEvent(
        action=parsed_action,
        batch_id=parse_hex(message["batchId"], 32, "batchId"),
        prev_event_hash=parse_hex(message["prevEventHash"], 32, "prevEventHash"),
        inputs=_parse_list(message["inputs"], "inputs"),
        input_prev_hashes=_parse_list(message["inputPrevHashes"], "inputPrevHashes"),
        outputs=_parse_list(message["outputs"], "outputs"),
        counterparty=parse_hex(message["counterparty"], 20, "counterparty"),
        product=parse_hex(message["product"], 32, "product"),
        quantity=parse_uint(message["quantity"], 256, "quantity"),
        # Stored as a signed 64-bit integer: times past the year 292,277,026 are refused.
        event_time=parse_uint(message["eventTime"], 63, "eventTime"),
        location=parse_hex(message["location"], 32, "location"),
        payload_hash=parse_hex(message["payloadHash"], 32, "payloadHash"),
        nonce=parse_uint(message["nonce"], 256, "nonce"),
    )


def parse_submission(document: Mapping[str, Any]) -> SignedEvent:
    """A :class:`SignedEvent` from a submission document (see the module docstring)."""
    if not isinstance(document, Mapping):
        raise InvalidEventError("a submission must be an object")
    extra = document.keys() - {"event", "signature", "payload", "identifiers"}
    if extra:
        raise InvalidEventError(f"submission has unknown fields {', '.join(sorted(extra))}")
    event = parse_event(document.get("event"))  # type: ignore[arg-type]
    try:
        signature = parse_hex(document.get("signature"), 65, "signature")
    except InvalidEventError as exc:
        raise InvalidSignatureError(str(exc), field="signature") from None
    payload = None
    if "payload" in document:
        payload = canonical_json(document["payload"])
        if keccak(payload) != event.payload_hash:
            raise PayloadMismatchError(
                "payload does not hash to payloadHash (keccak256 of its RFC 8785 form)",
                field="payload",
            )
    identifiers = document.get("identifiers", [])
    if not isinstance(identifiers, Sequence) or isinstance(identifiers, str):
        raise InvalidEventError("identifiers must be a list of strings", field="identifiers")
    if len(identifiers) > MAX_IDENTIFIERS or not all(isinstance(i, str) for i in identifiers):
        raise InvalidEventError(
            f"identifiers must be at most {MAX_IDENTIFIERS} strings", field="identifiers"
        )
    return SignedEvent(event, signature, payload, tuple(identifiers))


def submission_document(signed: SignedEvent) -> dict[str, Any]:
    """The JSON document of a submission (the inverse of :func:`parse_submission`)."""
    document: dict[str, Any] = {
        "event": signed.event.message(),
        "signature": "0x" + signed.signature.hex(),
    }
    if signed.payload is not None:
        document["payload"] = load_canonical(signed.payload)
    if signed.identifiers:
        document["identifiers"] = list(signed.identifiers)
    return document
