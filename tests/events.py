"""Events for tests that sign and ingest their own: the next event of a batch, and the
identifiers of the lots they create (a new batch needs its identifier, under a prefix its
producer holds: the fixtures' farm holds 0614141 and 9506000)."""

from __future__ import annotations

from typing import Any

from node.events.hashing import keccak
from node.events.identifiers import parse_identifier
from node.events.submission import SignedEvent
from node.events.typed_data import Action, TraceEvent
from node.store.store import Store

#: The identifier of every lot made by :func:`lot_id`, by batch id.
IDENTIFIERS: dict[bytes, str] = {}


def lot_id(name: str, gtin: str = "00614141123452") -> bytes:
    """The batch id of lot ``name`` of ``gtin`` (by default under the farm's 0614141),
    remembered so that :func:`signed` names it when an event creates it."""
    identifier = parse_identifier(f"https://id.gs1.org/01/{gtin}/10/{name}")
    IDENTIFIERS[identifier.batch_id] = identifier.canonical
    return identifier.batch_id


def signed(event: TraceEvent, signature: bytes) -> SignedEvent:
    """``event`` with its signature, naming the identifiers of the batches it creates."""
    created = tuple(IDENTIFIERS[b] for b in event.created_batch_ids() if b in IDENTIFIERS)
    return SignedEvent(event, signature, identifiers=created)


def next_event(
    store: Store, action: Action, batch_id: bytes, nonce: int, **fields: Any
) -> TraceEvent:
    """``action`` on ``batch_id``, extending the batch's head in ``store``, at the signer's
    ``nonce``; a COMMISSION gets a product and a quantity. ``fields`` override any of it."""
    with store.read() as conn:
        state = store.batches.get(conn, batch_id)
    defaults: dict[str, Any] = {
        "batch_id": batch_id,
        "prev_event_hash": state.head if state else bytes(32),
        "nonce": nonce,
        "event_time": 1_732_000_000_000 + nonce,
    }
    if action is Action.COMMISSION:
        defaults |= {"product": keccak(b"gtin"), "quantity": 10}
    return TraceEvent(action, **(defaults | fields))
