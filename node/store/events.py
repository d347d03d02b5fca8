"""Stored signed events: the ingest's bulk write, lookups by hash, nonce and batch, and
the queue the commit worker takes windows from."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, select, union

from node.events.batch import BatchState
from node.events.typed_data import TraceEvent
from node.store.batches import EVENTS_BY_BATCH, BatchRepository
from node.store.models import EventStatus
from node.store.records import (
    BatchEvent,
    EventBatchRow,
    EventRecord,
    EventRow,
    LineageRow,
    RecordMemo,
    WindowAnchor,
    event_reader,
    event_record,
    event_records,
)
from node.store.tables import (
    BATCHES,
    EVENT_BATCHES,
    EVENTS,
    WINDOWS,
    chunks,
    current_epoch,
    epochs,
    insert_many,
)


class EventRepository:
    """Events, and their links to the batches they name."""

    def __init__(self, batches: BatchRepository) -> None:
        self._batches = batches

    def known(self, conn: Connection, hashes: Sequence[bytes]) -> dict[bytes, EventStatus]:
        """Status of each event in ``hashes`` that is already stored (a search per epoch
        and hash: for occasional lookups, not for ingest; see :meth:`used_nonces`)."""
        found: dict[bytes, EventStatus] = {}
        for group in epochs(conn):
            for chunk in chunks(list(set(hashes) - found.keys())):
                rows = conn.execute(
                    select(EVENTS.c.event_hash, EVENTS.c.status).where(
                        EVENTS.c.epoch.in_(group), EVENTS.c.event_hash.in_(chunk)
                    )
                )
                found.update((bytes(h), EventStatus(s)) for h, s in rows)
        return found

    def payloads(self, conn: Connection, hashes: Sequence[bytes]) -> dict[bytes, bytes]:
        """The payload of each event in ``hashes`` that is stored with one (a search per
        epoch and hash, as :meth:`known`)."""
        found: dict[bytes, bytes] = {}
        for group in epochs(conn):
            for chunk in chunks(list(set(hashes) - found.keys())):
                rows = conn.execute(
                    select(EVENTS.c.event_hash, EVENTS.c.payload).where(
                        EVENTS.c.epoch.in_(group),
                        EVENTS.c.event_hash.in_(chunk),
                        EVENTS.c.payload.is_not(None),
                    )
                )
                found.update((bytes(h), bytes(p)) for h, p in rows)
        return found

    def used_nonces(
        self, conn: Connection, pairs: Sequence[tuple[bytes, bytes]]
    ) -> dict[tuple[bytes, bytes], bytes]:
        """The (signer, nonce) pairs of ``pairs`` that stored events already use, with the
        hash of the event using each: the same hash is the same event (a duplicate), any
        other a reused nonce.

        One indexed query per signer (``signer = ? AND nonce IN (...)``): a row-value
        ``(signer, nonce) IN (...)`` makes SQLite scan the whole table, which is what it
        did at first, and ingest fell to a fifth of its speed at a million events.
        """
        by_signer: dict[bytes, set[bytes]] = {}
        for signer, nonce in pairs:
            by_signer.setdefault(signer, set()).add(nonce)
        used: dict[tuple[bytes, bytes], bytes] = {}
        for signer, nonces in by_signer.items():
            for chunk in chunks(sorted(nonces)):
                rows = conn.execute(
                    select(EVENTS.c.nonce, EVENTS.c.event_hash).where(
                        EVENTS.c.signer == signer, EVENTS.c.nonce.in_(chunk)
                    )
                )
                used.update(((signer, bytes(n)), bytes(h)) for n, h in rows)
        return used

    def next_nonce(self, conn: Connection, signer: bytes) -> int:
        """One more than the largest nonce ``signer`` used in a stored event (0 for none).

        The last entry of the (signer, nonce) index: 32-byte big-endian nonces order as
        their numbers do (PostgreSQL has no max() of bytea)."""
        query = (
            select(EVENTS.c.nonce)
            .where(EVENTS.c.signer == signer)
            .order_by(EVENTS.c.nonce.desc())
            .limit(1)
        )
        top = conn.execute(query).scalar()
        return 0 if top is None else int.from_bytes(bytes(top), "big") + 1

    def store_accepted(
        self,
        conn: Connection,
        events: Sequence[EventRow],
        *,
        created: Sequence[BatchState] = (),
        changed: Sequence[BatchState] = (),
        lineage: Sequence[LineageRow] = (),
        links: Sequence[EventBatchRow] = (),
        epochs: dict[bytes, int] | None = None,
    ) -> None:
        """Write one bulk of accepted events: their rows (without ``epoch`` and
        ``batch_epoch``, which the store sets), the batches they create and change,
        lineage links, and links (``batch_id``, ``event_hash``) to batches they name
        other than as subject.

        ``epochs`` is what :meth:`BatchRepository.load` filled in for the same transaction
        (every row it saw, NONE rows too); without it the store looks the rows up again.
        """
        if not events:
            return
        epoch = current_epoch(conn)
        if epochs is None:
            epochs = {}
            self._batches.load(conn, [b.batch_id for b in created], epochs=epochs)
        self._batches.save_created(conn, created, epoch, dormant=epochs.keys())
        self._batches.save_changed(conn, changed)
        epochs = epochs | {b.batch_id: epoch for b in created if b.batch_id not in epochs}
        subjects = {bytes(row["batch_id"]) for row in events}
        if not subjects <= epochs.keys():
            epochs |= self._batches.subject_epochs(conn, subjects - epochs.keys(), epoch)
        insert_many(
            conn,
            EVENTS,
            [row | {"epoch": epoch, "batch_epoch": epochs[row["batch_id"]]} for row in events],
        )
        self._batches.insert_lineage(conn, lineage)
        if links:
            hashes = list({link["event_hash"] for link in links})
            ids: dict[bytes, int] = {}
            for chunk in chunks(hashes):
                rows = conn.execute(
                    select(EVENTS.c.event_hash, EVENTS.c.id).where(
                        EVENTS.c.epoch == epoch, EVENTS.c.event_hash.in_(chunk)
                    )
                )
                ids.update((bytes(h), i) for h, i in rows)
            insert_many(
                conn,
                EVENT_BATCHES,
                [{**link, "event_id": ids[link["event_hash"]]} for link in links],
            )

    def holders(
        self,
        conn: Connection,
        events: Sequence[tuple[bytes, TraceEvent]],
        epochs: dict[bytes, int],
    ) -> dict[bytes, int]:
        """The participant whose stored event has the hash of each (hash, event) of
        ``events`` that is stored already, whichever key signed it.

        The same hash is the same content, so a stored event with it names the same
        batches: one that names batches besides its subject (a transformation, a packing)
        is found by its link to the first of them (event_batches' key, one search each);
        any other among its subject's events (ix_events_batch, under the epoch of the
        subject's row). ``epochs`` is what :meth:`BatchRepository.load` filled in for the
        events' batches: a subject without a row has no events. No search per epoch, as
        :meth:`known` makes.
        """
        found: dict[bytes, int] = {}
        linked: list[tuple[bytes, bytes]] = []
        subjects: list[tuple[int, bytes, bytes]] = []
        for event_hash, event in events:
            others = sorted(event.batch_ids() - {event.batch_id})
            if others:
                linked.append((others[0], event_hash))
            elif event.batch_id in epochs:
                subjects.append((epochs[event.batch_id], event.batch_id, event_hash))
        # Driver-level SQL with native values, as in insert_many: SQLAlchemy's processing
        # of expanding IN lists of bytes cost more than the searches. Names are our own.
        marker = "?" if conn.dialect.name == "sqlite" else "%s"
        # Exact pairs, ORed: with an IN list on each column, SQLite would search every
        # combination of the two.
        for start in range(0, len(linked), 100):
            pairs = linked[start : start + 100]
            statement = (
                f"SELECT l.event_hash, e.participant_id FROM {EVENT_BATCHES.name} l "  # noqa: S608
                f"JOIN {EVENTS.name} e ON e.id = l.event_id WHERE "
                + " OR ".join([f"(l.batch_id = {marker} AND l.event_hash = {marker})"] * len(pairs))
            )
            rows = conn.exec_driver_sql(statement, tuple(v for pair in pairs for v in pair))
            found.update((bytes(h), int(p)) for h, p in rows)
        for chunk in chunks(subjects):
            epochs_in = sorted({e for e, _, _ in chunk})
            batches_in = sorted({b for _, b, _ in chunk})
            statement = (
                f"SELECT event_hash, participant_id FROM {EVENTS.name} "  # noqa: S608
                f"WHERE batch_epoch IN ({', '.join([marker] * len(epochs_in))}) "
                f"AND batch_id IN ({', '.join([marker] * len(batches_in))}) "
                f"AND event_hash IN ({', '.join([marker] * len(chunk))})"
            )
            values = (*epochs_in, *batches_in, *(h for _, _, h in chunk))
            rows = conn.exec_driver_sql(statement, values)
            found.update((bytes(h), int(p)) for h, p in rows)
        return found

    def count(self, conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(EVENTS)).scalar_one())

    def last_id(self, conn: Connection) -> int:
        """The id of the event accepted last (0: none yet)."""
        return int(conn.execute(select(func.coalesce(func.max(EVENTS.c.id), 0))).scalar_one())

    def after(
        self, conn: Connection, *, after: int, limit: int, memo: RecordMemo | None = None
    ) -> list[EventRecord]:
        """Events accepted after the one of id ``after``, in that order, at most ``limit``
        (the monitor's look at what is new; ``memo``: see RecordMemo)."""
        rows = conn.execute(
            select(EVENTS).where(EVENTS.c.id > after).order_by(EVENTS.c.id).limit(limit)
        )
        return event_records(rows, memo)

    def counts(self, conn: Connection) -> dict[EventStatus, int]:
        """How many events are in each status."""
        rows = conn.execute(select(EVENTS.c.status, func.count()).group_by(EVENTS.c.status))
        counts = dict.fromkeys(EventStatus, 0)
        counts.update((EventStatus(status), int(n)) for status, n in rows)
        return counts

    def get(self, conn: Connection, event_hash: bytes) -> EventRecord | None:
        for group in epochs(conn):
            row = conn.execute(
                select(EVENTS).where(EVENTS.c.epoch.in_(group), EVENTS.c.event_hash == event_hash)
            ).first()
            if row is not None:
                return event_record(row)
        return None

    def of_batches(
        self,
        conn: Connection,
        batch_ids: Sequence[bytes],
        *,
        anchored_before: int | None = None,
        memo: RecordMemo | None = None,
    ) -> list[BatchEvent]:
        """Every event naming any of ``batch_ids`` (as subject, or in a transformation or
        packing), in the order they were accepted, with their window's anchor.

        ``anchored_before``: only the ANCHORED events accepted before the event with that
        store id (a batch's history before a window: none for a batch the window makes,
        and then no event record is read). ``memo``: see RecordMemo."""
        ids: set[int] = set()
        for chunk in chunks(sorted(set(batch_ids))):
            query = union(
                select(EVENTS.c.id)
                .select_from(EVENTS_BY_BATCH)
                .where(BATCHES.c.batch_id.in_(chunk)),
                select(EVENT_BATCHES.c.event_id).where(EVENT_BATCHES.c.batch_id.in_(chunk)),
            )
            ids.update(conn.execute(query).scalars())
        if anchored_before is not None:
            ids = {i for i in ids if i < anchored_before}
        found: list[BatchEvent] = []
        for id_chunk in chunks(sorted(ids)):
            rows_query = (
                select(
                    EVENTS,
                    WINDOWS.c.tx_hash.label("w_tx_hash"),
                    WINDOWS.c.block_number.label("w_block_number"),
                    WINDOWS.c.root.label("w_root"),
                )
                .outerjoin(WINDOWS, WINDOWS.c.id == EVENTS.c.window_id)
                .where(EVENTS.c.id.in_(id_chunk))
                .order_by(EVENTS.c.id)
            )
            if anchored_before is not None:
                rows_query = rows_query.where(EVENTS.c.status == int(EventStatus.ANCHORED))
            rows = conn.execute(rows_query)
            read = event_reader(rows.keys(), memo)
            for row in rows:
                anchor = None
                if row.w_tx_hash is not None:
                    block = None if row.w_block_number is None else int(row.w_block_number)
                    anchor = WindowAnchor(bytes(row.w_tx_hash), block, bytes(row.w_root))
                found.append(BatchEvent(read(row), anchor))
        return found

    def uncommitted(self, conn: Connection, limit: int) -> list[EventRecord]:
        """Accepted events not yet in a window, in the order they were accepted."""
        rows = conn.execute(
            select(EVENTS)
            .where(EVENTS.c.status == EventStatus.ACCEPTED, EVENTS.c.window_id.is_(None))
            .order_by(EVENTS.c.id)
            .limit(limit)
        )
        return event_records(rows)

    def unsettled_batches(self, conn: Connection) -> set[bytes]:
        """Every batch an event not yet anchored (nor rejected) names: the batches whose
        state in the store is rightly ahead of the chain's."""
        pending = EVENTS.c.status == int(EventStatus.ACCEPTED)
        subjects = conn.execute(select(EVENTS.c.batch_id).where(pending).distinct())
        linked = conn.execute(
            select(EVENT_BATCHES.c.batch_id)
            .join(EVENTS, EVENTS.c.id == EVENT_BATCHES.c.event_id)
            .where(pending)
            .distinct()
        )
        return {bytes(b) for (b,) in subjects} | {bytes(b) for (b,) in linked}

    def uncommitted_count(self, conn: Connection, *, at_most: int | None = None) -> int:
        """Accepted events not yet in a window (``at_most``: counting stops there, for a
        caller that only asks whether that many wait)."""
        waiting = EVENTS.c.status == EventStatus.ACCEPTED, EVENTS.c.window_id.is_(None)
        if at_most is None:
            return int(conn.execute(select(func.count()).where(*waiting)).scalar_one())
        first = select(EVENTS.c.id).where(*waiting).limit(at_most).subquery()
        return int(conn.execute(select(func.count()).select_from(first)).scalar_one())

    def oldest_uncommitted(self, conn: Connection) -> int | None:
        """When (ms) the longest-waiting accepted event not yet in a window was received."""
        query = select(func.min(EVENTS.c.received_at)).where(
            EVENTS.c.status == int(EventStatus.ACCEPTED), EVENTS.c.window_id.is_(None)
        )
        value = conn.execute(query).scalar()
        return None if value is None else int(value)
