"""Compose and sign an event from readable inputs, filling in what the node knows: each
batch's current head and the signer's next unused nonce. Used by the CLI and the demo."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from node.events.hashing import keccak
from node.events.identifiers import IdentifierKind, parse_identifier
from node.events.payload import canonical_json
from node.events.signatures import address_of, sign_digest
from node.events.submission import SignedEvent
from node.events.typed_data import Action, Domain, TraceEvent
from node.store.store import Store

ZERO = bytes(32)


def named_batch(text: str | None) -> tuple[bytes, list[str]]:
    """A batch id, and the canonical identifier to attach when the text is more than an id."""
    if text is None:
        return ZERO, []
    identifier = parse_identifier(text)
    attach = [] if identifier.kind is IdentifierKind.BATCH_ID else [identifier.canonical]
    return bytes(identifier.batch_id), attach


def compose_event(
    *,
    store: Store,
    domain: Domain,
    private_key: bytes,
    action: Action,
    batch: str | None = None,
    inputs: Sequence[str] = (),
    outputs: Sequence[str] = (),
    counterparty: bytes = bytes(20),
    product: str = "",
    quantity: int = 0,
    location: str = "",
    payload: Any = None,
    event_time: int | None = None,
) -> SignedEvent:
    """A signed event extending the current heads, with the signer's next nonce.

    ``product`` and ``location`` are hashed (keccak-256 of their text); ``payload`` is
    kept in its RFC 8785 form and committed to by ``payloadHash``.
    """
    subject, identifiers = named_batch(batch)
    input_ids = [named_batch(text)[0] for text in inputs]
    output_ids = [named_batch(text) for text in outputs]
    with store.read() as conn:
        nonce = store.next_nonce(conn, address_of(private_key))
        heads = store.load_batches(conn, [subject, *input_ids])
    creates = action in (Action.COMMISSION, Action.TRANSFORM)
    canonical = canonical_json(payload) if payload is not None else None
    event = TraceEvent(
        action,
        batch_id=ZERO if action is Action.TRANSFORM else subject,
        prev_event_hash=heads[subject].head if subject in heads and not creates else ZERO,
        inputs=tuple(input_ids),
        input_prev_hashes=tuple(heads[i].head if i in heads else ZERO for i in input_ids),
        outputs=tuple(o for o, _ in output_ids),
        counterparty=counterparty,
        product=keccak(product.encode()) if product else ZERO,
        quantity=quantity,
        event_time=event_time if event_time is not None else int(time.time() * 1000),
        location=keccak(location.encode()) if location else ZERO,
        payload_hash=keccak(canonical) if canonical is not None else ZERO,
        nonce=nonce,
    )
    return SignedEvent(
        event,
        sign_digest(event.digest(domain), private_key),
        canonical,
        tuple(identifiers + [text for _, attach in output_ids for text in attach]),
    )
