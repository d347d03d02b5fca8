"""What a webhook says, and to whom: message types, bodies, and the endpoints that
subscribe to each message (docs/monitor.md, "Webhooks").

Every message is written to the outbox by :func:`enqueue`, in the transaction that records
the fact it reports (an alert, a window confirmed on chain), never inside a chain call: the
outbox pattern. A new kind of message (the EPCIS issue's ``capture.completed`` and query
subscriptions) is a new name in :data:`MessageType` and a :class:`Message` built where its
fact is recorded, then given to :func:`enqueue`: subscriptions, ordering, signatures,
retries and the delivery log come with it.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

from sqlalchemy import Connection

from node.events.identifiers import IdentifierPrefix, parse_identifier_prefix
from node.events.payload import canonical_json
from node.events.typed_data import Action
from node.store.alerts import alert_document
from node.store.models import AlertSeverity
from node.store.records import AlertRecord, EndpointRecord, EventRecord, WindowRecord
from node.store.webhooks import Outgoing, WebhookRepository

if TYPE_CHECKING:
    from node.store.store import Store

#: Every message type a subscription may name (docs/monitor.md has an example of each).
MessageType = Literal["alert.raised", "alert.updated", "event.anchored", "batch.recalled"]
ALERT_RAISED: Final = "alert.raised"
ALERT_UPDATED: Final = "alert.updated"
EVENT_ANCHORED: Final = "event.anchored"
BATCH_RECALLED: Final = "batch.recalled"
MESSAGE_TYPES: Final[tuple[MessageType, ...]] = get_args(MessageType)
#: What ``tracenode webhook add`` subscribes to when no type is named.
ALERT_TYPES: Final[tuple[MessageType, ...]] = (ALERT_RAISED, ALERT_UPDATED)
#: A query subscription's delivery (docs/epcis.md, "Subscriptions"): an EPCIS query
#: document, written only to the subscription's own endpoint, which no other message
#: reaches; not a type ``/v1/webhooks`` subscribes an endpoint to.
EPCIS_QUERY: Final = "epcis.query"
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True, slots=True)
class Message:
    """One message before it is addressed: its body, and what subscriptions filter on.

    ``batches`` maps each batch it is about to the batch's canonical identifier (None when
    the node knows none): a subscription's batches and prefixes are matched against them.
    ``severity`` is an alert's (a subscription's least severity applies to alerts only).
    """

    type: MessageType | Literal["epcis.query"]
    body: Mapping[str, Any]
    batches: Mapping[bytes, str | None] = field(default_factory=dict)
    severity: AlertSeverity | None = None


def new_secret() -> str:
    """A fresh signing secret, as Standard Webhooks spells them (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(16)


def alert_body(alert: AlertRecord, event_type: MessageType, now: int) -> dict[str, Any]:
    """The JSON of an alert message: its ``data`` is the one alert document."""
    return envelope(event_type, alert_document(alert), now)


def envelope(message_type: MessageType, data: Mapping[str, Any], now: int) -> dict[str, Any]:
    """Standard Webhooks' ``type``, ``timestamp`` (ms) and ``data``."""
    return {"type": message_type, "timestamp": now, "data": dict(data)}


@lru_cache(maxsize=1024)
def _prefix(text: str) -> IdentifierPrefix:
    return parse_identifier_prefix(text)


def wants(endpoint: EndpointRecord, message: Message) -> bool:
    """Whether ``endpoint`` subscribes to ``message``: its type, its least severity (alerts),
    and its scope (no batches and no prefixes: every message; else a message about one of
    its batches, or about a batch whose identifier starts with one of its prefixes)."""
    wanted = endpoint.subscription
    if message.type not in wanted.types:
        return False
    if message.severity is not None and message.severity < wanted.min_severity:
        return False
    if not wanted.batch_ids and not wanted.prefixes:
        return True
    if any(b in message.batches for b in wanted.batch_ids):
        return True
    prefixes = [_prefix(p) for p in wanted.prefixes]
    return any(p.matches(i) for i in message.batches.values() if i for p in prefixes)


def enqueue(
    conn: Connection,
    repo: WebhookRepository,
    messages: Iterable[Message],
    *,
    now: int,
    endpoints: Sequence[EndpointRecord] | None = None,
) -> int:
    """Write each message to the outbox of every endpoint that subscribes to it, in the
    caller's transaction (in one statement); how many deliveries were written."""
    targets = endpoints if endpoints is not None else repo.endpoints(conn)
    rows: list[Outgoing] = []
    for message in messages:
        payload: bytes | None = None
        for endpoint in targets:
            if wants(endpoint, message):
                payload = payload or canonical_json(dict(message.body))
                rows.append(Outgoing(endpoint.id, new_message_id(), message.type, payload))
    repo.enqueue_many(conn, rows, now=now)
    return len(rows)


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
    event_type: MessageType = ALERT_RAISED if new else ALERT_UPDATED
    targets = endpoints if endpoints is not None else repo.endpoints(conn)
    batches: dict[bytes, str | None] = {}
    if alert.batch_id is not None:
        scoped = any(e.subscription.prefixes for e in targets)
        batches = repo.identifiers(conn, [alert.batch_id]) if scoped else {alert.batch_id: None}
    message = Message(event_type, alert_body(alert, event_type, now), batches, alert.severity)
    return enqueue(conn, repo, [message], now=now, endpoints=targets)


def enqueue_window(
    conn: Connection,
    store: Store,
    window: WindowRecord,
    events: Callable[[], Sequence[EventRecord]],
    *,
    rejected: Collection[bytes],
    block_number: int,
    block_hash: bytes,
    now: int,
) -> int:
    """The messages of a window just confirmed on chain, in the transaction that records
    it: ``event.anchored`` for each batch its anchored events name, ``batch.recalled`` for
    each RECALL among them (with everything made from the recalled lot). ``events`` gives
    the window's events; only the endpoints are read when none subscribes to either."""
    endpoints = window_subscribers(conn, store)
    if not endpoints:
        return 0
    anchored = [e for e in events() if e.event_hash not in rejected]
    by_batch: dict[bytes, list[EventRecord]] = {}
    for record in anchored:
        for batch_id in sorted(record.event.batch_ids()):
            by_batch.setdefault(batch_id, []).append(record)
    identifiers = store.webhooks.identifiers(conn, list(by_batch))
    place = {
        "id": window.id,
        "root": _hex(window.root),
        "firstSeq": str(window.first_seq),
        "eventCount": window.event_count,
        "txHash": _hex(window.tx_hash),
        "blockNumber": str(block_number),
        "blockHash": _hex(block_hash),
    }
    messages: list[Message] = []
    if any(EVENT_ANCHORED in e.subscription.types for e in endpoints):
        for batch_id, records in by_batch.items():
            data = {
                "batchId": _hex(batch_id),
                "identifier": identifiers.get(batch_id),
                "events": [_event(r) for r in records],
                "window": place,
            }
            messages.append(
                Message(
                    EVENT_ANCHORED,
                    envelope(EVENT_ANCHORED, data, now),
                    {batch_id: identifiers.get(batch_id)},
                )
            )
    if any(BATCH_RECALLED in e.subscription.types for e in endpoints):
        for record in anchored:
            if record.action is Action.RECALL:
                messages.append(_recall(conn, store, record, identifiers, place, now))
    return enqueue(conn, store.webhooks, messages, now=now, endpoints=endpoints)


def window_subscribers(conn: Connection, store: Store) -> list[EndpointRecord]:
    """The endpoints subscribed to a window's messages (``event.anchored``,
    ``batch.recalled``)."""
    return [
        e
        for e in store.webhooks.endpoints(conn)
        if {EVENT_ANCHORED, BATCH_RECALLED} & set(e.subscription.types)
    ]


def _recall(
    conn: Connection,
    store: Store,
    record: EventRecord,
    identifiers: Mapping[bytes, str | None],
    place: Mapping[str, Any],
    now: int,
) -> Message:
    """``batch.recalled``: the recalled lot, the RECALL, and every batch made from it at any
    depth (what it was made from, by which event, its status and custodian now)."""
    recalled = record.event.batch_id
    found = store.batches.downstream(conn, recalled)
    batches: dict[bytes, str | None] = {recalled: identifiers.get(recalled)}
    affected = []
    for link in found.links:
        state = found.states.get(link.child)
        batches[link.child] = state.identifier if state else None
        affected.append(
            {
                "batchId": _hex(link.child),
                "identifier": batches[link.child],
                "madeFrom": _hex(link.parent),
                "byEvent": _hex(link.event_hash),
                "status": state.status.name.lower() if state else None,
                "custodianId": state.custodian_id if state else None,
            }
        )
    data = {
        "batchId": _hex(recalled),
        "identifier": identifiers.get(recalled),
        "eventHash": _hex(record.event_hash),
        "recalledBy": record.participant_id,
        "eventTime": str(record.event.event_time),
        "affected": affected,
        "window": place,
    }
    return Message(BATCH_RECALLED, envelope(BATCH_RECALLED, data, now), batches)


def _event(record: EventRecord) -> dict[str, Any]:
    return {
        "eventHash": _hex(record.event_hash),
        "action": record.action.name.lower(),
        "anchorSeq": str(record.anchor_seq),
        "participantId": record.participant_id,
    }


def _hex(value: bytes) -> str:
    return "0x" + value.hex()
