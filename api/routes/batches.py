"""``GET /v1/batches/{id}``: a batch's state, by any identifier form or its 0x batch id.

``{id}`` may contain slashes (a Digital Link is a URL), so this route matches any path
under /v1/batches/: :func:`api.main.create_app` includes this router after every other,
and routes for sub-resources (``/v1/batches/{id}/provenance`` ...) live in their own
routers, which are matched first.
"""

from __future__ import annotations

from typing import Literal, cast
from urllib.parse import quote

from eth_utils.address import to_checksum_address
from fastapi import APIRouter

from api.deps import BatchRef, GatewayDep, ReaderDep
from api.problems import problem_responses
from api.schemas import BatchOut, ParticipantRef, RecalledBatch, RecallOut, RecallState
from node.context import Node
from node.events.identifiers import Identifier, identifier_kind, parse_identifier
from node.exceptions import BatchNotFoundError

router = APIRouter(prefix="/v1/batches", tags=["batches"])


@router.get(
    "/{id:path}",
    response_model=BatchOut,
    summary="A batch's state: status, producer, custodian, head, lineage",
    responses=problem_responses(401, 404, 422, 429),
)
def get_batch(ref: BatchRef, gateway: GatewayDep, _reader: ReaderDep) -> BatchOut:
    return batch_out(gateway.node, parse_identifier(ref))


def batch_out(node: Node, identifier: Identifier) -> BatchOut:
    """The stored state of the batch ``identifier`` names; 404 if the node has none."""
    batch_id = bytes(identifier.batch_id)
    with node.store.read() as conn:
        state = node.store.batches.get(conn, batch_id)
        if state is None:
            raise BatchNotFoundError(f"this node holds no batch {identifier.canonical}")
        parents, children = node.store.batches.lineage_of(conn, batch_id)
        # Every ancestor at any depth: a recall of any of them reaches this batch.
        ancestors = {p for p, _, _ in node.store.batches.ancestry(conn, batch_id)} - {batch_id}
        states = node.store.batches.load(conn, ancestors)
        states[batch_id] = state
        # Recalled: a RECALL names it, whatever its status since (a recalled lot destroyed
        # by its custodian reads DESTROYED and stays recalled).
        marked = node.store.batches.recalled(conn, {b: s.status for b, s in states.items()})
        recalled = sorted((a, states[a].identifier) for a in marked - {batch_id})
        ids = {state.producer_id, state.custodian_id, state.receiver_id} - {0}
        people = {pid: node.store.participants.get(conn, pid) for pid in ids}
    if batch_id in marked:
        recall_state: RecallState = "recalled"
    else:
        recall_state = "made-from-recalled" if recalled else "none"

    def ref(pid: int) -> ParticipantRef:
        row = people.get(pid)
        return ParticipantRef(
            id=pid,
            name=row.name if row else None,
            address=to_checksum_address(row.key) if row else None,
        )

    hex_id = "0x" + batch_id.hex()
    canonical = state.identifier or hex_id
    return BatchOut(
        batch_id=hex_id,
        identifier=state.identifier,
        identifier_kind=_kind_label(state.identifier),
        status=state.status.name,
        recall=RecallOut(
            state=recall_state,
            recalled_inputs=[
                RecalledBatch(batch_id="0x" + a.hex(), identifier=name) for a, name in recalled
            ],
        ),
        producer=ref(state.producer_id),
        custodian=ref(state.custodian_id),
        receiver=ref(state.receiver_id) if state.receiver_id else None,
        head="0x" + state.head.hex(),
        created_by="0x" + state.created_by.hex(),
        parents=["0x" + p.hex() for p in parents],
        children=["0x" + c.hex() for c in children],
        links=batch_links(batch_id, canonical),
    )


def batch_links(batch_id: bytes, canonical: str) -> dict[str, str]:
    """A batch's links on a node, as paths from its base (its identifier ``canonical``)."""
    hex_id = "0x" + batch_id.hex()
    return {
        "self": f"/v1/batches/{hex_id}",
        "provenance": f"/v1/batches/{hex_id}/provenance",
        "trace": f"/v1/batches/{hex_id}/trace?direction=downstream",
        "bundle": f"/v1/batches/{hex_id}/bundle",
        "page": f"/?id={quote(canonical, safe='')}",
    }


def _kind_label(identifier: str | None) -> Literal["gs1", "handle", "other"] | None:
    kind = identifier_kind(identifier)
    return None if kind is None else cast(Literal["gs1", "handle", "other"], kind.label)
