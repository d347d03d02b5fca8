"""The mirror of ParticipantRegistry: participants, every key they had, their roles and
status at each block, and how far the mirror has read the chain."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select, update

from node.events.typed_data import Role
from node.store.records import (
    ParticipantKeyRecord,
    ParticipantRecord,
    SignerView,
    participant_record,
)
from node.store.tables import (
    PARTICIPANT_KEYS,
    PARTICIPANT_STATUS,
    PARTICIPANTS,
    SYNC_CURSORS,
    chunks,
    upsert,
)


class ParticipantRepository:
    """Participants, keys, status history and sync cursors."""

    def signers(self, conn: Connection, keys: Iterable[bytes]) -> dict[bytes, SignerView]:
        """The participants that ``keys`` sign for (keys never registered are absent)."""
        found: dict[bytes, SignerView] = {}
        for chunk in chunks(list(set(keys))):
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

    def put(
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
        upsert(
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
        upsert(
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

    def set_status(
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
        upsert(
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

    def get(self, conn: Connection, participant_id: int) -> ParticipantRecord | None:
        row = conn.execute(select(PARTICIPANTS).where(PARTICIPANTS.c.id == participant_id)).first()
        return participant_record(row) if row else None

    def by_key(self, conn: Connection, key: bytes) -> ParticipantRecord | None:
        """The participant whose current key is ``key``."""
        row = conn.execute(select(PARTICIPANTS).where(PARTICIPANTS.c.key == key)).first()
        return participant_record(row) if row else None

    def all(self, conn: Connection) -> list[ParticipantRecord]:
        rows = conn.execute(select(PARTICIPANTS).order_by(PARTICIPANTS.c.id))
        return [participant_record(r) for r in rows]

    def keys(self, conn: Connection, participant_id: int) -> list[ParticipantKeyRecord]:
        """Every key the participant had, oldest first."""
        rows = conn.execute(
            select(PARTICIPANT_KEYS)
            .where(PARTICIPANT_KEYS.c.participant_id == participant_id)
            .order_by(PARTICIPANT_KEYS.c.valid_from, PARTICIPANT_KEYS.c.key)
        )
        return [
            ParticipantKeyRecord(
                key=bytes(r.key),
                participant_id=int(r.participant_id),
                valid_from=int(r.valid_from),
                valid_until=None if r.valid_until is None else int(r.valid_until),
            )
            for r in rows
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
        """The last block the mirror ``name`` fully applied."""
        block = conn.execute(
            select(SYNC_CURSORS.c.block).where(SYNC_CURSORS.c.name == name)
        ).scalar()
        return None if block is None else int(block)

    def set_cursor(self, conn: Connection, name: str, block: int) -> None:
        upsert(conn, SYNC_CURSORS, {"name": name, "block": block}, ["name"])

    def _status(self, conn: Connection, pid: int, block: int, roles: int, active: bool) -> None:
        upsert(
            conn,
            PARTICIPANT_STATUS,
            {"participant_id": pid, "block": block, "roles": roles, "active": active},
            ["participant_id", "block"],
        )
