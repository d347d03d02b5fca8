"""Events in readable terms → TraceEvents, given batch heads and a nonce: the one
definition, pure. A node takes heads and nonces from its store
(``node.ingest.compose.compose_event``), the SDK from the gateway and its outbox.

The fields are filled so:
``product`` and ``location`` are keccak-256 of their text, ``payload`` is committed to by
``payloadHash`` (keccak-256 of its RFC 8785 form), a COMMISSION or TRANSFORM starts from a
zero ``prevEventHash``, every other event extends its batches' current heads.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from node.events.hashing import keccak
from node.events.identifiers import IdentifierKind, parse_identifier, parse_record
from node.events.payload import canonical_json
from node.events.typed_data import ZERO32, Action, TraceEvent
from node.exceptions import InvalidEventError, InvalidIdentifierError


@dataclass(frozen=True, slots=True)
class EventSpec:
    """An event to sign, in the terms of ``tracenode event submit``.

    ``batch``, ``inputs`` and ``outputs`` are identifiers in any accepted spelling (GS1
    Digital Link, EPC URN, handle) or 0x batch ids; ``to`` is a SHIP's receiver: its
    address or participant id.
    """

    action: Action | str
    batch: str | None = None
    inputs: Sequence[str] = ()
    outputs: Sequence[str] = ()
    to: str | int | None = None
    product: str = ""
    quantity: int = 0
    location: str = ""
    payload: Any = None
    event_time: int | None = None


#: The receiver a SHIP names for a party outside the network (``--to outside``): the
#: counterparty zero, which exports the lot (docs/contracts.md, "Parties outside the
#: network"). Only this word does: no receiver at all is an error, never an export.
OUTSIDE: Final = "outside"


def parse_action(value: Action | str | int) -> Action:
    """An action from its enum, name (any case) or number."""
    if isinstance(value, Action):
        return value
    try:
        if isinstance(value, int):
            return Action(value)
        return Action[str(value).strip().upper()]
    except (KeyError, ValueError):
        raise InvalidEventError(f"unknown action {value!r}", field="action") from None


def creates(action: Action) -> bool:
    """Whether the action makes new batches (and so extends no head)."""
    return action in (Action.COMMISSION, Action.TRANSFORM)


def named_batch(text: str | None) -> tuple[bytes, list[str]]:
    """A batch id, and the canonical identifier to attach when the text is more than an id."""
    if text is None:
        return ZERO32, []
    identifier = parse_identifier(text)
    attach = [] if identifier.kind is IdentifierKind.BATCH_ID else [identifier.canonical]
    return bytes(identifier.batch_id), attach


#: The packings: their subject is a pallet, which may also be a record (an SSCC, an asset).
PACKINGS: Final = frozenset({Action.AGGREGATE, Action.DISAGGREGATE})


def named_subject(action: Action, text: str | None) -> tuple[bytes, list[str]]:
    """The event's subject as :func:`named_batch` reads it; a packing's pallet may also be
    a record's key (an SSCC, an asset: ``parse_record``), attached, since ingest needs the
    pallet named (docs/events.md, "Pallets")."""
    if action not in PACKINGS or text is None:
        return named_batch(text)
    try:
        return named_batch(text)
    except InvalidIdentifierError:
        record = parse_record(text)
        return bytes(record.batch_id), [record.canonical]


def heads_needed(spec: EventSpec) -> list[bytes]:
    """The batches whose current heads the event extends."""
    action = parse_action(spec.action)
    wanted = [named_batch(text)[0] for text in spec.inputs]
    if not creates(action) and spec.batch is not None:
        wanted.insert(0, named_subject(action, spec.batch)[0])
    return wanted


def compose(
    spec: EventSpec,
    *,
    counterparty: bytes,
    heads: Mapping[bytes, bytes],
    nonce: int,
) -> tuple[TraceEvent, bytes | None, tuple[str, ...]]:
    """The TraceEvent, its canonical payload and the identifiers to attach."""
    action = parse_action(spec.action)
    subject, identifiers = named_subject(action, spec.batch)
    input_ids = [named_batch(text)[0] for text in spec.inputs]
    output_ids = [named_batch(text) for text in spec.outputs]
    canonical = canonical_json(spec.payload) if spec.payload is not None else None
    event = TraceEvent(
        action,
        batch_id=ZERO32 if action is Action.TRANSFORM else subject,
        prev_event_hash=ZERO32 if creates(action) else heads.get(subject, ZERO32),
        inputs=tuple(input_ids),
        input_prev_hashes=tuple(heads.get(i, ZERO32) for i in input_ids),
        outputs=tuple(o for o, _ in output_ids),
        counterparty=counterparty,
        product=keccak(spec.product.encode()) if spec.product else ZERO32,
        quantity=spec.quantity,
        event_time=spec.event_time if spec.event_time is not None else int(time.time() * 1000),
        location=keccak(spec.location.encode()) if spec.location else ZERO32,
        payload_hash=keccak(canonical) if canonical is not None else ZERO32,
        nonce=nonce,
    )
    attached = identifiers + [text for _, attach in output_ids for text in attach]
    return event, canonical, tuple(attached)


def head_effects(event: TraceEvent, event_hash: bytes) -> dict[bytes, bytes]:
    """The heads the event leaves once accepted (node/events/rules.py): an executed action
    becomes the head of every batch it names; OBSERVE, AGGREGATE and DISAGGREGATE attach
    to the heads without advancing them."""
    if not event.action.on_chain:
        return {}
    return {b: event_hash for b in (event.batch_id, *event.inputs, *event.outputs) if b != ZERO32}
