"""Reads and writes the services need, in SQLAlchemy Core over the SQLModel tables.

Bulk paths use one statement per kind of row (``executemany``), never an ORM object per
event, and never load more than the rows a call names: the store stays flat in memory
and in time as it grows.

Epochs keep it flat in time too. An index on a random key (an event hash, a batch id)
takes each new entry on a page of its own once it outgrows a few thousand pages, so
every event of a bulk would dirty one page per such index, and a commit at a million
events wrote several times the pages of one at ten thousand. Those indexes lead with an
epoch instead, the store's size when the row was written (``EPOCH_BITS``): new entries
land in the newest epoch's few hundred pages. An event's own epoch keys its hash; its
subject batch's epoch (the batch row's, fixed when the row is first written) keys the
batch's events, so they stay together and are found in one search from the batch row.
A lookup by hash alone searches each epoch once: microseconds each, for the rare callers
(the gateway's GET by hash, EPCIS re-capture); ingest finds duplicates through the
(signer, nonce) key instead. Only the batches' primary key stays random.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    String,
    Table,
    and_,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from node.events.batch import BatchState
from node.events.identifiers import parse_identifier
from node.events.typed_data import Action, BatchStatus, Role, TraceEvent
from node.store.engine import WRITE_OPTION, open_engine
from node.store.models import (
    Batch,
    EpcisEvent,
    Event,
    EventBatch,
    EventStatus,
    Lineage,
    Participant,
    ParticipantKey,
    ParticipantStatus,
    SyncCursor,
    Window,
    WindowStatus,
)


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


EVENTS = _table(Event)
EVENT_BATCHES = _table(EventBatch)
BATCHES = _table(Batch)
LINEAGE = _table(Lineage)
PARTICIPANTS = _table(Participant)
PARTICIPANT_KEYS = _table(ParticipantKey)
PARTICIPANT_STATUS = _table(ParticipantStatus)
SYNC_CURSORS = _table(SyncCursor)
WINDOWS = _table(Window)
EPCIS_EVENTS = _table(EpcisEvent)

_T = TypeVar("_T")

#: Rows per IN (...) query: well under SQLite's and PostgreSQL's parameter limits.
CHUNK = 900
#: An epoch is 2**EPOCH_BITS stored events: 16,384, about 200 pages of each epoch index.
EPOCH_BITS = 14


@dataclass(frozen=True, slots=True)
class Downstream:
    """What :meth:`Store.downstream` found: links (parent, child, event hash), states
    (batch id -> identifier, status, producer, custodian, receiver) and receptions
    (batch id, participant id) in the order they happened."""

    links: list[tuple[bytes, bytes, bytes]]
    states: dict[bytes, tuple[Any, ...]]
    received: list[tuple[bytes, int]]


@dataclass(frozen=True, slots=True)
class SignerView:
    """A key's participant as the mirror holds it now."""

    participant_id: int
    roles: Role
    active: bool
    current: bool  # False when the key was rotated out


class Store:
    """The node's database, on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (and migrate) the database at ``url``."""
        return cls(open_engine(url))

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on exit, rolled back on any exception."""
        connection = self.engine.connect().execution_options(**{WRITE_OPTION: True})
        with connection as conn, conn.begin():
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # ----- participants (the mirror of ParticipantRegistry) -----

    def signers(self, conn: Connection, keys: Iterable[bytes]) -> dict[bytes, SignerView]:
        """The participants that ``keys`` sign for (keys never registered are absent)."""
        found: dict[bytes, SignerView] = {}
        for chunk in _chunks(list(set(keys))):
            rows = conn.execute(
                select(
                    PARTICIPANT_KEYS.c.key,
                    PARTICIPANT_KEYS.c.valid_until,
                    PARTICIPANTS.c.id,
                    PARTICIPANTS.c.roles,
                    PARTICIPANTS.c.active,
                )
                .join(PARTICIPANTS, PARTICIPANTS.c.id == PARTICIPANT_KEYS.c.participant_id)
                .where(PARTICIPANT_KEYS.c.key.in_(chunk))
            )
            for key, valid_until, pid, roles, active in rows:
                found[bytes(key)] = SignerView(pid, Role(roles), active, valid_until is None)
        return found

    def put_participant(
        self,
        conn: Connection,
        *,
        participant_id: int,
        key: bytes,
        name: str,
        prefix: str,
        roles: int,
        active: bool,
        block: int,
    ) -> None:
        """Record a registration (idempotent: replaying the same block changes nothing)."""
        self._upsert(
            conn,
            PARTICIPANTS,
            {
                "id": participant_id,
                "key": key,
                "name": name,
                "prefix": prefix,
                "roles": roles,
                "active": active,
                "updated_block": block,
            },
            ["id"],
        )
        self._upsert(
            conn,
            PARTICIPANT_KEYS,
            {
                "key": key,
                "participant_id": participant_id,
                "valid_from": block,
                "valid_until": None,
            },
            ["key"],
        )
        self._status(conn, participant_id, block, roles, active)

    def set_participant_status(
        self, conn: Connection, participant_id: int, *, roles: int, active: bool, block: int
    ) -> None:
        conn.execute(
            update(PARTICIPANTS)
            .where(PARTICIPANTS.c.id == participant_id)
            .values(roles=roles, active=active, updated_block=block)
        )
        self._status(conn, participant_id, block, roles, active)

    def rotate_key(
        self, conn: Connection, participant_id: int, *, old: bytes, new: bytes, block: int
    ) -> None:
        conn.execute(
            update(PARTICIPANT_KEYS).where(PARTICIPANT_KEYS.c.key == old).values(valid_until=block)
        )
        self._upsert(
            conn,
            PARTICIPANT_KEYS,
            {
                "key": new,
                "participant_id": participant_id,
                "valid_from": block,
                "valid_until": None,
            },
            ["key"],
        )
        conn.execute(
            update(PARTICIPANTS)
            .where(PARTICIPANTS.c.id == participant_id)
            .values(key=new, updated_block=block)
        )

    def participant(self, conn: Connection, participant_id: int) -> dict[str, Any] | None:
        row = conn.execute(select(PARTICIPANTS).where(PARTICIPANTS.c.id == participant_id)).first()
        return dict(row._mapping) if row else None

    def participants(self, conn: Connection) -> list[dict[str, Any]]:
        return [
            dict(r._mapping) for r in conn.execute(select(PARTICIPANTS).order_by(PARTICIPANTS.c.id))
        ]

    def status_at(
        self, conn: Connection, participant_id: int, block: int
    ) -> tuple[Role, bool] | None:
        """Roles and status at the end of ``block`` (None before registration)."""
        row = conn.execute(
            select(PARTICIPANT_STATUS.c.roles, PARTICIPANT_STATUS.c.active)
            .where(
                PARTICIPANT_STATUS.c.participant_id == participant_id,
                PARTICIPANT_STATUS.c.block <= block,
            )
            .order_by(PARTICIPANT_STATUS.c.block.desc())
            .limit(1)
        ).first()
        return (Role(row[0]), bool(row[1])) if row else None

    def cursor(self, conn: Connection, name: str) -> int | None:
        return conn.execute(
            select(SYNC_CURSORS.c.block).where(SYNC_CURSORS.c.name == name)
        ).scalar()

    def set_cursor(self, conn: Connection, name: str, block: int) -> None:
        self._upsert(conn, SYNC_CURSORS, {"name": name, "block": block}, ["name"])

    # ----- events -----

    def known_events(self, conn: Connection, hashes: Sequence[bytes]) -> dict[bytes, int]:
        """Status of each event in ``hashes`` that is already stored (a search per epoch
        and hash: for occasional lookups, not for ingest; see :meth:`used_nonces`)."""
        found: dict[bytes, int] = {}
        for epochs in self._epochs(conn):
            for chunk in _chunks(list(set(hashes) - found.keys())):
                rows = conn.execute(
                    select(EVENTS.c.event_hash, EVENTS.c.status).where(
                        EVENTS.c.epoch.in_(epochs), EVENTS.c.event_hash.in_(chunk)
                    )
                )
                found.update((bytes(h), s) for h, s in rows)
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
            for chunk in _chunks(sorted(nonces)):
                rows = conn.execute(
                    select(EVENTS.c.nonce, EVENTS.c.event_hash).where(
                        EVENTS.c.signer == signer, EVENTS.c.nonce.in_(chunk)
                    )
                )
                used.update(((signer, bytes(n)), bytes(h)) for n, h in rows)
        return used

    def next_nonce(self, conn: Connection, signer: bytes) -> int:
        """One more than the largest nonce ``signer`` used in a stored event (0 for none)."""
        query = select(func.max(EVENTS.c.nonce)).where(EVENTS.c.signer == signer)
        top = conn.execute(query).scalar()
        return 0 if top is None else int.from_bytes(bytes(top), "big") + 1

    def participant_by_key(self, conn: Connection, key: bytes) -> dict[str, Any] | None:
        row = conn.execute(select(PARTICIPANTS).where(PARTICIPANTS.c.key == key)).first()
        return dict(row._mapping) if row else None

    def store_accepted(
        self,
        conn: Connection,
        events: Sequence[dict[str, Any]],
        *,
        created: Sequence[BatchState] = (),
        changed: Sequence[BatchState] = (),
        lineage: Sequence[dict[str, bytes]] = (),
        links: Sequence[dict[str, bytes]] = (),
        epochs: dict[bytes, int] | None = None,
    ) -> None:
        """Write one bulk of accepted events: their rows (without ``epoch`` and
        ``batch_epoch``, which the store sets), the batches they create and change,
        lineage links, and links (``batch_id``, ``event_hash``) to batches they name
        other than as subject.

        ``epochs`` is what :meth:`load_batches` filled in for the same transaction (every
        row it saw, NONE rows too); without it the store looks the rows up again.
        """
        if not events:
            return
        epoch = self._current_epoch(conn)
        if epochs is None:
            epochs = {}
            self.load_batches(conn, [b.batch_id for b in created], epochs=epochs)
        self._save_created(conn, created, epoch, dormant=epochs.keys())
        self._save_changed(conn, changed)
        epochs = epochs | {b.batch_id: epoch for b in created if b.batch_id not in epochs}
        subjects = {bytes(row["batch_id"]) for row in events}
        if not subjects <= epochs.keys():
            epochs |= self._subject_epochs(conn, subjects - epochs.keys(), epoch)
        self._insert_many(
            conn,
            EVENTS,
            [row | {"epoch": epoch, "batch_epoch": epochs[row["batch_id"]]} for row in events],
        )
        self.insert_lineage(conn, lineage)
        if links:
            hashes = list({link["event_hash"] for link in links})
            ids: dict[bytes, int] = {}
            for chunk in _chunks(hashes):
                rows = conn.execute(
                    select(EVENTS.c.event_hash, EVENTS.c.id).where(
                        EVENTS.c.epoch == epoch, EVENTS.c.event_hash.in_(chunk)
                    )
                )
                ids.update((bytes(h), i) for h, i in rows)
            self._insert_many(
                conn,
                EVENT_BATCHES,
                [link | {"event_id": ids[link["event_hash"]]} for link in links],
            )

    def event_count(self, conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(EVENTS)).scalar_one())

    def event(self, conn: Connection, event_hash: bytes) -> dict[str, Any] | None:
        for epochs in self._epochs(conn):
            row = conn.execute(
                select(EVENTS).where(EVENTS.c.epoch.in_(epochs), EVENTS.c.event_hash == event_hash)
            ).first()
            if row is not None:
                return dict(row._mapping)
        return None

    def events_of_batch(self, conn: Connection, batch_id: bytes) -> list[dict[str, Any]]:
        """Every event naming ``batch_id``: as subject, or in a transformation or packing."""
        return self.events_of_batches(conn, [batch_id])

    def events_of_batches(
        self, conn: Connection, batch_ids: Sequence[bytes]
    ) -> list[dict[str, Any]]:
        """Every event naming any of ``batch_ids``, in the order they were accepted, with
        their window's transaction and block (``tx_hash``, ``block_number``, ``root``)."""
        ids: set[int] = set()
        for chunk in _chunks(sorted(set(batch_ids))):
            query = union(
                select(EVENTS.c.id)
                .select_from(_EVENTS_BY_BATCH)
                .where(BATCHES.c.batch_id.in_(chunk)),
                select(EVENT_BATCHES.c.event_id).where(EVENT_BATCHES.c.batch_id.in_(chunk)),
            )
            ids.update(conn.execute(query).scalars())
        rows: list[dict[str, Any]] = []
        for id_chunk in _chunks(sorted(ids)):
            rows_query = (
                select(EVENTS, WINDOWS.c.tx_hash, WINDOWS.c.block_number, WINDOWS.c.root)
                .outerjoin(WINDOWS, WINDOWS.c.id == EVENTS.c.window_id)
                .where(EVENTS.c.id.in_(id_chunk))
                .order_by(EVENTS.c.id)
            )
            rows.extend(dict(r._mapping) for r in conn.execute(rows_query))
        return rows

    # ----- lineage -----

    def ancestry(self, conn: Connection, batch_id: bytes) -> list[tuple[bytes, bytes, bytes]]:
        """Every lineage link above ``batch_id`` at any depth: (parent, child, event hash).

        One recursive query; UNION (not UNION ALL) makes it stop on a cycle.
        """
        reached = self._closure(batch_id, upward=True)
        query = select(LINEAGE.c.parent, LINEAGE.c.child, LINEAGE.c.event_hash).where(
            LINEAGE.c.child.in_(select(reached.c.batch))
        )
        return [(bytes(p), bytes(c), bytes(e)) for p, c, e in conn.execute(query)]

    def downstream(self, conn: Connection, batch_id: bytes) -> Downstream:
        """Everything a recall needs below ``batch_id`` in one query, however many batches
        it reaches (no per-batch parameters): every lineage link below it with the child's
        state, and every reception of those batches — the recursive closure computed once
        and used by both halves of a UNION ALL."""
        reached = self._closure(batch_id, upward=False)
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
            .select_from(_EVENTS_BY_BATCH)
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
        states: dict[bytes, tuple[Any, ...]] = {}
        if origin is not None:
            states[batch_id] = tuple(origin)
        found: list[tuple[bytes, bytes, bytes]] = []
        received: list[tuple[int, bytes, int]] = []
        for kind, parent, child, event_hash, identifier, status, producer, extra, receiver in rows:
            if kind == 1:
                child = bytes(child)
                found.append((bytes(parent), child, bytes(event_hash)))
                if status is not None:
                    states[child] = (identifier, status, producer, extra, receiver)
            else:  # a reception: (batch, participant, event id)
                received.append((extra, bytes(parent), producer))
        received.sort()
        return Downstream(links=found, states=states, received=[(b, pid) for _, b, pid in received])

    def _closure(self, batch_id: bytes, *, upward: bool) -> Any:
        """The recursive CTE of batches reachable from ``batch_id`` (itself included)."""
        start = literal(batch_id, LargeBinary(32)).label("batch")
        near, far = (
            (LINEAGE.c.child, LINEAGE.c.parent) if upward else (LINEAGE.c.parent, LINEAGE.c.child)
        )
        reached = select(start).cte("reached", recursive=True)
        return reached.union(select(far).join(reached, near == reached.c.batch))

    def prepared_window(self, conn: Connection) -> dict[str, Any] | None:
        """The window whose transaction may or may not be mined (at most one)."""
        row = conn.execute(
            select(WINDOWS).where(WINDOWS.c.status == WindowStatus.PREPARED).order_by(WINDOWS.c.id)
        ).first()
        return dict(row._mapping) if row else None

    def uncommitted_events(self, conn: Connection, limit: int) -> list[dict[str, Any]]:
        """Accepted events not yet in a window, in the order they were accepted."""
        rows = conn.execute(
            select(EVENTS)
            .where(EVENTS.c.status == EventStatus.ACCEPTED, EVENTS.c.window_id.is_(None))
            .order_by(EVENTS.c.id)
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]

    def uncommitted_count(self, conn: Connection) -> int:
        query = select(func.count()).where(
            EVENTS.c.status == EventStatus.ACCEPTED, EVENTS.c.window_id.is_(None)
        )
        return int(conn.execute(query).scalar_one())

    def create_window(
        self,
        conn: Connection,
        *,
        first_seq: int,
        root: bytes,
        raw_tx: bytes,
        tx_hash: bytes,
        created_at: int,
        members: Sequence[dict[str, Any]],
    ) -> int:
        """Record a prepared window and assign its events (``id``, ``tree_index``, ``proof``)."""
        inserted = conn.execute(
            WINDOWS.insert().values(
                first_seq=first_seq,
                event_count=len(members),
                root=root,
                status=int(WindowStatus.PREPARED),
                raw_tx=raw_tx,
                tx_hash=tx_hash,
                created_at=created_at,
            )
        ).inserted_primary_key
        if inserted is None:
            raise RuntimeError("the database returned no id for the new window")
        window_id = inserted[0]
        conn.execute(
            update(EVENTS)
            .where(EVENTS.c.id == bindparam("m_id"))
            .values(
                window_id=window_id,
                anchor_seq=bindparam("m_seq"),
                tree_index=bindparam("m_tree_index"),
                proof=bindparam("m_proof"),
            ),
            [
                {
                    "m_id": m["id"],
                    "m_seq": first_seq + i,
                    "m_tree_index": m["tree_index"],
                    "m_proof": m["proof"],
                }
                for i, m in enumerate(members)
            ],
        )
        return int(window_id)

    def confirm_window(
        self,
        conn: Connection,
        window_id: int,
        *,
        block_number: int,
        block_hash: bytes,
        rejected: dict[bytes, bytes],
    ) -> None:
        """Mark the window mined: its events ANCHORED, or REJECTED with the contract's reason."""
        conn.execute(
            update(WINDOWS)
            .where(WINDOWS.c.id == window_id)
            .values(
                status=int(WindowStatus.CONFIRMED), block_number=block_number, block_hash=block_hash
            )
        )
        conn.execute(
            update(EVENTS)
            .where(EVENTS.c.window_id == window_id)
            .values(status=int(EventStatus.ANCHORED))
        )
        if rejected:
            conn.execute(
                update(EVENTS)
                .where(EVENTS.c.window_id == window_id, EVENTS.c.event_hash == bindparam("r_hash"))
                .values(status=int(EventStatus.REJECTED), reason=bindparam("r_reason")),
                [{"r_hash": h, "r_reason": reason} for h, reason in rejected.items()],
            )

    def fail_window(self, conn: Connection, window_id: int) -> None:
        """The window's transaction will never be mined: its events go back to the queue."""
        conn.execute(
            update(WINDOWS).where(WINDOWS.c.id == window_id).values(status=int(WindowStatus.FAILED))
        )
        conn.execute(
            update(EVENTS)
            .where(EVENTS.c.window_id == window_id)
            .values(window_id=None, anchor_seq=None, tree_index=None, proof=None)
        )

    def window_events(self, conn: Connection, window_id: int) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(EVENTS).where(EVENTS.c.window_id == window_id).order_by(EVENTS.c.anchor_seq)
        )
        return [dict(r._mapping) for r in rows]

    def window(self, conn: Connection, window_id: int) -> dict[str, Any] | None:
        row = conn.execute(select(WINDOWS).where(WINDOWS.c.id == window_id)).first()
        return dict(row._mapping) if row else None

    # ----- batches -----

    def load_batches(
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
        (for :meth:`store_accepted`).
        """
        found: dict[bytes, BatchState] = {}
        for chunk in _chunks(sorted(set(batch_ids))):
            query = select(BATCHES).where(BATCHES.c.batch_id.in_(chunk))
            if for_update and self.dialect == "postgresql":
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

    def _current_epoch(self, conn: Connection) -> int:
        """The epoch rows written now belong to: the store's size, in epochs."""
        top = conn.execute(select(func.max(EVENTS.c.id))).scalar()
        return (int(top or 0) + 1) >> EPOCH_BITS

    def _epochs(self, conn: Connection) -> Iterator[list[int]]:
        """Every epoch that holds events, newest first, in lists of at most CHUNK."""
        top = conn.execute(select(func.max(EVENTS.c.epoch))).scalar()
        if top is None:
            return
        for end in range(int(top), -1, -CHUNK):
            yield list(range(end, max(end - CHUNK, -1), -1))

    def _subject_epochs(
        self, conn: Connection, batch_ids: set[bytes], epoch: int
    ) -> dict[bytes, int]:
        """The epoch of each batch's row, written (status NONE) for subjects without one
        (pallets, the zero id of transformations)."""
        found: dict[bytes, int] = {}
        for chunk in _chunks(sorted(batch_ids)):
            rows = conn.execute(
                select(BATCHES.c.batch_id, BATCHES.c.epoch).where(BATCHES.c.batch_id.in_(chunk))
            )
            found.update((bytes(b), int(e)) for b, e in rows)
        missing = sorted(batch_ids - found.keys())
        if missing:
            self._insert_many(
                conn,
                BATCHES,
                [_none_row(batch_id, epoch) for batch_id in missing],
                ignore_conflicts=True,  # PostgreSQL: another writer's row counts as well
            )
            for chunk in _chunks(missing):
                rows = conn.execute(
                    select(BATCHES.c.batch_id, BATCHES.c.epoch).where(BATCHES.c.batch_id.in_(chunk))
                )
                found.update((bytes(b), int(e)) for b, e in rows)
        return found

    def _save_created(
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
        self._insert_many(conn, BATCHES, fresh)
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

    def _save_changed(self, conn: Connection, changed: Sequence[BatchState]) -> None:
        if changed:
            conn.execute(
                update(BATCHES)
                .where(BATCHES.c.batch_id == _bind("b_batch_id"))
                .values(
                    custodian_id=_bind("b_custodian_id"),
                    receiver_id=_bind("b_receiver_id"),
                    status=_bind("b_status"),
                    head=_bind("b_head"),
                    identifier=func.coalesce(BATCHES.c.identifier, _bind("b_identifier")),
                ),
                [{f"b_{k}": v for k, v in _batch_row(b).items()} for b in changed],
            )

    def insert_lineage(self, conn: Connection, rows: Sequence[dict[str, bytes]]) -> None:
        """Add lineage links; a link already known (a lot packed on the same pallet again)
        keeps the event that first made it."""
        self._insert_many(conn, LINEAGE, rows, ignore_conflicts=True)

    def batches(self, conn: Connection, batch_ids: Iterable[bytes]) -> dict[bytes, BatchState]:
        """The stored states of those ``batch_ids`` that exist (no locks)."""
        return self.load_batches(conn, batch_ids)

    def replace_batch(self, conn: Connection, state: BatchState) -> None:
        """Overwrite the local view of a batch with ``state`` (e.g. the chain's, after a
        rejection showed the optimistic view was wrong)."""
        conn.execute(
            update(BATCHES)
            .where(BATCHES.c.batch_id == state.batch_id)
            .values(
                producer_id=state.producer_id,
                custodian_id=state.custodian_id,
                receiver_id=state.receiver_id,
                status=int(state.status),
                head=state.head,
            )
        )

    def forget_batch(self, conn: Connection, batch_id: bytes) -> None:
        """Forget a batch the chain never created (its creating event was rejected): its
        row becomes a NONE row, which readers skip and a later creation takes over."""
        conn.execute(
            update(BATCHES)
            .where(BATCHES.c.batch_id == batch_id)
            .values(status=int(BatchStatus.NONE), custodian_id=0, receiver_id=0)
        )

    def batch(self, conn: Connection, batch_id: bytes) -> BatchState | None:
        return self.load_batches(conn, [batch_id]).get(batch_id)

    def batch_by_identifier(self, conn: Connection, identifier: str) -> BatchState | None:
        """The batch that ``identifier`` (any accepted spelling) names, if stored."""
        return self.batch(conn, bytes(parse_identifier(identifier).batch_id))

    # ----- EPCIS events (node.epcis) -----

    def epcis_known(self, conn: Connection, hash_ids: Sequence[str]) -> dict[str, bytes]:
        """The concatenated TraceEvent hashes of each hash ID in ``hash_ids`` already stored."""
        found: dict[str, bytes] = {}
        for chunk in _chunks(sorted(set(hash_ids))):
            rows = conn.execute(
                select(EPCIS_EVENTS.c.hash_id, EPCIS_EVENTS.c.trace_events).where(
                    EPCIS_EVENTS.c.hash_id.in_(chunk)
                )
            )
            found.update((h, bytes(t)) for h, t in rows)
        return found

    def insert_epcis_events(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        self._insert_many(conn, EPCIS_EVENTS, rows)

    def epcis_event(self, conn: Connection, hash_id: str) -> dict[str, Any] | None:
        row = conn.execute(select(EPCIS_EVENTS).where(EPCIS_EVENTS.c.hash_id == hash_id)).first()
        return dict(row._mapping) if row else None

    # ----- helpers -----

    def _insert_many(
        self,
        conn: Connection,
        table: Table,
        rows: Sequence[dict[str, Any]],
        *,
        ignore_conflicts: bool = False,
    ) -> None:
        """Insert ``rows`` with one driver-level executemany.

        The bulk path skips SQLAlchemy's per-value type processing (a third of ingest time
        when it ran): every value here is already the driver's native type (bytes, int,
        str, None), which both sqlite3 and psycopg bind as they are.
        """
        if not rows:
            return
        columns = list(rows[0])
        marker = "?" if self.dialect == "sqlite" else "%s"
        # Table and column names come from our own models, never from input.
        statement = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join([marker] * len(columns))})"
        )
        if ignore_conflicts:
            statement += " ON CONFLICT DO NOTHING"
        conn.exec_driver_sql(statement, [tuple(row[c] for c in columns) for row in rows])

    def _status(self, conn: Connection, pid: int, block: int, roles: int, active: bool) -> None:
        self._upsert(
            conn,
            PARTICIPANT_STATUS,
            {"participant_id": pid, "block": block, "roles": roles, "active": active},
            ["participant_id", "block"],
        )

    def _upsert(self, conn: Connection, table: Table, row: dict[str, Any], keys: list[str]) -> None:
        insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        statement = insert(table).values(**row)
        changes = {k: v for k, v in row.items() if k not in keys}
        conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))

    # ----- event identity: the store holds each event hash once (ingest) -----

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
        subject's row). ``epochs`` is what :meth:`load_batches` filled in for the events'
        batches: a subject without a row has no events. No search per epoch, as
        :meth:`known_events` makes.
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
        # Driver-level SQL with native values, as in _insert_many: SQLAlchemy's processing
        # of expanding IN lists of bytes cost more than the searches. Names are our own.
        marker = "?" if self.dialect == "sqlite" else "%s"
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
        for chunk in _chunks(subjects):
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


def _none_row(batch_id: bytes, epoch: int) -> dict[str, Any]:
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


#: Events joined to their subject batch's row: the way to a batch's events
#: (index ix_events_batch: batch_epoch, batch_id, id).
_EVENTS_BY_BATCH = EVENTS.join(
    BATCHES,
    and_(EVENTS.c.batch_epoch == BATCHES.c.epoch, EVENTS.c.batch_id == BATCHES.c.batch_id),
)
#: Rows that are custody batches (not NONE rows).
_CUSTODY_BATCH = BATCHES.c.status != int(BatchStatus.NONE)


def _bind(name: str) -> Any:
    return bindparam(name)


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def split32(data: bytes) -> tuple[bytes, ...]:
    """32-byte items stored concatenated (batch lists, Merkle proofs), as a tuple."""
    return tuple(data[i : i + 32] for i in range(0, len(data), 32))


def event_from_row(row: dict[str, Any]) -> TraceEvent:
    """The signed TraceEvent a stored row holds (the inverse of the ingest's row)."""
    return TraceEvent(
        action=Action(row["action"]),
        batch_id=bytes(row["batch_id"]),
        prev_event_hash=bytes(row["prev_event_hash"]),
        inputs=split32(bytes(row["inputs"])),
        input_prev_hashes=split32(bytes(row["input_prev_hashes"])),
        outputs=split32(bytes(row["outputs"])),
        counterparty=bytes(row["counterparty"]),
        product=bytes(row["product"]),
        quantity=int(row["quantity"]),
        event_time=int(row["event_time"]),
        location=bytes(row["location"]),
        payload_hash=bytes(row["payload_hash"]),
        nonce=int.from_bytes(bytes(row["nonce"]), "big"),
    )
