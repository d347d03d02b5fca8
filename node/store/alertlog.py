"""The alert log (docs/monitor.md, "The alert log"): every revision of every alert, in one
append-only chain of EIP-712 ``AlertRevision`` struct hashes. The node key signs each entry
and anchors the head on AnchorRegistry (node.monitor.alertlog), so that an alert deleted or
edited in this database no longer matches what the node signed and the chain holds.

Appending locks the log's one state row, so concurrent writers (the monitor, a person
acknowledging an alert through the API) chain their entries one after the other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select, update

from node.events.typed_data import AlertRevision
from node.store.records import AlertLogRecord, AlertLogState, LogAnchor
from node.store.tables import ALERT_LOG, ALERT_LOG_STATE

_STATE_ID = 1


class AlertLogRepository:
    """Entries of the alert log, by position (``seq``, from 1)."""

    def append(
        self, conn: Connection, *, alert_id: int, revision: int, content: bytes, now: int
    ) -> AlertLogRecord:
        """Add revision ``revision`` of alert ``alert_id`` (its content hash) at the head."""
        state = conn.execute(
            select(ALERT_LOG_STATE).where(ALERT_LOG_STATE.c.id == _STATE_ID).with_for_update()
        ).one()
        entry = AlertRevision(
            seq=int(state.seq) + 1,
            prev=bytes(state.head),
            alert_id=alert_id,
            revision=revision,
            content=content,
        )
        record = AlertLogRecord(
            seq=entry.seq,
            alert_id=alert_id,
            revision=revision,
            content=content,
            prev=entry.prev,
            hash=entry.struct_hash(),
            digest=None,
            signature=None,
            created_at=now,
        )
        conn.execute(
            ALERT_LOG.insert().values(
                seq=record.seq,
                alert_id=alert_id,
                revision=revision,
                content=content,
                prev=record.prev,
                hash=record.hash,
                created_at=now,
            )
        )
        conn.execute(
            update(ALERT_LOG_STATE)
            .where(ALERT_LOG_STATE.c.id == _STATE_ID)
            .values(seq=record.seq, head=record.hash)
        )
        return record

    def state(self, conn: Connection) -> AlertLogState:
        row = conn.execute(select(ALERT_LOG_STATE).where(ALERT_LOG_STATE.c.id == _STATE_ID)).one()
        anchor = None
        if row.anchored_head is not None and row.anchored_count:
            anchor = LogAnchor(
                head=bytes(row.anchored_head),
                count=int(row.anchored_count),
                block_number=int(row.anchored_block),
                tx_hash=bytes(row.anchored_tx),
            )
        return AlertLogState(seq=int(row.seq), head=bytes(row.head), anchor=anchor)

    def entries(self, conn: Connection, *, after: int, limit: int) -> list[AlertLogRecord]:
        """Entries after position ``after``, in order."""
        rows = conn.execute(
            select(ALERT_LOG).where(ALERT_LOG.c.seq > after).order_by(ALERT_LOG.c.seq).limit(limit)
        )
        return [log_record(r) for r in rows]

    def get(self, conn: Connection, seq: int) -> AlertLogRecord | None:
        row = conn.execute(select(ALERT_LOG).where(ALERT_LOG.c.seq == seq)).first()
        return log_record(row) if row is not None else None

    def count(self, conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(ALERT_LOG)).scalar() or 0)

    def unsealed(self, conn: Connection, *, limit: int) -> list[AlertLogRecord]:
        """Entries not yet signed, oldest first."""
        rows = conn.execute(
            select(ALERT_LOG)
            .where(ALERT_LOG.c.signature.is_(None))
            .order_by(ALERT_LOG.c.seq)
            .limit(limit)
        )
        return [log_record(r) for r in rows]

    def seal(self, conn: Connection, seq: int, *, digest: bytes, signature: bytes) -> None:
        """Keep the node key's signature of entry ``seq`` (once: a signed entry stays so)."""
        conn.execute(
            update(ALERT_LOG)
            .where(ALERT_LOG.c.seq == seq, ALERT_LOG.c.signature.is_(None))
            .values(digest=digest, signature=signature)
        )

    def anchored(self, conn: Connection, anchor: LogAnchor) -> None:
        """Record that AnchorRegistry holds ``anchor`` (only ever moving forward)."""
        conn.execute(
            update(ALERT_LOG_STATE)
            .where(
                ALERT_LOG_STATE.c.id == _STATE_ID,
                ALERT_LOG_STATE.c.anchored_count < anchor.count,
            )
            .values(
                anchored_count=anchor.count,
                anchored_head=anchor.head,
                anchored_block=anchor.block_number,
                anchored_tx=anchor.tx_hash,
            )
        )


def entry_document(e: AlertLogRecord) -> dict[str, Any]:
    """The JSON of a log entry (``seq`` a decimal string, as every uint64 on the wire): what
    a verifier needs to rebuild its struct hash and digest and recover its signer."""

    def hexed(data: bytes | None) -> str | None:
        return None if data is None else "0x" + data.hex()

    return {
        "seq": str(e.seq),
        "alertId": e.alert_id,
        "revision": e.revision,
        "prev": hexed(e.prev),
        "content": hexed(e.content),
        "hash": hexed(e.hash),
        "digest": hexed(e.digest),
        "signature": hexed(e.signature),
    }


def anchor_document(anchor: LogAnchor | None) -> dict[str, Any] | None:
    if anchor is None:
        return None
    return {
        "head": "0x" + anchor.head.hex(),
        "count": str(anchor.count),
        "blockNumber": str(anchor.block_number),
        "txHash": "0x" + anchor.tx_hash.hex(),
    }


def log_record(r: Any) -> AlertLogRecord:
    return AlertLogRecord(
        seq=int(r.seq),
        alert_id=int(r.alert_id),
        revision=int(r.revision),
        content=bytes(r.content),
        prev=bytes(r.prev),
        hash=bytes(r.hash),
        digest=None if r.digest is None else bytes(r.digest),
        signature=None if r.signature is None else bytes(r.signature),
        created_at=int(r.created_at),
    )
