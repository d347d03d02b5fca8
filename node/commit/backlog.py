"""The commit backlog and the time a new event can expect to wait for its proof.

Read from the store, so that every process of a node (several ``serve`` behind one
database, whichever holds the commit lock) sees the same figures:

- ``queued``: accepted events not yet in a window;
- ``capacity``: the most events per second the node has anchored lately: over the
  recent confirmed windows, each window's events divided by the time since the window
  before it (at least one commit interval). Back-to-back windows of a busy node give
  its real rate; an idle node's small, spaced windows give less, so a node that was never
  busy underestimates itself until its first busy windows confirm (seconds);
- ``predicted_seconds``: the queue ahead of a new event divided by the capacity, plus one
  interval (the wait for the next window). When events wait and no window was confirmed
  over the last ``HORIZON`` seconds (the chain down, the worker stopped), it is the age of
  the oldest waiting event instead: a bound that keeps growing while nothing moves.

The gateway refuses submissions while the prediction passes its bound (docs/api.md,
"Backpressure"): a node whose anchoring cannot keep up says so, with ``Retry-After``,
instead of building a queue that takes hours to drain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from node.store.records import WindowRecord
from node.store.store import Store

#: Seconds without a confirmed window after which waiting events count as stalled.
HORIZON: Final = 60.0
#: Most recent confirmed windows looked at.
RECENT_WINDOWS: Final = 100


@dataclass(frozen=True, slots=True)
class Backlog:
    queued: int
    oldest_ms: int | None  # acceptance time of the oldest waiting event
    capacity: float | None  # events/s the node anchored at best lately
    predicted_seconds: float
    stalled: bool  # events wait and nothing was anchored over the horizon

    def retry_after(self, bound: float) -> int:
        """Seconds a refused client should wait: until the prediction falls back to
        ``bound`` at the node's capacity (1 to 300; 30 while stalled)."""
        if self.stalled or self.capacity is None:
            return 30
        return int(min(300.0, max(1.0, math.ceil(self.predicted_seconds - bound))))


def read_backlog(store: Store, *, now_ms: int, interval: float) -> Backlog:
    """The backlog now, with a new event's predicted wait for its proof."""
    with store.read() as conn:
        queued = store.events.uncommitted_count(conn)
        oldest = store.events.oldest_uncommitted(conn) if queued else None
        recent = store.windows.page(conn, before=None, limit=RECENT_WINDOWS)
    capacity = _capacity(recent, interval)
    latest = max((w.created_at for w in recent), default=None)
    stalled = bool(queued) and (latest is None or now_ms - latest > HORIZON * 1000)
    if stalled and oldest is not None:
        predicted = max(interval, (now_ms - oldest) / 1000)
    elif capacity:
        predicted = queued / capacity + interval
    else:
        predicted = interval
    return Backlog(queued, oldest, capacity, predicted, stalled)


def _capacity(windows: list[WindowRecord], interval: float) -> float | None:
    ordered = sorted(windows, key=lambda w: w.id)
    rates = [
        window.event_count / max(interval, 0.001, (window.created_at - before.created_at) / 1000)
        for before, window in pairwise(ordered)
    ]
    return max(rates) if rates else None
