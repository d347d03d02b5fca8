"""Read-only queries the gateway serves: pages of anchors and alerts, counts for metrics,
a batch's direct lineage. Kept apart from ``store.py`` (the ingest and commit paths)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, func, select

from node.store.models import Alert, EventStatus, WindowStatus
from node.store.store import EVENTS, LINEAGE, PARTICIPANT_KEYS, WINDOWS

ALERTS: Table = Alert.__table__  # type: ignore[attr-defined]


def anchors_page(conn: Connection, *, before: int | None, limit: int) -> list[dict[str, Any]]:
    """Confirmed windows, newest first; ``before`` is a window id (exclusive) to page on."""
    query = select(WINDOWS).where(WINDOWS.c.status == int(WindowStatus.CONFIRMED))
    if before is not None:
        query = query.where(WINDOWS.c.id < before)
    rows = conn.execute(query.order_by(WINDOWS.c.id.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]


def event_counts(conn: Connection) -> dict[EventStatus, int]:
    rows = conn.execute(select(EVENTS.c.status, func.count()).group_by(EVENTS.c.status))
    counts = dict.fromkeys(EventStatus, 0)
    counts.update((EventStatus(status), int(n)) for status, n in rows)
    return counts


def window_counts(conn: Connection) -> dict[WindowStatus, int]:
    rows = conn.execute(select(WINDOWS.c.status, func.count()).group_by(WINDOWS.c.status))
    counts = dict.fromkeys(WindowStatus, 0)
    counts.update((WindowStatus(status), int(n)) for status, n in rows)
    return counts


def oldest_uncommitted(conn: Connection) -> int | None:
    """When (ms) the longest-waiting accepted event not yet in a window was received."""
    query = select(func.min(EVENTS.c.received_at)).where(
        EVENTS.c.status == int(EventStatus.ACCEPTED), EVENTS.c.window_id.is_(None)
    )
    value = conn.execute(query).scalar()
    return None if value is None else int(value)


def lineage_of(conn: Connection, batch_id: bytes) -> tuple[list[bytes], list[bytes]]:
    """The batches ``batch_id`` was made from, and those made from it (one level)."""
    parents = conn.execute(select(LINEAGE.c.parent).where(LINEAGE.c.child == batch_id))
    children = conn.execute(select(LINEAGE.c.child).where(LINEAGE.c.parent == batch_id))
    return [bytes(p) for (p,) in parents], [bytes(c) for (c,) in children]


def alerts_page(
    conn: Connection, *, min_severity: int, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """Alerts at ``min_severity`` or above, newest first."""
    query = select(ALERTS).where(ALERTS.c.severity >= min_severity)
    if before is not None:
        query = query.where(ALERTS.c.id < before)
    rows = conn.execute(query.order_by(ALERTS.c.id.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]


def alert_counts(conn: Connection) -> dict[int, int]:
    rows = conn.execute(select(ALERTS.c.severity, func.count()).group_by(ALERTS.c.severity))
    return {int(severity): int(n) for severity, n in rows}


def participant_keys(conn: Connection, participant_id: int) -> list[dict[str, Any]]:
    """Every key the participant had, oldest first."""
    rows = conn.execute(
        select(PARTICIPANT_KEYS)
        .where(PARTICIPANT_KEYS.c.participant_id == participant_id)
        .order_by(PARTICIPANT_KEYS.c.valid_from, PARTICIPANT_KEYS.c.key)
    )
    return [dict(r._mapping) for r in rows]


def ping(conn: Connection) -> None:
    """A round trip to the database (readiness)."""
    conn.execute(select(1))
