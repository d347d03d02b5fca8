"""Compose and sign an event from readable inputs, filling in what the node knows: each
batch's current head and the signer's next unused nonce. Used by the CLI and the demo."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from node.events.compose import EventSpec, compose, heads_needed
from node.events.signatures import address_of, sign_digest
from node.events.submission import SignedEvent
from node.events.typed_data import Action, Domain
from node.store.store import Store


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
    heads: Mapping[bytes, bytes] | None = None,
) -> SignedEvent:
    """A signed event extending the current heads, with the signer's next nonce.
    ``heads``: batches' heads this store does not hold (a lot another node's participant
    shipped to this node's, read from the chain), over the stored ones.

    ``product`` and ``location`` are hashed (keccak-256 of their text); ``payload`` is
    kept in its RFC 8785 form and committed to by ``payloadHash``.
    """
    spec = EventSpec(
        action=action,
        batch=batch,
        inputs=inputs,
        outputs=outputs,
        product=product,
        quantity=quantity,
        location=location,
        payload=payload,
        event_time=event_time,
    )
    with store.read() as conn:
        nonce = store.events.next_nonce(conn, address_of(private_key))
        stored = store.batches.load(conn, heads_needed(spec))
    known = {batch_id: state.head for batch_id, state in stored.items()} | dict(heads or {})
    event, canonical, identifiers = compose(
        spec, counterparty=counterparty, heads=known, nonce=nonce
    )
    return SignedEvent(
        event, sign_digest(event.digest(domain), private_key), canonical, identifiers
    )
