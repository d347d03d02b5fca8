"""``GET /v1/alerts``: what the integrity monitor found (docs/design.md §8, docs/monitor.md),
newest first, with filters; ``POST /v1/alerts/{id}/ack|resolve|dismiss`` (admin key): the
workflow, each step kept with who and why."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from api.body import JsonBodyRoute
from api.deps import AdminDep, GatewayDep, ReaderDep
from api.problems import problem_responses
from api.schemas import (
    ALERT_STATUS_NAMES,
    AlertAction,
    AlertLogPage,
    AlertOut,
    AlertPage,
    AlertStatusName,
    SeverityName,
)
from node.events.identifiers import parse_identifier
from node.exceptions import AlertNotFoundError
from node.monitor.alertlog import alert_log_domain
from node.store.alertlog import anchor_document, entry_document
from node.store.alerts import AlertFilter, alert_document
from node.store.models import AlertSeverity, AlertStatus
from node.store.records import AlertRecord

router = APIRouter(prefix="/v1", tags=["alerts"], route_class=JsonBodyRoute)

AlertId = Annotated[int, Path(alias="id", ge=1, le=2**62, description="The alert's id.")]
_BY_NAME = {name: status for status, name in ALERT_STATUS_NAMES.items()}


def alert_out(a: AlertRecord) -> AlertOut:
    return AlertOut.model_validate(alert_document(a))


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
    status: Annotated[AlertStatusName | None, Query(description="Only this status.")] = None,
    batch: Annotated[
        str | None,
        Query(min_length=1, max_length=512, description="Only alerts about this batch."),
    ] = None,
    participant: Annotated[
        int | None, Query(ge=1, le=2**32, description="Only alerts naming this participant.")
    ] = None,
    since: Annotated[
        int | None, Query(ge=0, le=2**62, description="Updated at or after (ms).")
    ] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> AlertPage:
    size = min(limit, gateway.settings.max_page_size)
    where = AlertFilter(
        min_severity=AlertSeverity[severity.upper()],
        status=_BY_NAME[status] if status is not None else None,
        batch_id=bytes(parse_identifier(batch).batch_id) if batch is not None else None,
        participant_id=participant,
        since=since,
    )
    with gateway.node.store.read() as conn:
        rows = gateway.node.store.alerts.page(conn, where=where, before=before, limit=size)
    items = [alert_out(r) for r in rows]
    more = len(items) == size
    query = f"severity={severity}&limit={size}"
    for name, value in (("status", status), ("participant", participant), ("since", since)):
        if value is not None:
            query += f"&{name}={value}"
    if where.batch_id is not None:
        query += f"&batch=0x{where.batch_id.hex()}"
    return AlertPage(
        items=items, next=f"/v1/alerts?{query}&before={items[-1].id}" if more else None
    )


@router.get(
    "/alert-log",
    response_model=AlertLogPage,
    summary="The alert log: every revision of every alert, signed and anchored",
    responses=problem_responses(401, 422, 429),
)
def alert_log(
    gateway: GatewayDep,
    _reader: ReaderDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="Entries after this position.")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> AlertLogPage:
    node = gateway.node
    size = min(limit, gateway.settings.max_page_size)
    with node.store.read() as conn:
        entries = node.store.alert_log.entries(conn, after=after, limit=size)
        state = node.store.alert_log.state(conn)
    domain = alert_log_domain(node.deployment.chain_id, node.deployment.anchor_registry)
    more = len(entries) == size
    return AlertLogPage.model_validate(
        {
            "node": node.config.node_address,
            "domain": domain.as_json(),
            "entries": [entry_document(e) for e in entries],
            "anchor": anchor_document(state.anchor),
            "next": f"/v1/alert-log?after={entries[-1].seq}&limit={size}" if more else None,
        }
    )


@router.get(
    "/alerts/{id}",
    response_model=AlertOut,
    summary="One alert with its evidence and handling",
    responses=problem_responses(401, 404, 422, 429),
)
def alert(alert_id: AlertId, gateway: GatewayDep, _reader: ReaderDep) -> AlertOut:
    with gateway.node.store.read() as conn:
        found = gateway.node.store.alerts.get(conn, alert_id)
    if found is None:
        raise AlertNotFoundError(f"no alert {alert_id}")
    return alert_out(found)


#: The body of an action: optional (docs/api.md); without one, the action keeps no note.
ActionBody = Annotated[AlertAction | None, Body(description="Optional: why, kept as the note.")]


def _handle(
    gateway: GatewayDep,
    admin: AdminDep,
    alert_id: int,
    status: AlertStatus,
    body: AlertAction | None,
) -> AlertOut:
    note = body.why if body is not None else AlertAction().why
    now = int(time.time() * 1000)
    with gateway.node.store.write() as conn:
        found = gateway.node.store.alerts.set_status(
            conn, alert_id, status, by=f"api-key:{admin.key_id}", note=note, now=now
        )
    if found is None:
        raise AlertNotFoundError(f"no alert {alert_id}")
    return alert_out(found)


_HANDLED = problem_responses(401, 403, 404, 422, 429)


@router.post(
    "/alerts/{id}/ack",
    response_model=AlertOut,
    summary="Acknowledge an alert: someone is on it",
    responses=_HANDLED,
)
def ack(
    alert_id: AlertId, gateway: GatewayDep, admin: AdminDep, body: ActionBody = None
) -> AlertOut:
    return _handle(gateway, admin, alert_id, AlertStatus.ACKNOWLEDGED, body)


@router.post(
    "/alerts/{id}/resolve",
    response_model=AlertOut,
    summary="Resolve an alert (it opens again if its rule finds it again)",
    responses=_HANDLED,
)
def resolve(
    alert_id: AlertId, gateway: GatewayDep, admin: AdminDep, body: ActionBody = None
) -> AlertOut:
    return _handle(gateway, admin, alert_id, AlertStatus.RESOLVED, body)


@router.post(
    "/alerts/{id}/dismiss",
    response_model=AlertOut,
    summary="Dismiss an alert as a false positive (it stays closed)",
    responses=_HANDLED,
)
def dismiss(
    alert_id: AlertId, gateway: GatewayDep, admin: AdminDep, body: ActionBody = None
) -> AlertOut:
    return _handle(gateway, admin, alert_id, AlertStatus.FALSE_POSITIVE, body)
