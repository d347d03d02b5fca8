"""What a webhook says, and to whom: message types, bodies, and the endpoints that
subscribe to each message (docs/monitor.md, "Webhooks")."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import Connection

from node.events.payload import canonical_json
from node.store.alerts import alert_document
from node.store.records import AlertRecord, EndpointRecord
from node.store.webhooks import WebhookRepository

ALERT_RAISED: Final = "alert.raised"
ALERT_UPDATED: Final = "alert.updated"
#: Every message type a subscription may name.
EVENT_TYPES: Final = (ALERT_RAISED, ALERT_UPDATED)
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - a prefix, not a secret


def new_secret() -> str:
    """A fresh signing secret, as Standard Webhooks spells them (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(16)


def alert_body(alert: AlertRecord, event_type: str, now: int) -> dict[str, Any]:
    """The JSON of an alert message: Standard Webhooks' ``type``, ``timestamp``, ``data``."""
    return {
        "type": event_type,
        "timestamp": now,
        "data": alert_document(alert),
    }


def wants(endpoint: EndpointRecord, event_type: str, alert: AlertRecord) -> bool:
    """Whether ``endpoint`` subscribes to this message about ``alert``."""
    return (
        event_type in endpoint.event_types
        and alert.severity >= endpoint.min_severity
        and (endpoint.batch_id is None or endpoint.batch_id == alert.batch_id)
    )


def enqueue_alert(
    conn: Connection,
    repo: WebhookRepository,
    alert: AlertRecord,
    *,
    new: bool,
    now: int,
    endpoints: list[EndpointRecord] | None = None,
) -> int:
    """Write the message about ``alert`` (raised or updated) to the outbox of every endpoint
    that subscribes to it, in the caller's transaction; how many were written."""
    event_type = ALERT_RAISED if new else ALERT_UPDATED
    body = alert_body(alert, event_type, now)
    written = 0
    for endpoint in endpoints if endpoints is not None else repo.endpoints(conn):
        if wants(endpoint, event_type, alert):
            repo.enqueue(
                conn,
                endpoint_id=endpoint.id,
                message_id=new_message_id(),
                event_type=event_type,
                payload=canonical_json(_jsonable(body)),
                now=now,
            )
            written += 1
    return written


def _jsonable(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)
