"""EPCIS capture jobs, named queries and their subscriptions (node.epcis.jobs,
node.epcis.named): the REST bindings' resources, kept per submitter and per owner."""

from __future__ import annotations

import json
from typing import Any, Final

from sqlalchemy import Connection, delete, func, select, update

from node.events.payload import canonical_json
from node.store.records import CaptureJobRecord, NamedQueryRecord, QuerySubscriptionRecord
from node.store.tables import EPCIS_CAPTURE_JOBS, EPCIS_NAMED_QUERIES, EPCIS_SUBSCRIPTIONS


def stored_json(value: Any) -> bytes:
    """A job's outcomes, error or request as stored: compact JSON, keys sorted. Not an
    event payload (``canonical_json``'s 256 KiB bound is a payload's): a 1,000-event
    document's outcomes, or its request (up to the gateway's body limit), are larger."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class EpcisJobRepository:
    """Capture jobs by captureID, and each submitter's, newest first."""

    def add(
        self,
        conn: Connection,
        *,
        capture_id: str,
        submitter: int | None,
        created_at: int,
        finished_at: int | None,
        behaviour: str,
        status: str,
        outcomes: list[dict[str, Any]],
        events_total: int | None = None,
        events_done: int | None = None,
        request: bytes | None = None,
    ) -> CaptureJobRecord:
        conn.execute(
            EPCIS_CAPTURE_JOBS.insert().values(
                capture_id=capture_id,
                submitter=submitter,
                created_at=created_at,
                finished_at=finished_at,
                behaviour=behaviour,
                status=status,
                outcomes=stored_json(outcomes),
                events_total=events_total,
                events_done=events_done,
                request=request,
            )
        )
        found = self.get(conn, capture_id)
        assert found is not None
        return found

    def get(self, conn: Connection, capture_id: str) -> CaptureJobRecord | None:
        row = conn.execute(
            select(*_SHOWN).where(EPCIS_CAPTURE_JOBS.c.capture_id == capture_id)
        ).first()
        return None if row is None else _job(row)

    def progress(
        self, conn: Connection, capture_id: str, *, events_done: int, outcomes: list[dict[str, Any]]
    ) -> None:
        """A running job's events decided so far, and their outcomes."""
        conn.execute(
            update(EPCIS_CAPTURE_JOBS)
            .where(EPCIS_CAPTURE_JOBS.c.capture_id == capture_id)
            .values(events_done=events_done, outcomes=stored_json(outcomes))
        )

    def finish(
        self,
        conn: Connection,
        capture_id: str,
        *,
        finished_at: int,
        status: str,
        events_done: int,
        outcomes: list[dict[str, Any]],
        error: dict[str, Any] | None = None,
    ) -> None:
        """A job finished: its outcomes, and its request dropped (nothing left to resume)."""
        conn.execute(
            update(EPCIS_CAPTURE_JOBS)
            .where(EPCIS_CAPTURE_JOBS.c.capture_id == capture_id)
            .values(
                finished_at=finished_at,
                status=status,
                events_done=events_done,
                outcomes=stored_json(outcomes),
                request=None,
                error=None if error is None else stored_json(error),
            )
        )

    def request(self, conn: Connection, capture_id: str) -> bytes | None:
        """A running asynchronous job's signed request (None once finished)."""
        found = conn.execute(
            select(EPCIS_CAPTURE_JOBS.c.request).where(
                EPCIS_CAPTURE_JOBS.c.capture_id == capture_id
            )
        ).scalar_one_or_none()
        return None if found is None else bytes(found)

    def unfinished(self, conn: Connection) -> list[str]:
        """The captureIDs of asynchronous jobs still to run (or to resume), oldest first."""
        j = EPCIS_CAPTURE_JOBS.c
        rows = conn.execute(
            select(j.capture_id)
            .where(j.finished_at.is_(None), j.request.is_not(None))
            .order_by(j.id)
        )
        return [str(r.capture_id) for r in rows]

    def count_unfinished(self, conn: Connection) -> int:
        j = EPCIS_CAPTURE_JOBS.c
        found = (
            select(func.count())
            .select_from(EPCIS_CAPTURE_JOBS)
            .where(j.finished_at.is_(None), j.request.is_not(None))
        )
        return int(conn.execute(found).scalar_one())

    def page(
        self,
        conn: Connection,
        *,
        submitter: int | None,
        every: bool,
        before: int | None,
        limit: int,
    ) -> list[CaptureJobRecord]:
        """Up to ``limit`` jobs, newest first, older than job ``before`` (its row id): the
        submitter's, or ``every`` submitter's."""
        j = EPCIS_CAPTURE_JOBS.c
        query = select(*_SHOWN)
        if not every:
            query = query.where(
                j.submitter.is_(None) if submitter is None else j.submitter == submitter
            )
        if before is not None:
            query = query.where(j.id < before)
        return [_job(r) for r in conn.execute(query.order_by(j.id.desc()).limit(limit))]


class EpcisQueryRepository:
    """Named queries by owner and name, and their subscriptions."""

    def add(
        self, conn: Connection, *, owner: str, name: str, definition: dict[str, list[str]], now: int
    ) -> NamedQueryRecord:
        conn.execute(
            EPCIS_NAMED_QUERIES.insert().values(
                owner=owner, name=name, definition=canonical_json(definition), created_at=now
            )
        )
        found = self.get(conn, owner, name)
        assert found is not None
        return found

    def get(self, conn: Connection, owner: str, name: str) -> NamedQueryRecord | None:
        q = EPCIS_NAMED_QUERIES.c
        row = conn.execute(
            select(EPCIS_NAMED_QUERIES).where(q.owner == owner, q.name == name)
        ).first()
        return None if row is None else _query(row)

    def of_owner(self, conn: Connection, owner: str) -> list[NamedQueryRecord]:
        q = EPCIS_NAMED_QUERIES.c
        rows = conn.execute(select(EPCIS_NAMED_QUERIES).where(q.owner == owner).order_by(q.name))
        return [_query(r) for r in rows]

    def count(self, conn: Connection, owner: str) -> int:
        q = EPCIS_NAMED_QUERIES.c
        found = select(func.count()).select_from(EPCIS_NAMED_QUERIES).where(q.owner == owner)
        return int(conn.execute(found).scalar_one())

    def delete(self, conn: Connection, query_id: int) -> list[int]:
        """Delete a query and its subscriptions; the webhook endpoints they used."""
        endpoints = [s.endpoint_id for s in self.subscriptions(conn, query_id)]
        conn.execute(delete(EPCIS_SUBSCRIPTIONS).where(EPCIS_SUBSCRIPTIONS.c.query_id == query_id))
        conn.execute(delete(EPCIS_NAMED_QUERIES).where(EPCIS_NAMED_QUERIES.c.id == query_id))
        return endpoints

    def subscribe(
        self, conn: Connection, *, subscription_id: str, query_id: int, endpoint_id: int, now: int
    ) -> QuerySubscriptionRecord:
        conn.execute(
            EPCIS_SUBSCRIPTIONS.insert().values(
                subscription_id=subscription_id,
                query_id=query_id,
                endpoint_id=endpoint_id,
                created_at=now,
            )
        )
        found = self.subscription(conn, subscription_id)
        assert found is not None
        return found

    def subscription(
        self, conn: Connection, subscription_id: str
    ) -> QuerySubscriptionRecord | None:
        s = EPCIS_SUBSCRIPTIONS.c
        row = conn.execute(
            select(EPCIS_SUBSCRIPTIONS).where(s.subscription_id == subscription_id)
        ).first()
        return None if row is None else _subscription(row)

    def subscriptions(self, conn: Connection, query_id: int) -> list[QuerySubscriptionRecord]:
        s = EPCIS_SUBSCRIPTIONS.c
        rows = conn.execute(
            select(EPCIS_SUBSCRIPTIONS).where(s.query_id == query_id).order_by(s.id)
        )
        return [_subscription(r) for r in rows]

    def subscription_count(self, conn: Connection, owner: str) -> int:
        s, q = EPCIS_SUBSCRIPTIONS.c, EPCIS_NAMED_QUERIES.c
        found = conn.execute(
            select(func.count())
            .select_from(EPCIS_SUBSCRIPTIONS.join(EPCIS_NAMED_QUERIES, q.id == s.query_id))
            .where(q.owner == owner)
        ).scalar_one()
        return int(found)

    def active(self, conn: Connection) -> list[tuple[QuerySubscriptionRecord, NamedQueryRecord]]:
        """Every subscription with its query (what a capture delivers to)."""
        s, q = EPCIS_SUBSCRIPTIONS.c, EPCIS_NAMED_QUERIES.c
        rows = conn.execute(
            select(
                s.id,
                s.subscription_id,
                s.query_id,
                s.endpoint_id,
                s.created_at,
                q.owner,
                q.name,
                q.definition,
                q.created_at.label("query_created_at"),
            )
            .join(EPCIS_NAMED_QUERIES, q.id == s.query_id)
            .order_by(s.id)
        )
        return [
            (
                _subscription(r),
                NamedQueryRecord(
                    int(r.query_id),
                    str(r.owner),
                    str(r.name),
                    json.loads(bytes(r.definition)),
                    int(r.query_created_at),
                ),
            )
            for r in rows
        ]

    def unsubscribe(self, conn: Connection, subscription_id: str) -> None:
        conn.execute(
            delete(EPCIS_SUBSCRIPTIONS).where(
                EPCIS_SUBSCRIPTIONS.c.subscription_id == subscription_id
            )
        )


#: A job's columns but its request (up to a whole capture request: read on its own).
_SHOWN: Final = [c for c in EPCIS_CAPTURE_JOBS.c if c.name != "request"]


def _job(r: Any) -> CaptureJobRecord:
    return CaptureJobRecord(
        id=int(r.id),
        capture_id=str(r.capture_id),
        submitter=None if r.submitter is None else int(r.submitter),
        created_at=int(r.created_at),
        finished_at=None if r.finished_at is None else int(r.finished_at),
        behaviour=str(r.behaviour),
        status=str(r.status),
        outcomes=tuple(json.loads(bytes(r.outcomes))),
        events_total=None if r.events_total is None else int(r.events_total),
        events_done=None if r.events_done is None else int(r.events_done),
        error=None if r.error is None else json.loads(bytes(r.error)),
    )


def _query(r: Any) -> NamedQueryRecord:
    return NamedQueryRecord(
        int(r.id), str(r.owner), str(r.name), json.loads(bytes(r.definition)), int(r.created_at)
    )


def _subscription(r: Any) -> QuerySubscriptionRecord:
    return QuerySubscriptionRecord(
        int(r.id), str(r.subscription_id), int(r.query_id), int(r.endpoint_id), int(r.created_at)
    )
