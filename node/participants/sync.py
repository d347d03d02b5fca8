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
#: The most blocks one sync asks the chain's logs of at once. JSON-RPC providers cap
#: eth_getLogs (a few thousand blocks is common; this node's own /rpc takes 10,000): a
#: node joining a long chain reads from the registry's first block in spans, each applied
#: with its cursor, rather than in one request that every provider refuses.
SPAN = 2_000
_T = TypeVar("_T")


class ChangeSource(Protocol):
    def changes(self, from_block: int, to_block: int) -> list[ParticipantChange]: ...


def sync_participants(
    *, store: Store, source: ChangeSource, head: int, first_block: int = 0, span: int = SPAN
) -> int:
    """Apply every change up to block ``head``, from ``first_block`` (where the registry
    was created) when nothing was applied yet; returns how many were applied.

    The chain is asked outside any store transaction (ingest waits on the write lock,
    and serve syncs every second), ``span`` blocks at a time; each span's changes are
    applied only if the cursor is still where they were asked from, else asked again
    from where another sync left it."""
    applied = conflicts = 0
    while conflicts < ATTEMPTS:
        with store.read() as conn:
            last = store.participants.cursor(conn, CURSOR)
        start = first_block if last is None else last + 1
        if start > head:
            return applied
        end = min(head, start + span - 1)
        changes = source.changes(start, end)
        with store.write() as conn:
            if store.participants.cursor(conn, CURSOR) != last:
                conflicts += 1
                continue  # another sync applied changes meanwhile: go on from its cursor
            _apply(store, conn, changes)
            store.participants.set_cursor(conn, CURSOR, end)
        applied += len(changes)
        conflicts = 0
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
