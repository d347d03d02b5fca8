"""``equivocation`` (critical): one participant signing two events that extend the same
batch head (the same batch and previous event hash, different event hashes): two branches
of one history, whether or not one was refused.

Only events that advance a head count (SHIP, RECEIVE, RECALL, DESTROY on their batch, a
TRANSFORM on each input): OBSERVE, AGGREGATE and DISAGGREGATE attach to a head without
moving it, so any number of them may share one. The node's ingest never accepts two
events on one head (the head rule runs under the batch's lock), so one twin is an
accepted event and the other a refusal: ``head-mismatch``, the head having moved on
because of the first. Two accepted twins would be a store edited by hand, which the
integrity rules catch. Near-misses that must not alert: an event refused for another rule
(an invalid receiver, say) and then signed again correctly on the same head (the first
was never a valid branch); two refused events on one stale head (a client retrying with a
new nonce before it learnt the new head); the same event submitted twice (a duplicate,
one hash); two participants on one head (a shipper and a regulator's recall).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from node.events.typed_data import Action, TraceEvent
from node.monitor.grading import Confidence, Impact, grade
from node.store.records import EventRecord, Finding, RefusalRecord

#: Two signed branches: proven (both signatures recover to the participant's keys).
EQUIVOCATION = grade(Impact(integrity=3, money=1), Confidence.PROVEN)

_SINGLE = frozenset({Action.SHIP, Action.RECEIVE, Action.RECALL, Action.DESTROY})


def advanced_heads(event: TraceEvent) -> tuple[tuple[bytes, bytes], ...]:
    """The (batch id, previous event hash) pairs ``event`` moves on from."""
    if event.action in _SINGLE:
        return ((event.batch_id, event.prev_event_hash),)
    if event.action is Action.TRANSFORM:
        return tuple(zip(event.inputs, event.input_prev_hashes, strict=False))
    return ()


@dataclass(frozen=True, slots=True)
class _Branch:
    event_hash: bytes
    signer: bytes
    refused: str | None  # the refusal's code; None for an accepted event


#: The refusal that makes a twin: the head had moved on when the event arrived.
TWIN_CODE = "head-mismatch"


def check_equivocation(
    new: Sequence[RefusalRecord],
    accepted: Sequence[EventRecord],
    participant_of: Mapping[bytes, int],
) -> list[Finding]:
    """Heads that ``new`` refusals (``head-mismatch``) extend, which the same participant
    also extended with an ``accepted`` event (any status) of another hash
    (``participant_of`` maps every signing key, rotated ones too, to its participant)."""
    branches: dict[tuple[int, bytes, bytes], dict[bytes, _Branch]] = {}
    touched: set[tuple[int, bytes, bytes]] = set()
    for record in accepted:
        for batch_id, prev in advanced_heads(record.event):
            key = (record.participant_id, batch_id, prev)
            branches.setdefault(key, {})[record.event_hash] = _Branch(
                record.event_hash, record.signer, None
            )
    for refusal in new:
        pid = participant_of.get(refusal.signer or b"")
        if pid is None or refusal.event_hash is None or refusal.code != TWIN_CODE:
            continue  # no signature of a participant's: nobody is proven to have signed
        for batch_id, prev in refusal.heads:
            key = (pid, batch_id, prev)
            branches.setdefault(key, {}).setdefault(
                refusal.event_hash,
                _Branch(refusal.event_hash, refusal.signer or b"", refusal.code),
            )
            touched.add(key)
    severity, points = EQUIVOCATION
    found: list[Finding] = []
    for key in sorted(touched):
        twins = branches[key]
        if len(twins) < 2:
            continue
        pid, batch_id, prev = key
        found.append(
            Finding(
                kind="equivocation",
                severity=severity,
                score=points,
                incident=f"equivocation:{pid}:0x{batch_id.hex()}:0x{prev.hex()}",
                detail=(
                    f"participant {pid} signed {len(twins)} different events extending the "
                    f"same head of batch 0x{batch_id.hex()}"
                ),
                evidence={
                    "batch": "0x" + batch_id.hex(),
                    "head": "0x" + prev.hex(),
                    "events": [
                        {
                            "eventHash": "0x" + b.event_hash.hex(),
                            "signer": "0x" + b.signer.hex(),
                            "refused": b.refused,
                        }
                        for b in twins.values()
                    ],
                },
                batch_id=batch_id,
                event_hash=next(b.event_hash for b in twins.values() if b.refused),
                participant_id=pid,
            )
        )
    return found


def say_equivocation(evidence: Mapping[str, Any]) -> str:
    """``equivocation`` in plain words, for the buyer's page."""
    return (
        "One party signed two different next steps for this lot: its recorded history "
        "forks, and only one branch can be true."
    )
