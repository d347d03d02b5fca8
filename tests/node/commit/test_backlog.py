"""The backlog's prediction of a new event's wait for its proof, read from a real store:
idle, stalled (nothing anchored while events wait), and paced by the node's capacity
(the fastest back-to-back windows lately)."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from node.commit.backlog import HORIZON, read_backlog
from node.events.typed_data import Action
from node.store.tables import WINDOWS
from node.testing.harness import TraceNodeHarness

INTERVAL = 1.0
#: Under the farm's licence of 9506000 (node.testing.harness.DEFAULT_LICENCES).
GTIN = "09506000134352"


@pytest.fixture
def harness(tracenode: TraceNodeHarness) -> TraceNodeHarness:
    return tracenode


def commission(h: TraceNodeHarness, count: int, tag: str) -> None:
    for i in range(count):
        h.submit(
            "farm", Action.COMMISSION, f"https://id.gs1.org/01/{GTIN}/10/{tag}-{i}", quantity=1
        )


def oldest(h: TraceNodeHarness) -> int:
    with h.node.store.read() as conn:
        found = h.node.store.events.oldest_uncommitted(conn)
    assert found is not None
    return found


def test_an_idle_node_predicts_one_interval(harness: TraceNodeHarness) -> None:
    backlog = read_backlog(harness.node.store, now_ms=10**13, interval=INTERVAL)

    assert backlog.queued == 0
    assert backlog.predicted_seconds == INTERVAL
    assert not backlog.stalled
    assert backlog.capacity is None


def test_events_waiting_with_nothing_anchored_predict_their_age(
    harness: TraceNodeHarness,
) -> None:
    commission(harness, 3, "stall")
    since = oldest(harness)

    early = read_backlog(harness.node.store, now_ms=since + 5_000, interval=INTERVAL)
    later = read_backlog(harness.node.store, now_ms=since + 90_000, interval=INTERVAL)

    assert early.stalled
    assert early.queued == 3
    with harness.node.store.read() as conn:  # the worker's question: do 2 (or 5) wait?
        counted = [harness.node.store.events.uncommitted_count(conn, at_most=n) for n in (2, 5)]
    assert counted == [2, 3]
    assert early.predicted_seconds == pytest.approx(5.0)
    assert later.predicted_seconds == pytest.approx(90.0)  # grows while nothing moves
    assert later.retry_after(60) == 30


def test_the_queue_is_paced_by_the_fastest_recent_windows(harness: TraceNodeHarness) -> None:
    # Three windows of 4 events: 2 s apart, then 8 s apart. The capacity is the faster
    # pace, 4 events per 2 s.
    for tag in ("a", "b", "c"):
        commission(harness, 4, tag)
        harness.commit()
    store = harness.node.store
    with store.write() as conn:
        ids = sorted(r.id for r in store.windows.page(conn, before=None, limit=10))
        assert len(ids) == 3
        for window_id, created in zip(ids, (1_000_000, 1_002_000, 1_010_000), strict=True):
            conn.execute(
                update(WINDOWS).where(WINDOWS.c.id == window_id).values(created_at=created)
            )
    commission(harness, 20, "queue")

    backlog = read_backlog(store, now_ms=1_010_500, interval=INTERVAL)

    assert backlog.capacity == pytest.approx(2.0)
    assert not backlog.stalled
    assert backlog.queued == 20
    assert backlog.predicted_seconds == pytest.approx(20 / 2.0 + INTERVAL)
    assert backlog.retry_after(5.0) == 6  # back under 5 s at 2 events/s
    stale = read_backlog(store, now_ms=1_010_000 + int(HORIZON * 1000) + 1, interval=INTERVAL)
    assert stale.stalled  # nothing anchored over the horizon while 20 wait
