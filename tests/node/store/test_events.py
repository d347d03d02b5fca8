"""The events repository on SQLite and PostgreSQL: what ingest and the SDK read back."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from node.events.hashing import keccak
from node.store.models import EventStatus
from node.store.records import EventRow
from node.store.store import Store

SIGNER = bytes.fromhex("11" * 20)


def row(nonce: int, *, signer: bytes = SIGNER) -> EventRow:
    return EventRow(
        event_hash=keccak(signer + nonce.to_bytes(32, "big")),
        action=7,
        batch_id=keccak(b"lot"),
        prev_event_hash=bytes(32),
        inputs=b"",
        input_prev_hashes=b"",
        outputs=b"",
        counterparty=bytes(20),
        product=bytes(32),
        quantity="0",
        event_time=1_732_000_000_000,
        location=bytes(32),
        payload_hash=bytes(32),
        nonce=nonce.to_bytes(32, "big"),
        signer=signer,
        participant_id=1,
        signature=bytes(65),
        payload=None,
        status=int(EventStatus.ACCEPTED),
        received_at=0,
    )


def test_the_next_nonce_follows_the_largest_used_on_either_database(store: Store) -> None:
    other = bytes.fromhex("22" * 20)
    with store.write() as conn:
        store.events.store_accepted(conn, [row(5), row(2**128 + 7), row(300), row(9, signer=other)])

    with store.read() as conn:
        mine = store.events.next_nonce(conn, SIGNER)
        theirs = store.events.next_nonce(conn, other)
        nobody = store.events.next_nonce(conn, bytes(20))

    assert (mine, theirs, nobody) == (2**128 + 8, 10, 0)


def test_a_database_error_never_carries_the_values_bound(store: Store) -> None:
    # Errors are logged (a 500's cause): a row may hold a webhook's secret.
    secret = "whsec_never-in-a-log"
    with pytest.raises(DBAPIError) as raised, store.write() as conn:
        conn.execute(text("SELECT CAST(:v AS INTEGER) / 0 FROM no_such_table"), {"v": secret})

    assert secret not in str(raised.value)
