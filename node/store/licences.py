"""The licence mirror: every licence of every identifier prefix, in chain order, as
ParticipantRegistry's ``PrefixLicensed`` and ``PrefixRevoked`` logs tell it (fed by
node.participants.sync with the participants, under their cursor)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select, tuple_, update

from node.events.identifiers import Licence, PrefixKind
from node.store.records import LicenceRecord
from node.store.tables import LICENCES, chunks, upsert

#: A prefix as the registry keys it: its kind and its text.
PrefixRef = tuple[PrefixKind, str]


class LicenceRepository:
    """Licences of prefixes: granted, revoked, and read by prefix or by holder."""

    def grant(
        self,
        conn: Connection,
        *,
        kind: PrefixKind,
        prefix: str,
        holder: int,
        valid_from: int,
        valid_until: int,
        block: int,
        log_index: int,
    ) -> None:
        """Record a ``PrefixLicensed`` log (idempotent: the log's place is the key)."""
        upsert(
            conn,
            LICENCES,
            {
                "kind": int(kind),
                "prefix": prefix,
                "block": block,
                "log_index": log_index,
                "holder": holder,
                "valid_from": valid_from,
                "valid_until": valid_until,
                "held": True,
                "revoked_block": None,
            },
            ["kind", "prefix", "block", "log_index"],
        )

    def revoke(
        self,
        conn: Connection,
        *,
        kind: PrefixKind,
        prefix: str,
        holder: int,
        valid_until: int,
        block: int,
        log_index: int,
    ) -> None:
        """Record a ``PrefixRevoked`` log: it ends ``holder``'s latest licence of the
        prefix granted before the log (idempotent: a replay finds the same one)."""
        before = tuple_(LICENCES.c.block, LICENCES.c.log_index) < tuple_(block, log_index)
        latest = conn.execute(
            select(LICENCES.c.block, LICENCES.c.log_index)
            .where(
                LICENCES.c.kind == int(kind),
                LICENCES.c.prefix == prefix,
                LICENCES.c.holder == holder,
                before,
            )
            .order_by(LICENCES.c.block.desc(), LICENCES.c.log_index.desc())
            .limit(1)
        ).first()
        if latest is None:
            return  # cannot happen on a consistent chain: the grant comes first
        conn.execute(
            update(LICENCES)
            .where(
                LICENCES.c.kind == int(kind),
                LICENCES.c.prefix == prefix,
                LICENCES.c.block == latest[0],
                LICENCES.c.log_index == latest[1],
            )
            .values(held=False, valid_until=valid_until, revoked_block=block)
        )

    def current(self, conn: Connection, prefixes: Iterable[PrefixRef]) -> dict[PrefixRef, Licence]:
        """The latest licence of each of ``prefixes`` (what ``currentLicence`` answers);
        prefixes never licensed are absent. One indexed lookup per chunk of prefixes."""
        found: dict[PrefixRef, Licence] = {}
        wanted = sorted({(int(kind), prefix) for kind, prefix in prefixes})
        for chunk in chunks(wanted):
            rows = conn.execute(
                select(LICENCES)
                .where(tuple_(LICENCES.c.kind, LICENCES.c.prefix).in_(chunk))
                .order_by(LICENCES.c.block, LICENCES.c.log_index)
            )
            for row in rows:  # in chain order: the last one of a prefix stays
                found[(PrefixKind(row.kind), row.prefix)] = _licence(row)
        return found

    def of_prefix(self, conn: Connection, kind: PrefixKind, prefix: str) -> list[LicenceRecord]:
        """Every licence of ``prefix``, oldest first."""
        rows = conn.execute(
            select(LICENCES)
            .where(LICENCES.c.kind == int(kind), LICENCES.c.prefix == prefix)
            .order_by(LICENCES.c.block, LICENCES.c.log_index)
        )
        return [_record(row) for row in rows]

    def of_holder(self, conn: Connection, holder: int) -> list[LicenceRecord]:
        """Every licence ``holder`` was ever granted, oldest first."""
        rows = conn.execute(
            select(LICENCES)
            .where(LICENCES.c.holder == holder)
            .order_by(LICENCES.c.block, LICENCES.c.log_index)
        )
        return [_record(row) for row in rows]

    def holder_at(
        self, conn: Connection, kind: PrefixKind, candidates: Iterable[str], block: int
    ) -> int | None:
        """Who holds a licence of one of ``candidates``, held and valid at ``block`` (held
        licences never overlap, so at most one participant does); None: nobody."""
        rows = conn.execute(
            select(LICENCES).where(
                LICENCES.c.kind == int(kind),
                LICENCES.c.prefix.in_(sorted(set(candidates))),
                LICENCES.c.held.is_(True),
            )
        )
        for row in rows:
            if _licence(row).valid_at(block):
                return int(row.holder)
        return None


def _licence(row: Any) -> Licence:
    return Licence(int(row.holder), int(row.valid_from), int(row.valid_until), bool(row.held))


def _record(row: Any) -> LicenceRecord:
    return LicenceRecord(
        kind=PrefixKind(row.kind),
        prefix=str(row.prefix),
        licence=_licence(row),
        block=int(row.block),
        revoked_block=None if row.revoked_block is None else int(row.revoked_block),
    )
