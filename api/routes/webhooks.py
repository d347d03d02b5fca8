"""``/v1/webhooks`` (admin key): partners' subscriptions (message types, least severity,
batches, identifier prefixes), secret rotation, the delivery log and redelivery
(docs/monitor.md, "Webhooks")."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from api.body import JsonBodyRoute
from api.deps import AdminDep, GatewayDep
from api.problems import problem_responses
from api.schemas import (
    SEVERITY_NAMES,
    DeliveryOut,
    RotateIn,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhookUpdate,
)
from node.exceptions import WebhookNotFoundError
from node.store.models import DeliveryStatus
from node.store.records import DeliveryRecord, EndpointRecord
from node.webhooks.addresses import check_url
from node.webhooks.messages import new_secret
from node.webhooks.subscriptions import changed, subscription

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], route_class=JsonBodyRoute)

WebhookId = Annotated[int, Path(alias="id", ge=1, le=2**62, description="The endpoint's id.")]
DeliveryId = Annotated[int, Path(alias="id", ge=1, le=2**62, description="The delivery's id.")]
_STATUS: dict[DeliveryStatus, Literal["pending", "delivered", "dead"]] = {
    DeliveryStatus.PENDING: "pending",
    DeliveryStatus.DELIVERED: "delivered",
    DeliveryStatus.DEAD: "dead",
}
_ADMIN = problem_responses(401, 403, 404, 422, 429)


def webhook_out(e: EndpointRecord, now: int) -> WebhookOut:
    rotating = e.previous_until if e.previous_until and e.previous_until > now else None
    return WebhookOut(
        id=e.id,
        url=e.url,
        events=list(e.subscription.types),
        min_severity=SEVERITY_NAMES[e.subscription.min_severity],
        batches=["0x" + b.hex() for b in e.subscription.batch_ids],
        prefixes=list(e.subscription.prefixes),
        label=e.label,
        created_at=e.created_at,
        disabled_at=e.disabled_at,
        rotating_until=rotating,
    )


def delivery_out(d: DeliveryRecord) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        endpoint_id=d.endpoint_id,
        message_id=d.message_id,
        event_type=d.event_type,
        status=_STATUS[d.status],
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at,
        created_at=d.created_at,
        delivered_at=d.delivered_at,
        last_status=d.last_status,
        last_error=d.last_error,
    )


def _now() -> int:
    return int(time.time() * 1000)


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    summary="Subscribe a receiver; its signing secret is shown this once",
    responses=_ADMIN,
)
async def add(body: WebhookIn, gateway: GatewayDep, _admin: AdminDep) -> WebhookCreated:
    wanted = subscription(
        types=body.events,
        min_severity=body.min_severity,
        batches=body.batches,
        prefixes=body.prefixes,
    )
    allow = gateway.settings.webhooks_allow_loopback
    url = await run_in_threadpool(check_url, body.url, allow_loopback=allow)  # resolves DNS
    with gateway.node.store.write() as conn:
        endpoint = gateway.node.store.webhooks.add_endpoint(
            conn,
            url=url,
            subscription=wanted,
            label=body.label,
            secret=new_secret(),
            now=_now(),
        )
    shown = webhook_out(endpoint, _now())
    return WebhookCreated(**shown.model_dump(), secret=endpoint.secret)


@router.patch(
    "/{id}",
    response_model=WebhookOut,
    summary="Change what a receiver subscribes to (each field given replaces the current)",
    responses=_ADMIN,
)
async def change(
    endpoint_id: WebhookId, body: WebhookUpdate, gateway: GatewayDep, _admin: AdminDep
) -> WebhookOut:
    store = gateway.node.store
    with store.read() as conn:
        current = store.webhooks.endpoint(conn, endpoint_id)
    if current is None:
        raise WebhookNotFoundError(f"no webhook {endpoint_id}")
    wanted = changed(
        current,
        types=body.events,
        min_severity=body.min_severity,
        batches=body.batches,
        prefixes=body.prefixes,
    )
    url = None
    if body.url is not None:
        allow = gateway.settings.webhooks_allow_loopback
        url = await run_in_threadpool(check_url, body.url, allow_loopback=allow)
    with store.write() as conn:
        endpoint = store.webhooks.update_endpoint(
            conn,
            endpoint_id,
            subscription=wanted,
            url=url,
            label=body.label,
        )
    if endpoint is None:
        raise WebhookNotFoundError(f"no webhook {endpoint_id}")
    return webhook_out(endpoint, _now())


@router.get("", response_model=list[WebhookOut], summary="Subscriptions", responses=_ADMIN)
def listing(gateway: GatewayDep, _admin: AdminDep) -> list[WebhookOut]:
    with gateway.node.store.read() as conn:
        endpoints = gateway.node.store.webhooks.endpoints(conn, active=False)
    now = _now()
    return [webhook_out(e, now) for e in endpoints]


@router.post(
    "/{id}/rotate",
    response_model=WebhookCreated,
    summary="A new signing secret; the old one signs too while the overlap lasts",
    responses=_ADMIN,
)
def rotate(
    endpoint_id: WebhookId, body: RotateIn, gateway: GatewayDep, _admin: AdminDep
) -> WebhookCreated:
    now = _now()
    with gateway.node.store.write() as conn:
        endpoint = gateway.node.store.webhooks.rotate(
            conn, endpoint_id, secret=new_secret(), overlap_until=now + body.overlap_seconds * 1000
        )
    if endpoint is None:
        raise WebhookNotFoundError(f"no webhook {endpoint_id}")
    return WebhookCreated(**webhook_out(endpoint, now).model_dump(), secret=endpoint.secret)


@router.delete(
    "/{id}", response_model=WebhookOut, summary="Stop sending to a receiver", responses=_ADMIN
)
def disable(endpoint_id: WebhookId, gateway: GatewayDep, _admin: AdminDep) -> WebhookOut:
    with gateway.node.store.write() as conn:
        endpoint = gateway.node.store.webhooks.disable(conn, endpoint_id, now=_now())
    if endpoint is None:
        raise WebhookNotFoundError(f"no webhook {endpoint_id}")
    return webhook_out(endpoint, _now())


@router.get(
    "/{id}/deliveries",
    response_model=list[DeliveryOut],
    summary="The delivery log of a receiver, newest first (status=dead: its dead letters)",
    responses=_ADMIN,
)
def deliveries(
    endpoint_id: WebhookId,
    gateway: GatewayDep,
    _admin: AdminDep,
    status: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryOut]:
    wanted = {v: k for k, v in _STATUS.items()}[status] if status else None
    with gateway.node.store.read() as conn:
        if gateway.node.store.webhooks.endpoint(conn, endpoint_id) is None:
            raise WebhookNotFoundError(f"no webhook {endpoint_id}")
        rows = gateway.node.store.webhooks.log(
            conn, endpoint_id=endpoint_id, status=wanted, limit=limit
        )
    return [delivery_out(d) for d in rows]


@router.post(
    "/deliveries/{id}/redeliver",
    status_code=202,
    response_model=DeliveryOut,
    summary="Send a delivered or dead message again (as a new delivery)",
    responses=_ADMIN,
)
def redeliver(delivery_id: DeliveryId, gateway: GatewayDep, _admin: AdminDep) -> DeliveryOut:
    with gateway.node.store.write() as conn:
        original = gateway.node.store.webhooks.redeliver(conn, delivery_id, now=_now())
    if original is None:
        raise WebhookNotFoundError(f"no delivery {delivery_id}")
    return delivery_out(original)
