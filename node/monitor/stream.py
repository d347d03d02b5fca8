"""The monitor's watch over the ingest stream: the refusals recorded since its last cycle
(a cursor in the store, at most ``limit`` a cycle), the rules over them (node.monitor.
access, node.monitor.equivocation, and custody's ``recall-breach-refused``), and the
pruning of refusals past their retention. A cycle costs what arrived since the last one
(and the windows it touched), not the history.

The chain refuses too: an event the node accepted (its mirror of the participant registry
a few blocks behind, say) that BatchRegistry rejected in its window is stored REJECTED
with the contract's error. Those of the windows confirmed since the last cycle (a second
cursor) join the refusals, with the error's code (``signer-suspended`` for a participant
suspended on-chain before the mirror knew): the per-signer rules, equivocation and the
recall rule hold whether the node or the chain refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection

from node.chain.errors import decode_error
from node.events.typed_data import Action
from node.monitor.access import (
    CHAIN_CALLER,
    WINDOW_CODES,
    AccessPolicy,
    check_nonce_reuse,
    check_rate_limits,
    check_refused_signatures,
    check_rotated_keys,
    check_rpc_abuse,
    check_suspended_signers,
)
from node.monitor.custody import MOVES, check_refused_recall
from node.monitor.equivocation import TWIN_CODE, advanced_heads, check_equivocation
from node.store.models import EventStatus
from node.store.records import EventRecord, Finding, RefusalRecord
from node.store.refusals import CURSOR
from node.store.store import Store

#: Refusals read per cycle; the rest wait for the next one.
LIMIT = 5000
#: Refusals pruned per cycle (the log's write budget keeps the backlog within reach).
PRUNE = 50_000
#: The cursor over confirmed windows whose events the chain refused (sync_cursors).
WINDOWS_CURSOR = "monitor:rejected-windows"
#: Windows read per cycle for the events the chain refused.
WINDOWS = 500


@dataclass(slots=True)
class StreamReport:
    """What one look at the refusal record read and found; ``cursor`` is the last refusal
    read."""

    refusals: int = 0
    #: The last refusal and the last window read, by cursor name (to save with the alerts).
    cursors: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


def watch_refusals(
    store: Store, policy: AccessPolicy, *, now: int, limit: int = LIMIT, prune: bool = True
) -> StreamReport:
    """The rules over the refusals recorded after the monitor's cursor; ``prune``: first
    drop those past the policy's retention (a write: the monitor's cycles do it, not its
    frequent watches)."""
    report = StreamReport()
    if prune:
        with store.write() as conn:  # a short transaction of its own
            store.refusals.prune(conn, before=now - policy.retention_ms, limit=PRUNE)
    with store.read() as conn:
        recorded = store.refusals.after(conn, store.refusals.cursor(conn), limit=limit)
        windows = store.windows.confirmed(
            conn, after=store.refusals.cursor(conn, WINDOWS_CURSOR), limit=WINDOWS
        )
        chain = [
            _refused_on_chain(e)
            for e in store.windows.rejected_of(conn, [w.id for w in windows])
            if e.reason
        ]
        # Read once: windows the chain refused nothing in move the cursor too (else every
        # watch read them all again, up to WINDOWS, twice a second).
        if windows:
            report.cursors[WINDOWS_CURSOR] = windows[-1].id
        new = recorded + chain
        if not new:
            return report
        # The window rules count every refusal of the windows the new ones fall in.
        start = min(r.at for r in recorded) if recorded else now
        start = start // policy.window_ms * policy.window_ms
        windowed = store.refusals.between(
            conn, start, now + 1, codes=sorted(WINDOW_CODES), limit=limit * 4
        )
        keys = store.participants.signers(conn, {r.signer for r in new if r.signer})
        participant_of = {k: v.participant_id for k, v in keys.items()}
        twins = [r for r in new if r.code == TWIN_CODE and r.signer in keys]
        heads = {b for r in twins for b, _ in r.heads}
        accepted = [e.record for e in store.events.of_batches(conn, sorted(heads))]
        moving = [r for r in new if r.action in MOVES and r.signer in keys]
        recalls, names = _recalls(store, conn, {b for r in moving for b in r.batch_ids})
    report.refusals = len(new)
    if recorded:
        report.cursors[CURSOR] = recorded[-1].id
    report.findings += check_refused_signatures(windowed, policy)
    report.findings += check_rate_limits(windowed, policy)
    report.findings += check_rpc_abuse(windowed, policy)
    report.findings += check_rotated_keys(new, keys)
    report.findings += check_suspended_signers(new, keys)
    report.findings += check_nonce_reuse(new, keys)
    report.findings += check_equivocation(new, accepted, participant_of)
    report.findings += check_refused_recall(moving, recalls, keys, names)
    return report


def _refused_on_chain(record: EventRecord) -> RefusalRecord:
    """An event the chain rejected, as a refusal with the contract error's code."""
    event = record.event
    return RefusalRecord(
        id=-record.id,  # not a row of the refusal record
        at=record.received_at,
        code=decode_error(record.reason or b"").code,
        caller=CHAIN_CALLER,
        key_id=None,
        client="",
        claimed_participant=record.participant_id,
        signer=record.signer,
        action=event.action,
        event_hash=record.event_hash,
        nonce=event.nonce.to_bytes(32, "big"),
        batch_ids=tuple(sorted(event.batch_ids())),
        heads=advanced_heads(event),
        detail="",
        count=1,
    )


def _recalls(
    store: Store, conn: Connection, batch_ids: set[bytes]
) -> tuple[dict[bytes, tuple[bytes, EventRecord]], dict[bytes, str]]:
    """For each of ``batch_ids`` recalled or made from a recalled lot: that lot and its
    recall event; and the batches' names."""
    covered: dict[bytes, tuple[bytes, EventRecord]] = {}
    names: dict[bytes, str] = {}
    for batch_id in sorted(batch_ids):
        above = {batch_id} | {link.parent for link in store.batches.ancestry(conn, batch_id)}
        states = store.batches.load(conn, above)
        names.update((b, s.identifier) for b, s in states.items() if s.identifier)
        # Recalled, whatever the status since (a recalled lot destroyed later).
        recalled = sorted(store.batches.recalled(conn, {b: s.status for b, s in states.items()}))
        for lot in recalled:
            recall = _recall_of(store, conn, lot)
            if recall is not None:
                covered[batch_id] = (lot, recall)
                break
    return covered, names


def _recall_of(store: Store, conn: Connection, batch_id: bytes) -> EventRecord | None:
    """The accepted RECALL of ``batch_id``."""
    return next(
        (
            e.record
            for e in store.events.of_batches(conn, [batch_id])
            if e.record.action is Action.RECALL
            and e.record.event.batch_id == batch_id
            and e.record.status is not EventStatus.REJECTED
        ),
        None,
    )
