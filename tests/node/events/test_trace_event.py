"""TraceEvent's own checks of its fields: each bad field is refused, with its name."""

from __future__ import annotations

from typing import Any

import pytest

from node.events.typed_data import Action, TraceEvent
from node.exceptions import InvalidEventError

GOOD: dict[str, Any] = {
    "action": Action.TRANSFORM,
    "batch_id": b"\x01" * 32,
    "prev_event_hash": b"\x02" * 32,
    "inputs": (b"\x03" * 32, b"\x04" * 32),
    "input_prev_hashes": (b"\x05" * 32, b"\x06" * 32),
    "outputs": (b"\x07" * 32,),
    "counterparty": b"\x08" * 20,
    "product": b"\x09" * 32,
    "quantity": 2**256 - 1,
    "event_time": 2**64 - 1,
    "location": b"\x0a" * 32,
    "payload_hash": b"\x0b" * 32,
    "nonce": 2**256 - 1,
}

BAD = [
    ("batch_id", b"\x01" * 31, "batch_id must be 32 bytes"),
    ("prev_event_hash", b"", "prev_event_hash must be 32 bytes"),
    ("product", b"\x00" * 33, "product must be 32 bytes"),
    ("location", b"\x00" * 20, "location must be 32 bytes"),
    ("payload_hash", b"\x00" * 31, "payload_hash must be 32 bytes"),
    ("inputs", (b"\x03" * 32, b"\x04" * 31), "every item of inputs must be 32 bytes"),
    ("input_prev_hashes", (b"\x05" * 33,), "every item of input_prev_hashes must be 32"),
    ("outputs", (b"",), "every item of outputs must be 32 bytes"),
    ("counterparty", b"\x08" * 32, "counterparty must be a 20-byte address"),
    ("quantity", 2**256, "quantity must fit in uint256"),
    ("quantity", -1, "quantity must fit in uint256"),
    ("event_time", 2**64, "eventTime must fit in uint64"),
    ("event_time", -1, "eventTime must fit in uint64"),
    ("nonce", 2**256, "nonce must fit in uint256"),
    ("nonce", -1, "nonce must fit in uint256"),
]


def test_the_largest_values_and_full_lists_are_accepted() -> None:
    event = TraceEvent(**GOOD)
    assert event.quantity == 2**256 - 1
    assert event.outputs == GOOD["outputs"]
    assert TraceEvent(Action.OBSERVE).inputs == ()  # the defaults hold too


@pytest.mark.parametrize(("field", "value", "message"), BAD)
def test_each_bad_field_is_refused_by_name(field: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidEventError, match=message):
        TraceEvent(**(GOOD | {field: value}))
