"""The refusal record (docs/monitor.md): what the gateway refused, written by the refusal
log (``node.monitor.refusals``, sampled and bounded) and read by the monitor in order of
id from a cursor of its own, so that a cycle costs what arrived since the last one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import Connection, delete, select

from node.events.typed_data import Action
from node.store.records import RefusalRecord, RefusalRow
from node.store.tables import REFUSALS, SYNC_CURSORS, split32, upsert

#: The monitor's cursor in ``sync_cursors``: the last refusal id it read.
CURSOR: Final = "monitor:refusals"


class RefusalRepository:
    """Refusals, oldest first."""

    def add(self, conn: Connection, row: RefusalRow) -> int:
        """Write one refusal; its id."""
        inserted = conn.execute(REFUSALS.insert().values(**row)).inserted_primary_key
        if inserted is None:
            raise RuntimeError("the database returned no id for the refusal")
        return int(inserted[0])

    def after(self, conn: Connection, after: int, *, limit: int) -> list[RefusalRecord]:
        """At most ``limit`` refusals with ids above ``after``, oldest first."""
        rows = conn.execute(
            select(REFUSALS).where(REFUSALS.c.id > after).order_by(REFUSALS.c.id).limit(limit)
        )
        return [_record(r) for r in rows]

    def between(
        self, conn: Connection, start: int, end: int, *, codes: Sequence[str], limit: int
    ) -> list[RefusalRecord]:
        """Refusals with one of ``codes`` recorded in [start, end) ms, oldest first, at most
        ``limit`` (the log's write budget bounds how many a window holds)."""
        rows = conn.execute(
            select(REFUSALS)
            .where(REFUSALS.c.at >= start, REFUSALS.c.at < end, REFUSALS.c.code.in_(codes))
            .order_by(REFUSALS.c.id)
            .limit(limit)
        )
        return [_record(r) for r in rows]

    def prune(self, conn: Connection, *, before: int, limit: int) -> int:
        """Delete at most ``limit`` of the oldest refusals recorded before ``before`` ms;
        how many went."""
        ids = (
            select(REFUSALS.c.id)
            .where(REFUSALS.c.at < before)
            .order_by(REFUSALS.c.at)
            .limit(limit)
            .scalar_subquery()
        )
        result = conn.execute(delete(REFUSALS).where(REFUSALS.c.id.in_(ids)))
        return int(result.rowcount or 0)

    def cursor(self, conn: Connection, name: str = CURSOR) -> int:
        """The last id the monitor read with the cursor ``name`` (0 before its first
        cycle): the refusals', or another stream's it reads with them."""
        value = conn.execute(select(SYNC_CURSORS.c.block).where(SYNC_CURSORS.c.name == name))
        found = value.scalar()
        return 0 if found is None else int(found)

    def set_cursor(self, conn: Connection, last_id: int, name: str = CURSOR) -> None:
        upsert(conn, SYNC_CURSORS, {"name": name, "block": last_id}, ["name"])


def _record(r: Any) -> RefusalRecord:
    heads = split32(bytes(r.heads))
    return RefusalRecord(
        id=int(r.id),
        at=int(r.at),
        code=str(r.code),
        caller=str(r.caller),
        key_id=None if r.key_id is None else str(r.key_id),
        client=str(r.client),
        claimed_participant=None if r.claimed_participant is None else int(r.claimed_participant),
        signer=None if r.signer is None else bytes(r.signer),
        action=None if r.action is None else Action(r.action),
        event_hash=None if r.event_hash is None else bytes(r.event_hash),
        nonce=None if r.nonce is None else bytes(r.nonce),
        batch_ids=split32(bytes(r.batch_ids)),
        heads=tuple(zip(heads[0::2], heads[1::2], strict=True)),
        detail=str(r.detail),
        count=int(r.count),
    )
