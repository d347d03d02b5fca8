"""Windows: the events committed in one transaction under one Merkle root, each event's
place and proof in it, and the window's fate on-chain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, func, select, update

from node.store.models import EventStatus, WindowStatus
from node.store.records import (
    EventRecord,
    RecordMemo,
    WindowMember,
    WindowRecord,
    WindowStateRecord,
    event_reader,
    event_records,
    window_record,
)
from node.store.tables import (
    EVENTS,
    WINDOW_STATES,
    WINDOW_TRANSITIONS,
    WINDOWS,
    chunks,
    insert_many,
    split32,
    update_many,
)


class WindowRepository:
    """Windows and the proofs of their events."""

    def prepared(self, conn: Connection) -> WindowRecord | None:
        """The window whose transaction may or may not be mined (at most one)."""
        row = conn.execute(
            select(WINDOWS).where(WINDOWS.c.status == WindowStatus.PREPARED).order_by(WINDOWS.c.id)
        ).first()
        return window_record(row) if row else None

    def get(self, conn: Connection, window_id: int) -> WindowRecord | None:
        row = conn.execute(select(WINDOWS).where(WINDOWS.c.id == window_id)).first()
        return window_record(row) if row else None

    def create(
        self,
        conn: Connection,
        *,
        first_seq: int,
        root: bytes,
        raw_tx: bytes,
        tx_hash: bytes,
        created_at: int,
        members: Sequence[WindowMember],
    ) -> WindowRecord:
        """Record a prepared window and assign its events their place and proof."""
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
        window_id = int(inserted[0])
        update_many(
            conn,
            EVENTS,
            "id",
            [
                {
                    "id": m["id"],
                    "window_id": window_id,
                    "anchor_seq": first_seq + i,
                    "tree_index": m["tree_index"],
                    "proof": m["proof"],
                }
                for i, m in enumerate(members)
            ],
        )
        return WindowRecord(
            id=window_id,
            first_seq=first_seq,
            event_count=len(members),
            root=root,
            status=WindowStatus.PREPARED,
            raw_tx=raw_tx,
            tx_hash=tx_hash,
            block_number=None,
            block_hash=None,
            created_at=created_at,
        )

    def confirm(
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

    def fail(self, conn: Connection, window_id: int) -> None:
        """The window's transaction will never be mined: its events go back to the queue."""
        conn.execute(
            update(WINDOWS).where(WINDOWS.c.id == window_id).values(status=int(WindowStatus.FAILED))
        )
        conn.execute(
            update(EVENTS)
            .where(EVENTS.c.window_id == window_id)
            .values(window_id=None, anchor_seq=None, tree_index=None, proof=None)
        )

    def events(self, conn: Connection, window_id: int) -> list[EventRecord]:
        """The window's events in the order of their sequence numbers."""
        rows = conn.execute(
            select(EVENTS).where(EVENTS.c.window_id == window_id).order_by(EVENTS.c.anchor_seq)
        )
        return event_records(rows)

    def confirmed(self, conn: Connection, *, after: int, limit: int) -> list[WindowRecord]:
        """Confirmed windows with ids above ``after``, oldest first (the monitor's walk)."""
        rows = conn.execute(
            select(WINDOWS)
            .where(WINDOWS.c.status == int(WindowStatus.CONFIRMED), WINDOWS.c.id > after)
            .order_by(WINDOWS.c.id)
            .limit(limit)
        )
        return [window_record(r) for r in rows]

    def last_confirmed(self, conn: Connection) -> int:
        """The id of the newest confirmed window (0: none yet)."""
        query = select(func.coalesce(func.max(WINDOWS.c.id), 0)).where(
            WINDOWS.c.status == int(WindowStatus.CONFIRMED)
        )
        return int(conn.execute(query).scalar_one())

    def events_of(
        self, conn: Connection, window_ids: Sequence[int], memo: RecordMemo | None = None
    ) -> dict[int, list[EventRecord]]:
        """The events of each of ``window_ids``, in the order of their sequence numbers
        (``memo``: see RecordMemo)."""
        found: dict[int, list[EventRecord]] = {w: [] for w in window_ids}
        for chunk in chunks(sorted(set(window_ids))):
            rows = conn.execute(
                select(EVENTS)
                .where(EVENTS.c.window_id.in_(chunk))
                .order_by(EVENTS.c.window_id, EVENTS.c.anchor_seq)
            )
            read = event_reader(rows.keys(), memo)
            for row in rows:
                found[int(row.window_id)].append(read(row))
        return found

    def rejected_of(self, conn: Connection, window_ids: Sequence[int]) -> list[EventRecord]:
        """The events of ``window_ids`` the chain REJECTED, by window and sequence number
        (only those rows are read)."""
        found: list[EventRecord] = []
        for chunk in chunks(sorted(set(window_ids))):
            rows = conn.execute(
                select(EVENTS)
                .where(
                    EVENTS.c.window_id.in_(chunk),
                    EVENTS.c.status == int(EventStatus.REJECTED),
                )
                .order_by(EVENTS.c.window_id, EVENTS.c.anchor_seq)
            )
            found += event_records(rows)
        return found

    def page(self, conn: Connection, *, before: int | None, limit: int) -> list[WindowRecord]:
        """Confirmed windows, newest first; ``before`` is a window id (exclusive) to page on."""
        query = select(WINDOWS).where(WINDOWS.c.status == int(WindowStatus.CONFIRMED))
        if before is not None:
            query = query.where(WINDOWS.c.id < before)
        rows = conn.execute(query.order_by(WINDOWS.c.id.desc()).limit(limit))
        return [window_record(r) for r in rows]

    def counts(self, conn: Connection) -> dict[WindowStatus, int]:
        """How many windows are in each status."""
        rows = conn.execute(select(WINDOWS.c.status, func.count()).group_by(WINDOWS.c.status))
        counts = dict.fromkeys(WindowStatus, 0)
        counts.update((WindowStatus(status), int(n)) for status, n in rows)
        return counts

    # ----- state commitments (node.proofs.state) -----

    def save_states(
        self,
        conn: Connection,
        window_id: int,
        *,
        state_root: bytes,
        leaves: Sequence[tuple[bytes, bytes, int, int, int, bytes]],
    ) -> None:
        """Store the window's state root and its leaves (batch id, head, custodian, status,
        count, proof), not yet anchored."""
        conn.execute(update(WINDOWS).where(WINDOWS.c.id == window_id).values(state_root=state_root))
        insert_many(
            conn,
            WINDOW_STATES,
            [
                {
                    "batch_id": b,
                    "window_id": window_id,
                    "head": head,
                    "custodian": custodian,
                    "status": status,
                    "event_count": count,
                    "proof": proof,
                }
                for b, head, custodian, status, count, proof in leaves
            ],
            ignore_conflicts=True,
        )

    # ----- anchor-only windows (node.proofs.transitions) -----

    def save_transitions(
        self,
        conn: Connection,
        window_id: int,
        *,
        transition_root: bytes,
        leaves: Sequence[tuple[bytes, bytes, bytes]],
    ) -> None:
        """Store an anchor-only window's transition root and its leaves (event hash,
        ABI-encoded transition, proof), in window order."""
        conn.execute(
            update(WINDOWS).where(WINDOWS.c.id == window_id).values(transition_root=transition_root)
        )
        insert_many(
            conn,
            WINDOW_TRANSITIONS,
            [
                {
                    "window_id": window_id,
                    "position": i,
                    "event_hash": event_hash,
                    "leaf": leaf,
                    "proof": proof,
                }
                for i, (event_hash, leaf, proof) in enumerate(leaves)
            ],
        )

    def transitions_of(
        self, conn: Connection, events: Sequence[tuple[int, bytes]]
    ) -> dict[bytes, list[tuple[bytes, tuple[bytes, ...]]]]:
        """The transition leaves (ABI-encoded) and proofs of each event (window id, event
        hash) in that window, in window order; an event of an enforced window has none."""
        windows = {h: w for w, h in events}
        found: dict[bytes, list[tuple[bytes, tuple[bytes, ...]]]] = {h: [] for h in windows}
        for chunk in chunks(sorted(windows)):
            rows = conn.execute(
                select(WINDOW_TRANSITIONS)
                .where(WINDOW_TRANSITIONS.c.event_hash.in_(chunk))
                .order_by(WINDOW_TRANSITIONS.c.window_id, WINDOW_TRANSITIONS.c.position)
            )
            for row in rows:
                event_hash = bytes(row.event_hash)
                if windows[event_hash] == row.window_id:
                    found[event_hash].append((bytes(row.leaf), split32(bytes(row.proof))))
        return found

    def state_unanchored(self, conn: Connection) -> WindowRecord | None:
        """The confirmed window whose state root is computed but not anchored (at most one:
        the worker anchors it before it prepares another window)."""
        row = conn.execute(
            select(WINDOWS)
            .where(
                WINDOWS.c.status == int(WindowStatus.CONFIRMED),
                WINDOWS.c.state_root.is_not(None),
                WINDOWS.c.state_block.is_(None),
            )
            .order_by(WINDOWS.c.id)
        ).first()
        return window_record(row) if row else None

    def state_anchored(self, conn: Connection, window_id: int, block_number: int) -> None:
        """The window's state root is on-chain since ``block_number`` (0: given up)."""
        conn.execute(
            update(WINDOWS).where(WINDOWS.c.id == window_id).values(state_block=block_number)
        )

    def states_of(
        self, conn: Connection, window_ids: Sequence[int]
    ) -> dict[int, list[WindowStateRecord]]:
        """The state leaves of each of ``window_ids`` (the monitor's check)."""
        found: dict[int, list[WindowStateRecord]] = {w: [] for w in window_ids}
        for chunk in chunks(sorted(set(window_ids))):
            query = (
                select(WINDOW_STATES, WINDOWS.c.root, WINDOWS.c.state_root, WINDOWS.c.block_number)
                .join(WINDOWS, WINDOWS.c.id == WINDOW_STATES.c.window_id)
                .where(WINDOW_STATES.c.window_id.in_(chunk))
            )
            for row in conn.execute(query):
                found[int(row.window_id)].append(_state_record(row))
        return found

    def latest_states(self, conn: Connection, batch_ids: Sequence[bytes]) -> LatestStates:
        """Each batch's leaf in the latest confirmed window that touched it, and in the
        latest such window whose state root the store knows is on-chain (one read)."""
        found = LatestStates({}, {})
        for chunk in chunks(sorted(set(batch_ids))):
            query = (
                select(
                    WINDOW_STATES,
                    WINDOWS.c.root,
                    WINDOWS.c.state_root,
                    WINDOWS.c.block_number,
                    WINDOWS.c.state_block,
                )
                .join(WINDOWS, WINDOWS.c.id == WINDOW_STATES.c.window_id)
                .where(
                    WINDOW_STATES.c.batch_id.in_(chunk),
                    WINDOWS.c.status == int(WindowStatus.CONFIRMED),
                )
                .order_by(WINDOW_STATES.c.window_id)
            )
            for row in conn.execute(query):
                record = _state_record(row)
                found.latest[record.batch_id] = record
                if row.state_block is not None and row.state_block > 0:
                    found.anchored[record.batch_id] = record
        return found


class LatestStates(NamedTuple):
    """:meth:`WindowRepository.latest_states`, by batch id."""

    #: The leaf in the latest window whose state root is on-chain (its block recorded).
    anchored: dict[bytes, WindowStateRecord]
    #: The leaf in the latest confirmed window, its state root anchored or not.
    latest: dict[bytes, WindowStateRecord]


def _state_record(row: Any) -> WindowStateRecord:
    """A ``window_states`` row joined with its window's roots and block."""
    return WindowStateRecord(
        batch_id=bytes(row.batch_id),
        head=bytes(row.head),
        custodian=int(row.custodian),
        status=int(row.status),
        count=int(row.event_count),
        proof=split32(bytes(row.proof)),
        window_id=int(row.window_id),
        root=bytes(row.root),
        state_root=None if row.state_root is None else bytes(row.state_root),
        block_number=None if row.block_number is None else int(row.block_number),
    )
