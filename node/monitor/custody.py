"""Rules over a batch's history as the store holds it: recall breaches, shipments never
received, claimed times far from when the node recorded them or out of order. Each is a
pure function of one batch's events (and, for recalls, its descendants'), so that it is
tested on its own; :mod:`node.monitor.service` gathers the inputs.

- ``recall-breach`` (critical): an event accepted for a recalled lot, or for anything
  made from it at any depth, after the recall (the contract refuses moves of the recalled
  lot itself, but a cheese made from recalled milk is a lot of its own);
- ``recall-breach-refused`` (critical): an attempt the gateway refused (the refusal
  record, node.monitor.refusals) to move a recalled lot or anything made from it, signed
  by a participant, after the recall;
- ``in-transit-too-long`` (medium): shipped and not received within the policy's time;
- ``event-time-skew`` (low): an event claiming a time far before, or after, the moment
  the node received it (backfills happen: suspected, not proven);
- ``event-time-order`` (low): a lifecycle event claiming an earlier time than the event
  it extends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from node.events.batch import BatchState
from node.events.typed_data import Action, BatchStatus
from node.monitor.grading import Confidence, Impact, grade
from node.store.models import EventStatus
from node.store.records import EventRecord, Finding, RefusalRecord, SignerView

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class CustodyPolicy:
    """The thresholds of the custody rules (docs/monitor.md)."""

    #: Shipped and not received after this long: ``in-transit-too-long``.
    transit_ms: int = 72 * HOUR_MS
    #: A claimed time this long before the node received the event: ``event-time-skew``
    #: (backfills of older records are normal; a month is not).
    past_ms: int = 30 * 24 * HOUR_MS
    #: A claimed time this far after the node received it (clocks drift a little).
    future_ms: int = 15 * 60 * 1000


RECALL_BREACH = grade(Impact(safety=3, integrity=1), Confidence.PROVEN)
IN_TRANSIT = grade(Impact(money=2, integrity=1), Confidence.LIKELY)
TIME_SKEW = grade(Impact(integrity=2), Confidence.SUSPECTED)
TIME_ORDER = grade(Impact(integrity=1), Confidence.LIKELY)


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _name(state: BatchState) -> str:
    return state.identifier or _hex(state.batch_id)


def check_recall(
    recalled: BatchState,
    recall: EventRecord,
    descendants: Mapping[bytes, Sequence[EventRecord]],
    names: Mapping[bytes, str],
) -> list[Finding]:
    """Events accepted after ``recall`` for the recalled lot or its ``descendants`` (their
    events by batch id), other than recalling or destroying them."""
    severity, points = RECALL_BREACH
    found: list[Finding] = []
    for batch_id, events in descendants.items():
        for record in events:
            if (
                record.id <= recall.id
                or record.status is EventStatus.REJECTED
                or record.action in (Action.RECALL, Action.DESTROY)
            ):
                continue
            found.append(
                Finding(
                    kind="recall-breach",
                    severity=severity,
                    score=points,
                    incident=f"recall-breach:{_hex(recall.event_hash)}:{_hex(batch_id)}",
                    detail=(
                        f"{names.get(batch_id, _hex(batch_id))} was handled "
                        f"({record.action.name}) after {_name(recalled)}, which it is made "
                        "from, was recalled"
                        if batch_id != recalled.batch_id
                        else f"{_name(recalled)} was handled ({record.action.name}) after "
                        "its recall"
                    ),
                    evidence={
                        "recalled": _hex(recalled.batch_id),
                        "recall": _hex(recall.event_hash),
                        "batch": _hex(batch_id),
                        "after": [
                            _hex(e.event_hash)
                            for e in events
                            if e.id > recall.id and e.status is not EventStatus.REJECTED
                        ],
                        "actions": sorted(
                            {
                                e.action.name
                                for e in events
                                if e.id > recall.id and e.status is not EventStatus.REJECTED
                            }
                        ),
                    },
                    batch_id=batch_id,
                    event_hash=record.event_hash,
                    participant_id=record.participant_id,
                )
            )
            break  # one incident per batch; its evidence lists every event
    return found


#: What moves a lot: shipping, receiving, transforming, packing or unpacking it (selling
#: is a retailer's shipment or transformation). Recalling, destroying and observing do not.
MOVES = frozenset(
    {Action.SHIP, Action.RECEIVE, Action.TRANSFORM, Action.AGGREGATE, Action.DISAGGREGATE}
)


def check_refused_recall(
    rows: Sequence[RefusalRecord],
    recalls: Mapping[bytes, tuple[bytes, EventRecord]],
    keys: Mapping[bytes, SignerView],
    names: Mapping[bytes, str],
) -> list[Finding]:
    """Refused attempts to move a batch after a recall covering it: ``recalls`` gives, for
    each batch the refusals name that is recalled or made from a recalled lot, that lot and
    its recall event. Only attempts signed by a participant count (a signature that does
    not recover proves nobody's attempt; ``refused-signatures`` counts those)."""
    severity, points = RECALL_BREACH
    found: dict[str, Finding] = {}
    for row in rows:
        view = keys.get(row.signer or b"")
        if view is None or row.action is None or row.action not in MOVES:
            continue
        for batch_id in row.batch_ids:
            covered = recalls.get(batch_id)
            if covered is None or row.at < covered[1].received_at:
                continue
            recalled, recall = covered
            incident = f"recall-breach-refused:{_hex(recall.event_hash)}:{_hex(batch_id)}"
            previous = found.get(incident)
            attempts = [] if previous is None else list(previous.evidence["attempts"])
            if row.event_hash is not None and len(attempts) < 20:
                attempts.append(_hex(row.event_hash))
            name = names.get(batch_id, _hex(batch_id))
            found[incident] = Finding(
                kind="recall-breach-refused",
                severity=severity,
                score=points,
                incident=incident,
                detail=(
                    f"participant {view.participant_id} tried to {row.action.name} {name} "
                    + (
                        "after its recall"
                        if recalled == batch_id
                        else f"after {names.get(recalled, _hex(recalled))}, which it is "
                        "made from, was recalled"
                    )
                    + f" (refused: {row.code})"
                ),
                evidence={
                    "recalled": _hex(recalled),
                    "recall": _hex(recall.event_hash),
                    "batch": _hex(batch_id),
                    "attempts": attempts,
                    "refused": row.code,
                    "signer": _hex(row.signer or b""),
                },
                batch_id=batch_id,
                event_hash=row.event_hash,
                participant_id=view.participant_id,
            )
    return list(found.values())


#: What each action did to a lot, in words a buyer reads.
_DONE: Final = {
    "SHIP": "shipped",
    "RECEIVE": "received",
    "TRANSFORM": "made into something else",
    "OBSERVE": "inspected",
    "AGGREGATE": "packed",
    "DISAGGREGATE": "unpacked",
}


def say_recall_breach(evidence: Mapping[str, Any]) -> str:
    """``recall-breach`` in plain words, for the buyer's page."""
    actions = evidence.get("actions")
    done = [_DONE[a] for a in actions if a in _DONE] if isinstance(actions, list) else []
    what = " and ".join(done) if done else "handled"
    if evidence.get("batch") == evidence.get("recalled"):
        return f"This lot was {what} after it was recalled."
    return f"This lot is made from a recalled lot, and was {what} after that recall."


def check_transit(
    state: BatchState, events: Sequence[EventRecord], *, now_ms: int, policy: CustodyPolicy
) -> list[Finding]:
    """A batch in transit since its last shipment for longer than the policy allows."""
    if state.status is not BatchStatus.IN_TRANSIT:
        return []
    shipments = [
        e for e in events if e.action is Action.SHIP and e.event.batch_id == state.batch_id
    ]
    if not shipments:
        return []
    shipped = shipments[-1]
    waited = now_ms - shipped.received_at
    if waited <= policy.transit_ms:
        return []
    severity, points = IN_TRANSIT
    return [
        Finding(
            kind="in-transit-too-long",
            severity=severity,
            score=points,
            incident=f"in-transit-too-long:{_hex(shipped.event_hash)}",
            detail=(
                f"{_name(state)} was shipped {waited // HOUR_MS} h ago and not received "
                f"(the policy allows {policy.transit_ms // HOUR_MS} h)"
            ),
            evidence={
                "shipment": _hex(shipped.event_hash),
                "shippedAt": shipped.received_at,
                "receiver": state.receiver_id,
                "policyHours": policy.transit_ms // HOUR_MS,
            },
            batch_id=state.batch_id,
            event_hash=shipped.event_hash,
            participant_id=shipped.participant_id,
        )
    ]


def say_in_transit(evidence: Mapping[str, Any]) -> str:
    """``in-transit-too-long`` in plain words."""
    hours = evidence.get("policyHours")
    within = f"within {hours} hours" if isinstance(hours, int) else "in the time allowed"
    return f"This lot was shipped and not received {within}."


def say_time_skew(evidence: Mapping[str, Any]) -> str:
    """``event-time-skew`` in plain words."""
    return "A record of this lot claims a time far from when the node received it."


def say_time_order(evidence: Mapping[str, Any]) -> str:
    """``event-time-order`` in plain words."""
    return "A record of this lot claims a time earlier than the step before it."


def check_times(events: Sequence[EventRecord], policy: CustodyPolicy) -> list[Finding]:
    """Claimed times far from record times; lifecycle events claiming to precede the
    event they extend (``events`` of one batch, in the order they were accepted)."""
    found: list[Finding] = []
    by_hash = {e.event_hash: e for e in events}
    for record in events:
        claimed, recorded = record.event.event_time, record.received_at
        if claimed < recorded - policy.past_ms or claimed > recorded + policy.future_ms:
            severity, points = TIME_SKEW
            hours = (claimed - recorded) / HOUR_MS
            found.append(
                Finding(
                    kind="event-time-skew",
                    severity=severity,
                    score=points,
                    incident=f"event-time-skew:{_hex(record.event_hash)}",
                    detail=(
                        f"{record.action.name} claims a time "
                        + (
                            f"{abs(hours):.0f} h"
                            if abs(hours) >= 1
                            else f"{abs(hours) * 60:.0f} min"
                        )
                        + f" {'after' if hours > 0 else 'before'} the node received it"
                    ),
                    evidence={
                        "eventHash": _hex(record.event_hash),
                        "eventTime": str(claimed),
                        "receivedAt": recorded,
                    },
                    batch_id=record.event.batch_id,
                    event_hash=record.event_hash,
                    participant_id=record.participant_id,
                )
            )
        # An observation attaches to the head without extending the lifecycle: a reading
        # or a note entered late is no event out of order.
        previous = by_hash.get(record.event.prev_event_hash) if record.action.on_chain else None
        if previous is not None and claimed < previous.event.event_time:
            severity, points = TIME_ORDER
            found.append(
                Finding(
                    kind="event-time-order",
                    severity=severity,
                    score=points,
                    incident=f"event-time-order:{_hex(record.event_hash)}",
                    detail=(
                        f"{record.action.name} claims an earlier time than the "
                        f"{previous.action.name} it follows"
                    ),
                    evidence={
                        "eventHash": _hex(record.event_hash),
                        "eventTime": str(claimed),
                        "previous": _hex(previous.event_hash),
                        "previousTime": str(previous.event.event_time),
                    },
                    batch_id=record.event.batch_id,
                    event_hash=record.event_hash,
                    participant_id=record.participant_id,
                )
            )
    return found


def say_refused_recall(evidence: Mapping[str, Any]) -> str:
    """``recall-breach-refused`` in plain words, for the buyer's page."""
    if evidence.get("batch") == evidence.get("recalled"):
        return "Someone tried to move this lot after it was recalled; the node refused."
    return (
        "Someone tried to move this lot after a lot it is made from was recalled; the node refused."
    )
