"""What a WebSocket subscription follows (node/epcis/stream.py), on SQLite and PostgreSQL:
a row committed after one with a higher id (PostgreSQL) is still found, for a bounded time.
(tests/api/test_epcis_websocket.py: what it sends, through a real WebSocket.)"""

from __future__ import annotations

from node.epcis.stream import MISSING_SECONDS, _Tail
from node.store.store import Store
from node.store.tables import EPCIS_EVENTS


def _row(store: Store, id_: int) -> None:
    with store.write() as conn:
        conn.execute(
            EPCIS_EVENTS.insert().values(
                id=id_,
                hash_id=f"h{id_}",
                event_type="ObjectEvent",
                trace_events=b"\x01" * 32,
                captured_at=0,
            )
        )


def test_a_row_committed_after_a_higher_one_is_found_for_a_bounded_time(store: Store) -> None:
    tail = _Tail(declarations=False, last=0)
    _row(store, 3)
    with store.read() as conn:
        assert tail.new(store, conn, 0.0) == ["h3"]
    assert set(tail.missing) == {1, 2}

    _row(store, 1)  # committed later, with a lower id
    with store.read() as conn:
        assert tail.new(store, conn, 1.0) == ["h1"]
        assert tail.new(store, conn, 2.0) == []
    assert set(tail.missing) == {2}

    with store.read() as conn:
        assert tail.new(store, conn, MISSING_SECONDS + 1) == []
    assert tail.missing == {}  # given up: taken for rolled back
    _row(store, 4)
    with store.read() as conn:
        assert tail.new(store, conn, MISSING_SECONDS + 2) == ["h4"]
