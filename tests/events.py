"""Events for tests that sign and ingest their own: the next event of a batch."""

from __future__ import annotations

from typing import Any

from node.events.hashing import keccak
from node.events.typed_data import Action, TraceEvent
from node.store.store import Store


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
