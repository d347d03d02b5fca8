"""``GET /v1/alerts``: what the integrity monitor found (docs/design.md §8), newest first.

The list stays empty until an integrity monitor writes alerts to the store."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import GatewayDep, ReaderDep
from api.problems import problem_responses
from api.schemas import SEVERITY_NAMES, AlertOut, AlertPage, SeverityName
from node.store.models import AlertSeverity

router = APIRouter(prefix="/v1", tags=["alerts"])


@router.get(
    "/alerts",
    response_model=AlertPage,
    summary="Integrity alerts, graded critical / high / medium / low",
    responses=problem_responses(401, 422, 429),
)
def alerts(
    gateway: GatewayDep,
    _reader: ReaderDep,
    severity: Annotated[SeverityName, Query(description="The least severity shown.")] = "low",
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> AlertPage:
    size = min(limit, gateway.settings.max_page_size)
    with gateway.node.store.read() as conn:
        rows = gateway.node.store.alerts.page(
            conn, min_severity=int(AlertSeverity[severity.upper()]), before=before, limit=size
        )
    items = [
        AlertOut(
            id=r.id,
            kind=r.kind,
            severity=SEVERITY_NAMES[r.severity],
            batch_id="0x" + r.batch_id.hex() if r.batch_id is not None else None,
            event_hash="0x" + r.event_hash.hex() if r.event_hash is not None else None,
            detail=r.detail,
            detected_at=r.detected_at,
            block_number=r.block_number,
        )
        for r in rows
    ]
    more = len(items) == size
    query = f"severity={severity}&limit={size}"
    return AlertPage(
        items=items, next=f"/v1/alerts?{query}&before={items[-1].id}" if more else None
    )
