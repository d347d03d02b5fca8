"""Webhook endpoints and the durable outbox of deliveries (docs/monitor.md, "Webhooks").

A message is written to the outbox in the same transaction as what it reports (an
alert), so it is never lost and never sent for something rolled back; the deliverer
takes, for each endpoint, its oldest pending message only, so messages reach a receiver
in the order they were written, however long it was down.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, func, select, update

from node.store.batches import BatchRepository
from node.store.models import AlertSeverity, DeliveryStatus
from node.store.records import DeliveryRecord, EndpointRecord, Subscription
from node.store.tables import WEBHOOK_DELIVERIES, WEBHOOK_ENDPOINTS


class Outgoing(NamedTuple):
    """A message for one endpoint, as the outbox takes it."""

    endpoint_id: int
    message_id: str
    event_type: str
    payload: bytes


class WebhookRepository:
    """Endpoints, and deliveries by endpoint in the order they were written."""

    def __init__(self, batches: BatchRepository) -> None:
        self._batches = batches

    def add_endpoint(
        self,
        conn: Connection,
        *,
        url: str,
        subscription: Subscription,
        label: str,
        secret: str,
        now: int,
    ) -> EndpointRecord:
        inserted = conn.execute(
            WEBHOOK_ENDPOINTS.insert().values(
                url=url,
                **_columns(subscription),
                label=label,
                secret=secret,
                created_at=now,
            )
        ).inserted_primary_key
        if inserted is None:
            raise RuntimeError("the database returned no id for the new endpoint")
        found = self.endpoint(conn, int(inserted[0]))
        assert found is not None
        return found

    def endpoint(self, conn: Connection, endpoint_id: int) -> EndpointRecord | None:
        row = conn.execute(
            select(WEBHOOK_ENDPOINTS).where(WEBHOOK_ENDPOINTS.c.id == endpoint_id)
        ).first()
        return _endpoint(row) if row is not None else None

    def endpoints(self, conn: Connection, *, active: bool = True) -> list[EndpointRecord]:
        query = select(WEBHOOK_ENDPOINTS).order_by(WEBHOOK_ENDPOINTS.c.id)
        if active:
            query = query.where(WEBHOOK_ENDPOINTS.c.disabled_at.is_(None))
        return [_endpoint(r) for r in conn.execute(query)]

    def update_endpoint(
        self,
        conn: Connection,
        endpoint_id: int,
        *,
        subscription: Subscription,
        url: str | None = None,
        label: str | None = None,
    ) -> EndpointRecord | None:
        """Replace what the endpoint subscribes to (and its URL or label, when given);
        messages already in its outbox are sent as they are."""
        values = _columns(subscription)
        if url is not None:
            values["url"] = url
        if label is not None:
            values["label"] = label
        conn.execute(
            update(WEBHOOK_ENDPOINTS).where(WEBHOOK_ENDPOINTS.c.id == endpoint_id).values(values)
        )
        return self.endpoint(conn, endpoint_id)

    def rotate(
        self, conn: Connection, endpoint_id: int, *, secret: str, overlap_until: int
    ) -> EndpointRecord | None:
        """A new secret; the current one keeps signing too until ``overlap_until`` (ms)."""
        conn.execute(
            update(WEBHOOK_ENDPOINTS)
            .where(WEBHOOK_ENDPOINTS.c.id == endpoint_id)
            .values(
                previous_secret=WEBHOOK_ENDPOINTS.c.secret,
                previous_until=overlap_until,
                secret=secret,
            )
        )
        return self.endpoint(conn, endpoint_id)

    def disable(self, conn: Connection, endpoint_id: int, *, now: int) -> EndpointRecord | None:
        conn.execute(
            update(WEBHOOK_ENDPOINTS)
            .where(WEBHOOK_ENDPOINTS.c.id == endpoint_id)
            .values(disabled_at=now)
        )
        return self.endpoint(conn, endpoint_id)

    def enqueue(
        self,
        conn: Connection,
        *,
        endpoint_id: int,
        message_id: str,
        event_type: str,
        payload: bytes,
        now: int,
    ) -> None:
        self.enqueue_many(conn, [Outgoing(endpoint_id, message_id, event_type, payload)], now=now)

    def enqueue_many(self, conn: Connection, rows: Sequence[Outgoing], *, now: int) -> None:
        """Write ``rows`` to the outbox in this order (one statement)."""
        if not rows:
            return
        conn.execute(
            WEBHOOK_DELIVERIES.insert(),
            [
                {
                    "endpoint_id": r.endpoint_id,
                    "message_id": r.message_id,
                    "event_type": r.event_type,
                    "payload": r.payload,
                    "status": int(DeliveryStatus.PENDING),
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "last_error": "",
                }
                for r in rows
            ],
        )

    def identifiers(self, conn: Connection, batch_ids: Sequence[bytes]) -> dict[bytes, str | None]:
        """The canonical identifier of each of ``batch_ids`` (None when the node knows none):
        what subscriptions by identifier prefix match."""
        states = self._batches.load(conn, batch_ids)
        return {b: states[b].identifier if b in states else None for b in batch_ids}

    def heads(self, conn: Connection, *, now: int, limit: int) -> list[DeliveryRecord]:
        """For each active endpoint, its oldest pending delivery, when that one is due."""
        oldest = (
            select(
                WEBHOOK_DELIVERIES.c.endpoint_id, func.min(WEBHOOK_DELIVERIES.c.id).label("first")
            )
            .where(WEBHOOK_DELIVERIES.c.status == int(DeliveryStatus.PENDING))
            .group_by(WEBHOOK_DELIVERIES.c.endpoint_id)
            .subquery()
        )
        rows = conn.execute(
            select(WEBHOOK_DELIVERIES)
            .join(oldest, WEBHOOK_DELIVERIES.c.id == oldest.c.first)
            .join(
                WEBHOOK_ENDPOINTS,
                and_(
                    WEBHOOK_ENDPOINTS.c.id == WEBHOOK_DELIVERIES.c.endpoint_id,
                    WEBHOOK_ENDPOINTS.c.disabled_at.is_(None),
                ),
            )
            .where(WEBHOOK_DELIVERIES.c.next_attempt_at <= now)
            .order_by(WEBHOOK_DELIVERIES.c.id)
            .limit(limit)
        )
        return [_delivery(r) for r in rows]

    def run(
        self, conn: Connection, endpoint_id: int, *, now: int, limit: int
    ) -> list[DeliveryRecord]:
        """The endpoint's oldest pending deliveries, in the order they were written, as long
        as they are due (none when its oldest waits for a retry): what the deliverer sends
        next, in this order, stopping at the first failure."""
        rows = conn.execute(
            select(WEBHOOK_DELIVERIES)
            .where(
                WEBHOOK_DELIVERIES.c.status == int(DeliveryStatus.PENDING),
                WEBHOOK_DELIVERIES.c.endpoint_id == endpoint_id,
            )
            .order_by(WEBHOOK_DELIVERIES.c.id)
            .limit(limit)
        )
        due: list[DeliveryRecord] = []
        for row in rows:
            if row.next_attempt_at > now:
                break
            due.append(_delivery(row))
        return due

    def delivered(self, conn: Connection, delivery_id: int, *, status: int, now: int) -> None:
        self.delivered_many(conn, [(delivery_id, status, now)])

    def delivered_many(self, conn: Connection, done: Sequence[tuple[int, int, int]]) -> None:
        """Deliveries the receiver took: (delivery id, HTTP status, when in ms) each."""
        if not done:
            return
        conn.execute(
            update(WEBHOOK_DELIVERIES)
            .where(WEBHOOK_DELIVERIES.c.id == bindparam("d_id"))
            .values(
                status=int(DeliveryStatus.DELIVERED),
                attempts=WEBHOOK_DELIVERIES.c.attempts + 1,
                delivered_at=bindparam("d_at"),
                last_status=bindparam("d_status"),
                last_error="",
            ),
            [{"d_id": i, "d_status": status, "d_at": at} for i, status, at in done],
        )

    def failed(
        self,
        conn: Connection,
        delivery_id: int,
        *,
        status: int | None,
        error: str,
        retry_at: int | None,
    ) -> None:
        """An attempt that failed: retried at ``retry_at``, or dead when that is None."""
        values: dict[str, Any] = {
            "attempts": WEBHOOK_DELIVERIES.c.attempts + 1,
            "last_status": status,
            "last_error": error[:512],
        }
        if retry_at is None:
            values["status"] = int(DeliveryStatus.DEAD)
        else:
            values["next_attempt_at"] = retry_at
        conn.execute(
            update(WEBHOOK_DELIVERIES).where(WEBHOOK_DELIVERIES.c.id == delivery_id).values(values)
        )

    def redeliver(self, conn: Connection, delivery_id: int, *, now: int) -> DeliveryRecord | None:
        """Send a delivered or dead message again (a new delivery with its own id, so the
        receiver sees it as new); None if there is no such delivery."""
        row = conn.execute(
            select(WEBHOOK_DELIVERIES).where(WEBHOOK_DELIVERIES.c.id == delivery_id)
        ).first()
        if row is None:
            return None
        original = _delivery(row)
        count = conn.execute(
            select(func.count()).where(
                WEBHOOK_DELIVERIES.c.message_id.startswith(original.message_id + "-r")
            )
        ).scalar_one()
        self.enqueue(
            conn,
            endpoint_id=original.endpoint_id,
            message_id=f"{original.message_id}-r{int(count) + 1}",
            event_type=original.event_type,
            payload=original.payload,
            now=now,
        )
        return original

    def log(
        self,
        conn: Connection,
        *,
        endpoint_id: int | None = None,
        status: DeliveryStatus | None = None,
        limit: int = 100,
    ) -> list[DeliveryRecord]:
        """Deliveries, newest first."""
        query = select(WEBHOOK_DELIVERIES)
        if endpoint_id is not None:
            query = query.where(WEBHOOK_DELIVERIES.c.endpoint_id == endpoint_id)
        if status is not None:
            query = query.where(WEBHOOK_DELIVERIES.c.status == int(status))
        rows = conn.execute(query.order_by(WEBHOOK_DELIVERIES.c.id.desc()).limit(limit))
        return [_delivery(r) for r in rows]


def _columns(subscription: Subscription) -> dict[str, Any]:
    """The subscription's columns (lists comma-separated: no type, 0x id or canonical
    prefix holds a comma)."""
    return {
        "event_types": ",".join(subscription.types),
        "min_severity": int(subscription.min_severity),
        "batch_ids": ",".join("0x" + b.hex() for b in subscription.batch_ids),
        "prefixes": ",".join(subscription.prefixes),
    }


def _endpoint(r: Any) -> EndpointRecord:
    return EndpointRecord(
        id=int(r.id),
        url=str(r.url),
        subscription=Subscription(
            types=tuple(t for t in str(r.event_types).split(",") if t),
            min_severity=AlertSeverity(r.min_severity),
            batch_ids=tuple(bytes.fromhex(b[2:]) for b in str(r.batch_ids).split(",") if b),
            prefixes=tuple(p for p in str(r.prefixes).split(",") if p),
        ),
        label=str(r.label),
        secret=str(r.secret),
        previous_secret=r.previous_secret,
        previous_until=None if r.previous_until is None else int(r.previous_until),
        created_at=int(r.created_at),
        disabled_at=None if r.disabled_at is None else int(r.disabled_at),
    )


def _delivery(r: Any) -> DeliveryRecord:
    return DeliveryRecord(
        id=int(r.id),
        endpoint_id=int(r.endpoint_id),
        message_id=str(r.message_id),
        event_type=str(r.event_type),
        payload=bytes(r.payload),
        status=DeliveryStatus(r.status),
        attempts=int(r.attempts),
        next_attempt_at=int(r.next_attempt_at),
        created_at=int(r.created_at),
        delivered_at=None if r.delivered_at is None else int(r.delivered_at),
        last_status=None if r.last_status is None else int(r.last_status),
        last_error=str(r.last_error),
    )
