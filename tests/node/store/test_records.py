"""Event records read back from the store, on SQLite and PostgreSQL: every reader of the
events repository and the windows repository gives the record the row holds, field by
field (node.store.records reads the columns by position, found once a result)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from node.events.hashing import keccak
from node.events.typed_data import Action, TraceEvent
from node.store.models import EventStatus
from node.store.records import (
    MEMO_MAX_PAYLOAD,
    EventBatchRow,
    EventRecord,
    EventRow,
    RecordMemo,
    WindowMember,
    event_reader,
    event_record,
)
from node.store.store import Store
from node.store.tables import EVENTS, split32

SIGNER = bytes.fromhex("11" * 20)
LOT = keccak(b"lot")
OUT = keccak(b"out")


def _row(nonce: int, action: Action, **fields: object) -> EventRow:
    row = EventRow(
        event_hash=keccak(nonce.to_bytes(32, "big")),
        action=int(action),
        batch_id=LOT,
        prev_event_hash=keccak(b"prev"),
        inputs=b"",
        input_prev_hashes=b"",
        outputs=b"",
        counterparty=bytes(20),
        product=keccak(b"product"),
        quantity=str(2**200 + nonce),
        event_time=1_732_000_000_000 + nonce,
        location=keccak(b"place"),
        payload_hash=keccak(b"payload"),
        nonce=nonce.to_bytes(32, "big"),
        signer=SIGNER,
        participant_id=7,
        signature=bytes([nonce]) * 65,
        payload=None,
        status=int(EventStatus.ACCEPTED),
        received_at=1_732_000_000_500 + nonce,
    )
    row.update(fields)  # type: ignore[typeddict-item]
    return row


ROWS = [
    _row(1, Action.COMMISSION, payload=b'{"harvest":"2026-11-30"}'),
    _row(2, Action.SHIP, counterparty=bytes.fromhex("22" * 20)),
    _row(
        3,
        Action.TRANSFORM,
        inputs=LOT + keccak(b"other"),
        input_prev_hashes=keccak(b"h1") + keccak(b"h2"),
        outputs=OUT,
        batch_id=bytes(32),
        prev_event_hash=bytes(32),
    ),
]


def _by_name(row: object) -> EventRecord:
    """The record as read before, each column looked up by its name: the reference."""
    r: Any = row

    def split(data: bytes | None) -> tuple[bytes, ...]:
        data = bytes(data or b"")
        return tuple(data[i : i + 32] for i in range(0, len(data), 32))

    def get(name: str) -> Any:
        return getattr(r, name)

    return EventRecord(
        id=int(get("id")),
        event_hash=bytes(get("event_hash")),
        event=TraceEvent(
            action=Action(get("action")),
            batch_id=bytes(get("batch_id")),
            prev_event_hash=bytes(get("prev_event_hash")),
            inputs=split(get("inputs")),
            input_prev_hashes=split(get("input_prev_hashes")),
            outputs=split(get("outputs")),
            counterparty=bytes(get("counterparty")),
            product=bytes(get("product")),
            quantity=int(get("quantity")),
            event_time=int(get("event_time")),
            location=bytes(get("location")),
            payload_hash=bytes(get("payload_hash")),
            nonce=int.from_bytes(bytes(get("nonce")), "big"),
        ),
        signer=bytes(get("signer")),
        participant_id=int(get("participant_id")),
        signature=bytes(get("signature")),
        payload=None if get("payload") is None else bytes(get("payload")),
        status=EventStatus(get("status")),
        received_at=int(get("received_at")),
        window_id=None if get("window_id") is None else int(get("window_id")),
        anchor_seq=None if get("anchor_seq") is None else int(get("anchor_seq")),
        tree_index=None if get("tree_index") is None else int(get("tree_index")),
        proof=split(get("proof")),
        reason=None if get("reason") is None else bytes(get("reason")),
    )


def _stored(store: Store) -> list[EventRecord]:
    """ROWS stored, the first two in a window (with proofs): each as its row reads by name."""
    with store.write() as conn:
        store.events.store_accepted(
            conn,
            ROWS,
            links=[EventBatchRow(batch_id=b, event_hash=ROWS[2]["event_hash"]) for b in (LOT, OUT)],
        )
        ids = [int(i) for i in conn.execute(select(EVENTS.c.id).order_by(EVENTS.c.id)).scalars()]
        store.windows.create(
            conn,
            first_seq=0,
            root=keccak(b"root"),
            raw_tx=b"\x02raw",
            tx_hash=keccak(b"tx"),
            created_at=1,
            members=[
                WindowMember(id=ids[0], tree_index=2, proof=keccak(b"a") + keccak(b"b")),
                WindowMember(id=ids[1], tree_index=3, proof=keccak(b"c")),
            ],
        )
    with store.read() as conn:
        return [_by_name(r) for r in conn.execute(select(EVENTS).order_by(EVENTS.c.id))]


def test_every_reader_gives_the_record_its_row_holds(store: Store) -> None:
    expected = _stored(store)
    assert expected[0].proof == (keccak(b"a"), keccak(b"b"))  # the reference read them
    assert expected[2].event.inputs == (LOT, keccak(b"other"))
    in_window = [r for r in expected if r.window_id is not None]
    with store.read() as conn:
        window_id = in_window[0].window_id
        assert window_id is not None
        assert store.events.after(conn, after=0, limit=10) == expected
        assert store.events.uncommitted(conn, 10) == [expected[2]]
        assert [b.record for b in store.events.of_batches(conn, [LOT, OUT])] == expected
        assert store.windows.events(conn, window_id) == in_window
        assert store.windows.events_of(conn, [window_id]) == {window_id: in_window}
        assert store.events.get(conn, expected[1].event_hash) == expected[1]
        rows = list(conn.execute(select(EVENTS).order_by(EVENTS.c.id)))
    assert [event_record(r) for r in rows] == expected


def test_a_column_repeated_in_a_result_is_read_from_its_first_place(store: Store) -> None:
    expected = _stored(store)
    # The events' columns, then the id again under its own name (a later, other value).
    with store.read() as conn:
        result = conn.execute(
            select(EVENTS, (EVENTS.c.id + 1000).label("id")).order_by(EVENTS.c.id)
        )
        read = event_reader(result.keys())
        assert [read(r) for r in result] == expected


def test_a_stored_action_or_status_outside_the_enums_is_refused(store: Store) -> None:
    _stored(store)
    with store.write() as conn:
        conn.execute(EVENTS.update().where(EVENTS.c.nonce == ROWS[0]["nonce"]).values(action=99))
    with store.read() as conn, pytest.raises(ValueError, match="99"):
        store.events.after(conn, after=0, limit=10)
    with store.write() as conn:
        conn.execute(EVENTS.update().values(action=int(Action.SHIP), status=42))
    with store.read() as conn, pytest.raises(ValueError, match="42"):
        store.events.after(conn, after=0, limit=10)


def test_a_memo_reuses_a_record_only_while_its_row_is_unchanged(store: Store) -> None:
    """The monitor's watch reads through a RecordMemo: each record made once, across the
    readers, and made again once its row changed (here: the chain rejected the event)."""
    expected = _stored(store)
    window_id = expected[0].window_id
    assert window_id is not None
    memo = RecordMemo()
    with store.read() as conn:
        first = store.events.after(conn, after=0, limit=10, memo=memo)
        again = [b.record for b in store.events.of_batches(conn, [LOT, OUT], memo=memo)]
        members = store.windows.events_of(conn, [window_id], memo=memo)[window_id]
    assert first == again == expected
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert members[0] is first[0]
    assert members[1] is first[1]

    with store.write() as conn:
        conn.execute(
            EVENTS.update()
            .where(EVENTS.c.id == expected[1].id)
            .values(status=int(EventStatus.REJECTED), reason=b"\x01")
        )
    with store.read() as conn:
        later = store.events.after(conn, after=0, limit=10, memo=memo)
        fresh = store.events.after(conn, after=0, limit=10)
    assert later == fresh
    assert later[1].status is EventStatus.REJECTED
    assert later[1].reason == b"\x01"
    assert later[0] is first[0]
    assert later[2] is first[2]


def test_a_memo_holds_at_most_its_budget_forgetting_the_least_recently_read(
    store: Store,
) -> None:
    expected = _stored(store)
    probe = RecordMemo()
    sizes = []
    with store.read() as conn:
        for record in expected:  # what each record counts for, one at a time
            held = probe.held
            store.events.after(conn, after=record.id - 1, limit=1, memo=probe)
            sizes.append(probe.held - held)
    assert sizes[0] > sizes[2] > 0  # the first has a payload and a proof
    memo = RecordMemo(budget=sizes[0] + sizes[1])  # room for two

    def read(after: int = 0, limit: int = 10) -> list[EventRecord]:
        with store.read() as conn:
            return store.events.after(conn, after=after, limit=limit, memo=memo)

    first = read()  # the first is forgotten: the three do not fit
    assert first == expected
    assert read(after=expected[0].id, limit=1)[0] is first[1]  # now the most recent
    again = read(limit=1)[0]  # made afresh; the third, least recently read, forgotten
    assert again == expected[0]
    assert again is not first[0]
    last = read()
    assert last == expected
    assert last[0] is again
    assert last[1] is first[1]
    assert last[2] is not first[2]
    assert len(memo) == 2
    assert memo.held <= memo.budget


def test_a_memo_does_not_keep_a_record_with_a_large_payload(store: Store) -> None:
    expected = _stored(store)
    with store.write() as conn:
        conn.execute(
            EVENTS.update()
            .where(EVENTS.c.id == expected[0].id)
            .values(payload=b"1" * (MEMO_MAX_PAYLOAD + 1))
        )
    memo = RecordMemo()
    with store.read() as conn:
        records = store.events.after(conn, after=0, limit=10, memo=memo)
    assert records[0].payload == b"1" * (MEMO_MAX_PAYLOAD + 1)
    assert len(memo) == 2


@given(st.binary(max_size=32 * 70 + 40))
def test_split32_cuts_every_32_bytes_whatever_the_length(data: bytes) -> None:
    assert split32(data) == tuple(data[i : i + 32] for i in range(0, len(data), 32))
    assert b"".join(split32(data)) == data
