"""The node's view of batches (custody state, from the events it accepted) and their
lineage: what a batch was made from, and everything made from it."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    Connection,
    Integer,
    LargeBinary,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError

from node.events.batch import BatchState
from node.events.identifiers import GS1_KEY_PREFIX, LotCode, Product, parse_identifier
from node.events.typed_data import Action, BatchStatus
from node.store.models import EventStatus
from node.store.records import (
    BatchListing,
    BatchMatches,
    BatchSummary,
    Downstream,
    LineageLink,
    LineageRow,
)
from node.store.tables import BATCHES, EVENTS, LINEAGE, chunks, insert_many

#: Events joined to their subject batch's row: the way to a batch's events
#: (index ix_events_batch: batch_epoch, batch_id, id).
EVENTS_BY_BATCH = EVENTS.join(
    BATCHES,
    and_(EVENTS.c.batch_epoch == BATCHES.c.epoch, EVENTS.c.batch_id == BATCHES.c.batch_id),
)
#: Rows that are custody batches (not NONE rows).
_CUSTODY_BATCH = BATCHES.c.status != int(BatchStatus.NONE)
_GTIN14 = 14


class BatchRepository:
    """Batches and lineage."""

    def load(
        self,
        conn: Connection,
        batch_ids: Iterable[bytes],
        *,
        for_update: bool = False,
        epochs: dict[bytes, int] | None = None,
    ) -> dict[bytes, BatchState]:
        """The stored states of those ``batch_ids`` that exist (as custody batches: rows
        of status NONE are skipped).

        ``for_update`` locks the rows until the transaction ends (PostgreSQL; SQLite's
        writer already holds the database lock from BEGIN IMMEDIATE), NONE rows included.
        ``epochs``, when given, receives the epoch of every row read, NONE rows included
        (for :meth:`EventRepository.store_accepted`).
        """
        found: dict[bytes, BatchState] = {}
        for chunk in chunks(sorted(set(batch_ids))):
            query = select(BATCHES).where(BATCHES.c.batch_id.in_(chunk))
            if for_update and conn.dialect.name == "postgresql":
                query = query.with_for_update()
            for row in conn.execute(query):
                if epochs is not None:
                    epochs[bytes(row.batch_id)] = row.epoch
                if row.status == BatchStatus.NONE:
                    continue
                found[bytes(row.batch_id)] = BatchState(
                    batch_id=bytes(row.batch_id),
                    producer_id=row.producer_id,
                    custodian_id=row.custodian_id,
                    receiver_id=row.receiver_id,
                    status=BatchStatus(row.status),
                    head=bytes(row.head),
                    created_by=bytes(row.created_by),
                    identifier=row.identifier,
                )
        return found

    def custody_page(self, conn: Connection, *, after: bytes, limit: int) -> list[BatchState]:
        """Custody batches (not NONE rows) with ids above ``after``, in id order."""
        rows = conn.execute(
            select(BATCHES.c.batch_id)
            .where(_CUSTODY_BATCH, BATCHES.c.batch_id > after)
            .order_by(BATCHES.c.batch_id)
            .limit(limit)
        )
        ids = [bytes(r[0]) for r in rows]
        states = self.load(conn, ids)
        return [states[b] for b in ids if b in states]

    def recalled(self, conn: Connection, statuses: Mapping[bytes, BatchStatus]) -> set[bytes]:
        """Which of these batches (``statuses``: their stored statuses) were recalled: a
        non-rejected RECALL names it as its subject, whatever its status since (the rules
        let the custodian DESTROY a recalled lot, and its status then reads DESTROYED: the
        recall still stands). The one definition of "recalled" for everything a node
        serves: a batch's ``recall`` state, the resolver's ``gs1:recallStatus``, the CLI.

        Status RECALLED says so without a read; only DESTROYED batches are looked up
        (index ix_events_batch, through EVENTS_BY_BATCH)."""
        found = {b for b, s in statuses.items() if s == BatchStatus.RECALLED}
        destroyed = sorted(b for b, s in statuses.items() if s == BatchStatus.DESTROYED)
        for chunk in chunks(destroyed):
            rows = conn.execute(
                select(BATCHES.c.batch_id)
                .select_from(EVENTS_BY_BATCH)
                .where(
                    BATCHES.c.batch_id.in_(chunk),
                    EVENTS.c.action == int(Action.RECALL),
                    EVENTS.c.status != int(EventStatus.REJECTED),
                )
                .distinct()
            )
            found.update(bytes(b) for (b,) in rows)
        return found

    def get(self, conn: Connection, batch_id: bytes) -> BatchState | None:
        return self.load(conn, [batch_id]).get(batch_id)

    def by_identifier(self, conn: Connection, identifier: str) -> BatchState | None:
        """The batch that ``identifier`` (any accepted spelling) names, if stored."""
        return self.get(conn, bytes(parse_identifier(identifier).batch_id))

    def matching(self, conn: Connection, query: Product | LotCode, *, limit: int) -> BatchMatches:
        """The custody batches ``query`` names, by their canonical identifiers: a product's
        lots and items, or the lots (AI 10) of that code of any product. The first
        ``limit`` in identifier order, and whether more matched.

        Exact and case-sensitive on both databases (``substr`` equality, not ``LIKE``). No
        index serves it: identifiers are not indexed (node/store/tables.py: an index on
        them would take writes out of the newest epoch's pages), so it reads the batches
        table through, which docs/api.md measures (``GET /v1/search``); the limit bounds
        what it returns, not what it reads.
        """
        identifier = BATCHES.c.identifier
        if isinstance(query, Product):
            prefix = query.batch_prefix
            where = func.substr(identifier, 1, len(prefix)) == prefix
        else:
            # https://id.gs1.org/01/{GTIN-14}/10/{lot}: the lot's part starts after the GTIN.
            after_gtin = len(GS1_KEY_PREFIX) + _GTIN14 + 1
            where = and_(
                func.substr(identifier, 1, len(GS1_KEY_PREFIX)) == GS1_KEY_PREFIX,
                func.substr(identifier, after_gtin) == query.canonical_suffix,
            )
        rows = conn.execute(
            select(BATCHES.c.batch_id, identifier, BATCHES.c.status, BATCHES.c.producer_id)
            .where(where, _CUSTODY_BATCH)
            .order_by(identifier)
            .limit(limit + 1)
        ).all()
        found = [
            BatchListing(bytes(batch_id), name, BatchStatus(status), producer)
            for batch_id, name, status, producer in rows[:limit]
        ]
        return BatchMatches(found, more=len(rows) > limit)

    def replace(
        self, conn: Connection, state: BatchState, *, expected_head: bytes | None = None
    ) -> bool:
        """Overwrite the local view of a batch with ``state`` (e.g. the chain's, after a
        rejection showed the optimistic view was wrong); with ``expected_head``, only
        while the stored head is still that one. Whether a row changed."""
        where = [BATCHES.c.batch_id == state.batch_id]
        if expected_head is not None:
            where.append(BATCHES.c.head == expected_head)
        result = conn.execute(
            update(BATCHES)
            .where(*where)
            .values(
                producer_id=state.producer_id,
                custodian_id=state.custodian_id,
                receiver_id=state.receiver_id,
                status=int(state.status),
                head=state.head,
            )
        )
        return bool(result.rowcount)

    def forget(self, conn: Connection, batch_id: bytes) -> None:
        """Forget a batch the chain never created (its creating event was rejected): its
        row becomes a NONE row, which readers skip and a later creation takes over."""
        conn.execute(
            update(BATCHES)
            .where(BATCHES.c.batch_id == batch_id)
            .values(status=int(BatchStatus.NONE), custodian_id=0, receiver_id=0)
        )

    # ----- writes of the ingest (through EventRepository.store_accepted) -----

    def save_created(
        self,
        conn: Connection,
        created: Sequence[BatchState],
        epoch: int,
        *,
        dormant: Collection[bytes],
    ) -> None:
        """Insert new batches; a batch with a row already (``dormant``: a NONE row, since
        the rules create no batch that exists) takes that row over, keeping its epoch, so
        its earlier events stay beside the new ones."""
        if not created:
            return
        fresh = [_batch_row(b) | {"epoch": epoch} for b in created if b.batch_id not in dormant]
        # A concurrent writer (PostgreSQL) that created one of them first: IntegrityError,
        # and the ingest checks the bulk again.
        insert_many(conn, BATCHES, fresh)
        for batch in created:
            if batch.batch_id not in dormant:
                continue
            result = conn.execute(
                update(BATCHES)
                .where(
                    BATCHES.c.batch_id == batch.batch_id,
                    BATCHES.c.status == int(BatchStatus.NONE),
                )
                .values(_batch_row(batch))
            )
            if result.rowcount != 1:
                raise IntegrityError(
                    "batches", None, ValueError("a concurrent writer took over the batch row")
                )

    def save_changed(self, conn: Connection, changed: Sequence[BatchState]) -> None:
        if changed:
            conn.execute(
                update(BATCHES)
                .where(BATCHES.c.batch_id == bindparam("b_batch_id"))
                .values(
                    custodian_id=bindparam("b_custodian_id"),
                    receiver_id=bindparam("b_receiver_id"),
                    status=bindparam("b_status"),
                    head=bindparam("b_head"),
                    identifier=func.coalesce(BATCHES.c.identifier, bindparam("b_identifier")),
                ),
                [{f"b_{k}": v for k, v in _batch_row(b).items()} for b in changed],
            )

    def subject_epochs(
        self, conn: Connection, batch_ids: set[bytes], epoch: int
    ) -> dict[bytes, int]:
        """The epoch of each batch's row, written (status NONE) for subjects without one
        (pallets, the zero id of transformations)."""
        found: dict[bytes, int] = {}
        for chunk in chunks(sorted(batch_ids)):
            rows = conn.execute(
                select(BATCHES.c.batch_id, BATCHES.c.epoch).where(BATCHES.c.batch_id.in_(chunk))
            )
            found.update((bytes(b), int(e)) for b, e in rows)
        missing = sorted(batch_ids - found.keys())
        if missing:
            insert_many(
                conn,
                BATCHES,
                [_none_row(batch_id, epoch) for batch_id in missing],
                ignore_conflicts=True,  # PostgreSQL: another writer's row counts as well
            )
            for chunk in chunks(missing):
                rows = conn.execute(
                    select(BATCHES.c.batch_id, BATCHES.c.epoch).where(BATCHES.c.batch_id.in_(chunk))
                )
                found.update((bytes(b), int(e)) for b, e in rows)
        return found

    def insert_lineage(self, conn: Connection, rows: Sequence[LineageRow]) -> None:
        """Add lineage links; a link already known (a lot packed on the same pallet again)
        keeps the event that first made it."""
        insert_many(conn, LINEAGE, rows, ignore_conflicts=True)

    # ----- lineage -----

    def lineage_of(self, conn: Connection, batch_id: bytes) -> tuple[list[bytes], list[bytes]]:
        """The batches ``batch_id`` was made from, and those made from it (one level)."""
        parents = conn.execute(select(LINEAGE.c.parent).where(LINEAGE.c.child == batch_id))
        children = conn.execute(select(LINEAGE.c.child).where(LINEAGE.c.parent == batch_id))
        return [bytes(p) for (p,) in parents], [bytes(c) for (c,) in children]

    def ancestry(self, conn: Connection, batch_id: bytes) -> list[LineageLink]:
        """Every lineage link above ``batch_id`` at any depth.

        One recursive query; UNION (not UNION ALL) makes it stop on a cycle.
        """
        reached = _closure(batch_id, upward=True)
        query = select(LINEAGE.c.parent, LINEAGE.c.child, LINEAGE.c.event_hash).where(
            LINEAGE.c.child.in_(select(reached.c.batch))
        )
        return [LineageLink(bytes(p), bytes(c), bytes(e)) for p, c, e in conn.execute(query)]

    def downstream(self, conn: Connection, batch_id: bytes) -> Downstream:
        """Everything a recall needs below ``batch_id`` in one query, however many batches
        it reaches (no per-batch parameters): every lineage link below it with the child's
        state, and every reception of those batches — the recursive closure computed once
        and used by both halves of a UNION ALL."""
        reached = _closure(batch_id, upward=False)
        members = select(reached.c.batch)
        blob, number, text_ = LargeBinary(), BigInteger(), String()
        links = (
            select(
                literal(1).label("kind"),
                LINEAGE.c.parent,
                LINEAGE.c.child,
                LINEAGE.c.event_hash,
                BATCHES.c.identifier,
                BATCHES.c.status,
                BATCHES.c.producer_id,
                BATCHES.c.custodian_id,
                BATCHES.c.receiver_id,
            )
            .select_from(
                LINEAGE.outerjoin(
                    BATCHES, and_(BATCHES.c.batch_id == LINEAGE.c.child, _CUSTODY_BATCH)
                )
            )
            .where(LINEAGE.c.parent.in_(members))
        )
        receptions = (
            select(
                literal(2),
                EVENTS.c.batch_id,
                cast(null(), blob),
                cast(null(), blob),
                cast(null(), text_),
                cast(null(), Integer()),
                EVENTS.c.participant_id,
                EVENTS.c.id,
                cast(null(), number),
            )
            .select_from(EVENTS_BY_BATCH)
            .where(
                BATCHES.c.batch_id.in_(members),
                EVENTS.c.action == int(Action.RECEIVE),
                EVENTS.c.status != int(EventStatus.REJECTED),
            )
        )
        rows = conn.execute(union_all(links, receptions)).all()
        origin = conn.execute(
            select(
                BATCHES.c.identifier,
                BATCHES.c.status,
                BATCHES.c.producer_id,
                BATCHES.c.custodian_id,
                BATCHES.c.receiver_id,
            ).where(BATCHES.c.batch_id == batch_id, _CUSTODY_BATCH)
        ).first()
        states: dict[bytes, BatchSummary] = {}
        if origin is not None:
            states[batch_id] = _summary(*origin)
        found: list[LineageLink] = []
        received: list[tuple[int, bytes, int]] = []
        for kind, parent, child, event_hash, identifier, status, producer, extra, receiver in rows:
            if kind == 1:
                child = bytes(child)
                found.append(LineageLink(bytes(parent), child, bytes(event_hash)))
                if status is not None:
                    states[child] = _summary(identifier, status, producer, extra, receiver)
            else:  # a reception: (batch, participant, event id)
                received.append((int(extra), bytes(parent), int(producer)))
        received.sort()
        return Downstream(links=found, states=states, received=[(b, pid) for _, b, pid in received])


def _closure(batch_id: bytes, *, upward: bool) -> CTE:
    """The recursive CTE of batches reachable from ``batch_id`` (itself included)."""
    start = literal(batch_id, LargeBinary(32)).label("batch")
    near, far = (
        (LINEAGE.c.child, LINEAGE.c.parent) if upward else (LINEAGE.c.parent, LINEAGE.c.child)
    )
    reached = select(start).cte("reached", recursive=True)
    return reached.union(select(far).join(reached, near == reached.c.batch))


def _summary(
    identifier: str | None, status: int, producer: int, custodian: int, receiver: int
) -> BatchSummary:
    return BatchSummary(identifier, BatchStatus(status), producer, custodian, receiver)


def _batch_row(batch: BatchState) -> dict[str, Any]:
    return {
        "batch_id": batch.batch_id,
        "identifier": batch.identifier,
        "producer_id": batch.producer_id,
        "custodian_id": batch.custodian_id,
        "receiver_id": batch.receiver_id,
        "status": int(batch.status),
        "head": batch.head,
        "created_by": batch.created_by,
    }


def _none_row(batch_id: bytes, epoch: int) -> Mapping[str, Any]:
    """A NONE row: the subject of events that is no custody batch (a pallet)."""
    return {
        "batch_id": batch_id,
        "identifier": None,
        "producer_id": 0,
        "custodian_id": 0,
        "receiver_id": 0,
        "status": int(BatchStatus.NONE),
        "head": bytes(32),
        "created_by": bytes(32),
        "epoch": epoch,
    }
