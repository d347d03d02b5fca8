"""The store's tables as SQLAlchemy Core objects, and the helpers every repository shares:
chunked IN lists, the bulk insert, the upsert, and the epochs of random keys.

Epochs keep the store flat in time. An index on a random key (an event hash, a batch id)
takes each new entry on a page of its own once it outgrows a few thousand pages, so
every event of a bulk would dirty one page per such index, and a commit at a million
events wrote several times the pages of one at ten thousand. Those indexes lead with an
epoch instead, the store's size when the row was written (``EPOCH_BITS``): new entries
land in the newest epoch's few hundred pages. An event's own epoch keys its hash; its
subject batch's epoch (the batch row's, fixed when the row is first written) keys the
batch's events, so they stay together and are found in one search from the batch row.
A lookup by hash alone searches each epoch once: microseconds each, for the rare callers
(the gateway's GET by hash, EPCIS re-capture); ingest finds duplicates through the
(signer, nonce) key, and the same event signed by another key through the batches it
names (``EventRepository.holders``). Only the batches' primary key stays random.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, Final, TypeVar

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from node.store.models import (
    Alert,
    AlertLogEntry,
    AlertLogState,
    ApiKey,
    Batch,
    EpcisCaptureJob,
    EpcisCorrected,
    EpcisDeclaration,
    EpcisEvent,
    EpcisNamedQuery,
    EpcisSubscription,
    EpcisTerm,
    Event,
    EventBatch,
    Lineage,
    MasterDataAssertion,
    Participant,
    ParticipantKey,
    ParticipantStatus,
    PrefixLicence,
    Refusal,
    SyncCursor,
    WebhookDelivery,
    WebhookEndpoint,
    Window,
    WindowState,
    WindowTransition,
)

_T = TypeVar("_T")


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


EVENTS: Final = _table(Event)
EVENT_BATCHES: Final = _table(EventBatch)
BATCHES: Final = _table(Batch)
LINEAGE: Final = _table(Lineage)
PARTICIPANTS: Final = _table(Participant)
PARTICIPANT_KEYS: Final = _table(ParticipantKey)
PARTICIPANT_STATUS: Final = _table(ParticipantStatus)
SYNC_CURSORS: Final = _table(SyncCursor)
LICENCES: Final = _table(PrefixLicence)
WINDOWS: Final = _table(Window)
WINDOW_STATES: Final = _table(WindowState)
WINDOW_TRANSITIONS: Final = _table(WindowTransition)
EPCIS_EVENTS: Final = _table(EpcisEvent)
EPCIS_DECLARATIONS: Final = _table(EpcisDeclaration)
EPCIS_CORRECTED: Final = _table(EpcisCorrected)
EPCIS_TERMS: Final = _table(EpcisTerm)
EPCIS_CAPTURE_JOBS: Final = _table(EpcisCaptureJob)
EPCIS_NAMED_QUERIES: Final = _table(EpcisNamedQuery)
EPCIS_SUBSCRIPTIONS: Final = _table(EpcisSubscription)
API_KEYS: Final = _table(ApiKey)
ALERTS: Final = _table(Alert)
ALERT_LOG: Final = _table(AlertLogEntry)
ALERT_LOG_STATE: Final = _table(AlertLogState)
WEBHOOK_ENDPOINTS: Final = _table(WebhookEndpoint)
WEBHOOK_DELIVERIES: Final = _table(WebhookDelivery)
REFUSALS: Final = _table(Refusal)
MASTER_DATA: Final = _table(MasterDataAssertion)

#: Rows per IN (...) query: well under SQLite's and PostgreSQL's parameter limits.
CHUNK: Final = 900
#: An epoch is 2**EPOCH_BITS stored events: 16,384, about 200 pages of each epoch index.
EPOCH_BITS: Final = 14


def chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    """``items`` in slices of at most :data:`CHUNK`."""
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def split32(data: bytes) -> tuple[bytes, ...]:
    """32-byte items stored concatenated (batch lists, Merkle proofs), as a tuple (a
    shorter last item if the length is not a multiple of 32)."""
    count, rest = divmod(len(data), 32)
    if rest or count > _UNPACKED:
        return tuple([data[i : i + 32] for i in range(0, len(data), 32)])
    return _unpack32(count)(data)


#: Up to this many items, :func:`split32` unpacks with one ``struct`` format per count
#: (a quarter of slicing's time: every stored event's proof is split when read).
_UNPACKED: Final = 64


@lru_cache(maxsize=_UNPACKED + 1)
def _unpack32(count: int) -> Callable[[bytes], tuple[bytes, ...]]:
    return struct.Struct("32s" * count).unpack


def current_epoch(conn: Connection) -> int:
    """The epoch rows written now belong to: the store's size, in epochs."""
    top = conn.execute(select(func.max(EVENTS.c.id))).scalar()
    return (int(top or 0) + 1) >> EPOCH_BITS


def epochs(conn: Connection) -> Iterator[list[int]]:
    """Every epoch that holds events, newest first, in lists of at most CHUNK."""
    top = conn.execute(select(func.max(EVENTS.c.epoch))).scalar()
    if top is None:
        return
    for end in range(int(top), -1, -CHUNK):
        yield list(range(end, max(end - CHUNK, -1), -1))


def insert_many(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
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
    marker = _marker(conn)
    # Table and column names come from our own models, never from input.
    statement = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
        f"VALUES ({', '.join([marker] * len(columns))})"
    )
    if ignore_conflicts:
        statement += " ON CONFLICT DO NOTHING"
    conn.exec_driver_sql(statement, [tuple(row[c] for c in columns) for row in rows])


def update_many(
    conn: Connection, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Update each row of ``table`` whose ``key`` is a row's ``key`` to that row's other
    values, with one driver-level executemany (as :func:`insert_many`: the values are
    the driver's native types already)."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != key]
    marker = _marker(conn)
    # Table and column names come from our own models, never from input.
    statement = (
        f"UPDATE {table.name} SET {', '.join(f'{c} = {marker}' for c in columns)} "  # noqa: S608
        f"WHERE {key} = {marker}"
    )
    conn.exec_driver_sql(statement, [(*(row[c] for c in columns), row[key]) for row in rows])


def _marker(conn: Connection) -> str:
    """The driver's parameter marker (sqlite3: ``?``; psycopg: ``%s``)."""
    return "?" if conn.dialect.name == "sqlite" else "%s"


def upsert(conn: Connection, table: Table, row: Mapping[str, Any], keys: list[str]) -> None:
    """Insert ``row``, or update the row with the same ``keys`` to it."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).values(**row)
    changes = {k: v for k, v in row.items() if k not in keys}
    conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))
