"""Bring the store's participant mirror up to date with ParticipantRegistry.

Applies the registry's events (participants' changes, and the licences of identifier
prefixes granted and revoked) in chain order from the block after the last one applied;
idempotent and restartable (the cursor moves in the same transaction as the changes).
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from sqlalchemy import Connection

from node.chain.registry import ChangeKind, ParticipantChange
from node.exceptions import ChainError
from node.store.store import Store

CURSOR = "participants"
#: Times a sync asks again when another moved the cursor while it asked the chain.
ATTEMPTS = 5
_T = TypeVar("_T")


class ChangeSource(Protocol):
    def changes(self, from_block: int, to_block: int) -> list[ParticipantChange]: ...


def sync_participants(*, store: Store, source: ChangeSource, head: int) -> int:
    """Apply every change up to block ``head``; returns how many were applied.

    The chain is asked outside any store transaction (ingest waits on the write lock,
    and serve syncs every second); the changes are applied only if the cursor is still
    where they were asked from, else asked again from where another sync left it."""
    for _ in range(ATTEMPTS):
        with store.read() as conn:
            last = store.participants.cursor(conn, CURSOR)
        start = 0 if last is None else last + 1
        if start > head:
            return 0
        changes = source.changes(start, head)
        with store.write() as conn:
            if store.participants.cursor(conn, CURSOR) != last:
                continue  # another sync applied changes meanwhile: go on from its cursor
            _apply(store, conn, changes)
            store.participants.set_cursor(conn, CURSOR, head)
            return len(changes)
    raise ChainError(f"participant sync: the cursor moved {ATTEMPTS} times while it was read")


def _apply(store: Store, conn: Connection, changes: list[ParticipantChange]) -> None:
    """Apply ``changes``, in chain order, to the participant mirror."""
    for change in changes:
        pid = change.participant_id
        if change.kind is ChangeKind.REGISTERED:
            store.participants.put(
                conn,
                participant_id=pid,
                key=_required(change.key),
                name=change.name or "",
                prefix=change.prefix or "",
                roles=_required(change.roles),
                active=True,
                block=change.block,
            )
            continue
        if change.kind in (ChangeKind.LICENSED, ChangeKind.REVOKED):
            _licence(store, conn, change)
            continue
        if change.kind is ChangeKind.KEY_ROTATED:
            store.participants.rotate_key(
                conn,
                pid,
                old=_required(change.old_key),
                new=_required(change.key),
                block=change.block,
            )
            continue
        current = store.participants.get(conn, pid)
        if current is None:
            continue  # cannot happen on a consistent chain: registration comes first
        roles = change.roles if change.roles is not None else current.roles
        active = {
            ChangeKind.SUSPENDED: False,
            ChangeKind.REACTIVATED: True,
        }.get(change.kind, current.active)
        store.participants.set_status(conn, pid, roles=roles, active=active, block=change.block)


def _licence(store: Store, conn: Connection, change: ParticipantChange) -> None:
    """A prefix licensed to, or revoked from, ``change.participant_id``."""
    kind, prefix = _required(change.prefix_kind), _required(change.prefix)
    valid_until, at = _required(change.valid_until), (change.block, change.log_index)
    if change.kind is ChangeKind.LICENSED:
        store.licences.grant(
            conn,
            kind=kind,
            prefix=prefix,
            holder=change.participant_id,
            valid_from=_required(change.valid_from),
            valid_until=valid_until,
            block=at[0],
            log_index=at[1],
        )
    else:
        store.licences.revoke(
            conn,
            kind=kind,
            prefix=prefix,
            holder=change.participant_id,
            valid_until=valid_until,
            block=at[0],
            log_index=at[1],
        )


def _required(value: _T | None) -> _T:
    if value is None:
        raise ChainError("a ParticipantRegistry event lacks a field it always carries")
    return value
