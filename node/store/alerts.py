"""What the integrity monitor found (docs/monitor.md): one row per incident, raised once
and updated as its evidence grows, and handled by people (acknowledged, resolved, false
positive: who and why).

Every change to an alert's signed content is a new revision in the alert log
(node.store.alertlog), written in the same transaction. :func:`alert_document` is the one
JSON of an alert: the API's ``AlertOut`` mirrors it, the CLI prints it, webhooks send it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlalchemy import Connection, func, select, update

from node.events.hashing import keccak
from node.events.payload import canonical_json
from node.store.alertlog import (
    AlertLogRepository,
    anchor_document,
    entry_document,
    log_record,
)
from node.store.models import AlertSeverity, AlertStatus
from node.store.records import AlertLogState, AlertRecord, Finding
from node.store.tables import ALERT_LOG, ALERTS, chunks


def _hex(data: bytes | None) -> str | None:
    return None if data is None else "0x" + data.hex()


def alert_content(alert: AlertRecord) -> dict[str, Any]:
    """What each revision of an alert signs: every field of its document except the count
    and time of sightings (``occurrences``, ``updatedAt``: they change every cycle) and the
    log's own proof (``log``). Its RFC 8785 JSON hashes to the log entry's ``content``."""
    return {
        "id": alert.id,
        "kind": alert.kind,
        "severity": alert.severity.name.lower(),
        "score": alert.score,
        "status": alert.status.name.lower(),
        "batchId": _hex(alert.batch_id),
        "eventHash": _hex(alert.event_hash),
        "participantId": alert.participant_id,
        "detail": alert.detail,
        "evidence": alert.evidence,
        "detectedAt": alert.detected_at,
        "blockNumber": None if alert.block_number is None else str(alert.block_number),
        "handledBy": alert.handled_by,
        "note": alert.note,
        "revision": alert.revision,
    }


def content_hash(content: dict[str, Any]) -> bytes:
    """keccak256 of the RFC 8785 JSON of an alert's signed content."""
    return keccak(canonical_json(content))


def alert_document(alert: AlertRecord) -> dict[str, Any]:
    """The one JSON of an alert (camelCase; block numbers and log positions as decimal
    strings): its signed content, its sightings, and where the alert log holds it."""
    log = None
    if alert.log is not None:
        log = entry_document(alert.log) | {"anchor": anchor_document(alert.anchor)}
    return alert_content(alert) | {
        "occurrences": alert.occurrences,
        "updatedAt": alert.updated_at,
        "log": log,
    }


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts a page holds: at ``min_severity`` or above, and each given field."""

    min_severity: AlertSeverity = AlertSeverity.LOW
    status: AlertStatus | None = None
    batch_id: bytes | None = None
    participant_id: int | None = None
    since: int | None = None  # ms: updated at or after


@dataclass(frozen=True, slots=True)
class RuleFigures:
    """Alerts of one rule at one severity and status: how many, their revisions in all
    (1 when raised, one more each time their signed content changed), their sightings."""

    kind: str
    severity: AlertSeverity
    status: AlertStatus
    alerts: int
    revisions: int
    sightings: int


#: What recording a finding changed: a new incident, a higher severity, a resolved one
#: found again; None when it was only seen again.
Change = Literal["raised", "escalated", "reopened"] | None


class AlertRepository:
    """Alerts, newest first; each change of one's signed content logged in ``log``."""

    def __init__(self, log: AlertLogRepository) -> None:
        self.log = log

    def _revise(self, conn: Connection, alert_id: int, *, now: int) -> None:
        """Log the alert's current content as a new revision, unless its current revision
        already holds exactly that."""
        alert = self.get(conn, alert_id)
        if alert is None:
            return
        if alert.log is not None and alert.log.content == content_hash(alert_content(alert)):
            return
        revision = alert.revision + 1
        content = content_hash(alert_content(replace(alert, revision=revision)))
        entry = self.log.append(
            conn, alert_id=alert_id, revision=revision, content=content, now=now
        )
        conn.execute(
            update(ALERTS)
            .where(ALERTS.c.id == alert_id)
            .values(revision=revision, log_seq=entry.seq)
        )

    def adopt(self, conn: Connection, *, now: int) -> int:
        """Log every alert not in the log yet, when the log is empty: the alerts a store
        held before it had a log (migration 0010). Once the log has begun, an alert outside
        it is the monitor's finding, not something to adopt. How many were logged."""
        if self.log.state(conn).seq:
            return 0
        ids = conn.execute(
            select(ALERTS.c.id).where(ALERTS.c.log_seq.is_(None)).order_by(ALERTS.c.id)
        ).scalars()
        count = 0
        for alert_id in list(ids):
            self._revise(conn, int(alert_id), now=now)
            count += 1
        return count

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
            self._revise(conn, int(inserted[0]), now=now)
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
        self._revise(conn, int(row.id), now=now)
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
        self._revise(conn, alert_id, now=now)
        return self.get(conn, alert_id)

    def get(self, conn: Connection, alert_id: int) -> AlertRecord | None:
        rows = self._rows(conn, select(ALERTS).where(ALERTS.c.id == alert_id))
        return rows[0] if rows else None

    def all_logged(self, conn: Connection) -> list[AlertRecord]:
        """Every alert, oldest first (the integrity rule over the alert log)."""
        return self._rows(conn, select(ALERTS).order_by(ALERTS.c.id))

    def _rows(self, conn: Connection, query: Any) -> list[AlertRecord]:
        """Alerts with their current log entries, and the log's anchor where it covers them."""
        rows = list(conn.execute(query))
        seqs = [int(r.log_seq) for r in rows if r.log_seq is not None]
        entries = {}
        for part in chunks(seqs):
            for e in conn.execute(select(ALERT_LOG).where(ALERT_LOG.c.seq.in_(part))):
                entries[int(e.seq)] = log_record(e)
        state: AlertLogState | None = self.log.state(conn) if seqs else None
        anchor = state.anchor if state is not None else None
        found = []
        for r in rows:
            entry = entries.get(int(r.log_seq)) if r.log_seq is not None else None
            covered = anchor if anchor is not None and entry and entry.seq <= anchor.count else None
            found.append(replace(_record(r), log=entry, anchor=covered))
        return found

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
        return self._rows(conn, query.order_by(ALERTS.c.id.desc()).limit(limit))

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

    def by_rule(self, conn: Connection) -> list[RuleFigures]:
        """Per rule, severity and status: how many alerts, their revisions and sightings
        (the Prometheus figures per rule: docs/monitor.md)."""
        rows = conn.execute(
            select(
                ALERTS.c.kind,
                ALERTS.c.severity,
                ALERTS.c.status,
                func.count(),
                func.coalesce(func.sum(ALERTS.c.revision), 0),
                func.coalesce(func.sum(ALERTS.c.occurrences), 0),
            ).group_by(ALERTS.c.kind, ALERTS.c.severity, ALERTS.c.status)
        )
        return [
            RuleFigures(
                kind=str(kind),
                severity=AlertSeverity(severity),
                status=AlertStatus(status),
                alerts=int(n),
                revisions=int(revisions),
                sightings=int(sightings),
            )
            for kind, severity, status, n, revisions, sightings in rows
        ]


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
        revision=int(r.revision),
    )
