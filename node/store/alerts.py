"""What the integrity monitor found (docs/monitor.md): one row per incident, raised once
and updated as its evidence grows, and handled by people (acknowledged, resolved, false
positive: who and why)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, func, select, update

from node.events.payload import canonical_json
from node.store.models import AlertSeverity, AlertStatus
from node.store.records import AlertRecord, Finding
from node.store.tables import ALERTS


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts a page holds: at ``min_severity`` or above, and each given field."""

    min_severity: AlertSeverity = AlertSeverity.LOW
    status: AlertStatus | None = None
    batch_id: bytes | None = None
    participant_id: int | None = None
    since: int | None = None  # ms: updated at or after


#: What recording a finding changed: a new incident, a higher severity, a resolved one
#: found again; None when it was only seen again.
Change = Literal["raised", "escalated", "reopened"] | None


class AlertRepository:
    """Alerts, newest first."""

    def record(self, conn: Connection, finding: Finding, *, now: int) -> tuple[int, Change]:
        """Raise the alert ``finding`` is, or update the incident it belongs to; its id,
        and what changed that partners should hear of (``None``: only seen again). A
        resolved incident found again opens again; one marked a false positive stays so
        (its evidence still grows)."""
        row = conn.execute(select(ALERTS).where(ALERTS.c.incident == finding.incident)).first()
        evidence = canonical_json(dict(finding.evidence))
        if row is None:
            inserted = conn.execute(
                ALERTS.insert().values(
                    kind=finding.kind,
                    severity=int(finding.severity),
                    score=finding.score,
                    incident=finding.incident,
                    status=int(AlertStatus.OPEN),
                    batch_id=finding.batch_id,
                    event_hash=finding.event_hash,
                    participant_id=finding.participant_id,
                    detail=finding.detail[:1024],
                    evidence=evidence,
                    detected_at=now,
                    updated_at=now,
                    occurrences=1,
                    block_number=finding.block_number,
                    handled_by="",
                    note="",
                )
            ).inserted_primary_key
            if inserted is None:
                raise RuntimeError("the database returned no id for the new alert")
            return int(inserted[0]), "raised"
        status = AlertStatus(row.status)
        change: Change = None
        if int(finding.severity) > int(row.severity):
            change = "escalated"
        if status is AlertStatus.RESOLVED:
            status, change = AlertStatus.OPEN, "reopened"
        conn.execute(
            update(ALERTS)
            .where(ALERTS.c.id == row.id)
            .values(
                severity=max(int(row.severity), int(finding.severity)),
                score=max(int(row.score), finding.score),
                status=int(status),
                detail=finding.detail[:1024],
                evidence=evidence,
                updated_at=now,
                occurrences=ALERTS.c.occurrences + 1,
                block_number=finding.block_number,
            )
        )
        return int(row.id), change

    def set_status(
        self, conn: Connection, alert_id: int, status: AlertStatus, *, by: str, note: str, now: int
    ) -> AlertRecord | None:
        """Acknowledge, resolve or dismiss an alert; None if there is no such alert."""
        conn.execute(
            update(ALERTS)
            .where(ALERTS.c.id == alert_id)
            .values(status=int(status), handled_by=by[:128], note=note[:1024], updated_at=now)
        )
        return self.get(conn, alert_id)

    def get(self, conn: Connection, alert_id: int) -> AlertRecord | None:
        row = conn.execute(select(ALERTS).where(ALERTS.c.id == alert_id)).first()
        return _record(row) if row is not None else None

    def page(
        self,
        conn: Connection,
        *,
        where: AlertFilter = AlertFilter(),
        before: int | None,
        limit: int,
    ) -> list[AlertRecord]:
        """Alerts matching ``where``, newest first; ``before`` is an alert id (exclusive)
        to page on."""
        query = select(ALERTS).where(ALERTS.c.severity >= int(where.min_severity))
        if where.status is not None:
            query = query.where(ALERTS.c.status == int(where.status))
        if where.batch_id is not None:
            query = query.where(ALERTS.c.batch_id == where.batch_id)
        if where.participant_id is not None:
            query = query.where(ALERTS.c.participant_id == where.participant_id)
        if where.since is not None:
            query = query.where(ALERTS.c.updated_at >= where.since)
        if before is not None:
            query = query.where(ALERTS.c.id < before)
        rows = conn.execute(query.order_by(ALERTS.c.id.desc()).limit(limit))
        return [_record(r) for r in rows]

    def counts(self, conn: Connection) -> dict[AlertSeverity, int]:
        """How many open or acknowledged alerts there are at each severity."""
        live = (int(AlertStatus.OPEN), int(AlertStatus.ACKNOWLEDGED))
        rows = conn.execute(
            select(ALERTS.c.severity, func.count())
            .where(ALERTS.c.status.in_(live))
            .group_by(ALERTS.c.severity)
        )
        counts = dict.fromkeys(AlertSeverity, 0)
        counts.update((AlertSeverity(severity), int(n)) for severity, n in rows)
        return counts


def _record(r: Any) -> AlertRecord:
    return AlertRecord(
        id=int(r.id),
        kind=str(r.kind),
        severity=AlertSeverity(r.severity),
        score=int(r.score),
        incident=str(r.incident),
        status=AlertStatus(r.status),
        batch_id=None if r.batch_id is None else bytes(r.batch_id),
        event_hash=None if r.event_hash is None else bytes(r.event_hash),
        participant_id=None if r.participant_id is None else int(r.participant_id),
        detail=str(r.detail),
        evidence=json.loads(bytes(r.evidence)),
        detected_at=int(r.detected_at),
        updated_at=int(r.updated_at),
        occurrences=int(r.occurrences),
        block_number=None if r.block_number is None else int(r.block_number),
        handled_by=str(r.handled_by),
        note=str(r.note),
    )
