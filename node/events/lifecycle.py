"""Where a lifecycle event leads a batch: the one definition of its effect.

BatchRegistry executes the lifecycle on-chain; on this side its effect on a batch (the
status and custodian after the event) is defined here once, and used by ingest's rules
(``node.events.rules``, which first check the event may happen: roles, custody, heads,
licences), by the state a window anchors and the verifier's replay
(``node.proofs.state``), and so by the commit worker's state roots. The browser's
verifier has its twin (``api/static/verify-core.js`` ``transition``), held to it by the
differential tests; the three places agree with the contract on random plans
(tests/node/ingest/test_parity.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from node.events.typed_data import ZERO20, Action, BatchStatus, TraceEvent

#: The status a lifecycle action leaves its subject in (a TRANSFORM: inputs CONSUMED,
#: outputs ACTIVE; a SHIP out of the network: EXPORTED).
STATUS_AFTER: Final[Mapping[Action, BatchStatus]] = {
    Action.COMMISSION: BatchStatus.ACTIVE,
    Action.SHIP: BatchStatus.IN_TRANSIT,
    Action.RECEIVE: BatchStatus.ACTIVE,
    Action.RECALL: BatchStatus.RECALLED,
    Action.DESTROY: BatchStatus.DESTROYED,
}


def transition(
    event: TraceEvent, batch_id: bytes, custodian: int, signer_id: int
) -> tuple[BatchStatus, int] | None:
    """The status and custodian a lifecycle ``event`` leaves ``batch_id`` in (its custodian
    before: ``custodian``; the event's signer: participant ``signer_id``); None when the
    event does not move the batch (an observation, a packing)."""
    action = event.action
    if not action.on_chain:
        return None
    if action is Action.TRANSFORM:
        if batch_id in event.outputs:
            return BatchStatus.ACTIVE, signer_id
        return BatchStatus.CONSUMED, custodian
    if action is Action.SHIP and event.counterparty == ZERO20:
        return BatchStatus.EXPORTED, custodian  # to a party outside the network
    taker = action in (Action.COMMISSION, Action.RECEIVE)  # a RECEIVE adopting one too
    return STATUS_AFTER[action], signer_id if taker else custodian
