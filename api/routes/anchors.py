"""``GET /v1/anchors``: the commit windows anchored on-chain, newest first, paged."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import GatewayDep, ReaderDep
from api.problems import problem_responses
from api.schemas import AnchorOut, AnchorPage

router = APIRouter(prefix="/v1", tags=["anchors"])

Before = Annotated[
    int | None, Query(ge=1, le=2**62, description="Page on: windows older than this id.")
]
Limit = Annotated[int, Query(ge=1, le=10_000, description="Page size (capped by the node).")]


@router.get(
    "/anchors",
    response_model=AnchorPage,
    summary="Anchored windows: root, sequence range, transaction, block",
    responses=problem_responses(401, 422, 429),
)
def anchors(
    gateway: GatewayDep, _reader: ReaderDep, before: Before = None, limit: Limit = 100
) -> AnchorPage:
    size = min(limit, gateway.settings.max_page_size)
    with gateway.node.store.read() as conn:
        rows = gateway.node.store.windows.page(conn, before=before, limit=size)
    items = [
        AnchorOut(
            window_id=r.id,
            root="0x" + r.root.hex(),
            first_seq=r.first_seq,
            last_seq=r.first_seq + r.event_count - 1,
            event_count=r.event_count,
            tx_hash="0x" + r.tx_hash.hex(),
            block_number=r.block_number,
            block_hash="0x" + r.block_hash.hex() if r.block_hash is not None else None,
            created_at=r.created_at,
        )
        for r in rows
    ]
    more = len(items) == size and items[-1].window_id > 1
    return AnchorPage(
        items=items,
        next=f"/v1/anchors?before={items[-1].window_id}&limit={size}" if more else None,
    )
