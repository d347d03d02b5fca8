"""What the integrity monitor found (docs/design.md §8)."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from node.store.models import AlertSeverity
from node.store.records import AlertRecord
from node.store.tables import ALERTS


class AlertRepository:
    """Alerts, newest first."""

    def page(
        self, conn: Connection, *, min_severity: int, before: int | None, limit: int
    ) -> list[AlertRecord]:
        """Alerts at ``min_severity`` or above, newest first; ``before`` is an alert id
        (exclusive) to page on."""
        query = select(ALERTS).where(ALERTS.c.severity >= min_severity)
        if before is not None:
            query = query.where(ALERTS.c.id < before)
        rows = conn.execute(query.order_by(ALERTS.c.id.desc()).limit(limit))
        return [
            AlertRecord(
                id=int(r.id),
                kind=str(r.kind),
                severity=AlertSeverity(r.severity),
                batch_id=None if r.batch_id is None else bytes(r.batch_id),
                event_hash=None if r.event_hash is None else bytes(r.event_hash),
                detail=str(r.detail),
                detected_at=int(r.detected_at),
                block_number=None if r.block_number is None else int(r.block_number),
            )
            for r in rows
        ]

    def counts(self, conn: Connection) -> dict[AlertSeverity, int]:
        """How many alerts there are at each severity."""
        rows = conn.execute(select(ALERTS.c.severity, func.count()).group_by(ALERTS.c.severity))
        counts = dict.fromkeys(AlertSeverity, 0)
        counts.update((AlertSeverity(severity), int(n)) for severity, n in rows)
        return counts
